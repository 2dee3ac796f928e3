"""The read models: columnar views of one store state, the same whatever the backend.

Matching and coverage never walk the graph per query: they read these views,
built from the store's *plain* reads (``nodes``, ``edges_from``) and kept while
``store.revision()`` stays the same. Both backends therefore feed the very same
code, and a search cannot be answered differently by the embedded store and by
a Bolt server holding the same graph.

``read_model(store)`` gives the current :class:`ReadModel`; each of its views
is built on first use:

- ``competence``: the located local resources and their competence links
  (:class:`graph.competence.CompetenceIndex`);
- ``territories``: regions, departments and the ERHR covering each
  (:class:`graph.territories.TerritoryTable`);
- ``communes``: every commune's position, population and territories
  (:class:`CommuneGrid`);
- ``commune_of(lat, lon)``: the nearest commune (:class:`CommunePoints`);
- ``cached(key, build)``: anything else derived from the same state.

Where a resource is: its own ``lat``/``lon``; a professional without one is
where they work (the located workplace of smallest key), and belongs to that
workplace's department when it has none of its own. Decided here, once, for
both backends.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from graph.competence import CompetenceIndex, build_competence_index, patch_competence_index
from graph.geo import haversine_km, to_unit_xyz
from graph.model import NodeKind, NodeRef, RelType
from graph.snapshot import load_competence, save_competence
from graph.store import Changes, GraphStore, freeze_loaded, release_freed_memory
from graph.territories import TerritoryKind, TerritoryTable

__all__ = ["ReadModel", "CommuneGrid", "read_model", "build_competence", "INDEXED_KINDS", "warm_and_freeze"]

K, R = NodeKind, RelType

#: The kinds the competence index holds: the local resources (``graph.matching.LOCAL_KINDS``).
INDEXED_KINDS = (K.ESTABLISHMENT, K.PROFESSIONAL, K.RESOURCE_POLE)


@dataclass(slots=True)
class CommuneGrid:
    """Every commune's position, population and territories (read once)."""

    codes: list[str]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    population: NDArray[np.float64]
    department: list[str]
    territory_of: dict[TerritoryKind, NDArray[np.int64]] = field(default_factory=dict)
    territory_codes: dict[TerritoryKind, list[str]] = field(default_factory=dict)
    territory_names: dict[TerritoryKind, list[str]] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)
    xyz: NDArray[np.float64] | None = None

    @classmethod
    def load(cls, store: GraphStore, table: TerritoryTable | None = None) -> CommuneGrid:
        table = table or TerritoryTable(store)
        communes = [c for c in store.nodes(K.COMMUNE) if "lat" in c.props and "lon" in c.props]
        grid = cls(
            codes=[c.key for c in communes],
            lats=np.array([float(c.props["lat"]) for c in communes], dtype=np.float64),
            lons=np.array([float(c.props["lon"]) for c in communes], dtype=np.float64),
            population=np.array([float(c.props.get("population", 0)) for c in communes]),
            department=[str(c.props["department"]) for c in communes],
        )
        grid.position = {code: i for i, code in enumerate(grid.codes)}
        grid.xyz = to_unit_xyz(grid.lats, grid.lons)
        per_level: dict[TerritoryKind, Callable[[str], str]] = {
            TerritoryKind.DEPARTMENT: lambda d: d,
            TerritoryKind.REGION: lambda d: str(table.departments[d].props["region"]),
            TerritoryKind.ERHR: lambda d: table.erhr_of_department[d],
        }
        names = {
            TerritoryKind.DEPARTMENT: {k: str(n.props.get("name", k)) for k, n in table.departments.items()},
            TerritoryKind.REGION: {k: str(n.props.get("name", k)) for k, n in table.regions.items()},
            TerritoryKind.ERHR: {k: str(n.props.get("name", k)) for k, n in table.erhr.items()},
        }
        for level, of in per_level.items():
            codes = sorted(names[level])
            index = {c: i for i, c in enumerate(codes)}
            grid.territory_codes[level] = codes
            grid.territory_names[level] = [names[level][c] for c in codes]
            grid.territory_of[level] = np.array([index[of(d)] for d in grid.department], dtype=np.int64)
        return grid


