"""findResources over GraphQL and `dihr match`: the same answer, coded errors."""

from __future__ import annotations

import html
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.queries import FIND_RESOURCES_QUERY
from cli.main import app as cli
from graph.settings import Settings
from tests.conftest import bearer
from tests.factories import within

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(demo_dir, demo_store):
    with TestClient(
        create_app(Settings(data_dir=demo_dir), store=demo_store), headers=bearer(demo_store)
    ) as c:
        yield c


def find(client, situation, limit=20):
    response = client.post(
        "/graphql",
        json={"query": FIND_RESOURCES_QUERY, "variables": {"situation": situation, "limit": limit}},
    )
    assert response.status_code == 200
    return response.json()


def test_graphql_returns_ranked_explained_matches(client):
    body = find(client, {"deficiencies": ["DV", "TSA"], "commune": "86194", "age": 17, "skills": ["CAA"]})
    result = body["data"]["findResources"]
    assert result["qualification"]["cnrhr"] == ["PEPINIERE"]
    assert result["erhr"]["code"] == "NA"
    levels = [m["level"] for m in result["matches"]]
    assert levels[-2:] == ["ERHR", "CNRHR"] and set(levels[:-2]) == {"LOCAL"}
    first = result["matches"][0]
    assert first["covers"] and all("—" in c["path"] for c in first["covers"])
    assert first["synthetic"] is True


def test_cli_json_and_graphql_return_the_same_result(client, demo_dir, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(demo_dir))
    run = CliRunner().invoke(
        cli, ["match", "DV", "TSA", "--commune", "86194", "--age", "17", "--radius-km", "80", "--json"]
    )
    assert run.exit_code == 0, run.output
    over_http = find(client, {"deficiencies": ["DV", "TSA"], "commune": "86194", "age": 17, "radiusKm": 80})
    assert within(over_http["data"]["findResources"], json.loads(run.stdout))


@pytest.mark.parametrize(
    ("situation", "limit", "code", "fragment"),
    [
        ({"deficiencies": ["DV", "ZZ"], "commune": "86194"}, 20, "UNKNOWN_CODE", "ZZ"),
        ({"deficiencies": ["DV"], "commune": "00000"}, 20, "UNKNOWN_CODE", "00000"),
        ({"deficiencies": ["DV"], "commune": "86194", "radiusKm": 2000}, 20, "INVALID_INPUT", "rayon"),
        ({"deficiencies": ["DV"], "commune": "86194"}, 101, "INVALID_INPUT", "nombre de résultats"),
        ({"deficiencies": [], "commune": "86194"}, 20, "INVALID_INPUT", "au moins une déficience"),
    ],
)
def test_bad_input_gives_a_coded_french_error(client, demo_store, situation, limit, code, fragment):
    before = demo_store.count_nodes()
    body = find(client, situation, limit)
    assert body["errors"][0]["extensions"]["code"] == code
    assert fragment in body["errors"][0]["message"]
    assert demo_store.count_nodes() == before


def test_cli_bad_radius_is_one_french_line(demo_dir, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(demo_dir))
    run = CliRunner().invoke(cli, ["match", "DV", "--commune", "86194", "--radius-km", "0"])
    assert run.exit_code == 1
    assert (
        run.stderr.strip()
        == "Erreur : Paramètre « radiusKm » invalide : le rayon doit être compris entre 1 et 1000 km."
    )


