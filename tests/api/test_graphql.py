"""GraphQL over HTTP (in-process ASGI transport) on the real reference graph."""

from __future__ import annotations

import pytest

from api.app import create_app
from graph.settings import Settings
from tests.conftest import bearer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(reference_dir, reference_store):
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=reference_dir), store=reference_store)
    with TestClient(app, headers=bearer(reference_store)) as c:
        yield c


def gql(client, query: str, **variables):
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def test_vocabularies(client):
    data = gql(client, "{ deficiencies { code rorR245 } skills { code } conditions { orpha involves } }")[
        "data"
    ]
    assert {"code": "TSA", "rorR245": "02"} in data["deficiencies"]
    assert "LSF_TACTILE" in {s["code"] for s in data["skills"]}
    assert len(data["conditions"]) == 50  # the first page


def test_conditions_are_found_by_french_name_and_explained_by_phenotypes(client):
    data = gql(
        client,
        '{ conditions(search: "syndrome de Usher") { orpha label nameEn profile { deficiency phenotypes } } }',
    )
    usher = data["data"]["conditions"][0]
    assert (
        usher["orpha"] == "ORPHA:886"
        and usher["label"] == "Syndrome de Usher"
        and usher["nameEn"] == "Usher syndrome"
    )
    profile = {p["deficiency"]: p["phenotypes"] for p in usher["profile"]}
    assert {"DA", "DV"} <= profile.keys()
    assert "HP:0000407" in profile["DA"]  # Sensorineural hearing impairment


def test_territories_by_kind(client):
    data = gql(
        client,
        "{ r: territories(kind: REGION) { code } d: territories(kind: DEPARTMENT) { code } e: territories(kind: ERHR) { code population } }",
    )["data"]
    assert len(data["r"]) == 18 and len(data["d"]) == 101 and len(data["e"]) == 13
    assert all(e["population"] > 0 for e in data["e"])


def test_erhr_with_departments_and_population(client):
    data = gql(client, '{ erhr(code: "NO") { name regions { code } departments { code } population } }')[
        "data"
    ]["erhr"]
    assert {r["code"] for r in data["regions"]} == {"28", "32"}
    assert {"59", "62", "76", "14"} <= {d["code"] for d in data["departments"]}
    assert len(data["departments"]) == 10
    assert 9_000_000 < data["population"] < 10_000_000


def test_commune_and_qualify(client):
    data = gql(
        client,
        '{ commune(code: "86194") { name erhrCode department { name } } qualify(deficiencies: ["DV", "DA", "DI"]) { criteria { code } cnrhr superseded } }',
    )["data"]
    assert data["commune"] == {"name": "Poitiers", "erhrCode": "NA", "department": {"name": "Vienne"}}
    assert data["qualify"] == {"criteria": [{"code": "1"}], "cnrhr": ["CRESAM"], "superseded": ["2", "3"]}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ('{ qualify(deficiencies: ["DV", "ZZ"]) { cnrhr } }', "ZZ"),
        ('{ erhr(code: "XX") { name } }', "XX"),
        ('{ commune(code: "99999") { name } }', "99999"),
    ],
)
def test_unknown_codes_give_a_coded_french_error_not_a_500(client, query, fragment):
    body = gql(client, query)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "UNKNOWN_CODE"
    assert "inconnu" in error["message"] and fragment in error["message"]
    assert "Traceback" not in str(body)


def test_health(client):
    assert client.get("/health").json()["status"] == "ok"


def test_directory_example_is_downloadable_and_importable(client, tmp_path):
    from importers._files import read_table
    from importers.directory import DIRECTORY_COLUMNS

    response = client.get("/modeles/annuaire.csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    path = tmp_path / "exemple.csv"
    path.write_bytes(response.content)
    header, rows, _ = read_table(path)
    assert tuple(header) == DIRECTORY_COLUMNS and len(rows) == 3
    from graph.stores.memory import MemoryStore
    from importers.directory import import_directory
    from tests.factories import Network

    store = MemoryStore(tmp_path / "store")
    Network(store)
    report = import_directory(store, path)
    assert (report.created, report.rejected) == (3, [])
    store.close()
