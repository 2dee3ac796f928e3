"""The directory in FHIR R4 both ways (importers/fhir.py): a Bundle the FHIR
library parses back, in the national directories' shape, that gives the same
directory answers once imported into another store — on every backend."""

from __future__ import annotations

import json

import pytest

from graph.directory import DirectoryFilter, search_directory
from graph.errors import FileFormatError
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from importers.fhir import CLIENTELE_SYSTEM, FINESS_SYSTEM, SOURCE_ROR, import_fhir, write_bundle
from importers.finess import import_finess
from importers.finess_flows import import_activities
from tests.factories import build_territory
from tests.importers.test_finess import geoloc, structure, write
from tests.importers.test_finess_competence import accepts, region  # noqa: F401 (fixture)
from tests.importers.test_finess_flows import declared_flow

K, R = NodeKind, RelType


@pytest.fixture
def register(tmp_path, region):  # noqa: F811
    """Three establishments of the register: by category, by the Activités flow
    (with an intervention zone and respite) and with the directory's expertise."""
    import_finess(
        region,
        write(
            tmp_path,
            [
                structure("860000401", "86", "194", name="SESSAD LES ALOUETTES", category="182"),
                structure("860000402", "86", "194", name="IME LES TILLEULS", category="183"),
                structure("860000403", "86", "194", name="MAS LES GENETS", category="255"),
                geoloc("860000401", 46.585, 0.345),
                geoloc("860000402", 46.59, 0.35),
            ],
        ),
    )
    import_activities(region, declared_flow(tmp_path))
    from importers.reference import combination_elements

    elements = combination_elements("DA+DV")
    region.upsert(
        [e for e in elements if isinstance(e, Node)],
        [e for e in elements if isinstance(e, Edge)]
        + [
            Edge(
                R.HAS_EXPERTISE,
                NodeRef(K.ESTABLISHMENT, "860000403"),
                NodeRef(K.COMBINATION, "DA+DV"),
                {"level": 3, "source": "annuaire"},
            )
        ],
    )
    return region


def _answers(store, **filters):
    page = search_directory(store, DirectoryFilter(kinds=[K.ESTABLISHMENT], **filters), first=50)
    return [
        (
            e.key,
            e.name,
            e.commune,
            e.department,
            e.contact.phone if e.contact else None,
            e.contact.address if e.contact else None,
            round(e.lat or 0, 5),
            round(e.lon or 0, 5),
            sorted((c.link, c.target_kind, c.code, c.level, c.age_band) for c in e.competences),
        )
        for e in page.entries
    ]


