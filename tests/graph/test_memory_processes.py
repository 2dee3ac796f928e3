"""Several processes on one embedded store (web workers, a CLI import while the
server runs): each sees the others' writes, and none overwrites them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.access import SYSTEM, audit, audit_entries
from graph.matching import SituationQuery, find_resources
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.readmodel import read_model
from graph.stores import durable
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore
from tests.factories import POITIERS, Network

K, R = NodeKind, RelType
ROOT = Path(__file__).resolve().parents[2]


def settle() -> None:
    """Longer than the store's probe interval."""
    time.sleep(durable._PROBE_EVERY_S * 5)


@pytest.fixture(params=["graph", "sqlite"])
def pair(request: pytest.FixtureRequest, tmp_path: Path):
    """Two processes on one file; in the "sqlite" variant the second holds no
    graph in memory (a server worker) and reads everything from SQLite."""
    a = MemoryStore(tmp_path)
    Network(a)
    b = MemoryStore(tmp_path) if request.param == "graph" else SQLiteStore(tmp_path)
    yield a, b
    a.close()
    b.close()


def establishment(key: str, name: str) -> Node:
    return Node(
        K.ESTABLISHMENT, key, {"name": name, "lat": POITIERS[0], "lon": POITIERS[1], "department": "86"}
    )


def dv_query() -> SituationQuery:
    return SituationQuery(deficiencies=["DV"], commune="86194", radius_km=50)


def test_a_write_by_one_is_read_by_the_other(pair):
    a, b = pair
    assert b.get_node(K.ESTABLISHMENT, "860000001") is None
    a.upsert([establishment("860000001", "Foyer A")])
    settle()
    node = b.get_node(K.ESTABLISHMENT, "860000001")
    assert node is not None and node.props["name"] == "Foyer A"
    assert b.count_nodes()[K.ESTABLISHMENT] == 1


def test_edges_added_and_deleted_elsewhere_reach_matching(pair):
    a, b = pair
    ref = NodeRef(K.ESTABLISHMENT, "860000001")
    a.upsert([establishment(ref.key, "Foyer A")])
    settle()
    assert find_resources(b, dv_query()).matches[0].level.value != "LOCAL"  # b's index built: nobody yet
    expertise = Edge(R.HAS_EXPERTISE, ref, NodeRef(K.DEFICIENCY, "DV"), {"level": 3})
    a.upsert(edges=[expertise])
    settle()
    first = find_resources(b, dv_query()).matches[0]
    assert (first.key, first.level.value) == (ref.key, "LOCAL")
    assert b.count_edges()[R.HAS_EXPERTISE] == a.count_edges()[R.HAS_EXPERTISE]
    assert a.delete_edges([expertise]) == 1
    settle()
    assert all(m.key != ref.key for m in find_resources(b, dv_query()).matches)
    assert b.edges_from([ref], [R.HAS_EXPERTISE])[ref] == []


def test_no_write_is_lost_when_two_processes_update_one_node(pair, tmp_path):
    a, b = pair
    a.upsert(
        [Node(K.ESTABLISHMENT, "860000001", {"name": "Foyer", "lat": 46.6, "lon": 0.3, "phone": "05 00"})]
    )
    # b writes right away, without reading first: it must merge into a's version.
    b.upsert([Node(K.ESTABLISHMENT, "860000001", {"email": "foyer@example.org"})])
    settle()
    for store in (a, b, MemoryStore(tmp_path)):
        props = store.get_node(K.ESTABLISHMENT, "860000001").props
        assert (props["phone"], props["email"], props["name"]) == ("05 00", "foyer@example.org", "Foyer")


def test_audit_entries_elsewhere_keep_the_read_model(pair):
    a, b = pair
    model = read_model(b)
    audit(a, SYSTEM, "aggregate:coverage", count=3)
    settle()
    assert read_model(b) is model  # an audit entry changes no resource
    assert len(audit_entries(b)) == 1
    a.upsert([establishment("860000001", "Foyer A")])
    settle()
    assert read_model(b) is not model


