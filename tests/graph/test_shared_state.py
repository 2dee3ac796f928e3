"""The state app servers share (graph/shared.py) — sessions' values and
counters — on every backend, seen by a second process's store over the same
data (a second worker on the data directory, a second app server on the Bolt
database)."""

from __future__ import annotations

import time

import pytest

from graph.shared import SharedState
from graph.store import GraphStore
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore


def _second(backend: str, store: GraphStore) -> GraphStore:
    """Another process's store over the same data."""
    if backend == "neo4j":
        from graph.stores.neo4j import Neo4jStore
        from tests.conftest import BOLT

        assert BOLT is not None
        return Neo4jStore.from_settings(BOLT, namespace=store._ns)  # type: ignore[attr-defined]
    directory = store.path.parent  # type: ignore[attr-defined]
    return SQLiteStore(directory) if backend == "memory" else MemoryStore(directory)


def test_every_store_holds_the_shared_state(store):
    assert isinstance(store, SharedState)


def test_a_value_put_by_one_server_is_read_by_another_until_it_expires(backend, store):
    other = _second(backend, store)
    try:
        store.shared_put("session", "h1", {"key_id": "k1", "role": "erhr"}, ttl_s=60)
        assert other.shared_get("session", "h1") == {"key_id": "k1", "role": "erhr"}
        assert other.shared_get("session", "absent") is None
        other.shared_delete("session", "h1")
        assert store.shared_get("session", "h1") is None
        store.shared_put("session", "short", {"x": 1}, ttl_s=0.5)
        time.sleep(0.7)
        assert other.shared_get("session", "short") is None
    finally:
        other.close()


def test_counters_add_up_across_servers_per_window(backend, store):
    other = _second(backend, store)
    try:
        counts = [s.shared_hit("rate", "k1", 3600.0) for s in (store, other, store, other, store)]
        assert counts == [1, 2, 3, 4, 5]
        assert other.shared_hit("rate", "k1", 3600.0, add=0) == 5  # a read adds nothing
        assert store.shared_hit("rate", "k2", 3600.0, add=0) == 0
        assert store.shared_hit("signin", "k1", 3600.0) == 1  # scopes are apart
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_new_window_starts_from_zero(backend, store, monkeypatch):
    store.shared_hit("rate", "k1", 60.0)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.shared_hit("rate", "k1", 60.0) == 1
