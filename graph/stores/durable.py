"""The embedded stores' durable core: one SQLite file, its writes and its change log.

Two embedded stores share it (:mod:`graph.stores.memory`, the graph held in
memory by networkx; :mod:`graph.stores.sqlite`, every read answered by SQLite).
What they share lives here: the database file and its schema, atomic writes,
the change log other processes read, and the change feed the read models are
patched from (``changes_since``).

Every batch is written to SQLite in one transaction and committed (fsync)
before a store applies it to what it holds, so what a reader sees has always
been stored. A process killed mid-batch leaves SQLite's journal to roll the
batch back on the next open: only that batch is lost.

Concurrency: writers are serialised (a write lock in the process, ``BEGIN
IMMEDIATE`` across processes); what a store holds is guarded by a lock held
briefly by readers and by the apply step of a writer.

Several processes (web workers, a CLI import while the server runs) may open
the same file. Every write also appends the identities of the rows it changed
to a ``changes`` log, in the same transaction. Before each read a process asks
SQLite whether another connection has committed (at most every
``_PROBE_EVERY_S``: the WAL index header, ``graph.stores.walsignal``, and
``PRAGMA data_version`` when it changed or a second has passed) and, if so, catches up with
the logged changes it has not seen (``_apply_logged``); a writer does the same
inside its write transaction, before merging properties, so no process
overwrites another's write with a stale copy. The log keeps the last
``_KEEP_CHANGES`` entries; a process further behind reads everything again.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

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
from graph.shared import SHARED_FILENAME, SqliteShared
from graph.snapshot import SNAPSHOT_FILENAME
from graph.store import (
    NO_CHANGES,
    REVISION_NEUTRAL_KINDS,
    Changes,
    ColumnSnapshot,
    LogPosition,
    WriteSummary,
    looked,
    merge_props,
    upsert_outcome,
)
from graph.stores.walsignal import FULL_PROBE_EVERY_S, WalSignal

__all__ = ["DurableStore", "DB_FILENAME", "sqlite_check", "sqlite_backup", "storage_error"]

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
    "DELETE FROM edges WHERE type = ? AND skind = ? AND skey = ? AND tkind = ? AND tkey = ? AND ekey = ?"
)
_READ_EDGE_SQL = "SELECT props FROM edges WHERE type = ? AND skind = ? AND skey = ? AND tkind = ? AND tkey = ? AND ekey = ?"


def _dumps(props: dict[str, Any]) -> str:
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _dumps_list(values: tuple[str, ...]) -> str:
    return orjson.dumps(values).decode("utf-8")


_loads = orjson.loads  # several times faster than json.loads: reopening parses every row


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, _CHUNK)):
        yield chunk


EdgeId = tuple[RelType, NodeRef, NodeRef, str]
KINDS = {k.value: k for k in NodeKind}
RELS = {r.value: r for r in RelType}

#: Kinds kept on disk only, read from SQLite when asked: the audit trail grows
#: with every request and nothing searches it per query, so it stays out of
#: every process's memory (and out of the change log the other processes read).
DISK_ONLY = frozenset({NodeKind.AUDIT_ENTRY})
DISK_ONLY_VALUES = tuple(sorted(k.value for k in DISK_ONLY))
NOT_DISK_ONLY_SQL = f"kind NOT IN ({', '.join('?' * len(DISK_ONLY_VALUES))})"


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
        return StorageFault(
            f"Disque plein : rien n'a été écrit. Libérez de la place sur le disque de {where}, "
            "puis recommencez."
        )
    if "readonly" in text or "read-only" in text:
        return StorageFault(
            f"Registre en lecture seule : rien n'a été écrit. Vérifiez les droits d'écriture sur {where} "
            "(ou le montage du disque), puis recommencez."
        )
    if "disk i/o" in text or "i/o error" in text:
        return StorageFault(
            f"Erreur d'entrée-sortie du disque : rien n'a été écrit. Vérifiez le disque de {where} "
            "(`dihr check`), puis recommencez."
        )
    if "locked" in text or "busy" in text:
        return StoreError(
            "Registre occupé par une autre écriture : rien n'a été écrit, réessayez dans un instant."
        )
    return StoreError(f"Écriture impossible, rien n'a été écrit : {err}")


class DurableStore(ABC):
    """What both embedded stores share (see module doc). A subclass says what it
    holds: ``_open`` (at start), ``_reload`` (everything again, the log being
    trimmed past this process), ``_apply_logged`` (another process's rows),
    ``_applied``/``_removed`` (this process's committed write), and may answer
    ``_stored_node``/``_has_node``/``_stored_edge`` from memory."""

    #: A point read is answered from memory or a local file in microseconds.
    local_reads = True
    #: Whether loading the read models' column snapshot beats building them here.
    prefers_snapshot = False

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / DB_FILENAME
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
        self._wal = WalSignal(self.path)
        self._wal_seen = self._wal.header()  # read before asking SQLite (see _refresh)
        self._version = self._data_version()
        self._probed = 0.0
        self._asked = time.monotonic()  # when SQLite itself was last asked
        self._seq = 0
        self._revision = 0  # bumped by every write that is not revision-neutral (ours or another process's)
        # What each recent revision changed (``changes_since``); not tracked while loading everything.
        self._tracking = False
        self._touched: tuple[set[NodeRef], set[NodeRef]] = (set(), set())
        self._history: deque[tuple[int, Changes]] = deque(maxlen=_KEEP_REVISIONS)
        self._known_from = 0  # the oldest revision changes_since can answer from
        self._open()
        self._tracking = True

    # -- what a subclass holds (hooks) ----------------------------------------
    def _open(self) -> None:
        """At start: read what this store holds (the log position it matches)."""
        self._seq = self._last_seq()

    def _reload(self) -> None:
        """The log was trimmed past this process: read everything again (with the
        write lock held, inside a transaction of ``self._db``)."""
        self._seq = self._last_seq()

    def _apply_logged(
        self,
        nodes: list[tuple[NodeRef, dict[str, Any] | None]],
        edges: list[tuple[EdgeId, dict[str, Any] | None]],
    ) -> None:
        """Another process's committed rows (None: deleted), with ``self._lock`` held."""
        for ref, _props in nodes:
            self._note_node(ref)
        for eid, _props in edges:
            self._note_edge(eid[1])

    def _applied(
        self, nodes: Mapping[NodeRef, dict[str, Any]], edges: Mapping[EdgeId, dict[str, Any]]
    ) -> None:
        """This process's committed write, with ``self._lock`` held."""
        for ref in nodes:
            self._note_node(ref)
        for eid in edges:
            self._note_edge(eid[1])

    def _removed(self, edges: Sequence[EdgeId]) -> None:
        """Relationships this process deleted (committed), with ``self._lock`` held."""
        for eid in edges:
            self._note_edge(eid[1])

    @property
    def _reads_logged_rows(self) -> bool:
        """Whether ``_apply_logged`` needs the rows' properties (not only their identities)."""
        return False

    # -- the change feed ---------------------------------------------------------
    def _note_node(self, ref: NodeRef) -> None:
        if self._tracking and ref.kind not in REVISION_NEUTRAL_KINDS:
            self._touched[0].add(ref)

    def _note_edge(self, source: NodeRef) -> None:
        if self._tracking:
            self._touched[1].add(source)

    def _invalidate(self) -> None:
        self._revision += 1
        if not self._tracking:
            self._known_from = self._revision
            return
        nodes, sources = self._touched
        self._history.append((self._revision, Changes(frozenset(nodes), frozenset(sources))))
        self._touched = (set(), set())

    def _forget_everything(self) -> None:
        """Everything is read again: the read models are rebuilt, not patched."""
        self._tracking = False
        self._invalidate()

    def changes_since(self, revision: int) -> Changes | None:
        """What the revisions after ``revision`` changed, up to the current one;
        None when that is not known any more (too old, or everything was read again)."""
        self._refresh()
        with self._lock:
            if revision < self._known_from or revision > self._revision:
                return None
            wanted = [c for r, c in self._history if r > revision]
            if len(wanted) != self._revision - revision:
                return None  # part of it fell out of the history
            return functools.reduce(operator.or_, wanted, NO_CHANGES)

    def column_snapshot(self) -> ColumnSnapshot:
        """The read models' column snapshot next to the database (``graph.snapshot``)."""
        return ColumnSnapshot(
            self.path.with_name(SNAPSHOT_FILENAME),
            self.log_position(),
            self.changes_after,
            self.prefers_snapshot,
        )

    def log_position(self) -> LogPosition:
        """The change log entry this process's state has reached (what it reads
        is at least that recent)."""
        with self._lock:
            seq = self._seq
        with self._probe_lock:
            found = self._probe.execute("SELECT ident FROM changes WHERE seq = ?", (seq,)).fetchone()
        return seq, None if found is None else str(found[0])

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
                rows = self._probe.execute(
                    "SELECT seq, what, ident FROM changes WHERE seq > ? ORDER BY seq", (seq,)
                ).fetchall()
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
            kind = KINDS.get(values[0] if what == "node" else values[1])
            if kind is None:  # written by a newer version: nothing can be trusted
                return None
            if what == "node":
                if kind not in REVISION_NEUTRAL_KINDS:
                    nodes.add(NodeRef(kind, values[1]))
            else:
                sources.add(NodeRef(kind, values[2]))
        return Changes(frozenset(nodes), frozenset(sources))

    def _last_seq(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])

    # -- other processes' writes ---------------------------------------------------
    def _data_version(self) -> int:
        with self._probe_lock:
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])

    def _refresh(self) -> None:
        """Apply what other connections committed since we last looked (see module
        doc); looks at most once every ``_PROBE_EVERY_S`` (a read may see another
        process's write that much later, never half of it)."""
        if looked(self):  # once per request (graph.store.one_look)
            return
        now = time.monotonic()
        if now - self._probed < _PROBE_EVERY_S:
            return
        self._probed = now
        # The WAL index header first (graph.stores.walsignal): unchanged, nothing
        # was committed since we last asked SQLite; read before asking, so a commit
        # landing in between shows as a changed header next time.
        header = self._wal.header()
        if header is not None and header == self._wal_seen and now - self._asked < FULL_PROBE_EVERY_S:
            return
        version = self._data_version()
        if version != self._version and header is not None and header == self._wal_seen:
            self._wal.reopen()  # SQLite saw a commit the header did not show: read the file afresh
        self._wal_seen, self._asked = header, now
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
        rows = self._db.execute(
            "SELECT seq, what, ident FROM changes WHERE seq > ? ORDER BY seq", (self._seq,)
        ).fetchall()
        if not rows:
            return
        if rows[0][0] != self._seq + 1:  # the log was trimmed past our position: read everything again
            with self._lock:
                self._forget_everything()
                self._reload()
                self._tracking = True
            return
        node_ids = {tuple(_loads(ident)) for _seq, what, ident in rows if what == "node"}
        node_ids = {n for n in node_ids if n[0] not in DISK_ONLY_VALUES}  # logged by an older version
        edge_ids = {tuple(_loads(ident)) for _seq, what, ident in rows if what == "edge"}
        full = self._reads_logged_rows
        nodes: list[tuple[NodeRef, dict[str, Any] | None]] = []
        for kind, key in node_ids:
            ref = NodeRef(KINDS[kind], key)
            nodes.append((ref, self._disk_node(ref) if full else None))
        edges: list[tuple[EdgeId, dict[str, Any] | None]] = []
        for rel, skind, skey, tkind, tkey, ekey in edge_ids:
            eid = (RELS[rel], NodeRef(KINDS[skind], skey), NodeRef(KINDS[tkind], tkey), ekey)
            edges.append((eid, self._disk_edge(eid) if full else None))
        with self._lock:
            self._apply_logged(nodes, edges)
            if edges or any(ref.kind not in REVISION_NEUTRAL_KINDS for ref, _ in nodes):
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

    # -- what a write merges with (inside its transaction) -------------------------
    def _disk_node(self, ref: NodeRef) -> dict[str, Any] | None:
        found = self._db.execute(
            "SELECT props FROM nodes WHERE kind = ? AND key = ?", (ref.kind.value, ref.key)
        ).fetchone()
        return None if found is None else _loads(found[0])

    def _disk_edge(self, eid: EdgeId) -> dict[str, Any] | None:
        rel, source, target, ekey = eid
        found = self._db.execute(
            _READ_EDGE_SQL, (rel.value, source.kind.value, source.key, target.kind.value, target.key, ekey)
        ).fetchone()
        return None if found is None else _loads(found[0])

    def _stored_node(self, ref: NodeRef) -> dict[str, Any] | None:
        return self._disk_node(ref)

    def _has_node(self, ref: NodeRef) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM nodes WHERE kind = ? AND key = ?", (ref.kind.value, ref.key)
            ).fetchone()
            is not None
        )

    def _stored_edge(self, eid: EdgeId) -> dict[str, Any] | None:
        return self._disk_edge(eid)

    # -- writes ----------------------------------------------------------------------
    def upsert(
        self,
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        *,
        expect: Iterable[tuple[Node | Edge, Mapping[str, Any]]] = (),
    ) -> WriteSummary:
        expected = list(expect)
        with self._write_lock:
            pending_nodes: dict[NodeRef, dict[str, Any]] = {}
            pending_edges: dict[EdgeId, dict[str, Any]] = {}
            counts: Counter[str] = Counter()
            present: set[NodeRef] = set()  # edge ends found stored, in this batch
            self._db.execute("BEGIN IMMEDIATE")  # every writer, of every process, one at a time
            try:
                self._catch_up()
                for item, values in expected:  # compare-and-set: read inside the transaction
                    stored = (
                        self._stored_node(item.ref)
                        if isinstance(item, Node)
                        else self._stored_edge((item.type, item.source, item.target, item.key))
                    ) or {}
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
                    self._log("node", [row[:2] for row in rows if row[0] not in DISK_ONLY_VALUES])
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
                self._applied(
                    {ref: props for ref, props in pending_nodes.items() if ref.kind not in DISK_ONLY},
                    pending_edges,
                )
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
                found: list[EdgeId] = list(
                    dict.fromkeys(
                        eid
                        for edge in wanted
                        if self._stored_edge(eid := (edge.type, edge.source, edge.target, edge.key))
                        is not None
                    )
                )
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
                self._removed(found)
                if found:
                    self._invalidate()
            return len(found)

    # -- reads ---------------------------------------------------------------------------
    @abstractmethod
    def _edge_list(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None, outgoing: bool
    ) -> dict[NodeRef, list[Edge]]:
        """Outgoing (or incoming) edges of several nodes, from what the store holds."""

    def edges_from(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        return self._edge_list(refs, types, outgoing=True)

    def edges_to(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        return self._edge_list(refs, types, outgoing=False)

    # -- reads from SQLite -------------------------------------------------------------
    def _disk_nodes(self, kind: NodeKind, keys: Iterable[str] | None) -> list[Node]:
        """Nodes of a kind read from SQLite (committed rows only), in key order."""
        with self._probe_lock:
            if keys is None:
                rows = self._probe.execute(
                    "SELECT key, props FROM nodes WHERE kind = ? ORDER BY key", (kind.value,)
                ).fetchall()
            else:
                rows = []
                for chunk in _chunks(dict.fromkeys(keys)):
                    marks = ", ".join("?" * len(chunk))
                    rows += self._probe.execute(
                        f"SELECT key, props FROM nodes WHERE kind = ? AND key IN ({marks})",
                        (kind.value, *chunk),
                    ).fetchall()
                rows.sort()
        return [Node(kind, key, _loads(props)) for key, props in rows]

    def _disk_edges(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None, outgoing: bool
    ) -> dict[NodeRef, list[Edge]]:
        """Outgoing (or incoming) edges read from SQLite (by the index of the
        relationships' ends), each node's list in the order of a graph loaded
        from the file: by other end (in order of its first relationship), then
        by type and key."""
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
                    sql = (
                        f"SELECT type, skind, skey, tkind, tkey, ekey, props FROM edges "
                        f"WHERE {end[0]} = ? AND {end[1]} IN ({', '.join('?' * len(chunk))})"
                    )
                    params: list[str] = [kind.value, *chunk]
                    if rels is not None:
                        sql += f" AND type IN ({', '.join('?' * len(rels))})"
                        params += rels
                    rows += self._probe.execute(sql, params).fetchall()
        # The loaded graph's order: rows in primary key order, grouped by other end.
        rows.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[4], r[5]))
        grouped: dict[tuple[str, str, str, str], list[Edge]] = {}
        for rel, skind, skey, tkind, tkey, ekey, props in rows:
            source, target = NodeRef(KINDS[skind], skey), NodeRef(KINDS[tkind], tkey)
            grouped.setdefault((skind, skey, tkind, tkey), []).append(
                Edge(RELS[rel], source, target, _loads(props), ekey)
            )
        for edges in grouped.values():
            first = edges[0]
            result[first.source if outgoing else first.target] += edges
        return result

    def _disk_count_nodes(self, kinds: Sequence[str] | None = None) -> dict[NodeKind, int]:
        sql, params = "SELECT kind, count(*) FROM nodes GROUP BY kind", tuple[str, ...]()
        if kinds is not None:
            sql = f"SELECT kind, count(*) FROM nodes WHERE kind IN ({', '.join('?' * len(kinds))}) GROUP BY kind"
            params = tuple(kinds)
        with self._probe_lock:
            rows = self._probe.execute(sql, params).fetchall()
        return {KINDS[kind]: int(n) for kind, n in rows if n}

    def revision(self) -> int:
        self._refresh()
        return self._revision

    def reading(self) -> contextlib.AbstractContextManager[None]:
        """Several reads as one (``GraphStore.reading``): local reads, nothing to gather."""
        return contextlib.nullcontext()

    # -- shared state (graph.shared): a file of its own beside the graph's ------------
    @property
    def _shared(self) -> SqliteShared:
        shared = self.__dict__.get("_shared_file")
        if shared is None:
            with self._write_lock:
                shared = self.__dict__.get("_shared_file")
                if shared is None:
                    shared = self.__dict__["_shared_file"] = SqliteShared(
                        self.path.with_name(SHARED_FILENAME)
                    )
        return shared

    def shared_put(self, scope: str, key: str, value: Mapping[str, Any], ttl_s: float) -> None:
        self._shared.shared_put(scope, key, value, ttl_s)

    def shared_get(self, scope: str, key: str) -> dict[str, Any] | None:
        return self._shared.shared_get(scope, key)

    def shared_delete(self, scope: str, key: str) -> None:
        self._shared.shared_delete(scope, key)

    def shared_hit(self, scope: str, key: str, window_s: float, add: int = 1) -> int:
        return self._shared.shared_hit(scope, key, window_s, add)

    def close(self) -> None:
        shared = self.__dict__.get("_shared_file")
        if shared is not None:
            shared.close()
        with self._write_lock:
            self._db.close()
        with self._probe_lock:
            self._probe.close()
        self._wal.close()
