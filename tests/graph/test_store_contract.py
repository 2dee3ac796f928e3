"""The GraphStore contract, run unchanged against every backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from graph.errors import StoreError
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.stores.memory import MemoryStore

K, R = NodeKind, RelType
ROOT = Path(__file__).resolve().parents[2]


def commune(code: str, lat: float, lon: float, **props: object) -> Node:
    return Node(K.COMMUNE, code, {"name": f"C{code}", "lat": lat, "lon": lon, **props})


def establishment(finess: str, lat: float, lon: float) -> Node:
    return Node(K.ESTABLISHMENT, finess, {"name": f"E{finess}", "lat": lat, "lon": lon})


def ref(kind: NodeKind, key: str) -> NodeRef:
    return NodeRef(kind, key)


def test_upsert_reports_created_updated_unchanged(store: GraphStore):
    first = store.upsert([commune("86194", 46.58, 0.34), commune("86158", 46.63, 0.30)])
    assert (first.nodes_created, first.nodes_updated, first.nodes_unchanged) == (2, 0, 0)
    again = store.upsert([commune("86194", 46.58, 0.34), commune("86158", 46.63, 0.31)])
    assert (again.nodes_created, again.nodes_updated, again.nodes_unchanged) == (0, 1, 1)
    assert store.get_node(K.COMMUNE, "86158").props["lon"] == 0.31


def test_properties_are_merged_and_none_removes(store: GraphStore):
    store.upsert([Node(K.ESTABLISHMENT, "860008564", {"name": "A", "category": "461"})])
    store.upsert([Node(K.ESTABLISHMENT, "860008564", {"closed": True, "category": None})])
    assert store.get_node(K.ESTABLISHMENT, "860008564").props == {"name": "A", "closed": True}


def test_edges_are_written_with_properties_and_counted(store: GraphStore):
    store.upsert(
        [Node(K.PROFESSIONAL, "p1", {}), Node(K.DEFICIENCY, "DV", {}), Node(K.SKILL, "CAA", {})],
        [
            Edge(R.HAS_EXPERTISE, ref(K.PROFESSIONAL, "p1"), ref(K.DEFICIENCY, "DV"), {"level": 3}),
            Edge(R.HAS_EXPERTISE, ref(K.PROFESSIONAL, "p1"), ref(K.SKILL, "CAA"), {"level": 2}),
        ],
    )
    out = store.edges_from([ref(K.PROFESSIONAL, "p1")], [R.HAS_EXPERTISE])[ref(K.PROFESSIONAL, "p1")]
    assert sorted((e.target.key, e.props["level"]) for e in out) == [("CAA", 2), ("DV", 3)]
    into = store.edges_to([ref(K.DEFICIENCY, "DV")])[ref(K.DEFICIENCY, "DV")]
    assert [e.source.key for e in into] == ["p1"]
    assert store.count_edges() == {R.HAS_EXPERTISE: 2}
    assert store.count_nodes() == {K.PROFESSIONAL: 1, K.DEFICIENCY: 1, K.SKILL: 1}


def test_two_referrals_to_one_resource_are_two_edges(store: GraphStore):
    store.upsert([Node(K.SITUATION, "S-1", {}), Node(K.CNRHR, "CRESAM", {})])
    edges = [
        Edge(R.REFERRED_TO, ref(K.SITUATION, "S-1"), ref(K.CNRHR, "CRESAM"), {"date": d}, key=d)
        for d in ("2026-01-05", "2026-03-01")
    ]
    assert store.upsert(edges=edges).edges_created == 2
    assert len(list(store.edges(R.REFERRED_TO))) == 2
    assert store.delete_edges(edges[:1]) == 1
    assert [e.key for e in store.edges(R.REFERRED_TO)] == ["2026-03-01"]


def test_failed_batch_leaves_nothing_behind(store: GraphStore):
    store.upsert([commune("86194", 46.58, 0.34)])
    with pytest.raises(StoreError, match="rien n'a été écrit"):
        store.upsert(
            [commune("86158", 46.63, 0.30), commune("86194", 0.0, 0.0)],
            [Edge(R.LOCATED_IN, ref(K.ESTABLISHMENT, "860008564"), ref(K.COMMUNE, "86158"))],
        )
    assert store.get_node(K.COMMUNE, "86158") is None
    assert store.get_node(K.COMMUNE, "86194").props["lat"] == 46.58
    assert store.count_nodes() == {K.COMMUNE: 1}


def test_batch_with_an_invalid_node_is_refused_whole(store: GraphStore):
    with pytest.raises(StoreError, match="invalid key"):
        store.upsert([commune("86194", 46.58, 0.34), Node(K.COMMUNE, "bad", {})])
    assert store.count_nodes() == {}


def test_the_commune_of_a_point_is_the_nearest_one(store: GraphStore):
    # Poitiers, Migné-Auxances (~6 km), Paris (~300 km)
    store.upsert(
        [commune("86194", 46.58, 0.34), commune("86158", 46.63, 0.305), commune("75056", 48.8566, 2.3522)]
    )
    model = read_model(store)
    assert model.commune_of(46.585, 0.34)[0] == "86194"
    assert model.commune_of(46.62, 0.31)[0] == "86158"
    code, km = model.commune_of(48.0, 1.5)
    assert code == "75056" and km == pytest.approx(
        114.1, abs=0.5
    )  # great circle to Paris (95 km north, 63 km east)


def test_a_professional_is_where_they_work_and_belongs_to_its_department(store: GraphStore):
    """Decided once in the read model: the located workplace of smallest key."""
    store.upsert(
        [
            Node(K.ESTABLISHMENT, "860000002", {"name": "E2", "lat": 46.58, "lon": 0.34, "department": "86"}),
            Node(K.ESTABLISHMENT, "790000001", {"name": "E1", "department": "79"}),  # not located
            Node(K.ESTABLISHMENT, "860000009", {"name": "E9", "lat": 46.8, "lon": 0.5, "department": "86"}),
            Node(K.PROFESSIONAL, "pro-1", {"profession": "orthoptiste"}),
            Node(K.PROFESSIONAL, "pro-2", {}),
            Node(K.DEFICIENCY, "DV", {}),
        ],
        [
            Edge(R.WORKS_AT, ref(K.PROFESSIONAL, "pro-1"), ref(K.ESTABLISHMENT, "860000009")),
            Edge(R.WORKS_AT, ref(K.PROFESSIONAL, "pro-1"), ref(K.ESTABLISHMENT, "860000002")),
            Edge(R.WORKS_AT, ref(K.PROFESSIONAL, "pro-1"), ref(K.ESTABLISHMENT, "790000001")),
            Edge(R.HAS_EXPERTISE, ref(K.PROFESSIONAL, "pro-1"), ref(K.DEFICIENCY, "DV"), {"level": 3}),
        ],
    )
    model = read_model(store)
    found = model.locations(
        [ref(K.ESTABLISHMENT, "860000002"), ref(K.PROFESSIONAL, "pro-1"), ref(K.PROFESSIONAL, "pro-2")]
    )
    assert found == {
        ref(K.ESTABLISHMENT, "860000002"): (46.58, 0.34),
        ref(K.PROFESSIONAL, "pro-1"): (46.58, 0.34),
    }
    idx = model.competence
    assert idx.department_of(ref(K.PROFESSIONAL, "pro-1")) == "79"  # smallest key with a department
    assert ref(K.PROFESSIONAL, "pro-2") not in idx.position  # nowhere: not indexed
    assert idx.expertise(ref(K.DEFICIENCY, "DV"))[idx.position[ref(K.PROFESSIONAL, "pro-1")]] == 3


def test_the_read_model_is_kept_until_a_network_write(store: GraphStore):
    store.upsert([establishment("860000001", 46.58, 0.34)])
    model = read_model(store)
    assert len(model.competence) == 1
    assert read_model(store) is model  # nothing written: the same views
    store.upsert([Node(K.AUDIT_ENTRY, "a-1", {"action": "read"})])  # the service's own records
    assert read_model(store) is model
    store.upsert([establishment("860000002", 46.63, 0.305)])
    fresh = read_model(store)
    assert fresh is not model and len(fresh.competence) == 2
    dv = Edge(R.HAS_EXPERTISE, ref(K.ESTABLISHMENT, "860000001"), ref(K.DEFICIENCY, "DV"), {"level": 2})
    store.upsert([Node(K.DEFICIENCY, "DV", {})], [dv])
    assert read_model(store).competence.expertise(ref(K.DEFICIENCY, "DV")).tolist().count(2) == 1
    store.delete_edges([dv])
    assert read_model(store).competence.expertise(ref(K.DEFICIENCY, "DV")).tolist().count(2) == 0


def test_communes_by_postcode(store: GraphStore):
    store.upsert(
        [
            commune("86194", 46.58, 0.34, postcodes=["86000"]),
            commune("86158", 46.63, 0.30, postcodes=["86440"]),
        ]
    )
    assert [n.key for n in store.communes_by_postcode("86440")] == ["86158"]
    assert store.communes_by_postcode("99999") == []


# -- durability of the embedded store -------------------------------------------
def test_reopening_restores_exactly_what_was_committed(tmp_path: Path):
    s = MemoryStore(tmp_path)
    s.upsert([commune("86194", 46.58, 0.34, postcodes=["86000"]), Node(K.DEFICIENCY, "DV", {"label": "x"})])
    s.upsert(
        [establishment("860000001", 46.58, 0.34)],
        [
            Edge(
                R.ACCEPTS,
                ref(K.ESTABLISHMENT, "860000001"),
                ref(K.DEFICIENCY, "DV"),
                {"age_min": 6, "age_max": 20},
            ),
            Edge(R.LOCATED_IN, ref(K.ESTABLISHMENT, "860000001"), ref(K.COMMUNE, "86194")),
        ],
    )
    before = (s.count_nodes(), s.count_edges(), list(s.nodes(K.ESTABLISHMENT)), list(s.edges(R.ACCEPTS)))
    s.close()
    reopened = MemoryStore(tmp_path)
    after = (
        reopened.count_nodes(),
        reopened.count_edges(),
        list(reopened.nodes(K.ESTABLISHMENT)),
        list(reopened.edges(R.ACCEPTS)),
    )
    assert after == before
    assert [n.key for n in reopened.communes_by_postcode("86000")] == ["86194"]
    reopened.close()


_CRASHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from graph.model import Node, NodeKind
    from graph.stores.memory import MemoryStore

    data_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])
    store = MemoryStore(data_dir)
    store.upsert([Node(NodeKind.PROFESSIONAL, f"kept-{i}", {"n": i}) for i in range(1000)])

    def endless_batch():
        for i in range(1_000_000):
            if i == 20_000:
                marker.write_text("mid-batch")  # the first chunks are already in SQLite
                time.sleep(60)
            yield Node(NodeKind.PROFESSIONAL, f"lost-{i}", {"n": i})

    store.upsert(endless_batch())
    """
)


