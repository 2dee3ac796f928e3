"""Neo4jStore plumbing with a fake driver: batching, atomicity, error translation.

The store's *behaviour* is asserted by the shared contract suite
(test_store_contract.py, test_matching.py), which runs on Neo4j when
DIHR_NEO4J_URI is set."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from neo4j import exceptions as neo

from graph.errors import StoreError, StoreUnavailable
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.readmodel import read_model
from graph.settings import Settings
from graph.stores import neo4j as neo4j_store
from graph.stores.neo4j import (
    BUMP_REVISION_CYPHER,
    CHANGES_SINCE_CYPHER,
    READ_EDGES_CYPHER,
    READ_NODES_CYPHER,
    REVISION_AND_CHANGES_CYPHER,
    REVISION_CYPHER,
    Neo4jStore,
)

K, R = NodeKind, RelType


class FakeResult:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def __iter__(self):
        return iter(self.records)

    def single(self) -> dict[str, Any]:
        return self.records[0]

    def consume(self) -> None:
        return None


class FakeTx:
    def __init__(self, log: list[tuple[str, dict[str, Any]]], drop_edges: bool) -> None:
        self.log, self.drop_edges = log, drop_edges

    def run(self, cypher: str, **params: Any) -> FakeResult:
        self.log.append((cypher, params))
        if cypher in (READ_NODES_CYPHER, READ_EDGES_CYPHER):
            return FakeResult([])
        rows = params.get("rows", [])
        written = len(rows) - (1 if self.drop_edges and "CREATE (s)-[r:" in cypher else 0)
        if getattr(self, "twins", None) and "CREATE (s)-[r:" in cypher:
            self.twins.pop()
            written = len(rows) + 1  # an endpoint matched twice: another writer's twin
        return FakeResult([{"written": written, "deleted": len(rows), "revision": 1}])


class FakeSession:
    def __init__(self, driver: FakeDriver) -> None:
        self.driver = driver

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute_write(self, fn, *args):
        log: list[tuple[str, dict[str, Any]]] = []
        tx = FakeTx(log, self.driver.drop_edges)
        tx.twins = self.driver.twins
        result = fn(tx, *args)  # raises → nothing committed
        self.driver.committed.extend(log)
        return result

    def run(self, cypher: str, **params: Any) -> FakeResult:
        if self.driver.fail_with is not None:
            raise self.driver.fail_with
        self.driver.committed.append((cypher, params))
        return FakeResult([])


class FakeDriver:
    def __init__(self, *, drop_edges: bool = False, fail_with: Exception | None = None) -> None:
        self.committed: list[tuple[str, dict[str, Any]]] = []
        self.drop_edges, self.fail_with = drop_edges, fail_with
        self.twins: list[int] = []  # how many edge batches meet another writer's twin node

    def session(self, database: str, bookmark_manager: object = None) -> FakeSession:
        return FakeSession(self)

    def close(self) -> None:
        return None


def pros(n: int) -> list[Node]:
    return [Node(K.PROFESSIONAL, f"p{i}", {"profession": "orthoptiste"}) for i in range(n)]


def test_writes_are_unwind_batches_of_the_configured_size():
    driver = FakeDriver()
    store = Neo4jStore(driver, database="neo4j", batch_size=5)
    summary = store.upsert(pros(12))
    assert summary.nodes_created == 12
    writes = [p["rows"] for c, p in driver.committed if "CREATE (n:Professional:DihrNode)" in c]
    assert [len(rows) for rows in writes] == [5, 5, 2]
    assert all("UNWIND $rows" in c for c, p in driver.committed if "rows" in p)
    first = writes[0][0]["fields"]
    assert first["uid"] == "|Professional:p0" and first["kind"] == "Professional" and "_json" in first


def test_every_session_of_a_store_carries_one_bookmark_manager():
    """On a cluster (neo4j://, Aura) a read routed to another member waits for
    the bookmarks of this process's writes: it reads its own writes."""
    managers: list[object] = []

    class Recording(FakeDriver):
        def session(self, database: str, bookmark_manager: object = None) -> FakeSession:
            managers.append(bookmark_manager)
            return super().session(database)

    store = Neo4jStore(Recording(), database="neo4j")
    store.upsert(pros(2))
    store.upsert(pros(3))
    assert len(managers) >= 2 and managers[0] is not None and all(m is managers[0] for m in managers)


def test_values_are_parameters_never_formatted_into_cypher():
    driver = FakeDriver()
    Neo4jStore(driver, database="neo4j").upsert(
        [Node(K.ESTABLISHMENT, "860008564", {"name": "x' DETACH DELETE n //"})]
    )
    assert all("DETACH" not in cypher and "860008564" not in cypher for cypher, _ in driver.committed)


def test_an_edge_to_a_missing_node_rolls_the_batch_back():
    driver = FakeDriver(drop_edges=True)
    store = Neo4jStore(driver, database="neo4j")
    with pytest.raises(StoreError, match="rien n'a été écrit"):
        store.upsert(
            pros(2), [Edge(R.WORKS_AT, NodeRef(K.PROFESSIONAL, "p0"), NodeRef(K.ESTABLISHMENT, "860008564"))]
        )
    assert driver.committed == []


def test_schema_errors_are_refused_before_any_write():
    driver = FakeDriver()
    with pytest.raises(StoreError, match="invalid key"):
        Neo4jStore(driver, database="neo4j").upsert([Node(K.COMMUNE, "bad")])
    assert driver.committed == []


def test_missing_database_names_the_variable():
    err = neo.ClientError()
    err._neo4j_code = "Neo.ClientError.Database.DatabaseNotFound"  # what the server sends
    driver = FakeDriver(fail_with=err)
    with pytest.raises(StoreUnavailable, match="DIHR_NEO4J_DATABASE"):
        Neo4jStore(driver, database="absente").migrate()


def test_unreachable_server_is_a_clear_french_error_not_a_hang():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(neo4j_uri=f"bolt://127.0.0.1:{port}", neo4j_timeout_s=2)
    with pytest.raises(StoreUnavailable, match="injoignable.*DIHR_NEO4J_URI"):
        Neo4jStore.from_settings(settings)


def test_malformed_uri_names_the_variable():
    with pytest.raises(StoreUnavailable, match="DIHR_NEO4J_URI"):
        Neo4jStore.from_settings(Settings(neo4j_uri="http://nowhere"))


class RevisionSession(FakeSession):
    """Reads: the namespace revision the driver holds, nothing else."""

    def execute_read(self, fn):
        driver = self.driver

        class ReadTx:
            def run(self, cypher: str, **params: Any) -> FakeResult:
                driver.reads.append(cypher)
                if cypher == REVISION_AND_CHANGES_CYPHER:  # no change feed entry: none is patched
                    return FakeResult([{"revision": driver.revision, "change": None}])
                return FakeResult([{"revision": driver.revision}] if cypher == REVISION_CYPHER else [])

        return fn(ReadTx())


class RevisionDriver(FakeDriver):
    def __init__(self) -> None:
        super().__init__()
        self.revision = 0
        self.reads: list[str] = []

    def session(self, database: str, bookmark_manager: object = None) -> FakeSession:
        return RevisionSession(self)


class FeedSession(FakeSession):
    """Reads: the revision and the change feed the driver holds (``feed``: revision → uids)."""

    def execute_read(self, fn):
        driver = self.driver

        def entry(revision: int) -> dict[str, Any]:
            return {
                "revision": revision,
                "nodes": json.dumps(driver.feed[revision]),
                "sources": "[]",
                "complete": True,
            }

        class ReadTx:
            def run(self, cypher: str, **params: Any) -> FakeResult:
                driver.reads.append(cypher)
                if cypher == REVISION_CYPHER:
                    return FakeResult([{"revision": driver.revision}])
                if cypher == REVISION_AND_CHANGES_CYPHER:
                    after = [r for r in sorted(driver.feed) if params["known"] < r <= driver.revision]
                    return FakeResult(
                        [{**entry(r), "revision": driver.revision, "change": r} for r in after]
                        or [{"revision": driver.revision, "change": None}]
                    )
                if cypher == CHANGES_SINCE_CYPHER:
                    return FakeResult(
                        [entry(r) for r in sorted(driver.feed) if params["since"] < r <= params["until"]]
                    )
                return FakeResult([])

        return fn(ReadTx())


class FeedDriver(RevisionDriver):
    def __init__(self) -> None:
        super().__init__()
        self.feed: dict[int, list[str]] = {}

    def session(self, database: str, bookmark_manager: object = None) -> FakeSession:
        return FeedSession(self)


def test_the_feed_read_with_the_revision_is_not_reused_once_the_namespace_is_dropped(monkeypatch):
    """The change feed's entries come with the revision poll and serve the next
    patch without a read of their own; a namespace dropped and written again
    reuses revision numbers: the entries kept from before are forgotten."""
    monkeypatch.setattr(neo4j_store, "_REVISION_EVERY_S", 0.0)
    driver = FeedDriver()
    store = Neo4jStore(driver, database="neo4j")
    driver.revision, driver.feed = (
        3,
        {1: ["|Establishment:a"], 2: ["|Establishment:a"], 3: ["|Establishment:a"]},
    )
    assert store.revision() == 3
    driver.revision, driver.feed = 5, {**driver.feed, 4: ["|Establishment:x"], 5: ["|Establishment:y"]}
    assert store.revision() == 5
    changes = store.changes_since(3)
    assert changes is not None and {r.key for r in changes.nodes} == {"x", "y"}
    assert CHANGES_SINCE_CYPHER not in driver.reads  # came with the revision
    driver.revision, driver.feed = 0, {}  # dropped (tests, a re-import from scratch)
    assert store.revision() == 0
    driver.revision, driver.feed = 5, {r: ["|Establishment:z"] for r in range(1, 6)}
    store._revision = None  # looked again
    assert store.revision() == 5
    changes = store.changes_since(3)
    assert changes is not None and {r.key for r in changes.nodes} == {"z"}


def test_writes_that_change_resources_bump_the_revision_audit_entries_do_not():
    driver = FakeDriver()
    store = Neo4jStore(driver, database="neo4j")
    store.upsert([Node(K.AUDIT_ENTRY, "20261124-a", {"operation": "aggregate:gaps"})])
    assert not any(c == BUMP_REVISION_CYPHER for c, _ in driver.committed)
    store.upsert(pros(1))
    store.delete_edges(
        [Edge(R.WORKS_AT, NodeRef(K.PROFESSIONAL, "p0"), NodeRef(K.ESTABLISHMENT, "860008564"))]
    )
    assert sum(c == BUMP_REVISION_CYPHER for c, _ in driver.committed) == 2


def test_the_read_model_is_rebuilt_when_another_process_wrote(monkeypatch):
    monkeypatch.setattr(neo4j_store, "_REVISION_EVERY_S", 0.0)
    driver = RevisionDriver()
    store = Neo4jStore(driver, database="neo4j")
    first = read_model(store)
    assert read_model(store) is first  # same revision: kept
    driver.revision += 1  # a write by another worker
    assert read_model(store) is not first


def test_the_revision_is_read_at_most_once_a_second_but_at_once_after_our_write():
    driver = RevisionDriver()
    store = Neo4jStore(driver, database="neo4j")
    assert store.revision() == 0
    driver.revision = 5  # another process wrote
    assert store.revision() == 0  # not looked again yet
    reads = driver.reads.count(REVISION_CYPHER)
    store.upsert([Node(K.DEFICIENCY, "DV", {})])
    assert store.revision() == 5 and driver.reads.count(REVISION_CYPHER) == reads + 1


def test_a_batch_that_meets_another_writers_twin_node_is_retried_whole():
    """On an optimistic server two batches may create the same node; the loser's
    relationship then matches two endpoints. Retried, it reads the node and updates it."""
    driver = FakeDriver()
    driver.twins = [1]
    store = Neo4jStore(driver, database="neo4j")
    summary = store.upsert(
        pros(1), [Edge(R.WORKS_AT, NodeRef(K.PROFESSIONAL, "p0"), NodeRef(K.ESTABLISHMENT, "860008564"))]
    )
    assert summary.edges_created == 1 and driver.twins == []
    driver.twins = [1] * 10  # never resolves: refused in French, nothing written
    with pytest.raises(StoreError, match="concurrentes"):
        store.upsert(
            pros(1), [Edge(R.WORKS_AT, NodeRef(K.PROFESSIONAL, "p0"), NodeRef(K.ESTABLISHMENT, "860008564"))]
        )