def test_a_process_behind_a_trimmed_log_reloads_everything(pair, monkeypatch):
    a, b = pair
    monkeypatch.setattr(durable, "_KEEP_CHANGES", 3)
    for i in range(8):
        a.upsert([establishment(f"86000000{i}", f"Foyer {i}")])
    settle()
    assert sorted(n.key for n in b.nodes(K.ESTABLISHMENT)) == [f"86000000{i}" for i in range(8)]
    assert b.count_nodes() == a.count_nodes()
    assert b.count_edges() == a.count_edges()


def test_an_import_by_another_process_is_seen_without_restart(pair, tmp_path):
    _a, b = pair
    script = (
        "import sys; from graph.stores.memory import MemoryStore; from graph.model import Node, NodeKind;"
        "s = MemoryStore(sys.argv[1]);"
        "s.upsert([Node(NodeKind.ESTABLISHMENT, '860000099', {'name': 'Importé', 'lat': 46.6, 'lon': 0.3})]);"
        "s.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, check=True, timeout=60)
    settle()
    node = b.get_node(K.ESTABLISHMENT, "860000099")
    assert node is not None and node.props["name"] == "Importé"


def test_the_audit_trail_stays_on_disk_not_in_every_workers_memory(pair, tmp_path):
    """Thousands of audit entries a day: each worker would keep them all in its
    graph. They stay in SQLite, and every process reads them from there at once."""
    from graph.access import verify_audit

    a, b = pair
    held = [
        s._graph.number_of_nodes() for s in pair if isinstance(s, MemoryStore)
    ]  # SQLiteStore holds no graph
    for i in range(300):
        audit(a, SYSTEM, "situations:read", [f"SIT-{i:04d}"])
    b.count_nodes()  # b catches up with a's writes
    assert [s._graph.number_of_nodes() for s in pair if isinstance(s, MemoryStore)] == held
    assert all(NodeKind.AUDIT_ENTRY not in s._by_kind for s in pair if isinstance(s, MemoryStore))
    assert len(audit_entries(b, situation="SIT-0123")) == 1  # the other process, without waiting
    assert (
        a.count_nodes()[NodeKind.AUDIT_ENTRY] == b.count_nodes()[NodeKind.AUDIT_ENTRY] == 301
    )  # and the head
    entry = next(iter(a.nodes(NodeKind.AUDIT_ENTRY)))
    assert b.get_node(NodeKind.AUDIT_ENTRY, entry.key) == entry
    assert verify_audit(b).problems == [] and verify_audit(b).entries == 300
    reopened = MemoryStore(tmp_path)
    assert (
        NodeKind.AUDIT_ENTRY not in reopened._by_kind and reopened.count_nodes()[NodeKind.AUDIT_ENTRY] == 301
    )
    reopened.close()


def test_two_processes_auditing_at_once_write_one_whole_journal(tmp_path):
    """Two server processes append at the same time: compare-and-set on the
    journal's head keeps one chain, whole and sealed, with every entry."""
    from graph.access import verify_audit

    MemoryStore(tmp_path).close()
    script = (
        "import sys\n"
        "from graph.access import SYSTEM, audit\n"
        "from graph.stores.sqlite import SQLiteStore\n"
        "s = SQLiteStore(sys.argv[1])\n"
        "for i in range(60):\n"
        "    audit(s, SYSTEM, 'situations:read', [sys.argv[2] + str(i)])\n"
        "s.close()\n"
    )
    root = Path(__file__).resolve().parents[2]
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name], cwd=root)
        for name in ("A-", "B-")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = MemoryStore(tmp_path)
    try:
        check = verify_audit(store)
        assert check.problems == [] and check.entries == 120 and check.chains == 1
    finally:
        store.close()
