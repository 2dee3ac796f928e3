"""The 2026 FINESS *Activités* flow (JSON), in the shape of the ANS's published
examples (``ansforge/finess``, ``flux/out/data.gouv/activite/``): declared
publics, ages, modes, places and intervention zones replace what the category
and the name implied — on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from graph.errors import FileFormatError
from graph.matching import MatchLevel, SituationQuery, find_resources
from graph.model import NodeKind, NodeRef, RelType
from importers.finess import import_finess
from importers.finess_flows import flow_kind, import_activities
from tests.importers.test_finess import geoloc, structure, write
from tests.importers.test_finess_competence import accepts, region  # noqa: F401 (fixture)

K, R = NodeKind, RelType


def activity(
    ae: str,
    public: str,
    mode: str,
    *,
    ages: tuple[int | None, int | None] = (None, None),
    places: int | None = None,
    zone: list[str] | None = None,
    state: str = "A",
    ended: str | None = None,
    nature: str = "ASMR",
    ege_id: str | None = None,
) -> dict[str, Any]:
    """One activity as the published flow writes it (every key present, nulls included)."""
    return {
        "caracteristiquesGeneriques": {
            "activiteAeId": ae,
            "etatObjet": state,
            "identifiantAutorisation": None,
            "numAutorisationArhgos": None,
            "dateDebutActiviteAutorisee": "2010-01-01",
            "dateFinActiviteAutorisee": None,
            "dateFinEffectiveActivite": ended,
            "dateCaduciteAutorisation": None,
            "egeId": ege_id,
            "typeActiviteSMSSE": "70237",
            "pmSmsseExploitanteId": None,
        },
        "nature": {
            "codeNature": nature,
            "caracteristiquesSpecifiques": {
                "aaSocialeReguleeId": f"S{ae}",
                "activiteAeId": ae,
                "ageMinAutorise": None if ages[0] is None else str(ages[0]),
                "ageMaxAutorise": None if ages[1] is None else str(ages[1]),
                "ageMinInstalle": None,
                "ageMaxInstalle": None,
                "typeActiviteAMSR": {
                    "activiteSocialeRegulee": "319",
                    "modeFonctionnement": mode,
                    "public": public,
                },
            },
        },
        "evenement": [],
        "engagement": [],
        "capacite": []
        if places is None
        else [
            {
                "idCapacite": f"C{ae}",
                "nombre": str(places),
                "precision": None,
                "variation": None,
                "activiteAeId": ae,
                "engagementId": None,
                "habilitation": None,
                "statutCapacite": "08",
                "modeFinancement": None,
                "uniteMesureCapacite": "02",
                "typeLogement": None,
                "genre": None,
            }
        ],
        "zoneIntervention": None
        if zone is None
        else {
            "zoneInterventionAutoriseeId": f"Z{ae}",
            "libelleZI": "Zone d'intervention",
            "activiteAeId": ae,
            "communeZI": [{"commune": c} for c in zone],
        },
    }


def flow(
    tmp_path: Path, establishments: dict[str, list[dict[str, Any]]], name: str = "activites.json"
) -> Path:
    """A flow with one legal entity running ``establishments`` (FINESS → activities exercised)."""
    document = {
        "schemaVersion": "v1.0.0",
        "generatedAt": "2026-04-01T14:46:05.500385900Z",
        "pmej": [
            {
                "numFiness": "860000000",
                "pmSmsseId": "2",
                "activitesAutorisees": [
                    # a sanitary activity of the legal entity: not medico-social, ignored
                    {**activity("9", "990", "09", nature="ASDR")},
                ],
                "ege": [
                    {"egeId": f"G{i}", "numFinessEge": finess, "activitesExercees": acts}
                    for i, (finess, acts) in enumerate(establishments.items())
                ],
            }
        ],
    }
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def registered(tmp_path, region):  # noqa: F811
    """A SESSAD and an IME of Poitiers from the establishments' CSV extraction."""
    import_finess(
        region,
        write(
            tmp_path,
            [
                structure("860000401", "86", "194", name="SESSAD LES ALOUETTES", category="182"),
                structure("860000402", "86", "194", name="IME LES TILLEULS", category="183"),
                geoloc("860000401", 46.585, 0.345),
                geoloc("860000402", 46.59, 0.35),
            ],
        ),
    )
    assert set(accepts(region, "860000401")) == {"DI", "DM"}  # inferred from category 182
    return region


def declared_flow(tmp_path: Path) -> Path:
    return flow(
        tmp_path,
        {
            # a SESSAD for deaf children working in Adriers (36 km from its seat)
            "860000401": [activity("101", "310", "16", ages=(0, 20), places=12, zone=["86001", "86194"])],
            # temporary care for autistic children and teenagers
            "860000402": [activity("102", "437", "45", ages=(6, 20), places=4)],
            "999999999": [activity("103", "117", "14", ages=(6, 20))],  # not in the register
        },
    )


def test_a_flow_is_recognised_by_its_content(tmp_path):
    path = declared_flow(tmp_path)
    assert flow_kind(path) == "activites"
    csv = write(tmp_path, [structure("860000401", "86", "194")])
    assert flow_kind(csv) is None
    structures = tmp_path / "structures.json"
    structures.write_text('{"pmej": [{"informationsGeneralesPmej": {}}]}', encoding="utf-8")
    assert flow_kind(structures) == "structures"


