"""Several app servers over one Bolt database (Neo4j 5 cluster or Aura, ArcadeDB
HA): an expertise edit through one server changes the other's answers within
about a second (the namespace revision of graph/stores/neo4j.py)."""

from __future__ import annotations

import os
import re
import time
import uuid

import httpx
import pytest

from graph.access import create_key
from tests.conftest import BOLT, needs_neo4j, served
from tests.factories import Network

pytestmark = [pytest.mark.slow, pytest.mark.neo4j, needs_neo4j]

FIND = """query($s: SituationInput!) { findResources(situation: $s) { matches { key level covers { need source } } } }"""


def _local_keys(url: str, secret: str) -> list[str]:
    body = {"query": FIND, "variables": {"s": {"deficiencies": ["DA"], "commune": "86194", "age": 30}}}
    response = httpx.post(
        f"{url}/graphql", json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return [m["key"] for m in response.json()["data"]["findResources"]["matches"] if m["level"] == "LOCAL"]


def _login(url: str, secret: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    page = client.get("/connexion")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    done = client.post("/connexion", data={"cle": secret, "csrf": token, "suite": ""})
    assert done.status_code == 303, done.text[:300]
    return client


def test_an_expertise_edit_through_one_server_reaches_the_other(tmp_path):
    from graph.stores.neo4j import Neo4jStore

    assert BOLT is not None
    namespace = f"deux-serveurs-{uuid.uuid4().hex[:8]}"
    store = Neo4jStore.from_settings(BOLT, namespace=namespace)
    try:
        net = Network(store)
        net.establishment("860000301", 20, expertise={"DV": 2})
        _key_id, secret = create_key(store, "gnchr", label="deux serveurs")
        env = {
            "DIHR_NEO4J_URI": BOLT.neo4j_uri or "",
            "DIHR_NEO4J_USER": BOLT.neo4j_user,
            "DIHR_NEO4J_PASSWORD": BOLT.neo4j_password,
            "DIHR_NEO4J_DATABASE": BOLT.neo4j_database,
            "DIHR_NEO4J_NAMESPACE": namespace,
            "DIHR_RATE_LIMIT_PER_MINUTE": "100000",
        }
        with (
            served(tmp_path / "a", "--workers", "1", **env) as first,
            served(tmp_path / "b", "--workers", "1", **env) as second,
        ):
            assert _local_keys(first, secret) == [] and _local_keys(second, secret) == []
            client = _login(first, secret)
            try:
                page = client.get("/annuaire/etablissement/860000301")
                token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                edit = client.post(
                    "/annuaire/etablissement/860000301/expertise",
                    data={"csrf": token, "code": "DA", "niveau": "3"},
                )
                assert edit.status_code == 200, edit.text[-500:]
            finally:
                client.close()
            assert _local_keys(first, secret) == ["860000301"]  # the writer sees it at once
            deadline = time.monotonic() + 5
            while _local_keys(second, secret) != ["860000301"]:
                assert time.monotonic() < deadline, "the other server never saw the edit"
                time.sleep(0.2)
            seen_after = time.monotonic() - (deadline - 5)
            assert seen_after < 3.0
    finally:
        store.drop_namespace()
        store.close()


def test_migrate_detects_the_point_index_instead_of_assuming_it(monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app as cli
    from graph.stores.neo4j import Neo4jStore

    assert BOLT is not None
    on_arcadedb = not os.environ.get("DIHR_NEO4J_URI")  # the ArcadeDB started for the test run
    for name, value in (
        ("DIHR_NEO4J_URI", BOLT.neo4j_uri or ""),
        ("DIHR_NEO4J_USER", BOLT.neo4j_user),
        ("DIHR_NEO4J_PASSWORD", BOLT.neo4j_password),
        ("DIHR_NEO4J_DATABASE", BOLT.neo4j_database),
        ("DIHR_NEO4J_NAMESPACE", f"migrate-{uuid.uuid4().hex[:8]}"),
    ):
        monkeypatch.setenv(name, value)
    run = CliRunner().invoke(cli, ["migrate"])
    assert run.exit_code == 0, run.output
    store = Neo4jStore.from_settings(BOLT, namespace="capabilities")
    try:
        present = store.capabilities()["point_index"]
    finally:
        store.close()
    # the answer is what the server says: a range index on ArcadeDB, a POINT index on Neo4j 5
    if on_arcadedb:
        assert present is False
    assert ("Index ponctuel (POINT) sur la position : présent." in run.stdout) is present
    assert ("absent sur ce serveur" in run.stdout) is not present


def _graphql(url: str, secret: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{url}/graphql",
        json={"query": "{ skills { code } }"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=timeout,
    )


def test_sessions_limits_and_an_outage_across_two_servers(tmp_path):
    """Two app servers over one Bolt database (its own ArcadeDB, to be killed):
    a page session opened on A is valid on B; a limit of N a minute accepts N
    requests across both; the database killed, both answer a French 503 within
    5 s with nothing of the operator's settings in the body, then serve again by
    themselves once it is back."""
    from graph.settings import Settings
    from graph.stores.neo4j import Neo4jStore
    from tools import arcadedb

    server = arcadedb.start(tmp_path / "db")
    settings = Settings(
        data_dir=tmp_path / "x",
        neo4j_uri=server.uri,
        neo4j_user=server.user,
        neo4j_password=server.password,
        neo4j_database=server.database,
    )
    store = Neo4jStore.from_settings(settings, namespace="two")
    try:
        _id, pages_key = create_key(store, "gnchr", label="pages")
        _id, api_key = create_key(store, "gnchr", label="api")
    finally:
        store.close()
    limit = 6
    env = {
        "DIHR_NEO4J_URI": server.uri,
        "DIHR_NEO4J_USER": server.user,
        "DIHR_NEO4J_PASSWORD": server.password,
        "DIHR_NEO4J_DATABASE": server.database,
        "DIHR_NEO4J_NAMESPACE": "two",
        "DIHR_RATE_LIMIT_PER_MINUTE": str(limit),
    }
    try:
        with (
            served(tmp_path / "a", "--workers", "1", **env) as first,
            served(tmp_path / "b", "--workers", "1", **env) as second,
        ):
            client = _login(first, pages_key)
            try:
                cookie = client.cookies.get("dihr_session")
                assert cookie
                on_b = httpx.get(
                    f"{second}/situations",
                    cookies={"dihr_session": cookie},
                    follow_redirects=False,
                    timeout=30,
                )
                assert on_b.status_code == 200, on_b.text[:300]  # not sent back to /connexion
            finally:
                client.close()

            # One window of a minute for the whole sequence (fixed windows).
            while time.time() % 60 > 40:
                time.sleep(1)
            codes = [_graphql(url, api_key).status_code for url in (first, second) * limit]
            assert codes[:limit] == [200] * limit and set(codes[limit:]) == {429}, codes

            server.stop()  # the database goes away
            for url in (first, second):
                started = time.monotonic()
                down = _graphql(url, pages_key, timeout=15)
                assert time.monotonic() - started <= 5.0
                assert down.status_code == 503 and "momentanément indisponible" in down.text
                assert "DIHR_" not in down.text and server.uri not in down.text
                health = httpx.get(f"{url}/health", timeout=15)
                assert health.status_code == 503 and health.json()["status"] == "unavailable"
            server = server.restart()
            deadline = time.monotonic() + 60
            for url in (first, second):
                while (answer := _graphql(url, pages_key)).status_code != 200:
                    assert time.monotonic() < deadline, answer.text[:300]
                    time.sleep(0.5)
    finally:
        server.stop()