def test_the_bundle_is_fhir_and_an_empty_store_answers_the_same(tmp_path, register, backend):
    from tests.conftest import _open_backend

    path = tmp_path / "annuaire.fhir.json"
    counts = write_bundle(register, path)
    assert counts == {"Organization": 3, "Location": 3, "HealthcareService": 3}
    document = json.loads(path.read_text(encoding="utf-8"))
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(document)  # the FHIR library parses it back
    services = {
        e["resource"]["id"]: e["resource"]
        for e in document["entry"]
        if e["resource"]["resourceType"] == "HealthcareService"
    }
    sessad = services["860000401"]
    clientele = [
        c for el in sessad["eligibility"] for c in el["code"]["coding"] if c["system"] == CLIENTELE_SYSTEM
    ]
    assert clientele[0]["code"] == "310"  # déficience auditive, ANS TRE_R279
    orgs = [e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Organization"]
    assert {i["value"] for o in orgs for i in o["identifier"] if i["system"] == FINESS_SYSTEM} == {
        "860000401",
        "860000402",
        "860000403",
    }

    other = _open_backend(backend, tmp_path / "other")
    try:
        build_territory(other)
        from graph.model import Node
        from tests.importers.test_finess_competence import region as _region  # noqa: F401

        other.upsert(
            [
                Node(
                    K.COMMUNE,
                    "86001",
                    {"name": "Adriers", "department": "86", "lat": 46.26, "lon": 0.80, "population": 700},
                )
            ],
            [Edge(R.PART_OF, NodeRef(K.COMMUNE, "86001"), NodeRef(K.DEPARTMENT, "86"))],
        )
        report = import_fhir(other, path)
        assert report.created == 3 and not report.rejected
        for filters in ({}, {"deficiencies": ["DA"]}, {"deficiencies": ["TSA"]}, {"skills": ["RESPITE"]}):
            assert _answers(other, **filters) == _answers(register, **filters), filters
        link = accepts(other, "860000401")["DA"]
        assert link["source"] == SOURCE_ROR and (link["age_min"], link["age_max"]) == (0, 20)
        node = other.get_node(K.ESTABLISHMENT, "860000401")
        assert node is not None and node.props["intervention_communes"] == ["86001", "86194"]
        again = import_fhir(other, path)
        assert (again.created, again.updated) == (0, 0)
        from graph.matching import SituationQuery, find_resources

        found = find_resources(
            other, SituationQuery(deficiencies=["DA"], age=8, commune="86001", radius_km=20)
        )
        sessad = next(m for m in found.matches if m.key == "860000401")
        assert sessad.distance_km == 0  # its intervention zone came through FHIR
        assert "annuaire national" in sessad.covers[0].text
    finally:
        if hasattr(other, "drop_namespace"):
            other.drop_namespace()
        other.close()


def test_declared_publics_replace_the_inferred_ones(tmp_path, region):  # noqa: F811
    import_finess(
        region,
        write(tmp_path, [structure("860000501", "86", "194", name="IME DES SOURCES", category="183")]),
    )
    assert set(accepts(region, "860000501")) == {"DI", "TSA"}  # the category's publics
    region.upsert([Node(K.CONDITION, "ORPHA:739", {"label": "Syndrome de Prader-Willi"})])
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Organization",
                    "id": "o1",
                    "identifier": [{"system": FINESS_SYSTEM, "value": "860000501"}],
                    "name": "IME DES SOURCES",
                    "address": [
                        {
                            "city": "POITIERS",
                            "extension": [
                                {
                                    "url": "https://dihr-graph.fr/fhir/StructureDefinition/commune-insee",
                                    "valueCode": "86194",
                                }
                            ],
                        }
                    ],
                }
            },
            {
                "resource": {
                    "resourceType": "HealthcareService",
                    "id": "s1",
                    "providedBy": {"reference": "Organization/o1"},
                    # a national directory's Bundle: the clientèle code alone (437: autisme)
                    "eligibility": [{"code": {"coding": [{"system": CLIENTELE_SYSTEM, "code": "437"}]}}],
                    "specialty": [{"coding": [{"system": "http://www.orpha.net", "code": "739"}]}],
                }
            },
        ],
    }
    path = tmp_path / "ror.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    import_fhir(region, path)
    declared = accepts(region, "860000501")
    assert set(declared) == {"TSA"} and declared["TSA"]["source"] == SOURCE_ROR
    ref = NodeRef(K.ESTABLISHMENT, "860000501")
    expertise = {e.target.key: e.props for e in region.edges_from([ref], [R.HAS_EXPERTISE])[ref]}
    assert expertise["ORPHA:739"]["source"] == SOURCE_ROR  # Prader-Willi, an Orphanet code
    node = region.get_node(K.ESTABLISHMENT, "860000501")
    assert node is not None and node.props["source"] == "finess"  # its provenance stays
    # a later FINESS Activités flow does not overwrite the national directory's declaration
    from tests.importers.test_finess_flows import activity, flow

    import_activities(region, flow(tmp_path, {"860000501": [activity("7", "437", "14", ages=(3, 12))]}))
    assert accepts(region, "860000501")["TSA"]["source"] == SOURCE_ROR


def test_a_bundle_that_is_not_fhir_is_refused_and_changes_nothing(tmp_path, register):
    before = accepts(register, "860000401")
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "HealthcareService", "active": "oui"}}],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(FileFormatError, match="Bundle FHIR invalide"):
        import_fhir(register, path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(FileFormatError, match="JSON illisible"):
        import_fhir(register, path)
    assert accepts(register, "860000401") == before


def test_the_cli_exports_and_imports_the_directory(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app as cli
    from graph.stores.memory import MemoryStore

    source, target = tmp_path / "source", tmp_path / "target"
    for folder in (source, target):
        s = MemoryStore(folder)
        build_territory(s)
        s.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(source))
    csv = write(tmp_path, [structure("860000401", "86", "194", name="SESSAD LES ALOUETTES", category="182")])
    assert CliRunner().invoke(cli, ["import", "finess", str(csv)]).exit_code == 0
    bundle = tmp_path / "annuaire.fhir.json"
    run = CliRunner().invoke(cli, ["export", "fhir", "-o", str(bundle)])
    assert run.exit_code == 0, run.output
    assert "1 HealthcareService" in run.stdout and "validé" in run.stdout
    monkeypatch.setenv("DIHR_DATA_DIR", str(target))
    run = CliRunner().invoke(cli, ["import", "fhir", str(bundle)])
    assert run.exit_code == 0, run.output
    assert "Créés : 1" in run.stdout
    wrong = CliRunner().invoke(cli, ["export", "csv"])
    assert wrong.exit_code == 2 and "fhir" in wrong.stderr
