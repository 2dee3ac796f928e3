from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.stores.memory import MemoryStore
from graph.transfer import copy_store

K, R = NodeKind, RelType


def test_copy_is_complete_and_idempotent(tmp_path, store):
    source = MemoryStore(tmp_path / "source")
    source.upsert(
        [
            Node(K.ESTABLISHMENT, "860008564", {"name": "CRESAM", "lat": 46.63, "lon": 0.3}),
            Node(K.PROFESSIONAL, "p1", {"profession": "interprète LSF"}),
            Node(K.SKILL, "LSF", {}),
        ],
        [
            Edge(R.WORKS_AT, NodeRef(K.PROFESSIONAL, "p1"), NodeRef(K.ESTABLISHMENT, "860008564")),
            Edge(R.HAS_EXPERTISE, NodeRef(K.PROFESSIONAL, "p1"), NodeRef(K.SKILL, "LSF"), {"level": 3}),
        ],
    )
    seen: list[int] = []
    first = copy_store(source, store, batch_size=2, progress=seen.append)
    assert first.identical_counts and first.summary.nodes_created == 3 and first.summary.edges_created == 2
    assert sum(seen) == 5
    second = copy_store(source, store)
    assert second.summary.changed == 0
    assert store.count_nodes() == source.count_nodes() and store.count_edges() == source.count_edges()
    assert store.get_node(K.ESTABLISHMENT, "860008564").props == {"name": "CRESAM", "lat": 46.63, "lon": 0.3}
    source.close()