def test_cli_match_by_condition_alone_returns_inferred_needs_and_contacts(demo_dir, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(demo_dir))
    run = CliRunner().invoke(cli, ["match", "--condition", "739", "--commune", "67482", "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["conditions"] == ["ORPHA:739"] and data["deficiencies"] == ["COMPORT"]
    assert any(
        i["deficiency"] == "COMPORT" and "HP:" in i["phenotypes"] and i["core"] for i in data["inferred"]
    )
    assert {"DI", "EPI"} <= {
        p["deficiency"] for p in data["possible"] if not p["core"]
    }  # occasional: shown, not searched
    establishments = [m for m in data["matches"] if m["kind"] == "Establishment"]
    assert establishments and all(m["contact"] and m["contact"]["source"] for m in establishments)
    assert all(c["explanation"] for m in data["matches"] for c in m["covers"])
    text = CliRunner().invoke(
        cli, ["match", "--condition", "Prader-Willi", "--commune", "67482", "--limit", "3"]
    )
    assert (
        text.exit_code == 0
        and "Déduit : COMPORT (troubles graves du comportement) déduite de Syndrome de Prader-Willi"
        in text.stdout
    )
    assert (
        "Parfois : EPI (épilepsie sévère) (occasionnel (5-29 %)) dans Syndrome de Prader-Willi" in text.stdout
    )


def test_search_page_asks_which_commune_for_an_ambiguous_name(client):
    page = client.get("/recherche", params={"d": "DA", "lieu": "Saint-Denis", "rayon": "50"})
    assert page.status_code == 400  # the form comes back with the question
    text = html.unescape(page.text)
    assert (
        "Plusieurs communes s'appellent « Saint-Denis »" in text
        and "(974, code 97411)" in text
        and "(93, code 93066)" in text
    )
    chosen = client.get("/recherche", params={"d": "DA", "lieu": "Saint-Denis (93)", "rayon": "50"})
    assert chosen.status_code == 200, chosen.text[-500:]
    assert "Résultats pour déficience auditive grave — Saint-Denis" in chosen.text
    assert 'href="/annuaire/etablissement/' in chosen.text  # a resource's name links to its page


def test_directory_filters_by_rare_condition(client, demo_store):
    from graph.access import SYSTEM
    from graph.directory import DirectoryFilter
    from graph.model import NodeKind
    from graph.service import directory

    found = directory(demo_store, SYSTEM, DirectoryFilter(conditions=["Prader-Willi"]), first=100)
    total, rows = found.total, found.entries
    assert total == directory(demo_store, SYSTEM, DirectoryFilter(conditions=["739"]), first=100).total > 0
    assert total < directory(demo_store, SYSTEM, DirectoryFilter(), first=100).total
    page = client.get("/annuaire", params={"maladie": "Prader-Willi"})
    assert page.status_code == 200 and f"{total} ressource(s)" in page.text
    unknown = client.get("/annuaire", params={"maladie": "maladie qui n'existe pas"})
    assert unknown.status_code == 400 and "maladie rare" in html.unescape(unknown.text)
    first = rows[0]
    resource = client.get(f"/annuaire/{first.kind}/{first.key}")
    assert resource.status_code == 200 and "Précision et origine" in resource.text
    assert first.kind in {k.value for k in NodeKind}


def test_resource_pages_have_readable_addresses_and_the_old_ones_lead_there(client, demo_store):
    from graph.model import NodeKind

    establishment = next(iter(demo_store.nodes(NodeKind.ESTABLISHMENT)))
    pole = next(iter(demo_store.nodes(NodeKind.RESOURCE_POLE)))
    for node, slug in ((establishment, "etablissement"), (pole, "pole-ressources")):
        page = client.get(f"/annuaire/{slug}/{node.key}")
        assert page.status_code == 200 and "Précision et origine" in page.text
        old = client.get(f"/annuaire/{node.kind.value}/{node.key}", follow_redirects=False)
        assert old.status_code == 301 and old.headers["location"] == f"/annuaire/{slug}/{node.key}"
    listing = client.get("/annuaire", params={"type": "Establishment"})
    assert "/annuaire/etablissement/" in listing.text and "/annuaire/Establishment/" not in listing.text
    assert client.get("/annuaire/etablissement/000000000").status_code == 404


def test_results_say_each_reason_once_and_the_directory_names_category_and_town(client, demo_store):
    import re

    from graph.model import NodeKind

    page = client.get("/recherche", params={"d": ["DI"], "lieu": "86194", "rayon": "100"})
    assert page.status_code == 200
    body = html.unescape(page.text)
    explained = body.count('<ul class="paths">')
    same = re.findall(r'<a href="#rang-(\d+)">comme le rang (\d+)</a>', body)
    assert same and all(a == b for a, b in same)  # a link to the row that says it
    rows = body.count('<tr id="rang-')
    assert explained + len(same) == rows and explained < rows
    for rank in {a for a, _ in same}:
        assert f'<tr id="rang-{rank}">' in body
    listing = html.unescape(client.get("/annuaire", params={"type": "Establishment"}).text)
    assert '<th scope="col">Catégorie</th>' in listing and '<th scope="col">Commune</th>' in listing
    rows = re.findall(
        r'<a href="/annuaire/etablissement/(\w+)">[^<]*</a>.*?<td data-label="Catégorie">([^<]*)</td>'
        r'<td data-label="Commune">([^<]*)</td>',
        listing,
    )
    assert len(rows) >= 20
    for key, category, town in rows:
        node = demo_store.get_node(NodeKind.ESTABLISHMENT, key)
        commune = demo_store.get_node(NodeKind.COMMUNE, node.props["commune"])
        assert (category, town) == (node.props["category_label"], commune.props["name"])


def test_expertise_on_a_combination_is_said_once_on_the_results_page(client):
    """The CRESAM (expertise on DA+DV) and other combination experts: one line
    for the combination, not one more « (dont …) » per deficiency; the API keeps
    one coverage per need."""
    page = client.get("/recherche", params={"d": ["DA", "DV"], "lieu": "86194", "rayon": "100"})
    assert page.status_code == 200
    body = html.unescape(page.text)
    assert "expertise de niveau" in body and "sur la combinaison DA+DV" in body
    assert "(dont " not in body
    sheet = client.get("/recherche/fiche", params={"d": ["DA", "DV"], "lieu": "86194", "rayon": "100"})
    assert sheet.status_code == 200
    assert "sur la combinaison DA+DV" in html.unescape(sheet.text) and "(dont " not in html.unescape(
        sheet.text
    )