class CommunePoints:
    """Every located commune's reference point, under a k-d tree: the commune of a point."""

    def __init__(self, store: GraphStore) -> None:
        located = [
            (c.key, float(c.props["lat"]), float(c.props["lon"]))
            for c in store.nodes(K.COMMUNE)
            if "lat" in c.props and "lon" in c.props
        ]
        self.codes = [code for code, _lat, _lon in located]
        self.lats = np.array([lat for _code, lat, _lon in located], dtype=np.float64)
        self.lons = np.array([lon for _code, _lat, lon in located], dtype=np.float64)
        from scipy.spatial import cKDTree  # here: a worker that places no point does not hold scipy

        self.tree = cKDTree(to_unit_xyz(self.lats, self.lons)) if located else None

    def nearest(self, lat: float, lon: float) -> tuple[str, float] | None:
        """The nearest commune (great-circle, by its reference point) and its distance (km)."""
        if self.tree is None:
            return None
        _chord, i = self.tree.query(to_unit_xyz(np.array([lat]), np.array([lon]))[0], k=1)
        i = int(i)
        return self.codes[i], round(haversine_km(lat, lon, float(self.lats[i]), float(self.lons[i])), 3)


Row = tuple[NodeRef, float, float, Mapping[str, Any]]
LinkRow = tuple[NodeRef, RelType, NodeRef, Mapping[str, Any]]


def build_competence(store: GraphStore) -> CompetenceIndex:
    """The competence index of the store's current state, from plain reads."""
    nodes = [(NodeRef(kind, n.key), n.props) for kind in INDEXED_KINDS for n in store.nodes(kind)]
    resources, links, departments = _resource_rows(store, nodes)
    return build_competence_index(resources, links, departments=departments, situations=_demand(store))


def competence_from_snapshot(store: GraphStore) -> CompetenceIndex:
    """The competence index of the store's current state, from its column
    snapshot (``graph.snapshot``) brought up to date when the store keeps one and
    prefers it (no graph in this process's memory); otherwise built, and the
    snapshot written for the processes that start later."""
    snapshot = store.column_snapshot()
    if snapshot is None:
        return build_competence(store)
    if snapshot.preferred:
        found = load_competence(snapshot.path)
        if found is not None:
            at, index = found
            changes = snapshot.changes_after(at)
            if changes is not None and not changes.touched:
                return index
            patched = None if changes is None else patch_competence(store, index, changes)
            if patched is not None:
                save_competence(snapshot.path, snapshot.position, patched)
                return patched
    built = build_competence(store)
    save_competence(snapshot.path, snapshot.position, built)
    return built


def _resource_rows(
    store: GraphStore, nodes: list[tuple[NodeRef, Mapping[str, Any]]]
) -> tuple[list[Row], list[LinkRow], dict[NodeRef, str]]:
    """The index rows of these resources: where each is, its competence links,
    and its department when it comes from its workplace."""
    out = store.edges_from([ref for ref, _props in nodes], [R.HAS_EXPERTISE, R.ACCEPTS, R.WORKS_AT])
    workplaces = _workplaces(store, out)
    resources: list[Row] = []
    links: list[LinkRow] = []
    departments: dict[NodeRef, str] = {}
    for ref, props in nodes:
        sites = sorted(
            (e.target for e in out[ref] if e.type is R.WORKS_AT and e.target in workplaces),
            key=lambda t: (t.key, t.kind.value),
        )
        located = _point(props) or next((p for s in sites if (p := _point(workplaces[s]))), None)
        if located is None:
            continue
        resources.append((ref, located[0], located[1], props))
        if "department" not in props:
            department = next(
                (workplaces[s]["department"] for s in sites if "department" in workplaces[s]), None
            )
            if department is not None:
                departments[ref] = str(department)
        links += [(ref, e.type, e.target, e.props) for e in out[ref] if e.type is not R.WORKS_AT]
    return resources, links, departments


#: Kinds a write may touch while the read models are updated rather than rebuilt:
#: the indexed resources, the situations (the demand side), and the kinds no
#: read model reads (knowledge items, activity reports).
PATCHABLE_KINDS = frozenset(INDEXED_KINDS) | {K.SITUATION, K.KNOWLEDGE, K.ACTIVITY_REPORT}
#: Past this many touched resources (a national import) the index is rebuilt.
PATCH_AT_MOST = 5_000


def patch_competence(store: GraphStore, old: CompetenceIndex, changes: Changes) -> CompetenceIndex | None:
    """``old`` updated for what ``changes`` says was written, from plain reads
    of the resources touched (and of those working at a touched place: they
    stand where it stands); None when the writes touched something else (a
    commune, a territory, a national centre…) or too many resources."""
    touched = changes.nodes | changes.edge_sources
    if any(ref.kind not in PATCHABLE_KINDS for ref in touched):
        return None
    dirty = {ref for ref in touched if ref.kind in INDEXED_KINDS}
    if len(dirty) > PATCH_AT_MOST:
        return None
    places = [ref for ref in dirty if ref in changes.nodes]
    if places:
        dirty |= {e.source for edges in store.edges_to(places, [R.WORKS_AT]).values() for e in edges}
    nodes: list[tuple[NodeRef, Mapping[str, Any]]] = []
    for kind in INDEXED_KINDS:
        keys = sorted(ref.key for ref in dirty if ref.kind is kind)
        if keys:
            nodes += [
                (NodeRef(kind, key), node.props) for key, node in sorted(store.get_nodes(kind, keys).items())
            ]
    resources, links, departments = _resource_rows(store, nodes)
    demand = None
    if any(ref.kind is K.SITUATION for ref in touched):
        demand = build_competence_index([], [], situations=_demand(store)).demand
    return patch_competence_index(old, dirty, resources, links, departments=departments, demand=demand)


