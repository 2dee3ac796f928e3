"""The ``GraphStore`` protocol: what every backend offers the domain services.

Plain reads, atomic writes, ``revision()`` and a change feed
(:class:`ChangeFeed`: what the writes since a revision touched); nothing else.
Domain services (vocabulary loading, matching, coverage, access rules) are
written once against it, and what they read per query comes from
:mod:`graph.readmodel`, built from these plain reads and patched from the
change feed when the revision changes. Backend records
(networkx attribute dicts, Neo4j records) never leave a store: it returns
:mod:`graph.model` types.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.shared import SharedState

__all__ = [
    "GraphStore",
    "ChangeFeed",
    "ColumnSnapshot",
    "LogPosition",
    "WriteSummary",
    "Changes",
    "merge_props",
    "upsert_outcome",
    "REVISION_NEUTRAL_KINDS",
    "NO_CHANGES",
    "gc_paused",
    "freeze_loaded",
    "one_look",
    "looked",
]

#: Node kinds that record the service's own life (the audit log, API keys, the
#: import journal), not the network: writing only these leaves
#: ``GraphStore.revision()`` as it is, so the read models survive them.
REVISION_NEUTRAL_KINDS = frozenset({NodeKind.AUDIT_ENTRY, NodeKind.API_KEY, NodeKind.IMPORT_RUN})


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk building: hundreds of thousands of new containers would trigger many
    full collections of the cyclic garbage collector (each walking the whole,
    growing heap) while nothing being built can be garbage yet. Only for a
    build that runs alone (loading at start, a CLI command): a server builds its
    read models while requests run, and never pauses the collector for the
    whole process then (``graph.readmodel``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_loaded() -> None:
    """Once, after the graph and the first read models are loaded and before a
    server's workers fork: move every object alive out of the cyclic
    collector's sight (``gc.freeze``), so that its full collections no longer
    walk the million long-lived containers of the graph (pauses of 0.5-0.8 s
    under load otherwise), and forked workers share those pages. Objects made
    later (a rebuilt read model, a request's garbage) stay collectable: freezing
    again at every rebuild would keep dropped cyclic garbage forever."""
    gc.collect()
    gc.freeze()


def release_freed_memory() -> None:
    """After a large load (a read model built or read from its snapshot): hand
    the heap pages its temporaries freed back to the system (glibc's
    ``malloc_trim``; elsewhere nothing). A server worker's resident memory is
    then what it holds, not its peak while loading (about 25 MB less for the
    national 4× network)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


#: Within one request (``one_look``): the stores that already looked for other
#: processes' writes. A request reads one state: the store's revision is
#: checked at its first read, not at each of its dozens of reads.
_LOOKED: ContextVar[set[int] | None] = ContextVar("dihr_looked", default=None)


@contextmanager
def one_look() -> Iterator[None]:
    """Scope of one request: each store looks for other processes' writes at
    most once inside it (its own writes are seen at once, as always)."""
    token = _LOOKED.set(set())
    try:
        yield
    finally:
        _LOOKED.reset(token)


def looked(store: object) -> bool:
    """True when ``store`` already looked in the current ``one_look`` scope
    (then nothing to do); otherwise notes that it looks now and returns False."""
    seen = _LOOKED.get()
    if seen is None:
        return False
    if id(store) in seen:
        return True
    seen.add(id(store))
    return False


def merge_props(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Upsert semantics shared by every backend: new values overwrite, ``None``
    removes a property, properties not mentioned are kept."""
    merged = dict(old or {})
    for name, value in new.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def upsert_outcome(what: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """The WriteSummary field an upsert counts in (``nodes_created``…)."""
    if old is None:
        return f"{what}_created"
    return f"{what}_unchanged" if old == new else f"{what}_updated"


@dataclass(frozen=True, slots=True)
class Changes:
    """What the writes between two revisions touched: the nodes written, and
    the sources of the relationships written or deleted (of kinds that are not
    ``REVISION_NEUTRAL_KINDS``; a relationship is its source's: the read models
    keep each resource's outgoing links)."""

    nodes: frozenset[NodeRef]
    edge_sources: frozenset[NodeRef]

    def __or__(self, other: Changes) -> Changes:
        return Changes(self.nodes | other.nodes, self.edge_sources | other.edge_sources)

    @property
    def touched(self) -> frozenset[NodeRef]:
        return self.nodes | self.edge_sources


NO_CHANGES = Changes(frozenset(), frozenset())

#: Where a state is in a store's change log: (sequence number, that entry's identity).
LogPosition = tuple[int, str | None]


@dataclass(frozen=True, slots=True)
class ColumnSnapshot:
    """Where a store keeps the read models' column snapshot (``graph.snapshot``),
    the log position its process has reached, and whether loading the snapshot
    beats building from the store (``preferred``: the graph is not held in this
    process's memory, so building means reading every row from disk)."""

    path: Path
    position: LogPosition
    changes_after: Callable[[LogPosition], Changes | None]
    preferred: bool


@runtime_checkable
class ChangeFeed(Protocol):
    """What each revision's writes touched, so that the read models are patched
    (the builder applied to the changed rows) instead of rebuilt. Every backend
    keeps one: the embedded stores in their SQLite change log, the Bolt store in
    a change log inside its namespace (read by every app server)."""

    def changes_since(self, revision: int) -> Changes | None:
        """What the writes after ``revision`` touched, up to ``revision()``;
        None when the feed does not reach back there (the read models are then
        rebuilt)."""
        ...

    def column_snapshot(self) -> ColumnSnapshot | None:
        """Where this store keeps a column snapshot of its read models, or None."""
        ...


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """What one atomic batch did. ``unchanged`` counts upserts that found the
    stored element identical."""

    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_unchanged: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    edges_unchanged: int = 0

    def __add__(self, other: WriteSummary) -> WriteSummary:
        return WriteSummary(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))

    @property
    def changed(self) -> int:
        return self.nodes_created + self.nodes_updated + self.edges_created + self.edges_updated


@runtime_checkable
class GraphStore(ChangeFeed, SharedState, Protocol):
    """A durable property graph of :mod:`graph.model` nodes and edges.

    Writes are atomic per call: either every node and edge of the batch is
    stored, or none is and :class:`graph.errors.StoreError` is raised.
    Properties are merged on upsert (a ``None`` value removes a property).
    ``local_reads``: a point read (a key, a node's links) is answered from this
    machine's memory or disk in microseconds, so callers on an event loop may
    read without a thread hop (False for a store over the network).
    """

    local_reads: bool

    def upsert(
        self,
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        *,
        expect: Iterable[tuple[Node | Edge, Mapping[str, Any]]] = (),
    ) -> WriteSummary:
        """Create or update nodes, then edges, in one atomic batch.

        An edge whose endpoints exist neither in the store nor in the batch
        fails the whole batch. ``expect`` makes the batch a compare-and-set:
        each node (by kind and key) or edge (by type, ends, key) given must
        hold these property values (a missing one, or a missing node or edge,
        is None) when the
        batch is applied, read inside its transaction; otherwise nothing is
        written and :class:`graph.errors.WriteConflict` is raised."""
        ...

    def delete_edges(self, edges: Iterable[Edge]) -> int:
        """Remove these relationships (matched by identity); returns how many existed."""
        ...

    def get_node(self, kind: NodeKind, key: str) -> Node | None: ...

    def get_nodes(self, kind: NodeKind, keys: Iterable[str]) -> dict[str, Node]:
        """The nodes of these keys that exist, by key (one trip)."""
        ...

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        """Every node of a kind, in key order."""
        ...

    def edges_from(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        """Outgoing edges of several nodes at once (one trip), by source."""
        ...

    def edges_to(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        """Incoming edges of several nodes at once (one trip), by target."""
        ...

    def edges(self, type: RelType) -> Iterator[Edge]:
        """Every edge of a type."""
        ...

    def communes_by_postcode(self, postcode: str) -> list[Node]: ...

    def revision(self) -> int:
        """A number that changes whenever a write (of this process or, within
        about a second, of another one over the same data) may change what the
        read models are built from; writes of ``REVISION_NEUTRAL_KINDS`` only
        leave it as it is."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """Several reads as one: over the network, one read transaction (fewer
        round trips; the reads see one state of the data); a local store reads
        as it always does. Used where one step makes several dependent reads
        (a read model patched for the rows a write touched)."""
        ...

    def count_nodes(self) -> dict[NodeKind, int]: ...

    def count_edges(self) -> dict[RelType, int]: ...

    def close(self) -> None: ...
