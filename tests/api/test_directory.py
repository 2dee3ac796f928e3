"""The directory for partners: GraphQL with cursors, the /annuaire page and its
exports — on the real reference data and the demo network."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph.access import create_key
from graph.settings import Settings

pytestmark = pytest.mark.slow

PAGE = """query($f: ResourceFilter, $after: String, $first: Int!) {
  resources(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { kind key name department region erhr distanceKm closed synthetic
      contact { city phone source } competences { targetKind code label level link source sourceLabel ageBand } } }
  }
}"""


@pytest.fixture(scope="module")
def client(demo_dir, demo_store):
    _info, secret = create_key(demo_store, "partner", label="annuaire")
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=100_000), store=demo_store)
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as c:
        yield c


def ask(client, filter_=None, after=None, first=100):
    body = client.post(
        "/graphql", json={"query": PAGE, "variables": {"f": filter_, "after": after, "first": first}}
    ).json()
    assert "errors" not in body, body
    return body["data"]["resources"]


def every_page(client, filter_=None, first=100):
    nodes, after, pages = [], None, 0
    while True:
        page = ask(client, filter_, after, first)
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return page["totalCount"], nodes, pages
        after = page["pageInfo"]["endCursor"]


def test_a_partner_pages_through_the_national_directory(client):
    total, nodes, pages = every_page(client)
    assert total == len(nodes) > 1000 and pages == -(-total // 100)
    keys = [(n["kind"], n["key"]) for n in nodes]
    assert len(set(keys)) == len(keys)  # no resource twice across pages
    assert {n["kind"] for n in nodes} == {"ESTABLISHMENT", "PROFESSIONAL", "RESOURCE_POLE"}
    assert not any(n["closed"] for n in nodes)  # open only, unless asked
    synthetic = [n for n in nodes if n["synthetic"]]
    assert synthetic  # the demo network says it is synthetic


def test_filters_combine(client):
    total, nodes, _ = every_page(
        client,
        {"deficiencies": ["DV"], "territory": {"kind": "ERHR", "code": "NA"}, "kinds": ["ESTABLISHMENT"]},
    )
    assert 0 < total == len(nodes)
    assert all(n["erhr"] == "NA" and n["kind"] == "ESTABLISHMENT" for n in nodes)
    assert all(
        any(c["code"] == "DV" and c["link"] in ("HAS_EXPERTISE", "ACCEPTS") for c in n["competences"])
        for n in nodes
    )
    assert all(c["sourceLabel"] and c["label"] for n in nodes for c in n["competences"])
    named = ask(client, {"text": nodes[0]["name"][:12].upper()})
    assert nodes[0]["key"] in {e["node"]["key"] for e in named["edges"]} or named["pageInfo"]["hasNextPage"]


def test_near_orders_by_distance_within_the_radius(client):
    total, nodes, _ = every_page(
        client, {"near": {"commune": "86194", "radiusKm": 40}, "deficiencies": ["DA"]}
    )
    assert total == len(nodes) > 0
    distances = [n["distanceKm"] for n in nodes]
    assert distances == sorted(distances) and all(d is not None and d <= 40 for d in distances)


def test_an_overseas_commune_is_served_from_its_own_island_only(client):
    total, nodes, _ = every_page(client, {"near": {"commune": "97411", "radiusKm": 1000}})
    assert total > 0 and {n["department"] for n in nodes} == {"974"}
    corsica = every_page(client, {"near": {"commune": "2A004", "radiusKm": 400}})[1]
    assert corsica and {n["department"] for n in corsica} <= {"2A", "2B"}


@pytest.mark.parametrize(
    "filter_,after,code",
    [
        ({"near": {"commune": "00000", "radiusKm": 10}}, None, "UNKNOWN_CODE"),
        ({"territory": {"kind": "REGION", "code": "99"}}, None, "UNKNOWN_CODE"),
        ({"deficiencies": ["XX"]}, None, "UNKNOWN_CODE"),
        (None, "pas-un-curseur", "INVALID_INPUT"),
        ({"near": {"commune": "86194", "radiusKm": 5000}}, None, "INVALID_INPUT"),
    ],
)
def test_bad_filters_are_french_errors(client, filter_, after, code):
    body = client.post(
        "/graphql", json={"query": PAGE, "variables": {"f": filter_, "after": after, "first": 5}}
    ).json()
    assert body["errors"][0]["extensions"]["code"] == code


def test_the_directory_page_searches_by_name_and_commune_and_exports(client):
    page = client.get("/annuaire", params={"commune": "Poitiers", "rayon": "30", "deficience": "DV"})
    assert page.status_code == 200 and "de la plus proche à la plus lointaine" in page.text
    total = ask(client, {"near": {"commune": "86194", "radiusKm": 30}, "deficiencies": ["DV"]})["totalCount"]
    assert f"{total} ressource(s)" in page.text
    exported = client.get(
        "/exports/annuaire.csv", params={"commune": "Poitiers", "rayon": "30", "deficience": "DV"}
    )
    assert exported.status_code == 200 and exported.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff")), delimiter=";"))
    assert len(rows) == 1 + total and rows[0][:3] == ["type", "identifiant", "nom"]
    assert all("," in r[6] or r[6].isdigit() for r in rows[1:])  # distances with a decimal comma
    workbook = client.get("/exports/annuaire.xlsx", params={"nom": "fictif", "type": "Professional"})
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet.max_row > 1 and all(row[0].value == "Professionnel" for row in sheet.iter_rows(min_row=2))
    unknown = client.get("/annuaire", params={"commune": "Nullepart-sur-Rien"})
    assert unknown.status_code == 400 and "commune introuvable" in unknown.text