def _point(props: Mapping[str, Any]) -> tuple[float, float] | None:
    if "lat" in props and "lon" in props:
        return float(props["lat"]), float(props["lon"])
    return None


def _workplaces(store: GraphStore, out: dict[NodeRef, list[Any]]) -> dict[NodeRef, Mapping[str, Any]]:
    """The properties of every node somebody works at (one trip per kind)."""
    sites: dict[NodeKind, set[str]] = {}
    for edges in out.values():
        for e in edges:
            if e.type is R.WORKS_AT:
                sites.setdefault(e.target.kind, set()).add(e.target.key)
    found: dict[NodeRef, Mapping[str, Any]] = {}
    for kind, keys in sites.items():
        for key, node in store.get_nodes(kind, sorted(keys)).items():
            found[NodeRef(kind, key)] = node.props
    return found


def _demand(store: GraphStore) -> list[tuple[str, str, bool]]:
    """(combination, commune, open) of every situation that has both."""
    situations = list(store.nodes(K.SITUATION))
    out = store.edges_from([s.ref for s in situations], [R.PRESENTS, R.LIVES_IN])
    demand = []
    for situation in situations:
        combination = next((e.target.key for e in out[situation.ref] if e.type is R.PRESENTS), None)
        commune = next((e.target.key for e in out[situation.ref] if e.type is R.LIVES_IN), None)
        if combination and commune:
            demand.append((combination, commune, situation.props.get("status", "open") == "open"))
    return demand


