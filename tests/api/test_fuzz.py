"""Bounded fuzzing of the REST OpenAPI and of the GraphQL schema (schemathesis):
no 5xx, and no response leaks internals (trace, SQL, Cypher, file path)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from graph.access import create_key
from graph.settings import Settings

pytestmark = pytest.mark.slow
#: (A page has <select> elements: SQL is "SELECT … FROM".)
LEAKS = re.compile(
    r"Traceback|File \"|/work/|site-packages|\bSELECT\b[^<>]{0,80}\bFROM\b|\bMATCH \(|sqlite|neo4j\.exceptions",
    re.I,
)


@pytest.fixture(scope="module")
def fuzz_app(demo_dir, demo_store):
    _, secret = create_key(demo_store, "gnchr", label="fuzz")
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=1_000_000), store=demo_store)
    app.state.fuzz_headers = {"Authorization": f"Bearer {secret}"}
    return app


@pytest.fixture(scope="module")
def rest_schema(fuzz_app):
    from fastapi.testclient import TestClient

    with TestClient(fuzz_app):  # runs the lifespan: the store is attached
        yield schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, headers=fuzz_app.state.fuzz_headers)


@pytest.fixture(scope="module")
def graphql_schema(fuzz_app):
    from fastapi.testclient import TestClient

    with TestClient(fuzz_app):
        yield schemathesis.graphql.from_asgi("/graphql", fuzz_app, headers=fuzz_app.state.fuzz_headers)


FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


def check(response, sent: str = "") -> None:
    """No 5xx, and no leak: a suspicious word that the request itself sent (an
    unknown code « SQLITE » echoed in the French error) is not a leak."""
    assert response.status_code < 500, (response.status_code, response.content[:500])
    if "spreadsheetml" in str(response.headers.get("content-type", "")):
        from openpyxl import load_workbook  # an Excel export: its cells are the text to check

        book = load_workbook(__import__("io").BytesIO(response.content))
        text = " ".join(
            str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None
        )
    else:
        text = response.text
    if "<title>dihr-graph — GraphiQL</title>" in text:
        return  # the GraphiQL page: a static front-end, no data from the service
    leaks = [m.group(0) for m in LEAKS.finditer(text) if m.group(0).lower() not in sent.lower()]
    assert not leaks, text[:500]


def fuzz(schema, headers: dict[str, str]) -> int:
    """Every operation of the schema, FUZZ examples each; returns how many operations ran."""
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case) -> None:
            sent = repr((case.body, case.query, case.path_parameters))
            check(case.call(headers=headers), sent)

        run()
        operations += 1
    return operations


def test_rest_fuzz(rest_schema, fuzz_app):
    assert fuzz(rest_schema, fuzz_app.state.fuzz_headers) >= 5


def test_graphql_fuzz(graphql_schema, fuzz_app):
    assert fuzz(graphql_schema, fuzz_app.state.fuzz_headers) >= 10


# -- pages and raw bodies (outside the OpenAPI and GraphQL schemas) ----------------
PARAMS = [
    "d",
    "lieu",
    "rayon",
    "age",
    "seuil",
    "niveau",
    "critere",
    "page",
    "type",
    "erhr",
    "q",
    "commune",
    "competence",
    "maladie",
    "deficience",
    "limit",
    "deficiencies",
    "threshold_km",
    "level",
    "radius_km",
    "criterion",
    "suite",
    "statut",
    "conditions",
    "skills",
    "c",
    "competences",
]
VALUES = [
    "",
    "abc",
    "-1",
    "0",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "86194",
    "2A004",
    "DV",
    "DV,TSA",
    "ERHR",
    "999999999999999999999",
    "%ff",
    "\x00",
    "é" * 300,
    "' OR 1=1 --",
    "<script>x</script>",
    "${alert(1)}",
    "../../etc/passwd",
    "60,5",
    "NA",
]


def _routes(method: str) -> list[str]:
    """The pages' and maps' paths of a method (path parameters filled with « X »)."""
    from api import map_routes, pages

    return sorted(
        {
            re.sub(r"\{[^}]+\}", "X", route.path)
            for router in (pages.router, map_routes.router)
            for route in router.routes
            if method in getattr(route, "methods", set())
        }
    )


def test_pages_fuzz(fuzz_app):
    """Every page and map with hostile query parameters: never a 5xx nor a leak."""
    from fastapi.testclient import TestClient
    from hypothesis import strategies as st

    paths = _routes("GET")
    assert len(paths) >= 10
    with TestClient(fuzz_app, headers=fuzz_app.state.fuzz_headers, raise_server_exceptions=False) as client:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(
            path=st.sampled_from(paths),
            params=st.lists(
                st.tuples(st.sampled_from(PARAMS), st.sampled_from(VALUES) | st.text(max_size=30)), max_size=6
            ),
        )
        def run(path: str, params: list[tuple[str, str]]) -> None:
            response = client.get(path, params=params, follow_redirects=False)
            check(response, repr(params))

        run()


def test_raw_bodies_fuzz(fuzz_app):
    """Bytes that are not a GraphQL request (invalid UTF-8, garbage, JSON of the wrong
    shape) on /graphql and on the forms: a 4xx in French, never a 5xx."""
    from fastapi.testclient import TestClient
    from hypothesis import strategies as st

    forms = _routes("POST")
    with TestClient(fuzz_app, headers=fuzz_app.state.fuzz_headers, raise_server_exceptions=False) as client:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(
            path=st.sampled_from(["/graphql", *forms]),
            body=st.binary(max_size=300)
            | st.sampled_from(
                [
                    b"null",
                    b"[]",
                    b"1",
                    b'"x"',
                    b'{"query": null}',
                    b'{"query": "\xff"}',
                    b"\xff\xfe",
                    b'{"query": "{", "variables": 3}',
                ]
            ),
            kind=st.sampled_from(
                [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                    "multipart/form-data; boundary=x",
                    "application/graphql",
                ]
            ),
        )
        def run(path: str, body: bytes, kind: str) -> None:
            response = client.post(path, content=body, headers={"Content-Type": kind}, follow_redirects=False)
            check(response, repr(body))
            if path == "/graphql" and response.status_code == 400:
                assert response.headers["content-type"].startswith("application/json")
                assert set(response.json()) >= {"code", "message"}

        run()


@pytest.mark.parametrize(
    "path",
    [
        "/couverture/simulation?d=DV&seuil=abc&commune=86194",
        "/couverture?d=DV&seuil=abc",
        "/annuaire?page=abc",
        "/situations?page=abc",
        "/maps/coverage?deficiencies=DV&threshold_km=abc",
    ],
)
def test_a_malformed_parameter_is_a_french_400(fuzz_app, path):
    from fastapi.testclient import TestClient

    with TestClient(fuzz_app, headers=fuzz_app.state.fuzz_headers, raise_server_exceptions=False) as client:
        response = client.get(path)
    assert response.status_code == 400, response.text[:300]
    assert "invalide" in response.text


@pytest.mark.parametrize("body", [b"\xff\xfe\xfa", b'{"query": "\xff"}', b"null", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_a_french_400(fuzz_app, body):
    from fastapi.testclient import TestClient

    with TestClient(fuzz_app, headers=fuzz_app.state.fuzz_headers, raise_server_exceptions=False) as client:
        response = client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "BAD_REQUEST" and "Corps de requête" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "kind", "said"),
    [
        (b'{"variables": {}}', "application/json", "Aucune requête GraphQL"),
        (b"query { __typename }", "text/plain", "Type de contenu non pris en charge"),
        (b'{"query": "{ __typename }", "variables": [1]}', "application/json", "« variables » doit être"),
        (b'{"query": 3}', "application/json", "« query » doit être"),
    ],
)
def test_a_request_graphql_refuses_is_answered_in_french_in_the_api_s_error_shape(fuzz_app, body, kind, said):
    """What strawberry refuses before running a query (no query, another content
    type, variables that are not an object) reads as every other error of the API:
    JSON ``{"code", "message"}``, the message in French — not English plain text."""
    from fastapi.testclient import TestClient

    with TestClient(fuzz_app, headers=fuzz_app.state.fuzz_headers, raise_server_exceptions=False) as client:
        response = client.post("/graphql", content=body, headers={"Content-Type": kind})
        by_get = client.get("/graphql?query=mutation%20%7B%20x%20%7D", headers={"Accept": "application/json"})
    for answer, words in ((response, said), (by_get, "en POST")):
        assert answer.status_code == 400, answer.text[:300]
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["code"] == "BAD_REQUEST" and words in answer.json()["message"]
