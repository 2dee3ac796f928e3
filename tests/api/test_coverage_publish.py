"""Coverage the GNCHR can publish: national centres counted where they stand,
travel within a land mass, the age field, and a what-if that says what changed —
on the real reference geography (no local resource) and the demo network."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph import coverage as cov
from graph.matching import MatchLevel, SituationQuery, find_resources
from graph.settings import Settings
from graph.stores.memory import MemoryStore
from tests.conftest import bearer

pytestmark = pytest.mark.slow
OVERSEAS = ("971", "972", "973", "974", "976")


@pytest.fixture(scope="module")
def reference_store(reference_dir):
    store = MemoryStore(reference_dir)
    yield store
    store.close()


def test_cresam_s_department_is_not_a_white_zone_for_deafblindness(reference_store):
    """The register holds no local resource: only CRESAM (Vienne) is competent for DA+DV."""
    counted = {t.code: t for t in cov.coverage(reference_store, ["DA", "DV"]).territories}
    local = {t.code: t for t in cov.coverage(reference_store, ["DA", "DV"], local_only=True).territories}
    assert counted["86"].resources == 1 and not counted["86"].zone_blanche
    # no local source says deafblind competence anywhere: « pas de donnée », never « zone blanche »
    assert local["86"].no_data and not local["86"].zone_blanche and local["86"].mean_km is None
    assert counted["75"].no_data and not counted["75"].zone_blanche
    assert counted["86"].mean_km < counted["75"].mean_km  # Vienne is nearer CRESAM than Paris is
    result = cov.coverage(reference_store, ["DA", "DV"])
    assert [c[0] for c in result.national_centres] == ["CRESAM"] and result.national_centres[0][2] == "86"


def test_no_overseas_commune_is_served_across_the_sea(reference_store):
    result = cov.coverage(reference_store, ["DA", "DV"])
    by_code = {t.code: t for t in result.territories}
    for code in OVERSEAS:
        t = by_code[code]
        assert t.mean_km is None and t.population_unreachable == t.population > 0, code
        assert t.share_beyond[60.0] == 1.0  # beyond every threshold, not « 6 465 km »
    assert (
        by_code["2A"].population_unreachable == by_code["2A"].population
    )  # Corsica: no crossing to Poitiers
    assert all(by_code[c].mean_km is not None and by_code[c].mean_km < 1200 for c in ("75", "13", "29", "59"))
    assert result.national.population_unreachable == sum(
        by_code[c].population for c in (*OVERSEAS, "2A", "2B")
    )


def test_a_search_overseas_never_lists_a_mainland_resource(demo_store):
    for commune in ("97411", "97302", "97209", "2A004"):
        result = find_resources(
            demo_store, SituationQuery(deficiencies=["DV", "TSA"], commune=commune, radius_km=1000)
        )
        local = [m for m in result.matches if m.level is MatchLevel.LOCAL]
        home = result.place.department
        assert all((m.department in ("2A", "2B")) == (home in ("2A", "2B")) for m in local), commune
        if home.startswith("97"):
            assert {m.department for m in local} <= {home}, commune


@pytest.fixture(scope="module")
def client(demo_dir, demo_store):
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=100_000), store=demo_store)
    with TestClient(app, headers=bearer(demo_store)) as c:
        yield c


def test_the_coverage_page_has_the_age_and_the_local_only_switch(client):
    page = html.unescape(client.get("/couverture", params={"d": ["DA", "DV"], "age": "17"}).text)
    assert 'name="age"' in page and "Pour une personne de 17 ans" in page
    assert "Centre de ressources expertise surdicécité (CRESAM) (86)" in page
    local = html.unescape(client.get("/couverture", params={"d": ["DA", "DV"], "locales": "1"}).text)
    assert "Ressources locales seulement : les centres nationaux ne sont pas comptés." in local
    bad = client.get("/couverture", params={"d": ["DA", "DV"], "age": "dix"})
    assert bad.status_code == 400 and "n'est pas un âge" in html.unescape(bad.text)


def test_what_if_names_the_commune_shows_france_and_lists_only_changes(client, demo_store):
    page = client.get(
        "/couverture/simulation",
        params={"d": ["DA", "DV"], "commune": "97101", "niveau": "DEPARTMENT", "seuil": "60"},
    )
    text = html.unescape(page.text)
    assert page.status_code == 200 and "Effet d'une ressource ajoutée à Les Abymes (971, code 97101)" in text
    assert "France :" in text and "rapprochés" in text
    _before, _after, deltas = cov.what_if(demo_store, ["DA", "DV"], [cov.Addition("97101", ["DA", "DV"])])
    gained = [d for d in deltas if d.population_gained > 0]
    assert gained and all(d.code.startswith("97") for d in gained)  # an island's resource serves its island
    rows = text.split("Territoires dont la couverture change")[1].split("</table>")[0].count("<tr>") - 1
    assert rows == len(gained)


def test_an_age_given_coverage_counts_the_age_group_from_insee(reference_store):
    """Coverage for a child counts the 0-17 year-olds (INSEE 2021 by department), not all inhabitants."""
    from graph.population import age_share

    assert round(age_share("23", 0, 17) * 100, 1) == 15.8 and round(age_share("976", 0, 17) * 100, 1) == 49.8
    everyone = {t.code: t for t in cov.coverage(reference_store, ["DA", "DV"]).territories}
    child = cov.coverage(reference_store, ["DA", "DV"], age=8)
    young = {t.code: t for t in child.territories}
    assert child.population_group == "0-17 ans"
    for code in ("23", "976", "75"):
        assert young[code].population == pytest.approx(
            everyone[code].population * age_share(code, 0, 17), rel=1e-3
        )
    assert child.national.population == pytest.approx(sum(t.population for t in child.territories), rel=1e-3)
    assert (
        0.19
        < child.national.population / cov.coverage(reference_store, ["DA", "DV"]).national.population
        < 0.24
    )
    assert cov.coverage(reference_store, ["DA", "DV"], age=19).population_group == "16-25 ans"


def test_the_what_if_takes_a_commune_name_and_its_errors_lead_back_to_the_form(client):
    by_name = client.get(
        "/couverture/simulation",
        params={"d": ["DA", "DV"], "commune": "Les Abymes", "niveau": "DEPARTMENT", "seuil": "60"},
    )
    assert by_name.status_code == 200
    assert "Effet d'une ressource ajoutée à Les Abymes (971, code 97101)" in html.unescape(by_name.text)
    unknown = client.get(
        "/couverture/simulation",
        params={"d": ["DA", "DV"], "commune": "Atlantide", "niveau": "DEPARTMENT", "seuil": "60"},
    )
    text = html.unescape(unknown.text)
    assert unknown.status_code == 400 and "commune introuvable : « Atlantide »" in text
    assert 'action="/couverture/simulation"' in text and 'value="Atlantide"' in text  # the form, to correct
    assert 'aria-invalid="true"' in text and "data-communes" in text  # suggestions as in the search
