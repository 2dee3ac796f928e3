"""Embedded store: a networkx graph in memory, made durable by SQLite.

Every batch is written to SQLite in one transaction and committed (fsync)
before it is applied to the in-memory graph, so what a reader sees has always
been stored. A process killed mid-batch leaves SQLite's journal to roll the
batch back on the next open: only that batch is lost.

Concurrency: writers are serialised; the in-memory graph is guarded by a
lock held briefly by readers and by the apply step of a writer, so reads are
safe while another thread writes (they see the state before or after a batch,
never half of it).

Several processes (web workers, a CLI import while the server runs) may open
the same file. Every write also appends the identities of the rows it changed
to a ``changes`` log, in the same transaction. Before each read a process asks
SQLite whether another connection has committed (``PRAGMA data_version``, a
few microseconds) and, if so, applies the logged changes it has not seen; a
writer does the same inside its write transaction, before merging properties,
so no process overwrites another's write with a stale copy. The log keeps the
last ``_KEEP_CHANGES`` entries; a process further behind reloads everything.

``in_memory=False`` (the workers of a multi-worker server): the graph is not
loaded at all. Every read is answered by SQLite itself (primary keys, and two
indexes on the relationships' ends), in the order the loaded graph would give;
writes look up what they merge with there. The change log then only tells which
nodes and relationships changed, for the read models, which such a process
loads from their column snapshot (``graph.snapshot``) rather than from a graph:
a worker holds the columns its searches need, not the million objects of the
graph (500 MB at national scale).
"""

from __future__ import annotations

import contextlib
import functools
import operator
import sqlite3
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from graph.errors import StorageFault, StoreError, StoreUnavailable, WriteConflict
from graph.health import record_fault, record_write
from graph.model import (
    Edge,
    Node,
    NodeKind,
    NodeRef,
    RelType,
    SchemaError,
    validate_edge,
    validate_node,
)
from graph.snapshot import SNAPSHOT_FILENAME, LogPosition
from graph.store import REVISION_NEUTRAL_KINDS, Changes, WriteSummary, gc_paused, merge_props, upsert_outcome

__all__ = ["MemoryStore", "DB_FILENAME", "sqlite_check", "sqlite_backup"]

DB_FILENAME = "dihr-graph.sqlite"
_SCHEMA_VERSION = 1
_CHUNK = 5000

_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    kind TEXT NOT NULL, key TEXT NOT NULL, props TEXT NOT NULL,
    PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges (
    type TEXT NOT NULL, skind TEXT NOT NULL, skey TEXT NOT NULL,
    tkind TEXT NOT NULL, tkey TEXT NOT NULL, ekey TEXT NOT NULL, props TEXT NOT NULL,
    PRIMARY KEY (type, skind, skey, tkind, tkey, ekey)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL, ident TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS edges_by_source ON edges (skind, skey);
CREATE INDEX IF NOT EXISTS edges_by_target ON edges (tkind, tkey);
"""
_KEEP_CHANGES = 500_000
#: Revisions whose changes are remembered for the read models' updates (``changes_since``).
_KEEP_REVISIONS = 256
_PROBE_EVERY_S = 0.002
_LOG_SQL = "INSERT INTO changes (what, ident) VALUES (?, ?)"

_UPSERT_NODE_SQL = (
    "INSERT INTO nodes (kind, key, props) VALUES (?, ?, ?) "
    "ON CONFLICT (kind, key) DO UPDATE SET props = excluded.props"
)
_UPSERT_EDGE_SQL = (
    "INSERT INTO edges (type, skind, skey, tkind, tkey, ekey, props) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (type, skind, skey, tkind, tkey, ekey) DO UPDATE SET props = excluded.props"
)
_DELETE_EDGE_SQL = (
    "DELETE FROM edges WHERE type = ? AND skind = ? AND skey = ? AND tkind = ? AND tkey = ? "
    "AND ekey = ?"
)


def _dumps(props: dict[str, Any]) -> str:
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _dumps_list(values: tuple[str, ...]) -> str:
    return orjson.dumps(values).decode("utf-8")


_loads = orjson.loads  # several times faster than json.loads: reopening parses every row


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, _CHUNK)):
        yield chunk


_EdgeId = tuple[RelType, NodeRef, NodeRef, str]
_MISSING = object()
#: Without the graph (``_kept``): point reads kept per revision, at most this many;
#: every node of a kind when it has at most this many; a node's links when the
#: call asks for at most this many nodes.
_KEEP_READS = 8192
_KEEP_NODES_OF_KIND = 512
_KEEP_EDGES_OF = 16
_KINDS = {k.value: k for k in NodeKind}
_RELS = {r.value: r for r in RelType}

#: Kinds kept on disk only, read from SQLite when asked: the audit trail grows
#: with every request and nothing searches it per query, so it stays out of
#: every process's memory (and out of the change log the other processes read).
_DISK_ONLY = frozenset({NodeKind.AUDIT_ENTRY})
_DISK_ONLY_VALUES = tuple(sorted(k.value for k in _DISK_ONLY))
_NOT_DISK_ONLY_SQL = f"kind NOT IN ({', '.join('?' * len(_DISK_ONLY_VALUES))})"


def sqlite_check(path: Path, *, quick: bool = False) -> list[str]:
    """SQLite's own check of a database file (``integrity_check``, or the
    faster ``quick_check``): the problems it reports, [] when sound."""
    if not path.is_file():
        return [f"Base absente : {path}."]
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check").fetchall()
            schema = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as err:
        return [f"Base illisible : {err}."]
    problems = [str(r[0]) for r in rows if r[0] != "ok"]
    if schema is None:
        problems.append("Ce fichier n'est pas une base dihr-graph (table meta sans version de schéma).")
    return problems


def sqlite_backup(source: Path, target: Path) -> None:
    """A consistent copy of the database while others read and write it
    (SQLite's online backup API), written next to ``target`` then renamed."""
    partial = target.with_name(target.name + ".partiel")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)


