"""A document already validated runs without strawberry's per-request machinery
(api.prepared): every request answers the same bytes as strawberry's own path,
errors and refusals included."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

import api.app
import api.schema
from api import prepared
from api.app import create_app
from api.queries import COVERAGE_QUERY, FIND_RESOURCES_QUERY
from graph.errors import StoreUnavailable
from graph.settings import Settings
from tests.conftest import bearer

pytestmark = pytest.mark.slow

DIRECTORY_QUERY = """
query Directory($filter: ResourceFilter, $first: Int = 5) {
  erhr(code: "NA") { code name }
  resources(filter: $filter, first: $first) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } }
}
"""

SITUATION = {"deficiencies": ["DV", "TSA"], "commune": "86194", "age": 17, "skills": ["CAA"]}

#: (label, JSON body): what callers send, good and bad.
BODIES = [
    ("findResources", {"query": FIND_RESOURCES_QUERY, "variables": {"situation": SITUATION, "limit": 20}}),
    (
        "findResources, another situation",
        {
            "query": FIND_RESOURCES_QUERY,
            "variables": {"situation": {"deficiencies": ["DI", "EPI"], "commune": "86194", "radiusKm": 30}},
        },
    ),
    (
        "an unknown commune",
        {"query": FIND_RESOURCES_QUERY, "variables": {"situation": {**SITUATION, "commune": "00000"}}},
    ),
    (
        "a code nobody knows",
        {"query": FIND_RESOURCES_QUERY, "variables": {"situation": {**SITUATION, "deficiencies": ["XX"]}}},
    ),
    (
        "a variable of the wrong type",
        {"query": FIND_RESOURCES_QUERY, "variables": {"situation": {**SITUATION, "age": "douze"}}},
    ),
    ("a directory page too large", {"query": DIRECTORY_QUERY, "variables": {"first": 100000}}),
    ("a required variable missing", {"query": FIND_RESOURCES_QUERY, "variables": {}}),
    ("variables null", {"query": FIND_RESOURCES_QUERY, "variables": None}),
    (
        "an operation name that is not the document's",
        {"query": FIND_RESOURCES_QUERY, "operationName": "Autre", "variables": {"situation": SITUATION}},
    ),
    (
        "the document's operation name",
        {
            "query": FIND_RESOURCES_QUERY,
            "operationName": "FindResources",
            "variables": {"situation": SITUATION},
        },
    ),
    (
        "coverage",
        {
            "query": COVERAGE_QUERY,
            "variables": {"deficiencies": ["DV", "TSA"], "level": "DEPARTMENT", "thresholdKm": 60},
        },
    ),
    (
        "a directory of the caller's own",
        {"query": DIRECTORY_QUERY, "variables": {"filter": {"deficiencies": ["DV"]}, "first": 3}},
    ),
    ("variables that are not an object", {"query": FIND_RESOURCES_QUERY, "variables": [1, 2]}),
    (
        "an operation name that is not a string",
        {"query": FIND_RESOURCES_QUERY, "operationName": 3, "variables": {"situation": SITUATION}},
    ),
    (
        "extensions",
        {"query": FIND_RESOURCES_QUERY, "variables": {"situation": SITUATION}, "extensions": {"x": 1}},
    ),
]


def test_every_document_here_validates():
    from graphql import parse, validate

    for document in {body["query"] for _, body in BODIES}:
        assert validate(api.schema.schema._schema, parse(document)) == []


@pytest.fixture(scope="module")
def client(demo_dir, demo_store):
    with TestClient(
        create_app(Settings(data_dir=demo_dir), store=demo_store), headers=bearer(demo_store)
    ) as c:
        yield c


@pytest.fixture
def strawberry_calls(monkeypatch):
    """How many requests went through strawberry's ``Schema.execute``."""
    calls = {"n": 0}
    execute = api.schema.schema.execute

    async def counted(*args, **kwargs):
        calls["n"] += 1
        return await execute(*args, **kwargs)

    monkeypatch.setattr(api.schema.schema, "execute", counted)
    prepared.forget_all()
    yield calls
    prepared.forget_all()


@pytest.fixture
def short_calls(monkeypatch):
    """How many requests took the short path (api.prepared)."""
    calls = {"n": 0}
    execute = api.app.execute_prepared

    async def counted(*args, **kwargs):
        calls["n"] += 1
        return await execute(*args, **kwargs)

    monkeypatch.setattr(api.app, "execute_prepared", counted)
    return calls


