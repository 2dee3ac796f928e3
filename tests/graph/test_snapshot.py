"""A server worker holds no graph: it reads SQLite and the competence index's
column snapshot, brought up to date from the change log (graph/snapshot.py,
``SQLiteStore``). It must answer exactly as a process
holding the whole graph, including after writes made while it was stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graph import readmodel
from graph.coverage import Level, coverage
from graph.matching import SituationQuery, find_resources
from graph.model import Edge, NodeKind, NodeRef, RelType
from graph.snapshot import SNAPSHOT_FILENAME, load_competence
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

K, R = NodeKind, RelType

QUERIES = [
    SituationQuery(deficiencies=["DV", "TSA"], commune="35238", age=12, radius_km=80),
    SituationQuery(deficiencies=["DA", "DV"], commune="86194", radius_km=150),
    SituationQuery(deficiencies=["DI", "EPI"], skills=["CAA"], commune="69123", age=30, radius_km=60),
    SituationQuery(deficiencies=["TSA"], commune="2A004", radius_km=40),
]


def answers(store: MemoryStore) -> list[object]:
    return [*(find_resources(store, q) for q in QUERIES), coverage(store, ["DV", "TSA"], level=Level.REGION)]


@pytest.fixture
def data(demo_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(demo_dir, copy)
    (copy / SNAPSHOT_FILENAME).unlink(missing_ok=True)
    return copy


@pytest.fixture
def builds(monkeypatch):
    """How many times a competence index was built from the store's rows."""
    count = {"built": 0}
    build = readmodel.build_competence

    def counting(store):
        count["built"] += 1
        return build(store)

    monkeypatch.setattr(readmodel, "build_competence", counting)
    return count


def worker(data: Path) -> MemoryStore:
    return SQLiteStore(data)


def test_a_worker_answers_as_the_graph_does_and_later_ones_start_from_its_snapshot(data, builds):
    graph = MemoryStore(data)
    expected = answers(graph)
    graph.close()
    (data / SNAPSHOT_FILENAME).unlink()
    builds["built"] = 0

    first = worker(data)
    assert not hasattr(first, "_graph")  # nothing held but the columns
    assert answers(first) == expected
    assert builds["built"] == 1 and (data / SNAPSHOT_FILENAME).is_file()
    first.close()

    second = worker(data)
    assert answers(second) == expected
    assert builds["built"] == 1  # loaded, not built
    second.close()


def test_writes_made_since_the_snapshot_are_applied_when_a_worker_starts(data, builds):
    worker(data).close()
    first = worker(data)
    answers(first)  # writes the snapshot
    first.close()
    graph = MemoryStore(data)
    last = [
        m for m in find_resources(graph, QUERIES[0]).matches if m.kind in (K.ESTABLISHMENT, K.PROFESSIONAL)
    ][-1]
    place = NodeRef(last.kind, last.key)
    graph.upsert(
        edges=[
            Edge(R.HAS_EXPERTISE, place, NodeRef(K.COMBINATION, "DV+TSA"), {"level": 3, "source": "saisie"})
        ]
    )
    expected = answers(graph)
    assert [m for m in expected[0].matches if m.key == place.key] != [last]  # the edit shows
    graph.close()
    built = builds["built"]

    later = worker(data)
    assert answers(later) == expected
    assert builds["built"] == built  # brought up to date from the log, not built
    later.close()
    again = worker(data)  # the updated snapshot was written: nothing left to apply
    assert answers(again) == expected
    again.close()


def test_a_snapshot_of_another_database_or_a_damaged_one_is_not_used(data, tmp_path, builds):
    other = tmp_path / "other"
    shutil.copytree(data, other)
    # The same history, then one write each, on different resources: equal log positions.
    for where, department in ((data, "35"), (other, "86")):
        store = MemoryStore(where)
        place = next(n.ref for n in store.nodes(K.ESTABLISHMENT) if n.props.get("department") == department)
        store.upsert(edges=[Edge(R.HAS_EXPERTISE, place, NodeRef(K.DEFICIENCY, "DV"), {"level": 3})])
        store.close()
    first = worker(data)
    answers(first)
    first.close()
    graph = MemoryStore(other)
    expected = answers(graph)
    graph.close()
    shutil.copy(data / SNAPSHOT_FILENAME, other / SNAPSHOT_FILENAME)  # a snapshot of another database
    built = builds["built"]

    foreign = worker(other)
    assert answers(foreign) == expected
    assert builds["built"] == built + 1  # not used: built again
    foreign.close()

    snapshot = other / SNAPSHOT_FILENAME
    snapshot.write_bytes(snapshot.read_bytes()[:1000])  # cut short
    damaged = worker(other)
    assert answers(damaged) == expected
    assert builds["built"] == built + 2
    damaged.close()
    assert load_competence(snapshot) is not None  # written again, whole
