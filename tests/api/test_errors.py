"""The error table (``graph.errors``) and its one translation per boundary:
HTTP JSON, pages, GraphQL — the same code, status and French message."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import json_error
from graph import errors
from graph.access import create_key
from graph.settings import Settings
from graph.stores.memory import MemoryStore

COVERAGE = "query($d: [String!]!, $l: Level!) { coverage(deficiencies: $d, level: $l) { combination } }"


class _Outage:
    """A store whose server went away after start-up: every read fails."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner, self.down = inner, False

    def __getattr__(self, name: str):
        attribute = getattr(self.inner, name)
        if not callable(attribute) or name == "close":
            return attribute

        def call(*args, **kwargs):
            if self.down:
                raise errors.StoreUnavailable(
                    "Serveur Neo4j injoignable à bolt://db:7687 : vérifiez DIHR_NEO4J_URI."
                )
            return attribute(*args, **kwargs)

        return call


@pytest.fixture
def served(reference_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(reference_dir, data)
    store = _Outage(MemoryStore(data))
    _info, secret = create_key(store, "gnchr", label="errors")
    app = create_app(Settings(data_dir=data), store=store)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client, store, {"Authorization": f"Bearer {secret}"}
    store.inner.close()


@pytest.mark.parametrize("code", sorted(errors.ERROR_TABLE))
def test_every_error_of_the_table_answers_its_own_status(code):
    status, exit_code, cls = errors.ERROR_TABLE[code]
    err = cls.__new__(cls)
    errors.DihrError.__init__(err, "message")
    err.__dict__.update(wait_s=1.0, correlation_id="abc")  # what the constructors of some classes add
    response = json_error(err)
    assert response.status_code == status == cls.status and exit_code in (1, 2)
    assert b'"code":"' + code.encode() + b'"' in response.body


def test_groups_give_their_status():
    assert errors.StoreUnavailable("x").status == 503 and isinstance(
        errors.StoreUnavailable("x"), errors.ServiceError
    )
    assert errors.QueryTimeout("x").status == 504
    assert errors.Forbidden().status == 403 and errors.Unauthenticated().status == 401
    assert errors.NotFound("x").status == 404 and errors.StoreError("x").status == 409
    assert errors.RateLimited(2.2).headers() == {"Retry-After": "3"}
    assert isinstance(errors.SchemaError("x"), ValueError)  # model code still catches it so


@pytest.mark.parametrize(
    "variables", [{}, {"d": ["DV"], "l": "PLANET"}, {"d": "DV", "l": 3}, {"d": [1], "l": "REGION"}]
)
@pytest.mark.slow
def test_a_bad_or_missing_variable_is_a_validation_error_not_an_internal_one(served, variables, caplog):
    client, _store, headers = served
    with caplog.at_level(logging.ERROR, logger="dihr.api"):
        body = client.post(
            "/graphql", json={"query": COVERAGE, "variables": variables}, headers=headers
        ).json()
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"GRAPHQL_VALIDATION_FAILED"}, body
    assert all(e["message"].startswith("Requête GraphQL invalide") for e in body["errors"])
    assert "unexpected error" not in caplog.text
    inline = client.post(
        "/graphql",
        json={"query": '{ coverage(deficiencies: ["DV"], level: PLANET) { combination } }'},
        headers=headers,
    ).json()
    assert inline["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.slow
def test_a_store_outage_answers_503_everywhere_without_the_operators_details(served, caplog):
    client, store, headers = served
    assert client.get("/health").status_code == 200
    store.down = True
    with caplog.at_level(logging.WARNING, logger="dihr.api"):
        health = client.get("/health")
        export = client.get("/exports/coverage.csv", params={"deficiencies": "DV"}, headers=headers)
        page = client.get("/couverture", params={"d": "DV"}, headers=headers)
        search = client.get("/recherche", params={"d": "DV", "lieu": "86194"}, headers=headers)
        graphql = client.post(
            "/graphql", json={"query": COVERAGE, "variables": {"d": ["DV"], "l": "REGION"}}, headers=headers
        )
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert export.status_code == 503 and export.json()["code"] == "STORE_UNAVAILABLE"
    assert page.status_code == 503 and "Service indisponible" in page.text
    assert search.status_code == 503 and "Réessayez dans quelques instants" in search.text
    assert graphql.status_code == 503 and graphql.headers["Retry-After"] == "5"
    assert "STORE_UNAVAILABLE" in graphql.text  # the caller's key could not even be checked
    for answer in (health, export, page, search, graphql):
        assert "momentanément indisponible" in answer.text
        assert "DIHR_" not in answer.text and "bolt://" not in answer.text  # the operator's, in the log
    assert "DIHR_NEO4J_URI" in caplog.text
    store.down = False
    assert client.get("/health").status_code == 200  # service resumes by itself


@pytest.mark.slow
def test_an_unexpected_error_is_masked_with_a_reference(served, monkeypatch, caplog):
    client, _store, headers = served
    from graph import service

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr(service, "gaps", broken)
    with caplog.at_level(logging.ERROR, logger="dihr.api"):
        answer = client.get("/exports/gaps.csv", headers=headers)
        graphql = client.post("/graphql", json={"query": "{ gaps { level } }"}, headers=headers).json()
    assert answer.status_code == 500 and answer.json()["code"] == "INTERNAL_ERROR"
    assert "secret detail" not in answer.text and answer.json()["correlationId"] in caplog.text
    error = graphql["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_ERROR" and "secret detail" not in str(graphql)
    assert error["extensions"]["correlationId"] in caplog.text


@pytest.mark.slow
def test_anonymous_callers_get_401_and_pages_the_sign_in(served):
    client, _store, _headers = served
    for path in (
        "/graphql",
        "/exports/gaps.csv",
        "/maps/gaps",
        "/docs",
        "/openapi.json",
        "/modeles/annuaire.csv",
    ):
        response = client.get(path)
        assert response.status_code == 401 and response.json()["code"] == "UNAUTHENTICATED", path
        assert response.headers["www-authenticate"] == "Bearer"
    page = client.get("/couverture", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/connexion?suite=/couverture"
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


@pytest.mark.slow
def test_authentication_runs_off_the_event_loop(served, monkeypatch):
    """The key lookup (SQLite, or a Bolt round trip) runs in a worker thread."""
    import threading

    import api.deps

    client, _store, headers = served
    seen: list[str] = []
    real = api.deps.authenticate

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(api.deps, "authenticate", spy)
    assert client.get("/exports/gaps.csv", headers=headers).status_code == 200
    assert seen and all(name != "MainThread" and "loop" not in name.lower() for name in seen)
    assert threading.main_thread().name not in seen


@pytest.mark.slow
def test_pages_and_exports_answer_within_the_query_timeout(served, monkeypatch):
    import time

    from graph import service

    client, _store, headers = served
    app = client.app
    app.state.settings = app.state.settings.model_copy(update={"query_timeout_s": 0.2})
    monkeypatch.setattr(service, "gaps", lambda *a, **k: time.sleep(2))
    started = time.monotonic()
    export = client.get("/exports/gaps.csv", headers=headers)
    page = client.get("/couverture/manques", headers=headers)
    assert export.status_code == 504 and export.json()["code"] == "TIMEOUT"
    assert page.status_code == 504 and "a dépassé" in page.text
    assert time.monotonic() - started < 1.9
