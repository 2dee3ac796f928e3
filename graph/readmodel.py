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

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from graph.competence import CompetenceIndex, build_competence_index
from graph.geo import haversine_km, to_unit_xyz
from graph.model import NodeKind, NodeRef, RelType
from graph.store import GraphStore, gc_paused
from graph.territories import TerritoryKind, TerritoryTable

__all__ = ["ReadModel", "CommuneGrid", "read_model", "build_competence", "INDEXED_KINDS"]

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
        located = [(c.key, float(c.props["lat"]), float(c.props["lon"]))
                   for c in store.nodes(K.COMMUNE) if "lat" in c.props and "lon" in c.props]
        self.codes = [code for code, _lat, _lon in located]
        self.lats = np.array([lat for _code, lat, _lon in located], dtype=np.float64)
        self.lons = np.array([lon for _code, _lat, lon in located], dtype=np.float64)
        self.tree = cKDTree(to_unit_xyz(self.lats, self.lons)) if located else None

    def nearest(self, lat: float, lon: float) -> tuple[str, float] | None:
        """The nearest commune (great-circle, by its reference point) and its distance (km)."""
        if self.tree is None:
            return None
        _chord, i = self.tree.query(to_unit_xyz(np.array([lat]), np.array([lon]))[0], k=1)
        i = int(i)
        return self.codes[i], round(haversine_km(lat, lon, float(self.lats[i]), float(self.lons[i])), 3)


def build_competence(store: GraphStore) -> CompetenceIndex:
    """The competence index of the store's current state, from plain reads."""
    with gc_paused(keep=True):
        nodes = {kind: {n.key: n.props for n in store.nodes(kind)} for kind in INDEXED_KINDS}
        refs = [NodeRef(kind, key) for kind in INDEXED_KINDS for key in nodes[kind]]
        out = store.edges_from(refs, [R.HAS_EXPERTISE, R.ACCEPTS, R.WORKS_AT])
        workplaces = _workplaces(store, out)
        resources, links, departments = [], [], {}
        for ref in refs:
            props = nodes[ref.kind][ref.key]
            sites = sorted(
                (e.target for e in out[ref] if e.type is R.WORKS_AT and e.target in workplaces),
                key=lambda t: (t.key, t.kind.value),
            )
            located = _point(props) or next((p for s in sites if (p := _point(workplaces[s]))), None)
            if located is None:
                continue
            resources.append((ref, located[0], located[1], props))
            if "department" not in props:
                department = next((workplaces[s]["department"] for s in sites if "department" in workplaces[s]), None)
                if department is not None:
                    departments[ref] = str(department)
            links += [(ref, e.type, e.target, e.props) for e in out[ref] if e.type is not R.WORKS_AT]
        return build_competence_index(resources, links, departments=departments, situations=_demand(store))


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
    """The read models of one store revision (see module doc); safe to share between threads."""

    def __init__(self, store: GraphStore, revision: int) -> None:
        self.revision = revision
        self._store = weakref.ref(store)
        self._lock = threading.RLock()
        self._views: dict[Any, Any] = {}

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
        return self.cached("competence", lambda: build_competence(self._store_or_fail()))  # type: ignore[no-any-return]

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


def read_model(store: GraphStore) -> ReadModel:
    """The read model of the store's current revision (a new one when it changed)."""
    revision = store.revision()
    with _MODELS_LOCK:
        model = _MODELS.get(store)
        if model is None or model.revision != revision:
            model = _MODELS[store] = ReadModel(store, revision)
    return model