@pytest.mark.slow
def test_kill_9_mid_batch_loses_only_that_batch(tmp_path: Path):
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(tmp_path / "data"), str(marker)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer died before reaching the middle of its batch"
            assert time.monotonic() < deadline, "the writer never reached the middle of its batch"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    reopened = MemoryStore(tmp_path / "data")
    keys = [n.key for n in reopened.nodes(K.PROFESSIONAL)]
    assert len(keys) == 1000 and all(k.startswith("kept-") for k in keys)
    # and the store is writable again
    assert reopened.upsert([Node(K.PROFESSIONAL, "after", {})]).nodes_created == 1
    reopened.close()


def test_reads_are_safe_while_another_thread_writes(tmp_path: Path):
    s = MemoryStore(tmp_path)
    errors: list[BaseException] = []
    sizes: list[int] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for batch in range(20):
                s.upsert([establishment(f"86{batch:02d}{i:05d}", 46 + i / 1e4, 0.3) for i in range(500)])
        except BaseException as err:  # surfaced by the assertion below
            errors.append(err)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                count = sum(1 for _ in s.nodes(K.ESTABLISHMENT))
                indexed = len(read_model(s).competence)
                assert count % 500 == 0  # whole batches only
                assert indexed % 500 == 0
                sizes.append(count)
                time.sleep(0.005)  # let the writer go on: each new batch rebuilds the read model
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sizes, "the readers never ran"
    assert sum(1 for _ in s.nodes(K.ESTABLISHMENT)) == 10_000
    s.close()