def test_declared_activities_replace_the_inferred_links_and_a_reimport_changes_nothing(tmp_path, registered):
    store = registered
    path = declared_flow(tmp_path)
    report = import_activities(store, path)
    sessad = accepts(store, "860000401")
    assert set(sessad) == {"DA"}  # the category's DI/DM give way to the declared public
    da = sessad["DA"]
    assert (da["source"], da["age_min"], da["age_max"], da["capacity"]) == ("finess_activites", 0, 20, 12)
    assert da["publics"] == ["310"] and da["modes"] == ["16"]
    node = store.get_node(K.ESTABLISHMENT, "860000401")
    assert node is not None and node.props["intervention_communes"] == ["86001", "86194"]
    assert set(accepts(store, "860000402")) == {"TSA"}
    ime = NodeRef(K.ESTABLISHMENT, "860000402")
    respite = [e for e in store.edges_from([ime], [R.HAS_EXPERTISE])[ime] if e.target.key == "RESPITE"]
    assert respite and respite[0].props["source"] == "finess_activites"
    assert [e.key for e in report.rejected] == ["999999999"]
    assert "inconnu" in report.rejected[0].reason
    assert any("concordent" in n for n in report.notes)

    again = import_activities(store, path)
    assert (again.created, again.updated) == (0, 0)
    assert accepts(store, "860000401") == sessad

    # the next CSV extraction does not bring the inferred links back
    import_finess(
        store,
        write(
            tmp_path,
            [
                structure("860000401", "86", "194", name="SESSAD LES ALOUETTES", category="182"),
                structure("860000402", "86", "194", name="IME LES TILLEULS", category="183"),
                geoloc("860000401", 46.585, 0.345),
                geoloc("860000402", 46.59, 0.35),
            ],
            name="etalab-cs1100507-stock-20210301-0400.csv",
        ),
    )
    assert set(accepts(store, "860000401")) == {"DA"}


def test_a_mobile_service_is_at_0_km_inside_its_zone(tmp_path, registered):
    store = registered
    query = SituationQuery(deficiencies=["DA"], age=8, commune="86001", radius_km=20)
    before = [m for m in find_resources(store, query).matches if m.level is MatchLevel.LOCAL]
    assert all(m.key != "860000401" or m.group != "within" for m in before)  # 36 km from its seat
    import_activities(store, declared_flow(tmp_path))
    found = [m for m in find_resources(store, query).matches if m.level is MatchLevel.LOCAL]
    sessad = [m for m in found if m.key == "860000401"]
    assert sessad and sessad[0].group == "within" and sessad[0].distance_km == 0
    assert sessad[0].location_source == "zone_intervention"
    assert sessad[0].covers[0].source == "finess_activites"
    assert sessad[0].rank == 1
    # a person outside the zone sees the seat's distance
    elsewhere = find_resources(
        store, SituationQuery(deficiencies=["DA"], age=8, commune="86158", radius_km=20)
    )
    far = [m for m in elsewhere.matches if m.key == "860000401"]
    assert (
        far
        and far[0].distance_km
        and far[0].distance_km > 0
        and far[0].location_source != "zone_intervention"
    )


def test_a_withdrawn_activity_removes_what_it_declared(tmp_path, registered):
    store = registered
    import_activities(store, declared_flow(tmp_path))
    later = flow(
        tmp_path,
        {"860000401": [activity("101", "310", "16", ages=(0, 20), state="I")]},
        name="activites-2.json",
    )
    import_activities(store, later)
    assert "DA" not in accepts(store, "860000401")
    node = store.get_node(K.ESTABLISHMENT, "860000401")
    assert node is not None and not node.props.get("intervention_communes")


def test_a_cut_flow_is_refused_and_changes_nothing(tmp_path, registered):
    store = registered
    path = declared_flow(tmp_path)
    before = accepts(store, "860000401")
    cut = tmp_path / "cut.json"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 2 // 3])
    with pytest.raises(FileFormatError, match="coupé"):
        import_activities(store, cut)
    assert accepts(store, "860000401") == before
    broken = tmp_path / "broken.json"
    broken.write_text('{"pmej": [{"numFiness": "860000000", "ege": [}', encoding="utf-8")
    with pytest.raises(FileFormatError):
        import_activities(store, broken)
    assert accepts(store, "860000401") == before


def test_the_cli_imports_a_flow_given_to_import_finess(tmp_path, monkeypatch):
    from graph.stores.memory import MemoryStore

    data = tmp_path / "data"
    s = MemoryStore(data)
    from tests.factories import build_territory

    build_territory(s)
    s.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    csv = write(
        tmp_path,
        [
            structure("860000401", "86", "194", name="SESSAD LES ALOUETTES", category="182"),
            geoloc("860000401", 46.585, 0.345),
        ],
    )
    assert CliRunner().invoke(cli, ["import", "finess", str(csv)]).exit_code == 0
    run = CliRunner().invoke(cli, ["import", "finess", str(declared_flow(tmp_path))])
    assert run.exit_code == 0, run.output
    assert (
        "flux FINESS Activités" in run.stdout and "rejetés : 2" in run.stdout
    )  # the IME and 999999999 are not in this register
    structures = tmp_path / "structures.json"
    structures.write_text('{"pmej": [{"informationsGeneralesPmej": {}}]}', encoding="utf-8")
    refused = CliRunner().invoke(cli, ["import", "finess", str(structures)])
    assert refused.exit_code == 1 and "Structures" in refused.stderr  # recognised, and says what is missing
