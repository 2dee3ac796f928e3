"""The embedded store with the graph in memory: networkx over the durable SQLite core.

Every read is answered from a networkx ``MultiDiGraph`` loaded at start and
kept up to date with every write, this process's (after its commit) and other
processes' (caught up from the change log before a read); see
:mod:`graph.stores.durable` for what is stored and how. This is the store of a
single-process server and of the CLI. The audit trail stays on disk
(``DISK_ONLY``): it grows with every request and nothing searches it per query.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import networkx as nx

from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import gc_paused
from graph.stores.durable import (
    DB_FILENAME,
    DISK_ONLY,
    DISK_ONLY_VALUES,
    KINDS,
    NOT_DISK_ONLY_SQL,
    RELS,
    DurableStore,
    EdgeId,
    _loads,
    sqlite_backup,
    sqlite_check,
    storage_error,
)

__all__ = ["MemoryStore", "DB_FILENAME", "sqlite_check", "sqlite_backup", "storage_error"]


class MemoryStore(DurableStore):
    """The embedded :class:`graph.store.GraphStore` holding the graph in memory."""

    def _open(self) -> None:
        self._clear()
        self._db.execute("BEGIN")  # everything in one read transaction, with the log position it matches
        try:
            self._seq = self._last_seq()
            with gc_paused():  # at start, alone: nothing built here is garbage yet
                self._load_rows()
        finally:
            self._db.execute("COMMIT")

    def _clear(self) -> None:
        self._graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._by_kind: dict[NodeKind, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._edge_counts: Counter[RelType] = Counter()
        self._postcodes: dict[str, set[str]] = defaultdict(set)

    def _reload(self) -> None:
        self._clear()
        self._seq = self._last_seq()
        self._load_rows()

    def _load_rows(self) -> None:
        refs: dict[tuple[str, str], NodeRef] = {}
        # Nodes straight into the graph's dicts (what add_node does, minus its
        # per-call checks: each row is a new node); communes through _apply_node (postcodes).
        node_attrs, succ, pred = self._graph._node, self._graph._succ, self._graph._pred
        by_kind = self._by_kind
        for kind, key, props in self._db.execute(
            f"SELECT kind, key, props FROM nodes WHERE {NOT_DISK_ONLY_SQL}", DISK_ONLY_VALUES
        ):
            node_kind = KINDS[kind]
            ref = refs[(kind, key)] = NodeRef(node_kind, key)
            values = _loads(props)
            if node_kind is NodeKind.COMMUNE or ref in succ:
                self._apply_node(ref, values)
                continue
            succ[ref] = {}
            pred[ref] = {}
            node_attrs[ref] = {"props": values}
            by_kind[node_kind][key] = values
        counts: Counter[RelType] = Counter()
        new_keydict = self._graph.edge_key_dict_factory
        # Straight into the adjacency (what MultiDiGraph.add_edge does for each
        # edge, minus its per-call checks): the nodes exist, the keys are unique.
        for rel, skind, skey, tkind, tkey, ekey, props in self._db.execute(
            "SELECT type, skind, skey, tkind, tkey, ekey, props FROM edges"
        ):
            relation = RELS[rel]
            counts[relation] += 1
            source, target = refs[(skind, skey)], refs[(tkind, tkey)]
            keydict = succ[source].get(target)
            if keydict is None:
                keydict = succ[source][target] = pred[target][source] = new_keydict()
            keydict[(relation, ekey)] = {"props": _loads(props)}
        self._edge_counts = counts

    # -- keeping the graph up to date ------------------------------------------------
    @property
    def _reads_logged_rows(self) -> bool:
        return True

    def _apply_node(self, ref: NodeRef, props: dict[str, Any]) -> None:
        if ref.kind is NodeKind.COMMUNE:
            old = self._by_kind[ref.kind].get(ref.key)
            for pc in (old or {}).get("postcodes", []):
                self._postcodes[pc].discard(ref.key)
            for pc in props.get("postcodes", []):
                self._postcodes[pc].add(ref.key)
        self._graph.add_node(ref, props=props)
        self._by_kind[ref.kind][ref.key] = props
        self._note_node(ref)

    def _apply_edge(self, eid: EdgeId, props: dict[str, Any]) -> None:
        rel, source, target, ekey = eid
        if not self._graph.has_edge(source, target, key=(rel, ekey)):
            self._edge_counts[rel] += 1
        self._graph.add_edge(source, target, key=(rel, ekey), props=props)
        self._note_edge(source)

    def _remove_edge(self, eid: EdgeId) -> None:
        rel, source, target, ekey = eid
        if self._graph.has_edge(source, target, key=(rel, ekey)):
            self._graph.remove_edge(source, target, key=(rel, ekey))
            self._edge_counts[rel] -= 1
        self._note_edge(source)

    def _apply_logged(
        self,
        nodes: list[tuple[NodeRef, dict[str, Any] | None]],
        edges: list[tuple[EdgeId, dict[str, Any] | None]],
    ) -> None:
        for ref, props in nodes:
            if props is not None:
                self._apply_node(ref, props)
        for eid, props in edges:
            if props is not None:
                self._apply_edge(eid, props)
            else:
                self._remove_edge(eid)

    def _applied(
        self, nodes: Mapping[NodeRef, dict[str, Any]], edges: Mapping[EdgeId, dict[str, Any]]
    ) -> None:
        for ref, props in nodes.items():
            self._apply_node(ref, props)
        for eid, props in edges.items():
            self._apply_edge(eid, props)

    def _removed(self, edges: Sequence[EdgeId]) -> None:
        for eid in edges:
            self._remove_edge(eid)

    # -- what a write merges with ------------------------------------------------------
    def _stored_node(self, ref: NodeRef) -> dict[str, Any] | None:
        if ref.kind in DISK_ONLY:
            return self._disk_node(ref)
        return self._graph.nodes[ref]["props"] if self._graph.has_node(ref) else None

    def _has_node(self, ref: NodeRef) -> bool:
        if ref.kind in DISK_ONLY:
            return super()._has_node(ref)
        return bool(self._graph.has_node(ref))

    def _stored_edge(self, eid: EdgeId) -> dict[str, Any] | None:
        rel, source, target, ekey = eid
        if not self._graph.has_edge(source, target, key=(rel, ekey)):
            return None
        return self._graph.edges[source, target, (rel, ekey)]["props"]  # type: ignore[no-any-return]

    # -- reads -------------------------------------------------------------------------
    def get_node(self, kind: NodeKind, key: str) -> Node | None:
        if kind in DISK_ONLY:
            found = self._disk_nodes(kind, [key])
            return found[0] if found else None
        self._refresh()
        with self._lock:
            props = self._by_kind[kind].get(key)
            return None if props is None else Node(kind, key, dict(props))

    def get_nodes(self, kind: NodeKind, keys: Iterable[str]) -> dict[str, Node]:
        if kind in DISK_ONLY:
            wanted = list(keys)
            found = {n.key: n for n in self._disk_nodes(kind, wanted)}
            return {k: found[k] for k in wanted if k in found}
        self._refresh()
        with self._lock:
            table = self._by_kind[kind]
            return {k: Node(kind, k, dict(table[k])) for k in keys if k in table}

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        if kind in DISK_ONLY:
            return iter(self._disk_nodes(kind, None))
        self._refresh()
        with self._lock:
            table = self._by_kind[kind]
            snapshot = [Node(kind, k, dict(table[k])) for k in sorted(table)]
        return iter(snapshot)

    def _edge_list(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None, outgoing: bool
    ) -> dict[NodeRef, list[Edge]]:
        self._refresh()
        wanted = None if types is None else frozenset(types)
        result: dict[NodeRef, list[Edge]] = {}
        with self._lock:
            for ref in refs:
                if not self._graph.has_node(ref):
                    result[ref] = []
                    continue
                view = (
                    self._graph.out_edges(ref, keys=True, data="props")
                    if outgoing
                    else self._graph.in_edges(ref, keys=True, data="props")
                )
                result[ref] = [
                    Edge(rel, s, t, dict(p), ekey)
                    for s, t, (rel, ekey), p in view
                    if wanted is None or rel in wanted
                ]
        return result

    def edges(self, type: RelType) -> Iterator[Edge]:
        self._refresh()
        with self._lock:
            snapshot = [
                Edge(rel, s, t, dict(p), ekey)
                for s, t, (rel, ekey), p in self._graph.edges(keys=True, data="props")
                if rel is type
            ]
        return iter(snapshot)

    def communes_by_postcode(self, postcode: str) -> list[Node]:
        self._refresh()
        with self._lock:
            keys = sorted(self._postcodes.get(postcode, ()))
        return list(self.get_nodes(NodeKind.COMMUNE, keys).values())

    def count_nodes(self) -> dict[NodeKind, int]:
        self._refresh()
        with self._lock:
            counts = {kind: len(table) for kind, table in self._by_kind.items() if table}
        counts.update(self._disk_count_nodes(DISK_ONLY_VALUES))
        return counts

    def count_edges(self) -> dict[RelType, int]:
        self._refresh()
        with self._lock:
            return {rel: n for rel, n in self._edge_counts.items() if n}
