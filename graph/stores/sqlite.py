"""The embedded store without a graph in memory: every read answered by SQLite.

The store of each worker of a multi-worker server: the graph is not loaded at
all (500 MB at national scale, per worker). Every read is answered by SQLite
itself (primary keys, and two indexes on the relationships' ends), in the order
the in-memory store gives; writes look up what they merge with there (see
:mod:`graph.stores.durable`). The change log then only tells which nodes and
relationships changed, for the read models, which such a process loads from
their column snapshot (``graph.snapshot``) rather than building them from
every row: a worker holds the columns its searches need, not the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import REVISION_NEUTRAL_KINDS
from graph.stores.durable import DISK_ONLY, KINDS, RELS, DurableStore, EdgeId, _loads

__all__ = ["SQLiteStore"]

_MISSING = object()
#: Point reads kept per revision, at most this many; every node of a kind when
#: it has at most this many; a node's links when the call asks for at most this many nodes.
_KEEP_READS = 8192
_KEEP_NODES_OF_KIND = 512
_KEEP_EDGES_OF = 16
#: The service's own records kept by key (``_record``): read at every request (an API key).
_RECORDS = frozenset(REVISION_NEUTRAL_KINDS - DISK_ONLY)


class SQLiteStore(DurableStore):
    """The embedded :class:`graph.store.GraphStore` reading SQLite for every read."""

    prefers_snapshot = True

    def _open(self) -> None:
        self._reads: dict[Any, Any] = {}  # point reads of this revision (_kept)
        #: the service's own records (API keys, import runs) read by key, until
        #: any of them is written by any process (a revocation applies at once)
        self._records: dict[tuple[NodeKind, str], Any] = {}
        self._records_generation = 0
        super()._open()

    def _invalidate(self) -> None:
        super()._invalidate()
        self._reads.clear()

    def _apply_logged(
        self,
        nodes: list[tuple[NodeRef, dict[str, Any] | None]],
        edges: list[tuple[EdgeId, dict[str, Any] | None]],
    ) -> None:
        if any(ref.kind in _RECORDS for ref, _props in nodes):
            self._forget_records()
        super()._apply_logged(nodes, edges)

    def _applied(
        self, nodes: Mapping[NodeRef, dict[str, Any]], edges: Mapping[EdgeId, dict[str, Any]]
    ) -> None:
        if any(ref.kind in _RECORDS for ref in nodes):
            self._forget_records()
        super()._applied(nodes, edges)

    def _record(self, kind: NodeKind, key: str) -> Node | None:
        """One of the service's records by key: read once, then kept until any
        process writes one of that family (seen by the next look, a few ms at most)."""
        self._refresh()
        with self._lock:
            props = self._records.get((kind, key), _MISSING)
            generation = self._records_generation
        if props is _MISSING:
            node = next(iter(self._disk_nodes(kind, [key])), None)
            props = None if node is None else node.props
            with self._lock:
                if self._records_generation == generation and len(self._records) < _KEEP_READS:
                    self._records[(kind, key)] = props
        return None if props is None else Node(kind, key, dict(props))

    def _forget_records(self) -> None:
        self._records.clear()
        self._records_generation += 1

    def _kept(self, key: Any, read: Callable[[], Any]) -> Any:
        """``read()``, kept until the revision changes (any write but the
        service's own records, ours or another process's, clears them), so that
        the few reads of every request (a commune, the national centres, the
        knowledge items) are not asked of SQLite each time. Only for kinds whose
        writes change the revision: never an API key (a revocation applies at once)."""
        self._refresh()
        with self._lock:
            found = self._reads.get(key, _MISSING)
            revision = self._revision
        if found is _MISSING:
            found = read()
            with self._lock:
                if self._revision == revision:  # nothing noticed written meanwhile
                    if len(self._reads) >= _KEEP_READS:
                        self._reads.clear()
                    self._reads[key] = found
        return found

    @staticmethod
    def _uncached(kind: NodeKind) -> bool:
        return kind in DISK_ONLY or kind in REVISION_NEUTRAL_KINDS

    def get_node(self, kind: NodeKind, key: str) -> Node | None:
        if kind in _RECORDS:
            return self._record(kind, key)
        if self._uncached(kind):
            found = self._disk_nodes(kind, [key])
            return found[0] if found else None
        props = self._kept(
            ("node", kind, key), lambda: next((n.props for n in self._disk_nodes(kind, [key])), None)
        )
        return None if props is None else Node(kind, key, dict(props))

    def get_nodes(self, kind: NodeKind, keys: Iterable[str]) -> dict[str, Node]:
        wanted = list(keys)
        found = {n.key: n for n in self._disk_nodes(kind, wanted)}
        return {k: found[k] for k in wanted if k in found}  # in the order asked

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        if self._uncached(kind):
            return iter(self._disk_nodes(kind, None))
        few = self._kept(("nodes", kind), lambda: self._few_nodes(kind))
        if few is None:  # many: read each time (a directory, a national register)
            return iter(self._disk_nodes(kind, None))
        return iter([Node(kind, key, dict(props)) for key, props in few])

    def _few_nodes(self, kind: NodeKind) -> list[tuple[str, dict[str, Any]]] | None:
        with self._probe_lock:
            rows = self._probe.execute(
                "SELECT key, props FROM nodes WHERE kind = ? ORDER BY key LIMIT ?",
                (kind.value, _KEEP_NODES_OF_KIND + 1),
            ).fetchall()
        if len(rows) > _KEEP_NODES_OF_KIND:
            return None
        return [(key, _loads(props)) for key, props in rows]

    def _edge_list(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None, outgoing: bool
    ) -> dict[NodeRef, list[Edge]]:
        asked = list(dict.fromkeys(refs))
        if len(asked) > _KEEP_EDGES_OF or any(ref.kind in REVISION_NEUTRAL_KINDS for ref in asked):
            return self._disk_edges(asked, types, outgoing)
        rel_types = None if types is None else frozenset(types)
        found: dict[NodeRef, list[Edge]] = {}
        for ref in asked:
            kept = self._kept(
                ("edges", outgoing, ref, rel_types),
                lambda ref=ref: self._disk_edges([ref], rel_types, outgoing)[ref],  # type: ignore[misc]
            )
            found[ref] = [Edge(e.type, e.source, e.target, dict(e.props), e.key) for e in kept]
        return found

    def edges(self, type: RelType) -> Iterator[Edge]:
        with self._probe_lock:
            rows = self._probe.execute(
                "SELECT skind, skey, tkind, tkey, ekey, props FROM edges WHERE type = ? "
                "ORDER BY skind, skey, tkind, tkey, ekey",
                (type.value,),
            ).fetchall()
        return iter(
            [
                Edge(type, NodeRef(KINDS[sk], skey), NodeRef(KINDS[tk], tkey), _loads(props), ekey)
                for sk, skey, tk, tkey, ekey, props in rows
            ]
        )

    def communes_by_postcode(self, postcode: str) -> list[Node]:
        with self._probe_lock:
            rows = self._probe.execute(
                "SELECT key, props FROM nodes WHERE kind = ? AND EXISTS "
                "(SELECT 1 FROM json_each(nodes.props, '$.postcodes') WHERE json_each.value = ?) ORDER BY key",
                (NodeKind.COMMUNE.value, postcode),
            ).fetchall()
        return [Node(NodeKind.COMMUNE, key, _loads(props)) for key, props in rows]

    def count_nodes(self) -> dict[NodeKind, int]:
        return self._disk_count_nodes()

    def count_edges(self) -> dict[RelType, int]:
        with self._probe_lock:
            rows = self._probe.execute("SELECT type, count(*) FROM edges GROUP BY type").fetchall()
        return {RELS[rel]: int(n) for rel, n in rows if n}