def test_concurrent_writers_of_the_same_nodes_lose_nothing_and_duplicate_nothing(
    store: GraphStore, backend: str, tmp_path: Path
):
    """Several app servers (or web workers) writing the same establishments and
    links at once: every write lands, none is refused, no link is doubled."""
    from tests.conftest import _open_backend

    store.upsert([Node(K.DEFICIENCY, "DV", {})])
    writers = [_open_backend(backend, tmp_path) for _ in range(3)]
    errors: list[BaseException] = []

    def write(s: GraphStore, level: int) -> None:
        try:
            for i in range(10):
                est = ref(K.ESTABLISHMENT, f"8600000{i:02d}")
                s.upsert(
                    [Node(K.ESTABLISHMENT, est.key, {"name": f"E{i}", f"by{level}": True})],
                    [Edge(R.HAS_EXPERTISE, est, ref(K.DEFICIENCY, "DV"), {"level": level})],
                )
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(s, level)) for level, s in enumerate(writers, start=1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for s in writers:
        s.close()
    assert errors == []
    assert store.count_nodes()[K.ESTABLISHMENT] == 10
    assert store.count_edges() == {R.HAS_EXPERTISE: 10}
    props = store.get_node(K.ESTABLISHMENT, "860000003").props
    assert {"by1", "by2", "by3"} <= set(props)  # properties merged, none overwritten by a stale copy


def test_compare_and_set_writes_only_what_it_read(store: GraphStore):
    """``expect``: the edge must hold the values read, inside the write's own
    transaction; a stale expectation writes nothing of the batch (WriteConflict)."""
    from graph.errors import WriteConflict

    sit, res = NodeRef(K.SITUATION, "SIT-CAS"), NodeRef(K.ESTABLISHMENT, "860000701")
    store.upsert(
        [Node(K.SITUATION, "SIT-CAS", {"erhr": "NA"}), Node(K.ESTABLISHMENT, "860000701", {"name": "E"})],
        [
            Edge(
                R.REFERRED_TO,
                sit,
                res,
                {"status": "proposee", "history": ["2026-11-01|proposee"]},
                key="ORI-1",
            )
        ],
    )
    edge = Edge(R.REFERRED_TO, sit, res, key="ORI-1")
    first = Edge(
        R.REFERRED_TO,
        sit,
        res,
        {"status": "contactee", "history": ["2026-11-01|proposee", "2026-11-02|contactee"]},
        key="ORI-1",
    )
    store.upsert(edges=[first], expect=[(edge, {"status": "proposee", "history": ["2026-11-01|proposee"]})])
    stale = Edge(
        R.REFERRED_TO,
        sit,
        res,
        {"status": "refusee", "history": ["2026-11-01|proposee", "2026-11-02|refusee"]},
        key="ORI-1",
    )
    with pytest.raises(WriteConflict):
        store.upsert(
            [Node(K.ESTABLISHMENT, "860000702", {"name": "F"})],
            [stale],
            expect=[(edge, {"status": "proposee", "history": ["2026-11-01|proposee"]})],
        )
    [kept] = store.edges_from([sit], [R.REFERRED_TO])[sit]
    assert kept.props["status"] == "contactee" and len(kept.props["history"]) == 2
    assert store.get_node(K.ESTABLISHMENT, "860000702") is None  # nothing of the batch


def test_compare_and_set_on_a_node_and_the_audit_journal(store: GraphStore):
    from graph.access import SYSTEM, audit, verify_audit
    from graph.errors import WriteConflict

    head = Node(K.AUDIT_ENTRY, "TETE-ESSAI")
    store.upsert(
        [Node(K.AUDIT_ENTRY, "TETE-ESSAI", {"seq": 1})], expect=[(head, {"seq": None})]
    )  # absent: None
    with pytest.raises(WriteConflict):
        store.upsert([Node(K.AUDIT_ENTRY, "TETE-ESSAI", {"seq": 3})], expect=[(head, {"seq": 0})])
    assert store.get_node(K.AUDIT_ENTRY, "TETE-ESSAI").props["seq"] == 1
    store.upsert([Node(K.AUDIT_ENTRY, "TETE-ESSAI", {"seq": 2})], expect=[(head, {"seq": 1})])
    for i in range(3):
        audit(store, SYSTEM, "situations:read", [f"S-{i}"])
    check = verify_audit(store)
    assert check.problems == ["chaîne journal : entrée TETE-ESSAI sans chaînage, insérée hors du journal"]
    assert check.entries == 4
