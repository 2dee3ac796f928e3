"""Per-request costs and memory of the embedded stores: one look for other
processes' writes per request, API keys read once yet revoked at once, and the
garbage collector left on while read models are rebuilt (frozen once, at start)."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from graph import competence, readmodel
from graph.access import authenticate, create_key, revoke_key
from graph.errors import Unauthenticated
from graph.model import Node, NodeKind
from graph.readmodel import read_model, warm_and_freeze
from graph.store import one_look
from graph.stores import durable, walsignal
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore
from tests.factories import build_territory

K = NodeKind


@pytest.fixture
def pair(tmp_path):
    """Two processes' stores over one data directory: a server worker (SQLite) and the CLI."""
    cli = MemoryStore(tmp_path)
    build_territory(cli)
    worker = SQLiteStore(tmp_path)
    yield worker, cli
    worker.close()
    cli.close()


def settle() -> None:
    time.sleep(durable._PROBE_EVERY_S * 5)


def test_a_request_looks_for_other_processes_writes_once(pair, monkeypatch):
    worker, cli = pair
    looks = {"n": 0}
    probe = worker._wal.header  # a look reads the WAL index header (then SQLite, if it changed)

    def counted() -> bytes | None:
        looks["n"] += 1
        return probe()

    monkeypatch.setattr(worker._wal, "header", counted)
    settle()
    with one_look():
        for _ in range(3):
            worker.revision()
            worker.get_node(K.COMMUNE, "86194")
            time.sleep(durable._PROBE_EVERY_S * 2)  # longer than the probe interval: still one look
    assert looks["n"] == 1
    cli.upsert([Node(K.COMMUNE, "86194", {"population": 90_001})])
    settle()
    with one_look():  # the next request sees the other process's write
        assert worker.get_node(K.COMMUNE, "86194").props["population"] == 90_001


def test_sqlite_is_not_asked_while_no_transaction_was_committed(pair, monkeypatch):
    """The WAL index header says nothing was committed: no PRAGMA (graph.stores.walsignal);
    a commit by the other process changes it, and the next look sees the write."""
    worker, cli = pair
    settle()
    worker.revision()
    looks = {"n": 0}
    probe = worker._data_version

    def counted() -> int:
        looks["n"] += 1
        return probe()

    monkeypatch.setattr(worker, "_data_version", counted)
    for _ in range(5):
        settle()
        worker.revision()
    assert looks["n"] == 0
    cli.upsert([Node(K.COMMUNE, "86194", {"population": 90_002})])
    settle()
    assert worker.get_node(K.COMMUNE, "86194").props["population"] == 90_002
    assert looks["n"] == 1


def test_a_commit_the_wal_header_missed_is_still_seen_within_the_full_probe_delay(tmp_path, monkeypatch):
    """A header that stays the same (the -shm file replaced under the process):
    SQLite is still asked every FULL_PROBE_EVERY_S, and the file is opened again."""
    cli = MemoryStore(tmp_path)
    build_territory(cli)
    worker = MemoryStore(tmp_path)  # a graph in memory, caught up from the change log
    settle()
    worker.revision()
    frozen = worker._wal.header()
    monkeypatch.setattr(worker._wal, "header", lambda: frozen)
    reopened = {"n": 0}
    reopen = worker._wal.reopen

    def counted() -> None:
        reopened["n"] += 1
        reopen()

    monkeypatch.setattr(worker._wal, "reopen", counted)
    cli.upsert([Node(K.COMMUNE, "86194", {"population": 90_003})])
    settle()
    assert worker.get_node(K.COMMUNE, "86194").props["population"] != 90_003  # not yet: the header hid it
    time.sleep(walsignal.FULL_PROBE_EVERY_S)
    assert worker.get_node(K.COMMUNE, "86194").props["population"] == 90_003
    assert reopened["n"] == 1
    monkeypatch.undo()
    worker.close()
    cli.close()


def test_an_api_key_is_read_once_and_a_revocation_by_another_process_applies_at_once(pair, monkeypatch):
    worker, cli = pair
    info, secret = create_key(cli, "gnchr", label="cost test")
    key_id = info.key_id
    settle()
    reads = {"n": 0}
    disk_nodes = worker._disk_nodes

    def counted(kind, keys):
        reads["n"] += kind is K.API_KEY
        return disk_nodes(kind, keys)

    monkeypatch.setattr(worker, "_disk_nodes", counted)
    for _ in range(5):
        assert authenticate(worker, secret).key_id == key_id
    assert reads["n"] == 1  # read from SQLite once, then kept
    revoke_key(cli, key_id)  # the CLI revokes it, in another process
    settle()
    with pytest.raises(Unauthenticated):
        authenticate(worker, secret)


def test_read_models_are_rebuilt_with_the_collector_on_and_their_garbage_is_collected(tmp_path, monkeypatch):
    store = MemoryStore(tmp_path)
    build_territory(store)
    try:
        warm_and_freeze(store)  # a server at start: read models built, everything loaded frozen once
        enabled_while_building = []
        build = competence.build_competence_index

        def watched(*args, **kwargs):
            enabled_while_building.append(gc.isenabled())
            return build(*args, **kwargs)

        monkeypatch.setattr(readmodel, "build_competence_index", watched)
        frozen = gc.get_freeze_count()
        store.upsert([Node(K.COMMUNE, "86194", {"population": 1})])  # a commune: the index is rebuilt
        read_model(store).competence  # noqa: B018
        assert enabled_while_building == [True]
        assert gc.get_freeze_count() <= frozen  # a rebuild freezes nothing more

        class Cycle:
            pass

        garbage = Cycle()
        garbage.me = garbage  # type: ignore[attr-defined]
        alive = weakref.ref(garbage)
        del garbage
        gc.collect()
        assert alive() is None  # dropped cyclic garbage made after the freeze is collected
    finally:
        gc.unfreeze()
        store.close()
