"""Nearest-resource distances from every commune, on its own land mass, and the
population-weighted medians coverage aggregates them by (the geometry under
:mod:`graph.coverage`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from graph.geo import EARTH_RADIUS_KM, to_unit_xyz
from graph.landmass import land_mass
from graph.readmodel import CommuneGrid

__all__ = [
    "LandGroups",
    "commune_lands",
    "land_groups",
    "nearest_km",
    "stable_argsort",
    "weighted_median",
    "weighted_medians",
]


def commune_lands(grid: CommuneGrid) -> NDArray[np.object_]:
    return np.array([land_mass(str(d)) for d in grid.department], dtype=object)


@dataclass(frozen=True, slots=True)
class LandGroups:
    """The communes of each land mass: their grid positions and unit vectors
    (kept per read-model state: every coverage query needs them)."""

    positions: dict[str, NDArray[np.int64]]
    xyz: dict[str, NDArray[np.float64]]


def land_groups(grid: CommuneGrid, lands: NDArray[np.object_]) -> LandGroups:
    """Each land mass's communes in Z order (a Morton curve over latitude and
    longitude): neighbours in the array are neighbours on the map, so the tree
    walks of consecutive queries share what the cache holds."""
    xyz = grid.xyz if grid.xyz is not None else to_unit_xyz(grid.lats, grid.lons)
    positions = {}
    for land in set(lands.tolist()):
        if land is None:
            continue
        at = np.flatnonzero(lands == land)
        positions[str(land)] = at[np.argsort(_z_order(grid.lats[at], grid.lons[at]), kind="stable")]
    return LandGroups(positions, {land: np.ascontiguousarray(xyz[at]) for land, at in positions.items()})


def _z_order(lats: NDArray[np.float64], lons: NDArray[np.float64], bits: int = 16) -> NDArray[np.int64]:
    """Morton codes of points on a 2^bits grid spanning their bounding box."""
    scale = 2**bits - 1
    x = ((lons - lons.min()) / (np.ptp(lons) or 1.0) * scale).astype(np.int64)
    y = ((lats - lats.min()) / (np.ptp(lats) or 1.0) * scale).astype(np.int64)
    code = np.zeros(x.size, np.int64)
    for b in range(bits):
        code |= ((x >> b) & 1) << (2 * b) | ((y >> b) & 1) << (2 * b + 1)
    return code


#: From this many communes, a land mass's nearest-resource queries run on every core.
_THREADED_QUERIES = 5_000


def nearest_km(
    grid: CommuneGrid,
    points: Sequence[tuple[float, float]],
    departments: Sequence[str],
    lands: NDArray[np.object_],
    groups: LandGroups | None = None,
) -> NDArray[np.float64]:
    """Great-circle km from every commune to the nearest point on its own land
    mass (``graph.landmass``: never across the sea); inf where its land mass has none."""
    distances = np.full(len(grid.codes), np.inf)
    if not points:
        return distances
    from scipy.spatial import cKDTree  # here: a worker that draws no coverage does not hold scipy

    groups = groups or land_groups(grid, lands)
    point_lands = np.array([land_mass(d) or "" for d in departments], dtype=object)
    xyz = to_unit_xyz(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    for land in set(point_lands.tolist()):
        communes = groups.positions.get(land)
        if communes is None or not communes.size:
            continue
        tree = cKDTree(xyz[point_lands == land])
        # threads for the mainland's 35,000 queries; an island's few hundred are done before they would start
        chords, _ = tree.query(groups.xyz[land], k=1, workers=-1 if communes.size >= _THREADED_QUERIES else 1)
        distances[communes] = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, chords / 2))
    return distances


def weighted_median(
    values: NDArray[np.float64], weights: NDArray[np.float64], order: NDArray[np.int64] | None = None
) -> float:
    """``order``: ``values``' stable argsort, if already known."""
    if order is None:
        order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    if cumulative[-1] <= 0:
        return float(np.median(values))
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def stable_argsort(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """``np.argsort(values, kind="stable")``, faster: an introsort, then the
    (rare) runs of equal values put back in index order."""
    order = np.argsort(values)
    ordered = values[order]
    ties = np.flatnonzero(ordered[1:] == ordered[:-1])
    if ties.size:
        # each run of equal values: from a tie's left element to the end of its run
        starts = ties[np.r_[True, ties[1:] != ties[:-1] + 1]]
        ends = ties[np.r_[ties[1:] != ties[:-1] + 1, True]] + 2
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            order[a:b].sort()
    return order


def weighted_medians(
    of: NDArray[np.int64],
    values: NDArray[np.float64],
    weights: NDArray[np.float64],
    m: int,
    by_value: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """Per territory, the population-weighted median (as weighted_median).
    ``by_value``: ``values``' stable argsort, if already known."""
    if by_value is None:
        by_value = np.argsort(values, kind="stable")
    # by territory, then by value (ties in order): a stable sort of the value order
    # by territory is the order of lexsort((values, of)), at the cost of a radix sort
    narrow = of.astype(np.int16) if m < 2**15 else of
    order = by_value[np.argsort(narrow[by_value], kind="stable")]
    cumulative = np.cumsum(weights[order])
    counts = np.bincount(of, minlength=m)
    ends = np.cumsum(counts)
    starts = ends - counts
    before = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    group_total = np.bincount(of, weights=weights, minlength=m)
    at = np.searchsorted(cumulative, before + group_total / 2)
    at = np.clip(at, starts, np.maximum(ends - 1, starts))
    return np.where(counts > 0, values[order][np.minimum(at, len(values) - 1)], np.nan)
