"""findResources over GraphQL and `dihr match`: the same answer, coded errors."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.queries import FIND_RESOURCES_QUERY
from graph.settings import Settings
from tests.conftest import bearer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(demo_dir, demo_store):
    with TestClient(create_app(Settings(data_dir=demo_dir), store=demo_store), headers=bearer(demo_store)) as c:
        yield c


def find(client, situation, limit=20):
    response = client.post("/graphql", json={"query": FIND_RESOURCES_QUERY, "variables": {"situation": situation, "limit": limit}})
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
    run = CliRunner().invoke(cli, ["match", "DV", "TSA", "--commune", "86194", "--age", "17", "--radius-km", "80", "--json"])
    assert run.exit_code == 0, run.output
    over_http = find(client, {"deficiencies": ["DV", "TSA"], "commune": "86194", "age": 17, "radiusKm": 80})
    assert json.loads(run.stdout) == over_http["data"]["findResources"]


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
    assert run.stderr.strip() == "Erreur : Paramètre « radiusKm » invalide : le rayon doit être compris entre 1 et 1000 km."
