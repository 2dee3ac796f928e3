"""Coverage, gaps, what-if and network insights over GraphQL, REST CSV and the CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.queries import COVERAGE_QUERY
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


def gql(client, query, **variables):
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


def test_coverage_by_level_adds_up_to_the_nation(client):
    data = gql(client, COVERAGE_QUERY, deficiencies=["DV", "TSA"], level="REGION", thresholdKm=60)["coverage"]
    assert len(data["territories"]) == 18
    assert sum(t["population"] for t in data["territories"]) == data["national"]["population"]
    assert abs(data["national"]["population"] - 68_000_000) / 68_000_000 < 0.01
    thresholds = [s["thresholdKm"] for s in data["national"]["sharesBeyond"]]
    assert thresholds == [30.0, 60.0, 100.0]


def test_gaps_matrix_and_zones_blanches(client):
    data = gql(
        client,
        "{ gaps(level: ERHR, thresholdKm: 60) { criteria { code combination } territories { code cells { zoneBlanche shareBeyond } } } }",
    )["gaps"]
    assert [c["code"] for c in data["criteria"]] == ["1", "2", "3", "4", "5a", "5b", "5c", "5d"]
    assert len(data["territories"]) == 13 and all(len(t["cells"]) == 8 for t in data["territories"])
    antilles = next(t for t in data["territories"] if t["code"] == "AG")
    assert any(c["zoneBlanche"] for c in antilles["cells"])


def test_what_if_reports_only_the_changed_territories(client):
    query = """query($a: [AdditionInput!]!) { whatIf(deficiencies: ["DA", "DV"], additions: $a, level: ERHR) {
      changes { code populationGained before { populationBeyond } after { populationBeyond } } } }"""
    changes = gql(client, query, a=[{"commune": "97101", "deficiencies": ["DA", "DV"]}])["whatIf"]["changes"]
    assert changes and changes[0]["code"] == "AG" and changes[0]["populationGained"] > 0
    assert all(c["after"]["populationBeyond"] <= c["before"]["populationBeyond"] for c in changes)


def test_network_insights(client):
    data = gql(
        client,
        '{ networkInsights(territory: "NA") { territory resources links hubs { key degree } isolated } }',
    )["networkInsights"]
    assert data["territory"] == "NA" and data["resources"] > 100 and data["links"] > 0
    assert data["hubs"][0]["degree"] >= data["hubs"][-1]["degree"]


def test_csv_exports(client):
    response = client.get("/exports/coverage.csv", params={"deficiencies": "DV,TSA", "level": "DEPARTMENT"})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for French spreadsheets
    rows = list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["code", "territoire", "population"] and len(rows) == 1 + 101 + 1
    assert rows[-1][0] == "FR"
    mean = rows[1][rows[0].index("distance_moyenne_km")]
    assert "," in mean and "." not in mean  # decimal comma
    gaps = client.get("/exports/gaps.csv", params={"level": "REGION"})
    assert gaps.status_code == 200 and len(gaps.text.strip().splitlines()) == 19
    workbook = client.get("/exports/coverage.xlsx", params={"deficiencies": "DV,TSA", "level": "REGION"})
    assert workbook.status_code == 200 and workbook.headers["content-type"].startswith(
        "application/vnd.openxml"
    )
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook.content)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["code", "territoire", "population"] and sheet.max_row == 1 + 18 + 1
    nouvelle_aquitaine = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "75")
    assert isinstance(nouvelle_aquitaine[header.index("distance_moyenne_km")].value, float)
    assert client.get("/exports/coverage.pdf", params={"deficiencies": "DV"}).status_code in (400, 404, 422)


def test_bad_export_parameters_are_a_400_in_french(client):
    response = client.get("/exports/coverage.csv", params={"deficiencies": "DV", "level": "CANTON"})
    assert response.status_code == 400 and "niveau attendu" in response.json()["message"]


def test_cli_coverage_json_equals_graphql(client, demo_dir, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(demo_dir))
    run = CliRunner().invoke(cli, ["coverage", "DV", "TSA", "--level", "erhr", "--json"])
    assert run.exit_code == 0, run.output
    over_http = gql(
        client, COVERAGE_QUERY, deficiencies=["DV", "TSA"], level="ERHR", thresholdKm=60.0, age=None
    )
    assert within(over_http["coverage"], json.loads(run.stdout))


def test_map_routes_serve_self_contained_html(client):
    page = client.get("/maps/coverage", params={"deficiencies": "DV,TSA", "level": "REGION"})
    assert (
        page.status_code == 200
        and "leaflet" in page.text
        and "/static/vendor/leaflet/dist/leaflet.js" in page.text
    )
    assert client.get("/static/vendor/leaflet/dist/leaflet.js").status_code == 200
    gaps = client.get("/maps/gaps", params={"level": "ERHR", "criterion": "1"})
    assert gaps.status_code == 200 and "Zones blanches" in gaps.text
    situation = client.get(
        "/maps/situation", params={"deficiencies": "DV,TSA", "commune": "86194", "age": 17}
    )
    assert situation.status_code == 200 and "Poitiers" in situation.text
    bad = client.get("/maps/gaps", params={"criterion": "9"})
    assert bad.status_code == 400 and "critère attendu" in bad.json()["message"]


def test_cli_writes_a_coverage_map(demo_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DIHR_DATA_DIR", str(demo_dir))
    out = tmp_path / "carte.html"
    run = CliRunner().invoke(cli, ["map", "coverage", "DV", "TSA", "--level", "department", "-o", str(out)])
    assert run.exit_code == 0, run.output
    text = out.read_text(encoding="utf-8")
    assert text.count('"type": "Feature"') >= 3 * 101  # one feature per department, one layer per threshold
