"""Neo4j 5 store: the same graph at national scale, through the official driver.

Layout in Neo4j
    Every node carries the label of its kind (``:Establishment``…) and the
    common label ``:DihrNode`` with ``uid`` (``ns|Kind:key``, unique), ``ns``
    (a namespace: empty in production, one per test run), ``kind``, ``key``,
    its scalar properties (readable in Neo4j Browser), ``_json`` (the exact
    properties, for a lossless round trip) and ``location`` (a WGS-84 point,
    under a point index, for Cypher users: the service itself reads positions
    through :mod:`graph.readmodel`) when it has ``lat``/``lon``. Relationships carry
    ``ekey`` (identity among parallel relationships), scalar properties and
    ``_json``.

Statements
    In :mod:`graph.stores.cypher`: named constants, or generated from a
    template whose label or relationship type comes from the :class:`NodeKind`
    / :class:`RelType` allow-lists; values are always parameters; its
    ``cypher_catalogue`` lists them all for Neo4j's linter (``make test``).

Shared state
    Sessions, rate limits and failed sign-ins of every app server
    (:mod:`graph.shared`): ``:DihrShared`` values with an expiry and
    ``:DihrCounter`` fixed-window counters, one row per process, summed on read.

Change feed
    Every write that bumps the namespace's revision also records, in the same
    transaction, a ``:DihrChange`` node (``ns``, ``revision``, the uids of the
    nodes written and of the relationships' sources, as JSON) and drops those
    older than ``_KEEP_CHANGES`` revisions: every app server over the database
    patches its read models with what another server wrote
    (``changes_since``) instead of rebuilding them.

Transactions
    A batch is one managed write transaction (``execute_write``, retried on
    transient errors): it reads what exists, then writes ``UNWIND $rows``
    chunks of ``batch_size``; an error anywhere rolls the whole batch back.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from graph.errors import StoreError, StoreUnavailable, WriteConflict
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
from graph.settings import Settings
from graph.shared import shard_id, window_of
from graph.store import (
    NO_CHANGES,
    REVISION_NEUTRAL_KINDS,
    Changes,
    ColumnSnapshot,
    WriteSummary,
    merge_props,
    upsert_outcome,
)
from graph.stores.cypher import (
    BUMP_REVISION_CYPHER,
    CHANGES_SINCE_CYPHER,
    COMMUNES_BY_POSTCODE_CYPHER,
    COUNT_EDGES_CYPHER,
    COUNT_NODES_CYPHER,
    COUNTER_ADD_CYPHER,
    COUNTER_SUM_CYPHER,
    COUNTER_SWEEP_CYPHER,
    DROP_CHANGES_CYPHER,
    DROP_NAMESPACE_CYPHER,
    DROP_REVISION_CYPHER,
    DROP_SHARED_CYPHER,
    EDGES_FROM_CYPHER,
    EDGES_TO_CYPHER,
    INDEX_TYPES_CYPHER,
    LOCK_NAMESPACE_CYPHER,
    NODES_OF_KIND_CYPHER,
    READ_EDGES_CYPHER,
    READ_NODES_CYPHER,
    RECORD_CHANGE_CYPHER,
    REVISION_AND_CHANGES_CYPHER,
    REVISION_CYPHER,
    SCHEMA_CHANGE_CYPHER,
    SCHEMA_COUNTER_CYPHER,
    SCHEMA_KIND_CYPHER,
    SCHEMA_LOCATION_CYPHER,
    SCHEMA_REVISION_CYPHER,
    SCHEMA_SHARED_CYPHER,
    SCHEMA_UID_CYPHER,
    SHARED_DELETE_CYPHER,
    SHARED_GET_CYPHER,
    SHARED_PUT_CYPHER,
    SHARED_SWEEP_CYPHER,
    TRIM_CHANGES_CYPHER,
    UPDATE_NODES_CYPHER,
    _create_edges_cypher,
    _create_nodes_cypher,
    _delete_edges_cypher,
    _edges_of_type_cypher,
    _schema_key_cypher,
    _update_edges_cypher,
)

__all__ = ["Neo4jStore"]

#: Revisions kept in the change feed; a write touching more rows than
#: ``_FEED_AT_MOST`` is recorded as incomplete (the read models are rebuilt).
_KEEP_CHANGES = 256
_FEED_AT_MOST = 5000
_REVISION_EVERY_S = 1.0
#: After the server was found unreachable, calls fail at once for this long
#: (seconds) instead of each waiting for its own timeout: an outage answers
#: every request fast, and the first call after it tries again (recovery by itself).
_BREAKER_S = 2.0
_UNREACHABLE = "Serveur Neo4j injoignable : vérifiez DIHR_NEO4J_URI et que le serveur est démarré."
_RACE_RETRIES = 5


class _Race(Exception):
    """A relationship batch wrote more or fewer rows than it has: another writer's
    twin of a node got in the way (retried), or an endpoint is missing (``missing``)."""

    def __init__(self, missing: str | None) -> None:
        super().__init__(missing or "an endpoint matched twice")
        self.missing = missing


_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})


# -- the store --------------------------------------------------------------------
def _scalar(value: Any) -> bool:
    if isinstance(value, bool | int | float | str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _dumps(props: dict[str, Any]) -> str:
    return json.dumps(props, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Neo4jStore:
    """The Neo4j :class:`graph.store.GraphStore` (see module doc)."""

    #: Every read is a round trip to the database server.
    local_reads = False

    def __init__(self, driver: Any, *, database: str, namespace: str = "", batch_size: int = 5000) -> None:
        self._driver = driver
        self._database = database
        self._ns = namespace
        self._batch = batch_size
        self._revision: int | None = None  # the namespace revision last read (None: read it again)
        self._checked = 0.0  # when it was read
        self._seen = 0  # the last revision read (kept when ``_revision`` is dropped)
        #: change feed entries read with the revision (``revision``), by revision
        self._feed: dict[int, Any] = {}
        self._feed_lock = threading.Lock()
        self._reading = threading.local()  # the transaction of a ``reading`` block, per thread
        self._down_until = 0.0  # monotonic time until which the server is taken as unreachable
        # Causal consistency on a cluster (neo4j://, Aura): every session of this
        # process carries the bookmarks of the writes it saw, so a read routed to
        # another member waits until that member has them (reads its own writes).
        import neo4j

        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        self._swept = 0.0  # when this process last removed expired shared state

    # -- opening ----------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings, *, namespace: str = "") -> Neo4jStore:
        """Connect, check the server answers, and apply the schema (idempotent)."""
        import neo4j
        from neo4j import exceptions as neo

        uri = settings.neo4j_uri or ""
        if uri.split("://", 1)[0] not in _SCHEMES:
            raise StoreUnavailable(
                f"Adresse Neo4j invalide « {uri} » : DIHR_NEO4J_URI doit commencer par bolt:// ou neo4j://."
            )
        try:
            driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(settings.neo4j_user, settings.neo4j_password),
                # half for connecting, half for the driver's retries: an outage is
                # answered within about the timeout, not a multiple of it
                connection_timeout=settings.neo4j_timeout_s / 2,
                connection_acquisition_timeout=settings.neo4j_timeout_s / 2,
                max_transaction_retry_time=settings.neo4j_timeout_s / 2,
            )
            driver.verify_connectivity()
        except (ValueError, neo.ConfigurationError) as err:
            raise StoreUnavailable(f"Adresse Neo4j invalide « {uri} » : corrigez DIHR_NEO4J_URI.") from err
        except neo.AuthError as err:
            raise StoreUnavailable(
                "Neo4j refuse les identifiants : corrigez DIHR_NEO4J_USER et DIHR_NEO4J_PASSWORD."
            ) from err
        except (neo.ServiceUnavailable, OSError) as err:
            raise StoreUnavailable(
                f"Serveur Neo4j injoignable à {uri} : vérifiez DIHR_NEO4J_URI et que le serveur est démarré."
            ) from err
        store = cls(
            driver,
            database=settings.neo4j_database,
            namespace=namespace,
            batch_size=settings.neo4j_batch_size,
        )
        store.migrate()
        return store

    @classmethod
    def for_tests(cls, settings: Settings, *, namespace: str) -> Neo4jStore:
        return cls.from_settings(settings, namespace=f"test-{namespace}")

    @contextmanager
    def _session(self, access_mode: str | None = None) -> Iterator[Any]:
        """A driver session; the server unreachable (refused, timed out, lost)
        is a StoreUnavailable, and for ``_BREAKER_S`` the next calls fail at
        once (``_down_until``) rather than each waiting for the timeouts."""
        from neo4j import exceptions as neo

        if time.monotonic() < self._down_until:
            raise StoreUnavailable(_UNREACHABLE)
        try:
            with self._driver.session(
                database=self._database,
                bookmark_manager=self._bookmarks,
                **({} if access_mode is None else {"default_access_mode": access_mode}),
            ) as session:
                yield session
        except (neo.ServiceUnavailable, neo.SessionExpired, OSError) as err:
            self._down_until = time.monotonic() + _BREAKER_S
            raise StoreUnavailable(_UNREACHABLE) from err

    def _read(self, cypher: str, **params: Any) -> list[Any]:
        from neo4j import exceptions as neo

        def work(tx: Any) -> list[Any]:
            return list(tx.run(cypher, **params))

        try:
            tx = getattr(self._reading, "tx", None)
            if tx is not None:  # inside ``reading``: its transaction, one round trip
                return work(tx)
            with self._session() as session:
                return list(session.execute_read(work))
        except neo.ClientError as err:
            raise self._translate(err) from err
        except (neo.ServiceUnavailable, neo.SessionExpired, OSError) as err:
            self._down_until = time.monotonic() + _BREAKER_S
            raise StoreUnavailable(_UNREACHABLE) from err

    @contextmanager
    def reading(self) -> Iterator[None]:
        """The reads inside run in one read transaction of one session: one round
        trip each and one commit, instead of two each (a managed transaction
        per read); and they see one state of the database. Nested: the outer one."""
        from neo4j import READ_ACCESS

        if getattr(self._reading, "tx", None) is not None:
            yield
            return
        with self._session(READ_ACCESS) as session:
            tx = session.begin_transaction()
            self._reading.tx = tx
            try:
                yield
            finally:
                self._reading.tx = None
                tx.close()  # read only: nothing to commit, the server forgets it

    def _translate(self, err: Any) -> Exception:
        code = getattr(err, "code", "") or ""
        if code.endswith("DatabaseNotFound"):
            return StoreUnavailable(
                f"La base Neo4j « {self._database} » n'existe pas : corrigez DIHR_NEO4J_DATABASE."
            )
        return StoreError(f"Neo4j a refusé l'opération ({code}).")

    def migrate(self) -> None:
        """Constraints on every natural key, the point index and the lookup index."""
        statements = [
            SCHEMA_UID_CYPHER,
            SCHEMA_LOCATION_CYPHER,
            SCHEMA_KIND_CYPHER,
            SCHEMA_CHANGE_CYPHER,
            SCHEMA_SHARED_CYPHER,
            SCHEMA_COUNTER_CYPHER,
            SCHEMA_REVISION_CYPHER,
        ]
        statements += [_schema_key_cypher(kind) for kind in NodeKind]
        from neo4j import exceptions as neo

        try:
            with self._session() as session:
                for statement in statements:
                    session.run(statement).consume()
        except neo.ClientError as err:
            raise self._translate(err) from err

    def capabilities(self) -> dict[str, bool]:
        """What the server offers beyond openCypher: ``point_index`` when
        ``dihr_location`` is a real POINT index (Neo4j 5), not a range index."""
        from neo4j import exceptions as neo

        try:
            with self._session() as session:
                types = {str(r["name"]): str(r["type"]) for r in session.run(INDEX_TYPES_CYPHER)}
        except neo.ClientError:
            types = {}
        return {"point_index": types.get("dihr_location") == "POINT"}

    # -- identity ---------------------------------------------------------------
    def _uid(self, ref: NodeRef) -> str:
        return f"{self._ns}|{ref.kind.value}:{ref.key}"

    def _ref(self, uid: str) -> NodeRef:
        kind, _, key = uid.split("|", 1)[1].partition(":")
        return NodeRef(NodeKind(kind), key)

    def _node_fields(self, ref: NodeRef, props: dict[str, Any]) -> dict[str, Any]:
        from neo4j.spatial import WGS84Point

        fields = {k: v for k, v in props.items() if _scalar(v) and not k.startswith("_")}
        fields.update(uid=self._uid(ref), ns=self._ns, kind=ref.kind.value, key=ref.key, _json=_dumps(props))
        if "lat" in props and "lon" in props:
            fields["location"] = WGS84Point((float(props["lon"]), float(props["lat"])))
        return fields

    # -- writes -----------------------------------------------------------------
    def upsert(
        self,
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        *,
        expect: Iterable[tuple[Node | Edge, Mapping[str, Any]]] = (),
    ) -> WriteSummary:
        node_list, edge_list, expected = list(nodes), list(edges), list(expect)
        try:
            for node in node_list:
                validate_node(node)
            for edge in edge_list:
                validate_edge(edge)
        except SchemaError as err:
            raise StoreError(f"Lot refusé, rien n'a été écrit : {err}") from err
        from neo4j import exceptions as neo

        indexed = bool(edge_list) or any(n.kind not in REVISION_NEUTRAL_KINDS for n in node_list)
        try:
            counts = self._write_retrying_races(
                lambda tx: self._upsert_work(tx, node_list, edge_list, indexed, expected)
            )
        except SchemaError as err:
            raise StoreError(f"Lot refusé, rien n'a été écrit : {err}") from err
        except neo.ClientError as err:
            raise self._translate(err) from err
        except neo.TransientError as err:
            raise StoreError(
                "Le serveur Neo4j est occupé par d'autres écritures : rien n'a été écrit, réessayez."
            ) from err
        finally:
            if indexed:
                self._revision = None  # our own write: seen by our next read at once
        return WriteSummary(**counts)

    def _write_retrying_races(self, work: Any) -> Any:
        """One managed write transaction (retried by the driver on transient
        errors), also retried when another writer created the same node first:
        on an optimistic server (ArcadeDB) two batches may both read a node as
        missing; the loser's unique-uid violation is retried, reads the node
        and updates it."""
        from neo4j import exceptions as neo

        for attempt in range(_RACE_RETRIES):
            try:
                with self._session() as session:
                    return session.execute_write(work)
            except _Race as race:
                if attempt == _RACE_RETRIES - 1:
                    if race.missing:
                        raise SchemaError(race.missing) from None
                    raise StoreError(
                        "Écritures concurrentes sur les mêmes nœuds : rien n'a été écrit, réessayez."
                    ) from None
                time.sleep(0.05 * (attempt + 1))
            except neo.TransientError:
                # The driver retried for max_transaction_retry_time and gave up: many
                # writers on one namespace (each batch takes its lock). Wait, then again.
                if attempt == _RACE_RETRIES - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
            except neo.ClientError as err:
                if (
                    not str(getattr(err, "code", "")).endswith("ConstraintValidationFailed")
                    or attempt == _RACE_RETRIES - 1
                ):
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _chunks(self, rows: list[Any]) -> Iterator[list[Any]]:
        for start in range(0, len(rows), self._batch):
            yield rows[start : start + self._batch]

    def _upsert_work(
        self,
        tx: Any,
        nodes: list[Node],
        edges: list[Edge],
        indexed: bool = True,
        expected: Sequence[tuple[Node | Edge, Mapping[str, Any]]] = (),
    ) -> Counter[str]:
        counts: Counter[str] = Counter()
        # The namespace's lock first: every writer waits here, so what is read
        # below is what the previous writer committed (compare-and-set holds).
        revision = 0
        if indexed:
            revision = int(tx.run(BUMP_REVISION_CYPHER, ns=self._ns).single()["revision"])
        else:
            tx.run(LOCK_NAMESPACE_CYPHER, ns=self._ns).consume()
        if expected:
            rows = [
                {
                    "id": i,
                    "type": e.type.value,
                    "source": self._uid(e.source),
                    "target": self._uid(e.target),
                    "ekey": e.key,
                }
                for i, (e, _values) in enumerate(expected)
                if isinstance(e, Edge)
            ]
            now = (
                {int(rec["id"]): json.loads(rec["json"]) for rec in tx.run(READ_EDGES_CYPHER, rows=rows)}
                if rows
                else {}
            )
            uids = {self._uid(n.ref): i for i, (n, _values) in enumerate(expected) if isinstance(n, Node)}
            if uids:
                for rec in tx.run(READ_NODES_CYPHER, uids=list(uids)):
                    now[uids[rec["uid"]]] = json.loads(rec["json"])
            for i, (_item, values) in enumerate(expected):
                if any(now.get(i, {}).get(k) != v for k, v in values.items()):
                    raise WriteConflict("Cette donnée a été modifiée entre-temps : rien n'a été écrit.")
        pending: dict[NodeRef, dict[str, Any]] = {}
        stored: dict[NodeRef, dict[str, Any]] = {}
        refs = list(dict.fromkeys(n.ref for n in nodes))
        for chunk in self._chunks(refs):
            for record in tx.run(READ_NODES_CYPHER, uids=[self._uid(r) for r in chunk]):
                stored[self._ref(record["uid"])] = json.loads(record["json"])
        for node in nodes:
            old = pending.get(node.ref, stored.get(node.ref))
            new = merge_props(old, node.props)
            counts[upsert_outcome("nodes", old, new)] += 1
            if new != old:
                pending[node.ref] = new
        new_by_kind: dict[NodeKind, list[dict[str, Any]]] = defaultdict(list)
        changed: list[dict[str, Any]] = []
        for ref, props in pending.items():
            row = {"uid": self._uid(ref), "fields": self._node_fields(ref, props)}
            (changed if ref in stored else new_by_kind[ref.kind]).append(row)
        for kind, rows in new_by_kind.items():
            for chunk in self._chunks(rows):
                tx.run(_create_nodes_cypher(kind), rows=chunk).consume()
        for chunk in self._chunks(changed):
            tx.run(UPDATE_NODES_CYPHER, rows=chunk).consume()

        identity = [(e.type, e.source, e.target, e.key) for e in edges]
        ids = list(dict.fromkeys(identity))
        existing: dict[int, dict[str, Any]] = {}
        edge_rows = [
            {"id": i, "type": t.value, "source": self._uid(s), "target": self._uid(d), "ekey": k}
            for i, (t, s, d, k) in enumerate(ids)
        ]
        for chunk in self._chunks(edge_rows):
            for record in tx.run(READ_EDGES_CYPHER, rows=chunk):
                existing[int(record["id"])] = json.loads(record["json"])
        position = {eid: i for i, eid in enumerate(ids)}
        pending_edges: dict[int, dict[str, Any]] = {}
        for edge, eid in zip(edges, identity, strict=True):
            i = position[eid]
            old = pending_edges.get(i, existing.get(i))
            new = merge_props(old, edge.props)
            counts[upsert_outcome("edges", old, new)] += 1
            if new != old:
                pending_edges[i] = new
        by_type: dict[tuple[RelType, bool], list[dict[str, Any]]] = defaultdict(list)
        for i, props in pending_edges.items():
            rel, source, target, ekey = ids[i]
            fields = {k: v for k, v in props.items() if _scalar(v)}
            fields.update(ekey=ekey, _json=_dumps(props))
            by_type[(rel, i in existing)].append(
                {"source": self._uid(source), "target": self._uid(target), "ekey": ekey, "fields": fields}
            )
        for (rel, stored_edge), rows in by_type.items():
            cypher = _update_edges_cypher(rel) if stored_edge else _create_edges_cypher(rel)
            for chunk in self._chunks(rows):
                written = tx.run(cypher, rows=chunk).single()["written"]
                # Raising inside the unit of work rolls the whole batch back. On an
                # optimistic server (ArcadeDB) a concurrent writer's twin of a node can
                # make an endpoint match twice, or not at all: retried whole, and only
                # a batch that still misses its endpoint is refused.
                if written != len(chunk):
                    raise _Race(f"{rel.value} points to a missing node" if written < len(chunk) else None)
        if indexed:
            self._record_change(
                tx,
                revision,
                (ref for ref in pending if ref.kind not in REVISION_NEUTRAL_KINDS),
                (ids[i][1] for i in pending_edges),
            )
        return counts

    def _record_change(
        self, tx: Any, revision: int, nodes: Iterable[NodeRef], sources: Iterable[NodeRef]
    ) -> None:
        """This write's entry in the change feed (inside its transaction), and the oldest ones dropped."""
        node_uids = sorted({self._uid(ref) for ref in nodes})
        source_uids = sorted({self._uid(ref) for ref in sources})
        complete = len(node_uids) + len(source_uids) <= _FEED_AT_MOST
        tx.run(
            RECORD_CHANGE_CYPHER,
            ns=self._ns,
            revision=revision,
            complete=complete,
            nodes=json.dumps(node_uids if complete else []),
            sources=json.dumps(source_uids if complete else []),
        ).consume()
        if revision > _KEEP_CHANGES:
            tx.run(TRIM_CHANGES_CYPHER, ns=self._ns, oldest=revision - _KEEP_CHANGES).consume()

    def delete_edges(self, edges: Iterable[Edge]) -> int:
        by_type: dict[RelType, list[dict[str, Any]]] = defaultdict(list)
        sources: set[NodeRef] = set()
        for e in edges:
            sources.add(e.source)
            by_type[e.type].append(
                {"source": self._uid(e.source), "target": self._uid(e.target), "ekey": e.key}
            )

        def work(tx: Any) -> int:
            total = 0
            revision = int(tx.run(BUMP_REVISION_CYPHER, ns=self._ns).single()["revision"])
            for rel, rows in by_type.items():
                for chunk in self._chunks(rows):
                    total += int(tx.run(_delete_edges_cypher(rel), rows=chunk).single()["deleted"])
            self._record_change(tx, revision, (), sources)
            return total

        from neo4j import exceptions as neo

        try:
            return int(self._write_retrying_races(work))
        except neo.TransientError as err:
            raise StoreError(
                "Le serveur Neo4j est occupé par d'autres écritures : rien n'a été supprimé, réessayez."
            ) from err
        finally:
            self._revision = None

    # -- reads ------------------------------------------------------------------
    def get_node(self, kind: NodeKind, key: str) -> Node | None:
        return self.get_nodes(kind, [key]).get(key)

    def get_nodes(self, kind: NodeKind, keys: Iterable[str]) -> dict[str, Node]:
        uids = [self._uid(NodeRef(kind, k)) for k in keys]
        found: dict[str, Node] = {}
        for chunk in self._chunks(uids):
            for record in self._read(READ_NODES_CYPHER, uids=chunk):
                ref = self._ref(record["uid"])
                found[ref.key] = Node(kind, ref.key, json.loads(record["json"]))
        return found

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        records = self._read(NODES_OF_KIND_CYPHER, ns=self._ns, kind=kind.value)
        return iter([Node(kind, r["key"], json.loads(r["json"])) for r in records])

    def _edges(
        self, cypher: str, refs: Iterable[NodeRef], types: Iterable[RelType] | None, by: str
    ) -> dict[NodeRef, list[Edge]]:
        wanted = list(dict.fromkeys(refs))
        result: dict[NodeRef, list[Edge]] = {ref: [] for ref in wanted}
        type_names = None if types is None else [t.value for t in types]
        for chunk in self._chunks([self._uid(r) for r in wanted]):
            for record in self._read(cypher, uids=chunk, types=type_names):
                edge = self._edge(record)
                result[edge.source if by == "source" else edge.target].append(edge)
        return result

    def _edge(self, record: Any) -> Edge:
        return Edge(
            RelType(record["type"]),
            self._ref(record["source"]),
            self._ref(record["target"]),
            json.loads(record["json"]),
            record["ekey"],
        )

    def edges_from(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        return self._edges(EDGES_FROM_CYPHER, refs, types, "source")

    def edges_to(
        self, refs: Iterable[NodeRef], types: Iterable[RelType] | None = None
    ) -> dict[NodeRef, list[Edge]]:
        return self._edges(EDGES_TO_CYPHER, refs, types, "target")

    def edges(self, type: RelType) -> Iterator[Edge]:
        return iter([self._edge(r) for r in self._read(_edges_of_type_cypher(type), ns=self._ns)])

    def communes_by_postcode(self, postcode: str) -> list[Node]:
        records = self._read(COMMUNES_BY_POSTCODE_CYPHER, ns=self._ns, postcode=postcode)
        return [Node(NodeKind.COMMUNE, r["key"], json.loads(r["json"])) for r in records]

    def revision(self) -> int:
        """The namespace's revision: this store's own writes are seen at once,
        another process's within ``_REVISION_EVERY_S`` (one small read)."""
        now = time.monotonic()
        if self._revision is None or now - self._checked >= _REVISION_EVERY_S:
            self._checked = now
            known = self._seen
            if known:  # the entries after what this server saw come with it (see the query)
                records = self._read(REVISION_AND_CHANGES_CYPHER, ns=self._ns, known=known)
                with self._feed_lock:
                    if int(records[0]["revision"]) < known:  # the namespace was dropped: numbers reused
                        self._feed.clear()
                    for r in records:
                        if r["change"] is not None:
                            self._feed[int(r["change"])] = r
                    for old in [k for k in self._feed if k <= known - _KEEP_CHANGES]:
                        del self._feed[old]
            else:
                records = self._read(REVISION_CYPHER, ns=self._ns)
            self._revision = self._seen = int(records[0]["revision"])
        return self._revision

    def changes_since(self, revision: int) -> Changes | None:
        """What the writes after ``revision`` touched, from the namespace's change
        feed (every app server's writes); None when the feed does not reach back
        there or a write was too large to list."""
        until = self.revision()
        if revision > until:
            return None
        if revision == until:
            return NO_CHANGES
        wanted = range(revision + 1, until + 1)
        with self._feed_lock:
            kept = [e for r in wanted if (e := self._feed.get(r)) is not None]
        records: list[Any]
        if len(kept) == len(wanted):  # read with the revision: no round trip
            records = [
                {"revision": r, **{k: e[k] for k in ("nodes", "sources", "complete")}}
                for r, e in zip(wanted, kept, strict=True)
            ]
        else:
            records = self._read(CHANGES_SINCE_CYPHER, ns=self._ns, since=revision, until=until)
        if [int(r["revision"]) for r in records] != list(wanted):
            return None
        if not all(r["complete"] for r in records):
            return None
        nodes = {self._ref(uid) for r in records for uid in json.loads(r["nodes"])}
        sources = {self._ref(uid) for r in records for uid in json.loads(r["sources"])}
        return Changes(frozenset(nodes), frozenset(sources))

    def column_snapshot(self) -> ColumnSnapshot | None:
        """No local column snapshot: the database is elsewhere, and shared."""
        return None

    def count_nodes(self) -> dict[NodeKind, int]:
        return {NodeKind(r["kind"]): int(r["total"]) for r in self._read(COUNT_NODES_CYPHER, ns=self._ns)}

    def count_edges(self) -> dict[RelType, int]:
        return {RelType(r["type"]): int(r["total"]) for r in self._read(COUNT_EDGES_CYPHER, ns=self._ns)}

    def drop_namespace(self) -> None:
        """Delete every node and relationship of this store's namespace (tests)."""
        with self._session() as session:
            session.execute_write(lambda tx: tx.run(DROP_NAMESPACE_CYPHER, ns=self._ns).consume())
            session.execute_write(lambda tx: tx.run(DROP_REVISION_CYPHER, ns=self._ns).consume())
            session.execute_write(lambda tx: tx.run(DROP_CHANGES_CYPHER, ns=self._ns).consume())
            session.execute_write(lambda tx: tx.run(DROP_SHARED_CYPHER, ns=self._ns).consume())
        with self._feed_lock:
            self._feed.clear()
        self._revision, self._seen = None, 0

    # -- shared state of the app servers (graph/shared.py) ----------------------------
    def _write_one(self, cypher: str, **params: Any) -> None:
        from neo4j import exceptions as neo

        try:
            with self._session() as session:
                session.execute_write(lambda tx: tx.run(cypher, **params).consume())
        except neo.ClientError as err:
            raise self._translate(err) from err

    def _sweep_shared(self, now: float) -> None:
        """Expired values and past counter windows removed, at most once a minute per process."""
        if now - self._swept < 60.0:
            return
        self._swept = now
        self._write_one(SHARED_SWEEP_CYPHER, ns=self._ns, now=now)
        self._write_one(COUNTER_SWEEP_CYPHER, ns=self._ns, now=now)

    def shared_put(self, scope: str, key: str, value: Mapping[str, Any], ttl_s: float) -> None:
        now = time.time()
        self._sweep_shared(now)
        self._write_one(
            SHARED_PUT_CYPHER,
            ns=self._ns,
            scope=scope,
            key=key,
            value=_dumps(dict(value)),
            expires=now + ttl_s,
        )

    def shared_get(self, scope: str, key: str) -> dict[str, Any] | None:
        rows = self._read(SHARED_GET_CYPHER, ns=self._ns, scope=scope, key=key, now=time.time())
        return dict(json.loads(rows[0]["value"])) if rows else None

    def shared_delete(self, scope: str, key: str) -> None:
        self._write_one(SHARED_DELETE_CYPHER, ns=self._ns, scope=scope, key=key)

    def shared_hit(self, scope: str, key: str, window_s: float, add: int = 1) -> int:
        now = time.time()
        window = window_of(now, window_s)
        if add:
            self._sweep_shared(now)
            self._write_one(
                COUNTER_ADD_CYPHER,
                ns=self._ns,
                scope=scope,
                key=key,
                window=window,
                shard=shard_id(),
                expires=(window + 1) * window_s,
                add=add,
            )
        rows = self._read(COUNTER_SUM_CYPHER, ns=self._ns, scope=scope, key=key, window=window)
        return int(rows[0]["n"] or 0) if rows else 0

    def close(self) -> None:
        self._driver.close()
