"""A columnar index of local resources and their competence links, so that
matching scores every resource with array operations instead of walking the
graph per query.

Built from the store (``GraphStore.competence_index()``), kept by the store
until its next write. For every need target (a Deficiency, Skill, Combination
or Condition node) it holds the resources linked to it: resource position,
whether the link is an ``ACCEPTS`` (age band, level 1) or a ``HAS_EXPERTISE``
(level), and the age band.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from graph.geo import to_unit_xyz
from graph.model import NodeRef, RelType

__all__ = ["Links", "CompetenceIndex", "build_competence_index", "admits"]


@dataclass(frozen=True, slots=True)
class Links:
    ids: NDArray[np.int64]
    accepts: NDArray[np.bool_]
    level: NDArray[np.int64]
    age_min: NDArray[np.float64]  # nan: no bound
    age_max: NDArray[np.float64]


_EMPTY = Links(np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


@dataclass(frozen=True, slots=True)
class CompetenceIndex:
    refs: list[NodeRef]
    kinds: NDArray[np.str_]
    keys: NDArray[np.str_]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    age_min: NDArray[np.float64]
    age_max: NDArray[np.float64]
    position: dict[NodeRef, int]
    departments: NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=str))
    links: dict[NodeRef, Links] = field(default_factory=dict)
    #: combination key → (commune keys, open flags) of the situations presenting it (demand side).
    demand: dict[str, tuple[list[str], NDArray[np.bool_]]] = field(default_factory=dict)
    tree: Any = None
    masks: dict[frozenset[str], NDArray[np.bool_]] = field(default_factory=dict)
    #: Other read models derived from the same store state (e.g. the territory table),
    #: built on first use and dropped with the index at the store's next write.
    derived: dict[str, Any] = field(default_factory=dict)

    def kind_mask(self, kinds: frozenset[str]) -> NDArray[np.bool_]:
        """Which positions hold a resource of these kinds (cached per set of kinds)."""
        cached = self.masks.get(kinds)
        if cached is None:
            cached = self.masks[kinds] = np.isin(self.kinds, sorted(kinds)) if len(self.refs) else np.zeros(0, bool)
        return cached

    def department_of(self, ref: NodeRef) -> str | None:
        """The resource's department (a professional: its workplace's), if indexed and known."""
        position = self.position.get(ref)
        return None if position is None else (str(self.departments[position]) or None)

    def to(self, target: NodeRef) -> Links:
        return self.links.get(target, _EMPTY)

    def __len__(self) -> int:
        return len(self.refs)


def _bound(value: Any) -> float:
    return float("nan") if value is None else float(value)


def build_competence_index(
    resources: Iterable[tuple[NodeRef, float, float, dict[str, Any]]],
    links: Iterable[tuple[NodeRef, RelType, NodeRef, dict[str, Any]]],
    *,
    departments: dict[NodeRef, str] | None = None,
    situations: Iterable[tuple[str, str, bool]] = (),
) -> CompetenceIndex:
    """``resources``: located local resources (ref, lat, lon, props);
    ``links``: their HAS_EXPERTISE / ACCEPTS edges (source, type, target, props);
    ``departments``: each resource's department (a professional: that of its
    workplace with the smallest key);
    ``situations``: (combination key, commune key, open) of every situation."""
    rows = sorted(resources, key=lambda r: (r[0].kind.value, r[0].key))
    position = {ref: i for i, (ref, *_rest) in enumerate(rows)}
    lats = np.array([r[1] for r in rows], dtype=np.float64)
    lons = np.array([r[2] for r in rows], dtype=np.float64)
    grouped: dict[NodeRef, list[tuple[int, bool, int, float, float]]] = defaultdict(list)
    for source, rel, target, props in links:
        i = position.get(source)
        if i is None:
            continue
        if rel is RelType.ACCEPTS:
            grouped[target].append((i, True, 1, _bound(props.get("age_min")), _bound(props.get("age_max"))))
        elif rel is RelType.HAS_EXPERTISE:
            grouped[target].append((i, False, int(props["level"]), float("nan"), float("nan")))
    columns = {
        target: Links(
            np.array([e[0] for e in entries], np.int64),
            np.array([e[1] for e in entries], bool),
            np.array([e[2] for e in entries], np.int64),
            np.array([e[3] for e in entries], np.float64),
            np.array([e[4] for e in entries], np.float64),
        )
        for target, entries in grouped.items()
    }
    grouped_demand: dict[str, tuple[list[str], list[bool]]] = defaultdict(lambda: ([], []))
    for combination, commune, is_open in situations:
        grouped_demand[combination][0].append(commune)
        grouped_demand[combination][1].append(is_open)
    deps = departments or {}
    return CompetenceIndex(
        departments=np.array([deps.get(r[0], str(r[3].get("department", ""))) for r in rows], dtype=str),
        demand={k: (v[0], np.array(v[1], bool)) for k, v in grouped_demand.items()},
        refs=[r[0] for r in rows],
        kinds=np.array([r[0].kind.value for r in rows], dtype=str),
        keys=np.array([r[0].key for r in rows], dtype=str),
        lats=lats,
        lons=lons,
        age_min=np.array([_bound(r[3].get("age_min")) for r in rows], np.float64),
        age_max=np.array([_bound(r[3].get("age_max")) for r in rows], np.float64),
        position=position,
        links=columns,
        tree=cKDTree(to_unit_xyz(lats, lons)) if rows else None,
    )


def admits(age_min: NDArray[np.float64], age_max: NDArray[np.float64], age: int | None) -> NDArray[np.bool_]:
    """Element-wise: does an age band admit ``age`` (nan bounds admit everything)?"""
    if age is None:
        return np.ones(len(age_min), dtype=bool)
    return ~(age_min > age) & ~(age_max < age)


