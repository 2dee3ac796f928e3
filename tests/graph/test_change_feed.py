"""The change feed (``GraphStore.changes_since``), on every backend: each write says
what it touched, and a read model patched from the feed equals one rebuilt from
scratch — including, on Bolt, a read model of a second app server patched with
what the first one wrote."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from graph import readmodel
from graph.access import create_key
from graph.matching import SituationQuery, find_resources
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.readmodel import build_competence, read_model
from graph.store import NO_CHANGES, ChangeFeed, GraphStore
from tests.factories import POITIERS, north_of_poitiers
from tests.graph.test_readmodel_patch import assert_same_index

K, R = NodeKind, RelType
E1 = NodeRef(K.ESTABLISHMENT, "860000001")


def test_every_backend_offers_the_change_feed(store, net):
    assert isinstance(store, ChangeFeed) and isinstance(store, GraphStore)


def test_each_write_says_what_it_touched(store, net):
    start = store.revision()
    assert store.changes_since(start) == NO_CHANGES
    store.upsert([Node(K.ESTABLISHMENT, "860000002", {"name": "E2", "lat": POITIERS[0], "lon": POITIERS[1]})])
    store.upsert(edges=[Edge(R.HAS_EXPERTISE, E1, NodeRef(K.DEFICIENCY, "DA"), {"level": 2})])
    middle = store.revision()
    store.delete_edges([Edge(R.HAS_EXPERTISE, E1, NodeRef(K.DEFICIENCY, "DA"))])
    after_all = store.changes_since(start)
    assert after_all is not None
    assert after_all.nodes == {NodeRef(K.ESTABLISHMENT, "860000002")}
    assert after_all.edge_sources == {E1}
    last = store.changes_since(middle)
    assert last is not None and last.nodes == frozenset() and last.edge_sources == {E1}
    # the service's own records (an API key) do not move the revision nor enter the feed
    revision = store.revision()
    create_key(store, "gnchr", label="feed test")
    assert store.revision() == revision and store.changes_since(revision) == NO_CHANGES
    assert store.changes_since(store.revision() + 5) is None  # a revision it never had


QUERIES = [
    SituationQuery(deficiencies=["DV", "TSA"], commune="86194", radius_km=100),
    SituationQuery(deficiencies=["DA"], commune="79191", age=30, radius_km=200),
]


def _writes(store: GraphStore) -> None:
    """An import of a few establishments, an expertise added, a place moved, a link removed."""
    nodes, edges = [], []
    for i in range(12):
        lat, lon = north_of_poitiers(5 * i)
        ref = NodeRef(K.ESTABLISHMENT, f"86100{i:04d}")
        nodes.append(
            Node(
                ref.kind,
                ref.key,
                {
                    "name": f"SYNTHÉTIQUE {i}",
                    "lat": lat,
                    "lon": lon,
                    "department": "86",
                    **({"age_min": 18} if i % 2 else {}),
                },
            )
        )
        edges.append(
            Edge(R.ACCEPTS, ref, NodeRef(K.DEFICIENCY, ["DA", "DV", "TSA"][i % 3]), {"age_min": 3 * (i % 3)})
        )
    store.upsert(nodes, edges)
    store.upsert(
        edges=[
            Edge(
                R.HAS_EXPERTISE,
                NodeRef(K.ESTABLISHMENT, "861000003"),
                NodeRef(K.DEFICIENCY, "DV"),
                {"level": 3},
            )
        ]
    )
    store.upsert([Node(K.ESTABLISHMENT, "860000001", {"lat": 46.32, "lon": -0.46, "department": "79"})])
    store.delete_edges([Edge(R.ACCEPTS, NodeRef(K.ESTABLISHMENT, "861000004"), NodeRef(K.DEFICIENCY, "DV"))])


def test_a_patched_read_model_equals_a_rebuilt_one(store, net, patches):
    read_model(store).competence  # noqa: B018 - built before the writes
    patches.update(patched=0, rebuilt=0)
    _writes(store)
    patched = read_model(store).competence
    assert patches == {"patched": 1, "rebuilt": 0}
    assert_same_index(patched, build_competence(store))
    answers = [find_resources(store, q) for q in QUERIES]
    assert any(m.key == "861000003" for m in answers[0].matches)  # the new expertise answers
    readmodel._MODELS.pop(store)
    assert [find_resources(store, q) for q in QUERIES] == answers


@pytest.mark.neo4j
def test_a_second_app_server_patches_what_the_first_one_wrote(backend, store, net, patches):
    """Two app servers over one Bolt database: B's read model is patched from the
    namespace's change feed with A's writes, not rebuilt, and answers as a rebuild does."""
    with _second_server_after_writes(backend, store, patches) as other:
        patched = read_model(other).competence
        assert patches == {"patched": 1, "rebuilt": 0}
        assert_same_index(patched, build_competence(other))
        assert [find_resources(other, q) for q in QUERIES] == [find_resources(store, q) for q in QUERIES]


@contextlib.contextmanager
def _second_server_after_writes(backend: str, store: GraphStore, patches: dict[str, int]) -> Iterator[Any]:
    """Server B over server A's Bolt namespace: its read model built, then A's
    writes (``_writes``) and B's revision moved to them; the patch is left to do."""
    if backend != "neo4j":
        pytest.skip("two app servers share one database only over Bolt")
    from graph.stores.neo4j import Neo4jStore
    from tests.conftest import BOLT

    other = Neo4jStore.from_settings(BOLT, namespace=store._ns)  # type: ignore[attr-defined]
    try:
        read_model(other).competence  # noqa: B018 - server B has its read model
        patches.update(patched=0, rebuilt=0)
        _writes(store)  # server A writes
        deadline = time.monotonic() + 5
        while other.revision() != store.revision() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert other.revision() == store.revision()
        yield other
    finally:
        other.close()


