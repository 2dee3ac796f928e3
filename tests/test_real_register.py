"""The real national FINESS register alone (no demo, no directory), as an ERHR
animator imports it on day one: searches keep near the person, the referents
carry their contacts, the transition is served, coverage stays honest.

The file is the one beside the project (``../shared/data/finess/``, or
``DIHR_REAL_FINESS``); CI has it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from graph import coverage as cov
from graph.matching import MatchLevel, SituationQuery, competent_resources, find_resources
from graph.model import NodeKind
from graph.stores.memory import MemoryStore
from importers.finess import import_finess

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(
    os.environ.get("DIHR_REAL_FINESS")
    or ROOT.parent / "shared" / "data" / "finess" / "etalab-cs1100507-stock-20210108-0427.csv.gz"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not REAL.is_file(), reason=f"the real FINESS register is not at {REAL} (DIHR_REAL_FINESS)"
    ),
]


@pytest.fixture(scope="module")
def real(reference_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("real-register")
    shutil.copytree(reference_dir, data_dir, dirs_exist_ok=True)
    store = MemoryStore(data_dir)
    report = import_finess(store, REAL)
    assert report.created > 12_000
    yield store
    store.close()


#: Rural and urban communes across France, with combinations an ERHR meets.
SEARCHES = [
    ("15014", ["DA", "DV"], 8, 100),  # Aurillac
    ("48095", ["DI", "EPI"], 30, 100),  # Mende
    ("29019", ["DA", "DV"], 40, 80),  # Brest
    ("59350", ["DV", "TSA"], 12, 50),  # Lille
    ("75056", ["DI", "EPI"], 30, 50),  # Paris
    ("23096", ["DV", "TSA"], 10, 60),  # Guéret
    ("13055", ["POLY", "DA"], 6, 60),  # Marseille
    ("2A004", ["TSA", "DI"], 15, 80),  # Ajaccio
]


@pytest.mark.parametrize(("commune", "deficiencies", "age", "radius"), SEARCHES)
def test_rows_stay_near_the_person_and_the_referents_come_with_them(real, commune, deficiencies, age, radius):
    result = find_resources(
        real, SituationQuery(deficiencies=deficiencies, age=age, commune=commune, radius_km=radius)
    )
    local = [m for m in result.matches if m.level is MatchLevel.LOCAL]
    inside = [m for m in local if m.within_radius]
    if inside:
        assert all(m.distance_km <= 2 * radius for m in local[:5]), [
            (m.name, m.distance_km) for m in local[:5]
        ]
    groups = [m.group for m in local]
    assert groups == sorted(
        groups, key=["within", "beyond", "next"].index
    )  # nothing beyond ahead of the radius
    referents = [m for m in result.matches if m.group == "referent"]
    assert referents and referents[0].level is MatchLevel.ERHR
    for m in referents:
        assert m.contact is not None
        assert "graph/data" not in (m.contact.source or "") + (
            m.contact.missing or ""
        )  # no internal path shown


def test_the_referents_carry_the_phone_their_public_records_give(real):
    phones = {}
    for commune, deficiencies in (("45234", ["DA", "DV"]), ("75056", ["DI", "EPI"]), ("75056", ["DA", "DI"])):
        result = find_resources(real, SituationQuery(deficiencies=deficiencies, commune=commune))
        phones |= {m.key: m.contact.phone for m in result.matches if m.group == "referent" and m.contact}
    # CRESAM, FAHRES, Laplane from their own FINESS records; the Centre-Val de Loire team from its carrier's
    assert all(phones[k] for k in ("CRESAM", "FAHRES", "LAPLANE", "CVL")), phones
    brest = find_resources(real, SituationQuery(deficiencies=["DA", "DV"], commune="29019"))
    erhr = next(m for m in brest.matches if m.level is MatchLevel.ERHR)
    assert erhr.distance_km is not None and erhr.distance_km < 5  # the Brest antenna, not Auray (180 km)


def test_at_17_with_the_transition_adult_services_come_in_their_own_group(real):
    result = find_resources(
        real,
        SituationQuery(
            deficiencies=["DI", "TSA"], skills=["TRANSITION"], age=17, commune="35238", radius_km=50
        ),
    )
    nexts = [m for m in result.matches if m.group == "next"]
    assert nexts and all(m.age_group == "adults" for m in nexts)
    assert [m.age_group for m in result.matches if m.group == "within"].count("adults") == 0


def test_deafblind_coverage_counts_no_camsp_nor_a_196_institute_on_its_category_alone(real):
    competent = competent_resources(real, ["DA", "DV"], separately=False)
    nodes = real.get_nodes(
        NodeKind.ESTABLISHMENT, [r.key for r in competent if r.kind is NodeKind.ESTABLISHMENT]
    )
    assert nodes and not any(n.props.get("category") == "190" for n in nodes.values())
    for node in nodes.values():  # the name says deafblindness: « SOURDS-AVEUGLES », « SURDICECITE »…
        assert any(word in node.props["name"] for word in ("SOURD", "SURDI")), node.props["name"]
    counted = cov.coverage(real, ["DA", "DV"])
    assert counted.national.resources < 20 and counted.national.share_beyond[60.0] > 0.5
    everything = cov.coverage(real, ["DA", "DV"], separately=True)
    assert everything.national.resources > 300  # the switch: CAMSPs and 196 institutes, labelled


def test_the_gap_matrix_says_no_data_where_no_source_speaks(real):
    matrix = cov.gaps(real, level="ERHR")
    criteria = [c[0] for c in matrix.criteria]
    for _code, _name, cells in matrix.territories:
        by = dict(zip(criteria, cells, strict=True))
        for criterion in (
            "5a",
            "5b",
            "5c",
        ):  # no FINESS category nor name says mitochondrial, metabolic, neuro
            assert by[criterion].no_data and not by[criterion].zone_blanche, criterion
        assert not by["1"].no_data  # deafblindness: names and CRESAM say it


def test_an_age_given_coverage_counts_the_age_group(real):
    everyone = cov.coverage(real, ["DI"])
    children = cov.coverage(real, ["DI"], age=8)
    assert children.population_group == "0-17 ans"
    assert 0.20 < children.national.population / everyone.national.population < 0.23  # INSEE: 21.5 %


def test_the_name_reader_recognises_the_adults_sensory_services():
    """FINESS names are where adults' services for deaf or blind persons say so
    (« SAVS URAPEDA », « SAMSAH LSF », « FOYER VALENTIN HAUY », « DEFIC.VISUELS »):
    read over the whole register, as the import does."""
    import gzip

    from importers.finess_competence import infer

    deaf, blind, poly_iem = set(), set(), 0
    with gzip.open(REAL, "rt", encoding="latin-1") as lines:
        for line in lines:
            cells = line.rstrip("\n").split(";")
            if cells[0] != "structureet":
                continue
            found = infer(cells[18], cells[4] or cells[3], cells[13])
            if found is None:
                continue
            if (found.age_min or 0) >= 18:
                deaf |= {cells[1]} if "DA" in found.accepts else set()
                blind |= {cells[1]} if "DV" in found.accepts else set()
            poly_iem += cells[18] == "188" and "IEM" in (cells[4] or cells[3]) and "POLY" not in found.accepts
    assert len(deaf) >= 17 and len(blind) >= 15  # 6 and 9 before the reader was corrected
    assert poly_iem == 0  # polyhandicap institutes named « IEM » keep polyhandicap


def test_the_transition_radar_on_the_register_alone_says_how_to_start(real):
    """No situation is followed yet on a register imported on day one: the radar says so, in French."""
    import html

    from fastapi.testclient import TestClient

    from api.app import create_app
    from graph.settings import Settings
    from tests.conftest import bearer

    data_dir = real.path.parent
    with TestClient(create_app(Settings(data_dir=data_dir), store=real)) as client:
        page = client.get("/transition", headers=bearer(real, "erhr", "NA"))
    text = html.unescape(page.text)
    assert page.status_code == 200 and "Aucune situation suivie" in text and "dihr import situations" in text
    assert "synthétiques" not in text  # the register alone: nothing is synthetic


def test_the_real_directory_goes_to_fhir_and_back(real, reference_dir, tmp_path):
    """The real register as a FHIR Bundle the FHIR library validates, imported
    into a store holding only the reference data: the same directory answers."""
    import json

    from graph.directory import DirectoryFilter, search_directory
    from importers.fhir import import_fhir, write_bundle

    bundle = tmp_path / "annuaire.fhir.json"
    counts = write_bundle(real, bundle)  # parsed back by fhir.resources before it is kept
    assert counts["HealthcareService"] >= 13_000
    assert json.loads(bundle.read_text(encoding="utf-8"))["resourceType"] == "Bundle"
    data_dir = tmp_path / "empty"
    shutil.copytree(reference_dir, data_dir)
    other = MemoryStore(data_dir)
    try:
        report = import_fhir(other, bundle)
        assert report.created == counts["HealthcareService"] and not report.rejected

        def answers(store, **filters):
            page = search_directory(
                store, DirectoryFilter(kinds=[NodeKind.ESTABLISHMENT], **filters), first=100
            )
            return page.total, [
                (
                    e.key,
                    e.name,
                    e.commune,
                    sorted((c.link, c.code, c.level, c.age_band) for c in e.competences),
                )
                for e in page.entries
            ]

        for filters in ({}, {"deficiencies": ["DA"]}, {"deficiencies": ["DA", "DV"]}, {"text": "sessad"}):
            assert answers(other, **filters) == answers(real, **filters), filters
    finally:
        other.close()


def test_a_referent_across_the_sea_gets_no_road_time(real):
    """Ajaccio's ERHR sits in Marseille: no « ~318 min » by road, but « hors du
    continent : contact à distance »; on the mainland the road time stays."""
    corsica = find_resources(
        real, SituationQuery(deficiencies=["DA", "DV"], commune="2A004", age=30, radius_km=60)
    )
    referents = [m for m in corsica.matches if m.group == "referent"]
    assert referents and all(m.minutes is None and m.location_source == "hors_continent" for m in referents)
    poitiers = find_resources(
        real, SituationQuery(deficiencies=["DA", "DV"], commune="86194", age=30, radius_km=60)
    )
    cresam = next(m for m in poitiers.matches if m.level is MatchLevel.CNRHR)
    assert cresam.minutes is not None and cresam.location_source != "hors_continent"