class ReadModel:
    """The read models of one store revision (see module doc); safe to share between threads.

    ``previous`` and ``changes``: the read model of an earlier revision of the
    same store and what the writes since then touched (``Changes``). When those
    writes touched only resources and situations, the views that do not read
    them (territories, communes…) are carried over and the competence index
    is updated from the previous one (``patch_competence``) instead of being
    built again: the first query after an edit costs milliseconds, not the
    second a national index takes."""

    #: Views that do not depend on the resources, situations or their links.
    CARRIED = ("territories", "communes", "commune points", "commune lands", "commune land groups", "places")

    def __init__(
        self,
        store: GraphStore,
        revision: int,
        previous: ReadModel | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.revision = revision
        self._store = weakref.ref(store)
        self._lock = threading.RLock()
        self._views: dict[Any, Any] = {}
        self._previous: tuple[CompetenceIndex, Changes] | None = None
        if previous is not None and changes is not None:
            touched = changes.nodes | changes.edge_sources
            if all(ref.kind in PATCHABLE_KINDS for ref in touched):
                kept = previous._views
                self._views.update(
                    {
                        k: v
                        for k, v in kept.items()
                        if k in self.CARRIED
                        or (isinstance(k, tuple) and k[0] in ("owners", "cnrhr", "land at"))
                        or (isinstance(k, tuple) and k[0] == "links of" and k[1] not in touched)
                        or (isinstance(k, tuple) and k[0] == "referent contact" and k[2] not in touched)
                    }
                )
                # ERHR and CNRHR nodes as placed at their site nearest a person: their nodes
                # are not patchable (a write to them rebuilds everything); what else they
                # read is their FINESS record. (Their rows are assembled again: which of
                # their links count depends on the index's targets.)
                placed = kept.get("referents placed")
                if placed is not None and not any(
                    NodeRef(K.ESTABLISHMENT, str(node.props["finess"])) in touched
                    for node in list(placed.values())
                    if node.props.get("finess")
                ):
                    self._views["referents placed"] = placed
                competence = kept.get("competence")
                if competence is not None:
                    self._previous = (competence, changes)
                elif previous._previous is not None:  # not asked since the write before: both at once
                    self._previous = (previous._previous[0], previous._previous[1] | changes)

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """A value derived from this store state, built once on first use."""
        value = self._views.get(key)
        if value is None:
            with self._lock:
                value = self._views.get(key)
                if value is None:
                    value = self._views[key] = build()
        return value

    def _store_or_fail(self) -> GraphStore:
        store = self._store()
        if store is None:  # pragma: no cover - a model outliving its store is a programming error
            raise RuntimeError("the store of this read model is closed")
        return store

    @property
    def competence(self) -> CompetenceIndex:
        return self.cached("competence", self._build_competence)  # type: ignore[no-any-return]

    def _build_competence(self) -> CompetenceIndex:
        store = self._store_or_fail()
        previous, self._previous = self._previous, None
        if previous is not None:
            with store.reading():  # the touched rows, their links and workplaces: one transaction
                patched = patch_competence(store, *previous)
            if patched is not None:
                return patched
        index = competence_from_snapshot(store)
        release_freed_memory()  # what building or reading the whole index left behind
        return index

    @property
    def territories(self) -> TerritoryTable:
        return self.cached("territories", lambda: TerritoryTable(self._store_or_fail()))  # type: ignore[no-any-return]

    @property
    def communes(self) -> CommuneGrid:
        return self.cached("communes", lambda: CommuneGrid.load(self._store_or_fail(), self.territories))  # type: ignore[no-any-return]

    def commune_of(self, lat: float, lon: float) -> tuple[str, float] | None:
        """The nearest commune's INSEE code and its distance (km)."""
        points: CommunePoints = self.cached("commune points", lambda: CommunePoints(self._store_or_fail()))
        return points.nearest(lat, lon)

    def locations(self, refs: Iterable[NodeRef]) -> dict[NodeRef, tuple[float, float]]:
        """(lat, lon) of each indexed resource (a professional: its workplace's)."""
        idx = self.competence
        found: dict[NodeRef, tuple[float, float]] = {}
        for ref in refs:
            position = idx.position.get(ref)
            if position is not None:
                found[ref] = float(idx.lats[position]), float(idx.lons[position])
        return found


_MODELS: weakref.WeakKeyDictionary[Any, ReadModel] = weakref.WeakKeyDictionary()
_MODELS_LOCK = threading.Lock()


#: A server (``dihr serve`` sets DIHR_BACKGROUND_READ_MODELS) builds the read model
#: of a large write — an import of thousands of rows by another process — in the
#: background, and answers from the previous revision's meanwhile: no request
#: waits seconds for it. Small writes (an edit in the pages) are applied at once.
BACKGROUND_CHANGES = 2000
_BUILDING: weakref.WeakKeyDictionary[Any, ReadModel] = weakref.WeakKeyDictionary()
#: Stores whose background build failed: the next one is built on the request's path (and says why).
_SYNCHRONOUS: weakref.WeakSet[Any] = weakref.WeakSet()
log = logging.getLogger("dihr.graph")


def _background() -> bool:
    return os.environ.get("DIHR_BACKGROUND_READ_MODELS", "") == "1"


def read_model(store: GraphStore) -> ReadModel:
    """The read model of the store's current revision (a new one when it changed;
    in a server, the previous one while a large write's is built)."""
    revision = store.revision()
    with _MODELS_LOCK:
        model = _MODELS.get(store)
        if model is None or model.revision != revision:
            if model is not None and store in _BUILDING:
                return model  # the large write's model is being built: this one meanwhile
            changes = store.changes_since(model.revision) if model is not None else None
            fresh = ReadModel(store, revision, model, changes)
            large = changes is None or len(changes.nodes | changes.edge_sources) > BACKGROUND_CHANGES
            if (
                model is not None
                and large
                and _background()
                and "competence" in model._views
                and store not in _SYNCHRONOUS
            ):
                _BUILDING[store] = fresh
                threading.Thread(
                    target=_build_then_swap, args=(store, model, fresh), daemon=True, name="dihr-read-model"
                ).start()
                return model
            _SYNCHRONOUS.discard(store)
            model = _MODELS[store] = fresh
    return model


def built(store: GraphStore) -> bool:
    """Whether a read now would find the store's read model built: the current
    revision's (or, in a server, the one answering while a large write's is
    built) with its competence index. A local store only: over Bolt the
    revision is a network round trip."""
    if not store.local_reads:
        return False
    model = _MODELS.get(store)
    if model is None or "competence" not in model._views:
        return False
    return model.revision == store.revision() or store in _BUILDING


def _build_then_swap(store: GraphStore, previous: ReadModel, fresh: ReadModel) -> None:
    try:
        fresh.competence  # noqa: B018 - the slow part, built off the requests' path
        fresh.territories  # noqa: B018
    except Exception:
        log.exception("read model built in the background failed; it is built again on the next request")
        with _MODELS_LOCK:
            _BUILDING.pop(store, None)
            _SYNCHRONOUS.add(store)
        return
    with _MODELS_LOCK:
        _BUILDING.pop(store, None)
        if _MODELS.get(store) is previous:
            _MODELS[store] = fresh


def warm_and_freeze(store: GraphStore) -> None:
    """A server process, once at start: its read models built (the first search
    does not pay for them) and everything loaded so far frozen out of the cyclic
    collector's sight (``graph.store.freeze_loaded``)."""
    model = read_model(store)
    model.competence  # noqa: B018
    model.territories  # noqa: B018
    freeze_loaded()