def test_reads_gathered_in_one_reading_see_what_single_reads_see(store, net):
    """``GraphStore.reading``: several reads as one (on Bolt, one transaction)
    answer as the same reads one by one; nested, the outer one counts; the store
    reads as before after a block that failed."""
    _writes(store)
    refs = [NodeRef(K.ESTABLISHMENT, f"86100{i:04d}") for i in range(4)] + [E1]
    alone = (
        store.get_nodes(K.ESTABLISHMENT, [r.key for r in refs]),
        store.edges_from(refs),
        store.edges_to([NodeRef(K.DEFICIENCY, "DA")], [R.ACCEPTS]),
    )
    with store.reading():
        with store.reading():
            first = store.get_nodes(K.ESTABLISHMENT, [r.key for r in refs])
        gathered = (first, store.edges_from(refs), store.edges_to([NodeRef(K.DEFICIENCY, "DA")], [R.ACCEPTS]))
    assert gathered == alone and len(alone[0]) == 5
    with pytest.raises(ZeroDivisionError), store.reading():
        store.get_node(K.ESTABLISHMENT, "860000001")
        _ = 1 / 0
    assert store.get_nodes(K.ESTABLISHMENT, [r.key for r in refs]) == alone[0]


@pytest.mark.neo4j
def test_a_second_app_server_patches_with_the_feed_read_with_the_revision_and_one_transaction(
    backend, store, net, patches
):
    """On Bolt, the first search after another server's write costs few round
    trips: the change feed's entries come with the revision (no read of the feed
    of its own), and the touched rows, their links and workplaces are read in
    one transaction."""
    from graph.stores.cypher import CHANGES_SINCE_CYPHER

    with _second_server_after_writes(backend, store, patches) as other:
        reads: list[tuple[str, bool]] = []
        single = other._read

        def spied(cypher: str, **params: object) -> list[object]:
            reads.append((cypher, getattr(other._reading, "tx", None) is not None))
            return single(cypher, **params)

        other._read = spied  # type: ignore[method-assign]
        patched = read_model(other).competence
        del other._read
        assert patches == {"patched": 1, "rebuilt": 0}
        assert reads and all(in_one for _cypher, in_one in reads)
        assert CHANGES_SINCE_CYPHER not in [cypher for cypher, _ in reads]
        assert_same_index(patched, build_competence(other))
