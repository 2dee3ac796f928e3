"""The real reference graph: geography from maintained packages and the DIHR network."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from graph.model import NodeKind, NodeRef, RelType
from graph.settings import Settings
from graph.stores.memory import MemoryStore
from graph.territories import TerritoryKind, TerritoryTable, commune_info, erhr_info, territories
from importers.reference import init_reference, read_erhr_file

pytestmark = pytest.mark.slow
K = NodeKind
INSEE_POPULATION = 68_000_000  # INSEE, population of France (metropolitan + DROM), ~68 M


def test_every_current_commune_department_and_region(reference_store):
    counts = reference_store.count_nodes()
    assert counts[K.COMMUNE] >= 34_800
    assert counts[K.DEPARTMENT] == 101
    assert counts[K.REGION] == 18
    assert counts[K.ERHR_TEAM] == 13
    assert counts[K.CNRHR] == 4
    assert counts[K.GNCHR] == 1


def test_national_population_within_one_percent_of_insee(reference_store):
    total = sum(int(n.props["population"]) for n in reference_store.nodes(K.COMMUNE))
    assert abs(total - INSEE_POPULATION) / INSEE_POPULATION < 0.01
    by_region = sum(t.population for t in territories(reference_store, TerritoryKind.REGION))
    by_erhr = sum(t.population for t in territories(reference_store, TerritoryKind.ERHR))
    assert by_region == by_erhr == total


def test_thirteen_erhr_cover_every_department_exactly_once(reference_store):
    table = TerritoryTable(reference_store)
    assert set(table.erhr_of_department) == set(table.departments)
    per_department = Counter()
    for code in table.erhr:
        for dep in erhr_info(reference_store, code, table).departments:
            per_department[dep.code] += 1
    assert set(per_department.values()) == {1}
    assert len(per_department) == 101


def test_known_communes_are_placed_in_their_department(reference_store):
    poitiers = commune_info(reference_store, "86194")
    assert poitiers.name == "Poitiers" and poitiers.department.code == "86" and poitiers.erhr_code == "NA"
    assert 46.5 < poitiers.lat < 46.7 and 0.2 < poitiers.lon < 0.5
    ajaccio = commune_info(reference_store, "2A004")
    assert ajaccio.region.code == "94" and ajaccio.erhr_code == "PACAC"
    mamoudzou = commune_info(reference_store, "97611")
    assert mamoudzou.erhr_code == "RM" and mamoudzou.population > 50_000
    assert commune_info(reference_store, "75113").code == "75056"  # Paris 13e → Paris
    assert commune_info(reference_store, "01001").name == "L'Abergement-Clémenciat"


def test_cnrhr_are_located_and_expert_on_their_combinations(reference_store):
    cresam = reference_store.get_node(K.CNRHR, "CRESAM")
    assert cresam.props["finess"] == "860008564"
    expertise = reference_store.edges_from([NodeRef(K.CNRHR, "CRESAM")], [RelType.HAS_EXPERTISE])
    assert "DA+DV" in {e.target.key for e in expertise[NodeRef(K.CNRHR, "CRESAM")]}
    fahres = reference_store.edges_from([NodeRef(K.CNRHR, "FAHRES")], [RelType.HAS_EXPERTISE])
    assert "DI+EPI" in {e.target.key for e in fahres[NodeRef(K.CNRHR, "FAHRES")]}


def test_department_outlines_are_cached(reference_dir):
    cache = json.loads((reference_dir / "outlines" / "departments.geojson").read_text())
    assert len(cache["features"]) == 101
    assert {f["geometry"]["type"] for f in cache["features"]} <= {"Polygon", "MultiPolygon"}


def test_init_is_idempotent(reference_dir):
    store = MemoryStore(reference_dir)
    try:
        report = init_reference(store, Settings(data_dir=reference_dir))
    finally:
        store.close()
    assert report.summary.changed == 0
    assert report.summary.nodes_unchanged > 34_800


def test_erhr_file_is_editable_data_and_checked(tmp_path):
    rows = read_erhr_file()
    assert len(rows) == 13 and {r.code for r in rows} >= {"NE", "NO", "PACAC", "RM", "AG"}
    broken = tmp_path / "erhr.csv"
    broken.write_text("code,name,regions\nNE,ERHR Nord-Est,\n", encoding="utf-8")
    from graph.errors import ReferenceDataError

    with pytest.raises(ReferenceDataError, match="ligne 2 : code ou régions vides"):
        read_erhr_file(broken)