def storage_error(err: sqlite3.Error, where: Path) -> StoreError:
    """A storage fault said plainly, in French, with what to do (nothing was written)."""
    found = _storage_error(err, where)
    if isinstance(found, StorageFault):
        record_fault(found.message)
    return found


def _storage_error(err: sqlite3.Error, where: Path) -> StoreError:
    text = str(err).lower()
    if "full" in text:
        return StorageFault(f"Disque plein : rien n'a été écrit. Libérez de la place sur le disque de {where}, "
                            "puis recommencez.")
    if "readonly" in text or "read-only" in text:
        return StorageFault(f"Registre en lecture seule : rien n'a été écrit. Vérifiez les droits d'écriture sur {where} "
                            "(ou le montage du disque), puis recommencez.")
    if "disk i/o" in text or "i/o error" in text:
        return StorageFault(f"Erreur d'entrée-sortie du disque : rien n'a été écrit. Vérifiez le disque de {where} "
                            "(`dihr check`), puis recommencez.")
    if "locked" in text or "busy" in text:
        return StoreError("Registre occupé par une autre écriture : rien n'a été écrit, réessayez dans un instant.")
    return StoreError(f"Écriture impossible, rien n'a été écrit : {err}")


class MemoryStore:
    """The embedded :class:`graph.store.GraphStore` (one SQLite file in ``data_dir``)."""

    #: A point read (a key, a node's links) is answered from memory or a local
    #: file in microseconds: callers on an event loop may read without a thread.
    local_reads = True

    def __init__(self, data_dir: Path | str, *, in_memory: bool = True) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        #: False: no graph in memory, every read is answered by SQLite (see module doc).
        self.in_memory = in_memory
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_DDL)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?)",
                (str(_SCHEMA_VERSION),),
            )
        except (OSError, sqlite3.Error) as err:
            raise StoreUnavailable(
                f"Impossible d'ouvrir la base {self.path} : {err}. "
                "Vérifiez DIHR_DATA_DIR (dossier existant et accessible en écriture)."
            ) from err
        self._write_lock = threading.RLock()
        self._lock = threading.RLock()
        self._probe_lock = threading.Lock()
        try:
            self._probe = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"Impossible d'ouvrir la base {self.path} : {err}.") from err
        self._version = self._data_version()
        self._probed = 0.0
        self._seq = 0
        self._graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._by_kind: dict[NodeKind, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._edge_counts: Counter[RelType] = Counter()
        self._postcodes: dict[str, set[str]] = defaultdict(set)
        self._revision = 0  # bumped by every write that is not revision-neutral (ours or another process's)
        # What each recent revision changed (``changes_since``); not tracked while loading everything.
        self._tracking = False
        self._touched: tuple[set[NodeRef], set[NodeRef]] = (set(), set())
        self._history: deque[tuple[int, Changes]] = deque(maxlen=_KEEP_REVISIONS)
        self._known_from = 0  # the oldest revision changes_since can answer from
        self._reads: dict[Any, Any] = {}  # without the graph: point reads of this revision (_kept)
        if in_memory:
            self._load()
        else:
            self._seq = self._last_seq()
        self._tracking = True

    # -- loading -----------------------------------------------------------
    def _load(self) -> None:
        """Read everything, in one read transaction (with the log position it matches)."""
        self._db.execute("BEGIN")
        try:
            self._seq = self._last_seq()
            self._load_rows()
        finally:
            self._db.execute("COMMIT")

    def _last_seq(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])

    def _reset(self) -> None:
        self._tracking = False  # everything is read again: the read models are rebuilt
        self._graph = nx.MultiDiGraph()
        self._by_kind = defaultdict(dict)
        self._edge_counts = Counter()
        self._postcodes = defaultdict(set)
        self._invalidate()

    def _invalidate(self) -> None:
        self._revision += 1
        self._reads.clear()
        if not self._tracking:
            self._known_from = self._revision
            return
        nodes, sources = self._touched
        self._history.append((self._revision, Changes(frozenset(nodes), frozenset(sources))))
        self._touched = (set(), set())

    def changes_since(self, revision: int) -> Changes | None:
        """What the revisions after ``revision`` changed, up to the current one;
        None when that is not known any more (too old, or everything was read again)."""
        with self._lock:
            if revision < self._known_from or revision > self._revision:
                return None
            wanted = [c for r, c in self._history if r > revision]
            if len(wanted) != self._revision - revision:
                return None  # part of it fell out of the history
            return functools.reduce(operator.or_, wanted, Changes(frozenset(), frozenset()))

    # -- the column snapshot's position (graph.snapshot) --------------------
    @property
    def snapshot_path(self) -> Path:
        """Where the read models' column snapshot of this store is kept."""
        return self.path.with_name(SNAPSHOT_FILENAME)

    def log_position(self) -> LogPosition:
        """The change log entry this process's state has reached (what it reads
        is at least that recent)."""
        with self._lock:
            seq = self._seq
        return seq, self._log_entry(seq)

    def _log_entry(self, seq: int) -> str | None:
        with self._probe_lock:
            found = self._probe.execute("SELECT ident FROM changes WHERE seq = ?", (seq,)).fetchone()
        return None if found is None else str(found[0])

    def changes_after(self, position: LogPosition) -> Changes | None:
        """What the log says was written after ``position`` (a ``log_position()``
        of this database, maybe of another process or an earlier run), up to now;
        None when the log does not reach back there, or when that entry is not
        the one recorded (another database: a restored backup)."""
        seq, ident = position
        with self._probe_lock:
            self._probe.execute("BEGIN")
            try:
                at = self._probe.execute("SELECT ident FROM changes WHERE seq = ?", (seq,)).fetchone()
                rows = self._probe.execute("SELECT seq, what, ident FROM changes WHERE seq > ? ORDER BY seq",
                                           (seq,)).fetchall()
            finally:
                self._probe.execute("COMMIT")
        recorded = None if at is None else str(at[0])
        if recorded != ident or (seq != 0 and recorded is None):
            return None
        if rows and rows[0][0] != seq + 1:
            return None
        nodes: set[NodeRef] = set()
        sources: set[NodeRef] = set()
        for _seq, what, entry in rows:
            values = _loads(entry)
            kind = _KINDS.get(values[0] if what == "node" else values[1])
            if kind is None:  # written by a newer version: nothing can be trusted
                return None
            if what == "node":
                if kind not in REVISION_NEUTRAL_KINDS:
                    nodes.add(NodeRef(kind, values[1]))
            else:
                sources.add(NodeRef(kind, values[2]))
        return Changes(frozenset(nodes), frozenset(sources))

    def _load_rows(self) -> None:
        with gc_paused(keep=True):
            self._load_rows_unmanaged()

    def _load_rows_unmanaged(self) -> None:
        kinds, rels = _KINDS, _RELS
        refs: dict[tuple[str, str], NodeRef] = {}
        # Nodes straight into the graph's dicts too (what add_node does, minus its
        # per-call checks: each row is a new node); postcodes through _apply_node.
        node_attrs, succ, pred = self._graph._node, self._graph._succ, self._graph._pred
        by_kind = self._by_kind
        for kind, key, props in self._db.execute(f"SELECT kind, key, props FROM nodes WHERE {_NOT_DISK_ONLY_SQL}",
                                                 _DISK_ONLY_VALUES):
            node_kind = kinds[kind]
            ref = refs[(kind, key)] = NodeRef(node_kind, key)
            values = _loads(props)
            if node_kind is NodeKind.COMMUNE or ref in succ:
                self._apply_node(ref, values)
                continue
            succ[ref] = {}
            pred[ref] = {}
            node_attrs[ref] = {"props": values}
            by_kind[node_kind][key] = values
        batch = []
        counts: Counter[RelType] = Counter()
        for rel, skind, skey, tkind, tkey, ekey, props in self._db.execute(
            "SELECT type, skind, skey, tkind, tkey, ekey, props FROM edges"
        ):
            relation = rels[rel]
            counts[relation] += 1
            batch.append((refs[(skind, skey)], refs[(tkind, tkey)], (relation, ekey), {"props": _loads(props)}))
        # Bulk load straight into the adjacency (what MultiDiGraph.add_edge does
        # for each edge, minus its per-call checks): the nodes exist, the keys are unique.
        succ, pred = self._graph._succ, self._graph._pred
        new_keydict = self._graph.edge_key_dict_factory
        for source, target, key, attr in batch:
            keydict = succ[source].get(target)
            if keydict is None:
                keydict = succ[source][target] = pred[target][source] = new_keydict()
            keydict[key] = attr
        self._edge_counts = counts

    def _apply_node(self, ref: NodeRef, props: dict[str, Any]) -> None:
        if not self.in_memory:
            if self._tracking and ref.kind not in REVISION_NEUTRAL_KINDS:
                self._touched[0].add(ref)
            return
        if ref.kind is NodeKind.COMMUNE:
            old = self._by_kind[ref.kind].get(ref.key)
            for pc in (old or {}).get("postcodes", []):
                self._postcodes[pc].discard(ref.key)
            for pc in props.get("postcodes", []):
                self._postcodes[pc].add(ref.key)
        self._graph.add_node(ref, props=props)
        self._by_kind[ref.kind][ref.key] = props
        if self._tracking and ref.kind not in REVISION_NEUTRAL_KINDS:
            self._touched[0].add(ref)

    def _touch_edge(self, source: NodeRef) -> None:
        if self._tracking:
            self._touched[1].add(source)

    def _apply_edge(self, eid: _EdgeId, props: dict[str, Any]) -> None:
        rel, source, target, ekey = eid
        if self.in_memory:
            if not self._graph.has_edge(source, target, key=(rel, ekey)):
                self._edge_counts[rel] += 1
            self._graph.add_edge(source, target, key=(rel, ekey), props=props)
        self._touch_edge(source)

    def _remove_edge(self, eid: _EdgeId) -> None:
        rel, source, target, ekey = eid
        if self.in_memory:
            self._graph.remove_edge(source, target, key=(rel, ekey))
            self._edge_counts[rel] -= 1
        self._touch_edge(source)

    # -- other processes' writes --------------------------------------------
    def _data_version(self) -> int:
        with self._probe_lock:
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])

    def _refresh(self) -> None:
        """Apply what other connections committed since we last looked (see module
        doc); looks at most once every ``_PROBE_EVERY_S`` (a read may see another
        process's write that much later, never half of it)."""
        now = time.monotonic()
        if now - self._probed < _PROBE_EVERY_S:
            return
        self._probed = now
        version = self._data_version()
        if version == self._version:
            return
        with self._write_lock:
            self._db.execute("BEGIN")
            try:
                self._catch_up()
            finally:
                self._db.execute("COMMIT")
            self._version = version

    def _catch_up(self) -> None:
        """Inside a transaction of ``self._db``, with the write lock held."""
        rows = self._db.execute("SELECT seq, what, ident FROM changes WHERE seq > ? ORDER BY seq", (self._seq,)).fetchall()
        if not rows:
            return
        if rows[0][0] != self._seq + 1:  # the log was trimmed past our position: read everything again
            with self._lock:
                self._reset()
                self._seq = self._last_seq()
                if self.in_memory:
                    self._load_rows()
                self._tracking = True
            return
        nodes = {tuple(_loads(ident)) for _seq, what, ident in rows if what == "node"}
        nodes = {n for n in nodes if n[0] not in _DISK_ONLY_VALUES}  # logged by an older version
        edges = {tuple(_loads(ident)) for _seq, what, ident in rows if what == "edge"}
        kinds, rels = _KINDS, _RELS
        if not self.in_memory:  # nothing to apply: note what changed, for the read models
            touched = [NodeRef(kinds[kind], key) for kind, key in nodes]
            with self._lock:
                self._touched[0].update(ref for ref in touched if ref.kind not in REVISION_NEUTRAL_KINDS)
                self._touched[1].update(NodeRef(kinds[e[1]], e[2]) for e in edges)
                if edges or any(ref.kind not in REVISION_NEUTRAL_KINDS for ref in touched):
                    self._invalidate()
                self._seq = rows[-1][0]
            return
        node_rows, edge_rows = [], []
        for kind, key in nodes:
            found = self._db.execute("SELECT props FROM nodes WHERE kind = ? AND key = ?", (kind, key)).fetchone()
            if found is not None:
                node_rows.append((NodeRef(kinds[kind], key), _loads(found[0])))
        for rel, skind, skey, tkind, tkey, ekey in edges:
            found = self._db.execute(
                "SELECT props FROM edges WHERE type = ? AND skind = ? AND skey = ? AND tkind = ? AND tkey = ? AND ekey = ?",
                (rel, skind, skey, tkind, tkey, ekey),
            ).fetchone()
            eid = (rels[rel], NodeRef(kinds[skind], skey), NodeRef(kinds[tkind], tkey), ekey)
            edge_rows.append((eid, None if found is None else _loads(found[0])))
        with self._lock:
            for ref, props in node_rows:
                self._apply_node(ref, props)
            for eid, props in edge_rows:
                if props is not None:
                    self._apply_edge(eid, props)
                elif self._graph.has_edge(eid[1], eid[2], key=(eid[0], eid[3])):
                    self._remove_edge(eid)
            if edge_rows or any(ref.kind not in REVISION_NEUTRAL_KINDS for ref, _ in node_rows):
                self._invalidate()
            self._seq = rows[-1][0]

    def _log(self, what: str, idents: Sequence[tuple[str, ...]]) -> None:
        self._db.executemany(_LOG_SQL, [(what, _dumps_list(i)) for i in idents])

    def _end_write(self) -> None:
        """Before COMMIT: note our own log position and trim the log."""
        last = self._last_seq()
        if last > _KEEP_CHANGES:
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (last - _KEEP_CHANGES,))
        self._seq = last

    # -- what a write merges with (inside its transaction) -------------------
    def _stored_node(self, ref: NodeRef) -> dict[str, Any] | None:
        if self.in_memory and ref.kind not in _DISK_ONLY:
            return self._graph.nodes[ref]["props"] if self._graph.has_node(ref) else None
        found = self._db.execute("SELECT props FROM nodes WHERE kind = ? AND key = ?", (ref.kind.value, ref.key)).fetchone()
        return None if found is None else _loads(found[0])

    def _has_node(self, ref: NodeRef) -> bool:
        if self.in_memory:
            return bool(self._graph.has_node(ref))
        return self._db.execute("SELECT 1 FROM nodes WHERE kind = ? AND key = ?", (ref.kind.value, ref.key)).fetchone() is not None

    def _stored_edge(self, eid: _EdgeId) -> dict[str, Any] | None:
        rel, source, target, ekey = eid
        if self.in_memory:
            if not self._graph.has_edge(source, target, key=(rel, ekey)):
                return None
            return self._graph.edges[source, target, (rel, ekey)]["props"]  # type: ignore[no-any-return]
        found = self._db.execute(
            "SELECT props FROM edges WHERE type = ? AND skind = ? AND skey = ? AND tkind = ? AND tkey = ? AND ekey = ?",
            (rel.value, source.kind.value, source.key, target.kind.value, target.key, ekey),
        ).fetchone()
        return None if found is None else _loads(found[0])

    # -- writes ------------------------------------------------------------
    def upsert(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = (), *,
               expect: Iterable[tuple[Node | Edge, Mapping[str, Any]]] = ()) -> WriteSummary:
        expected = list(expect)
        with self._write_lock:
            pending_nodes: dict[NodeRef, dict[str, Any]] = {}
            pending_edges: dict[_EdgeId, dict[str, Any]] = {}
            counts: Counter[str] = Counter()
            present: set[NodeRef] = set()  # edge ends found stored, in this batch
            self._db.execute("BEGIN IMMEDIATE")  # every writer, of every process, one at a time
            try:
                self._catch_up()
                for item, values in expected:  # compare-and-set: read inside the transaction
                    stored = (self._stored_node(item.ref) if isinstance(item, Node) else
                              self._stored_edge((item.type, item.source, item.target, item.key))) or {}
                    if any(stored.get(k) != v for k, v in values.items()):
                        raise WriteConflict("Cette donnée a été modifiée entre-temps : rien n'a été écrit.")
                for chunk in _chunks(nodes):
                    rows = []
                    for node in chunk:
                        validate_node(node)
                        ref = node.ref
                        old = pending_nodes.get(ref)
                        if old is None:
                            old = self._stored_node(ref)
                        new = merge_props(old, node.props)
                        counts[upsert_outcome("nodes", old, new)] += 1
                        if new != old:
                            pending_nodes[ref] = new
                            rows.append((ref.kind.value, ref.key, _dumps(new)))
                    self._db.executemany(_UPSERT_NODE_SQL, rows)
                    self._log("node", [row[:2] for row in rows if row[0] not in _DISK_ONLY_VALUES])
                for chunk in _chunks(edges):
                    edge_rows: list[tuple[str, str, str, str, str, str, str]] = []
                    for edge in chunk:
                        validate_edge(edge)
                        for end in (edge.source, edge.target):
                            if end not in pending_nodes and end not in present and not self._has_node(end):
                                raise SchemaError(f"{edge.type.value} points to a missing node {end}")
                            present.add(end)
                        eid = (edge.type, edge.source, edge.target, edge.key)
                        old = pending_edges.get(eid)
                        if old is None:
                            old = self._stored_edge(eid)
                        new = merge_props(old, edge.props)
                        counts[upsert_outcome("edges", old, new)] += 1
                        if new != old:
                            pending_edges[eid] = new
                            edge_rows.append(
                                (
                                    edge.type.value,
                                    edge.source.kind.value,
                                    edge.source.key,
                                    edge.target.kind.value,
                                    edge.target.key,
                                    edge.key,
                                    _dumps(new),
                                )
                            )
                    self._db.executemany(_UPSERT_EDGE_SQL, edge_rows)
                    self._log("edge", [row[:6] for row in edge_rows])
                self._end_write()
                self._db.execute("COMMIT")
                record_write()
            except BaseException as err:
                self._rollback()
                if isinstance(err, SchemaError):
                    raise StoreError(f"Lot refusé, rien n'a été écrit : {err}") from err
                if isinstance(err, sqlite3.Error):
                    raise storage_error(err, self.path.parent) from err
                raise
            with self._lock:
                for ref, props in pending_nodes.items():
                    if ref.kind not in _DISK_ONLY:
                        self._apply_node(ref, props)
                for eid, props in pending_edges.items():
                    self._apply_edge(eid, props)
                if pending_edges or any(ref.kind not in REVISION_NEUTRAL_KINDS for ref in pending_nodes):
                    self._invalidate()
        return WriteSummary(**counts)

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may have rolled it back itself (a
        full disk): a second error must not hide the first, which says why."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def delete_edges(self, edges: Iterable[Edge]) -> int:
        with self._write_lock:
            wanted = list(edges)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._catch_up()
                found: list[_EdgeId] = list(dict.fromkeys(
                    eid for edge in wanted
                    if self._stored_edge(eid := (edge.type, edge.source, edge.target, edge.key)) is not None
                ))
                rows = [(r.value, s.kind.value, s.key, t.kind.value, t.key, k) for r, s, t, k in found]
                self._db.executemany(_DELETE_EDGE_SQL, rows)
                self._log("edge", rows)
                self._end_write()
                self._db.execute("COMMIT")
            except BaseException as err:
                self._rollback()
                if isinstance(err, sqlite3.Error):
                    raise storage_error(err, self.path.parent) from err
                raise
            with self._lock:
                for eid in found:
                    self._remove_edge(eid)
                if found:
                    self._invalidate()
            return len(found)

    # -- reads -------------------------------------------------------------
    def _disk_nodes(self, kind: NodeKind, keys: Iterable[str] | None) -> list[Node]:
        """Nodes of a kind read from SQLite (committed rows only), in key order
        (a disk-only kind, or any kind when the graph is not in memory)."""
        with self._probe_lock:
            if keys is None:
                rows = self._probe.execute("SELECT key, props FROM nodes WHERE kind = ? ORDER BY key", (kind.value,)).fetchall()
            else:
                rows = []
                for chunk in _chunks(dict.fromkeys(keys)):
                    marks = ", ".join("?" * len(chunk))
                    rows += self._probe.execute(f"SELECT key, props FROM nodes WHERE kind = ? AND key IN ({marks})",
                                                (kind.value, *chunk)).fetchall()
                rows.sort()
        return [Node(kind, key, _loads(props)) for key, props in rows]

    def _on_disk(self, kind: NodeKind) -> bool:
        return kind in _DISK_ONLY or not self.in_memory

    def _kept(self, key: Any, read: Callable[[], Any]) -> Any:
        """Without the graph: ``read()``, kept until the revision changes (any
        write but the service's own records, ours or another process's, clears
        them), so that the few reads of every request (a commune, the national
        centres, the knowledge items) are not asked of SQLite each time. Only
        for kinds whose writes change the revision: never an API key (a
        revocation applies at once)."""
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

    def get_node(self, kind: NodeKind, key: str) -> Node | None:
        if self._on_disk(kind):
            if kind in _DISK_ONLY or kind in REVISION_NEUTRAL_KINDS:
                found = self._disk_nodes(kind, [key])
                return found[0] if found else None
            props = self._kept(("node", kind, key), lambda: next((n.props for n in self._disk_nodes(kind, [key])), None))
            return None if props is None else Node(kind, key, dict(props))
        self._refresh()
        with self._lock:
            props = self._by_kind[kind].get(key)
            return None if props is None else Node(kind, key, dict(props))

    def get_nodes(self, kind: NodeKind, keys: Iterable[str]) -> dict[str, Node]:
        if self._on_disk(kind):
            wanted = list(keys)
            found = {n.key: n for n in self._disk_nodes(kind, wanted)}
            return {k: found[k] for k in wanted if k in found}  # in the order asked, as below
        self._refresh()
        with self._lock:
            table = self._by_kind[kind]
            return {k: Node(kind, k, dict(table[k])) for k in keys if k in table}

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        if self._on_disk(kind):
            if kind in _DISK_ONLY or kind in REVISION_NEUTRAL_KINDS:
                return iter(self._disk_nodes(kind, None))
            few = self._kept(("nodes", kind), lambda: self._few_nodes(kind))
            if few is None:  # many: read each time (a directory, a national register)
                return iter(self._disk_nodes(kind, None))
            return iter([Node(kind, key, dict(props)) for key, props in few])
        self._refresh()
        with self._lock:
            table = self._by_kind[kind]
            snapshot = [Node(kind, k, dict(table[k])) for k in sorted(table)]
        return iter(snapshot)

    def _few_nodes(self, kind: NodeKind) -> list[tuple[str, dict[str, Any]]] | None:
        with self._probe_lock:
            rows = self._probe.execute("SELECT key, props FROM nodes WHERE kind = ? ORDER BY key LIMIT ?",
                                       (kind.value, _KEEP_NODES_OF_KIND + 1)).fetchall()
        if len(rows) > _KEEP_NODES_OF_KIND:
            return None
        return [(key, _loads(props)) for key, props in rows]

    def _edge_list(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None, outgoing: bool
    ) -> dict[NodeRef, list[Edge]]:
        if not self.in_memory:
            asked = list(dict.fromkeys(refs))
            if len(asked) > _KEEP_EDGES_OF or any(ref.kind in REVISION_NEUTRAL_KINDS for ref in asked):
                return self._disk_edges(asked, types, outgoing)
            rel_types = None if types is None else frozenset(types)
            found: dict[NodeRef, list[Edge]] = {}
            for ref in asked:
                kept = self._kept(("edges", outgoing, ref, rel_types),
                                  lambda ref=ref: self._disk_edges([ref], rel_types, outgoing)[ref])  # type: ignore[misc]
                found[ref] = [Edge(e.type, e.source, e.target, dict(e.props), e.key) for e in kept]
            return found
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

    def _disk_edges(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None, outgoing: bool
    ) -> dict[NodeRef, list[Edge]]:
        """``_edge_list`` read from SQLite (by the index of the relationships'
        ends), each node's list in the order of a graph loaded from the file:
        by other end (in order of its first relationship), then by type and key."""
        result: dict[NodeRef, list[Edge]] = {ref: [] for ref in refs}
        rels = None if types is None else sorted({t.value for t in types})
        keys_of: dict[NodeKind, list[str]] = defaultdict(list)
        for ref in result:
            keys_of[ref.kind].append(ref.key)
        end, other = ("skind", "skey"), ("tkind", "tkey")
        if not outgoing:
            end, other = other, end
        rows: list[tuple[str, str, str, str, str, str, str]] = []
        with self._probe_lock:
            for kind, keys in keys_of.items():
                for chunk in _chunks(keys):
                    sql = (f"SELECT type, skind, skey, tkind, tkey, ekey, props FROM edges "
                           f"WHERE {end[0]} = ? AND {end[1]} IN ({', '.join('?' * len(chunk))})")
                    params: list[str] = [kind.value, *chunk]
                    if rels is not None:
                        sql += f" AND type IN ({', '.join('?' * len(rels))})"
                        params += rels
                    rows += self._probe.execute(sql, params).fetchall()
        # The loaded graph's order: rows in primary key order, grouped by other end.
        rows.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[4], r[5]))
        grouped: dict[tuple[str, str, str, str], list[Edge]] = {}
        kinds, types_of = _KINDS, _RELS
        for rel, skind, skey, tkind, tkey, ekey, props in rows:
            source, target = NodeRef(kinds[skind], skey), NodeRef(kinds[tkind], tkey)
            ident = (skind, skey, tkind, tkey)
            grouped.setdefault(ident, []).append(Edge(types_of[rel], source, target, _loads(props), ekey))
        for edges in grouped.values():
            first = edges[0]
            result[first.source if outgoing else first.target] += edges
        return result

    def edges_from(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        return self._edge_list(refs, types, outgoing=True)

    def edges_to(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        return self._edge_list(refs, types, outgoing=False)

    def edges(self, type: RelType) -> Iterator[Edge]:
        if not self.in_memory:
            with self._probe_lock:
                rows = self._probe.execute(
                    "SELECT skind, skey, tkind, tkey, ekey, props FROM edges WHERE type = ? "
                    "ORDER BY skind, skey, tkind, tkey, ekey", (type.value,)).fetchall()
            return iter([Edge(type, NodeRef(_KINDS[sk], skey), NodeRef(_KINDS[tk], tkey), _loads(props), ekey)
                         for sk, skey, tk, tkey, ekey, props in rows])
        self._refresh()
        with self._lock:
            snapshot = [
                Edge(rel, s, t, dict(p), ekey)
                for s, t, (rel, ekey), p in self._graph.edges(keys=True, data="props")
                if rel is type
            ]
        return iter(snapshot)

    def communes_by_postcode(self, postcode: str) -> list[Node]:
        if not self.in_memory:
            with self._probe_lock:
                rows = self._probe.execute(
                    "SELECT key, props FROM nodes WHERE kind = ? AND EXISTS "
                    "(SELECT 1 FROM json_each(nodes.props, '$.postcodes') WHERE json_each.value = ?) ORDER BY key",
                    (NodeKind.COMMUNE.value, postcode)).fetchall()
            return [Node(NodeKind.COMMUNE, key, _loads(props)) for key, props in rows]
        self._refresh()
        with self._lock:
            keys = sorted(self._postcodes.get(postcode, ()))
        return list(self.get_nodes(NodeKind.COMMUNE, keys).values())

    def revision(self) -> int:
        self._refresh()
        return self._revision

    def count_nodes(self) -> dict[NodeKind, int]:
        if not self.in_memory:
            with self._probe_lock:
                rows = self._probe.execute("SELECT kind, count(*) FROM nodes GROUP BY kind").fetchall()
            return {_KINDS[kind]: int(n) for kind, n in rows if n}
        self._refresh()
        with self._lock:
            counts = {kind: len(table) for kind, table in self._by_kind.items() if table}
        marks = ", ".join("?" * len(_DISK_ONLY_VALUES))
        with self._probe_lock:
            for kind, n in self._probe.execute(
                f"SELECT kind, count(*) FROM nodes WHERE kind IN ({marks}) GROUP BY kind", _DISK_ONLY_VALUES
            ):
                counts[NodeKind(kind)] = int(n)
        return counts

    def count_edges(self) -> dict[RelType, int]:
        if not self.in_memory:
            with self._probe_lock:
                rows = self._probe.execute("SELECT type, count(*) FROM edges GROUP BY type").fetchall()
            return {_RELS[rel]: int(n) for rel, n in rows if n}
        self._refresh()
        with self._lock:
            return {rel: n for rel, n in self._edge_counts.items() if n}

    def close(self) -> None:
        with self._write_lock:
            self._db.close()
        with self._probe_lock:
            self._probe.close()