def answer(response) -> tuple[int, str | None, str | None, object]:
    body = response.json()
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        (error.get("extensions") or {}).pop("correlationId", None)  # one per incident
    return (
        response.status_code,
        response.headers.get("content-type"),
        response.headers.get("retry-after"),
        body,
    )


#: Valid variables of each document (to have it validated first).
VALID = {
    FIND_RESOURCES_QUERY: {"situation": SITUATION},
    COVERAGE_QUERY: {"deficiencies": ["DV", "TSA"], "level": "DEPARTMENT", "thresholdKm": 60},
    DIRECTORY_QUERY: {},
}


@pytest.mark.parametrize("label,body", BODIES, ids=[label for label, _ in BODIES])
def test_a_request_for_a_validated_document_answers_what_strawberry_answers(
    client, strawberry_calls, short_calls, label, body
):
    def post():
        return client.post("/graphql", content=json.dumps(body), headers={"Content-Type": "application/json"})

    assert (
        client.post("/graphql", json={"query": body["query"], "variables": VALID[body["query"]]}).status_code
        == 200
    )
    assert (strawberry_calls["n"], short_calls["n"]) == (
        1,
        0,
    )  # validated by strawberry's path: known from now on
    short = post()
    plain = (
        isinstance(body.get("variables"), dict | None)
        and body.get("operationName") in (None, "FindResources", "Coverage", "Directory")
        and "extensions" not in body
    )
    assert short_calls["n"] == plain, f"{label}: {'not ' if plain else ''}on the short path"
    prepared.forget_all()
    long = post()
    assert short_calls["n"] == plain  # strawberry's path
    assert answer(short) == answer(long), label


def test_the_store_unavailable_is_a_503_with_retry_after_on_both_paths(client, strawberry_calls, monkeypatch):
    body = {"query": FIND_RESOURCES_QUERY, "variables": {"situation": SITUATION}}
    client.post("/graphql", json=body)  # validated once: the next ones may take the short path

    async def down(*args, **kwargs):
        raise StoreUnavailable("Base indisponible.")

    monkeypatch.setattr(api.schema, "run_search", down)
    short = client.post("/graphql", json=body)
    assert strawberry_calls["n"] == 1
    prepared.forget_all()
    long = client.post("/graphql", json=body)
    assert strawberry_calls["n"] == 2
    assert answer(short) == answer(long)
    assert short.status_code == 503 and short.headers["retry-after"] == "5"
    assert short.json()["errors"][0]["extensions"]["code"] == "STORE_UNAVAILABLE"


def test_a_caller_not_signed_in_is_refused_before_any_answer(client, strawberry_calls):
    body = {"query": FIND_RESOURCES_QUERY, "variables": {"situation": SITUATION}}
    assert client.post("/graphql", json=body).status_code == 200  # validated: the short path is open
    refused = client.post("/graphql", json=body, headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401
    assert "data" not in refused.json()
    prepared.forget_all()
    assert answer(client.post("/graphql", json=body, headers={"Authorization": "Bearer wrong"})) == answer(
        refused
    )


def test_a_get_or_a_non_json_request_takes_strawberrys_path(client, strawberry_calls, short_calls):
    body = {"query": FIND_RESOURCES_QUERY, "variables": {"situation": SITUATION}}
    assert client.post("/graphql", json=body).status_code == 200
    assert client.post("/graphql", json=body).status_code == 200
    assert short_calls["n"] == 1
    text = client.post("/graphql", content=json.dumps(body), headers={"Content-Type": "text/plain"})
    got = client.get(
        "/graphql", params={"query": FIND_RESOURCES_QUERY, "variables": json.dumps(body["variables"])}
    )
    assert (text.status_code, got.status_code) == (400, 200)
    assert short_calls["n"] == 1


def test_an_accept_header_asking_for_a_stream_is_answered_as_strawberry_answers_it(client, strawberry_calls):
    """No streaming transport is enabled: strawberry answers such a request as a
    plain one, and so does the short path (the same bytes)."""
    body = {"query": FIND_RESOURCES_QUERY, "variables": {"situation": SITUATION}}
    client.post("/graphql", json=body)
    for accept in ("multipart/mixed", "text/event-stream", "application/graphql-response+json"):
        short = client.post("/graphql", json=body, headers={"Accept": accept})
        prepared.forget_all()
        long = client.post("/graphql", json=body, headers={"Accept": accept})
        assert answer(short) == answer(long), accept
