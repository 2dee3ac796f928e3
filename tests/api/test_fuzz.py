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
LEAKS = re.compile(r"Traceback|File \"|/work/|site-packages|\bSELECT\b|\bMATCH \(|sqlite|neo4j\.exceptions", re.I)


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


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
               database=None)


def check(response, sent: str = "") -> None:
    """No 5xx, and no leak: a suspicious word that the request itself sent (an
    unknown code « SQLITE » echoed in the French error) is not a leak."""
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if "<title>Strawberry GraphiQL</title>" in response.text:
        return  # the GraphiQL page: a static front-end, no data from the service
    leaks = [m.group(0) for m in LEAKS.finditer(response.text) if m.group(0).lower() not in sent.lower()]
    assert not leaks, response.text[:500]


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
