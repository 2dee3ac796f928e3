"""The strongest peers a competent engineer would write, for comparison.

``benchmarks/naive.py`` is the correctness oracle (a plain-Python loop); these
are the honest competitors, with the same competence and ranking rules as
``graph.matching`` and ``graph.coverage`` and their own columns, loaded once
from the store's plain reads (not timed, as a server loads once):

- ``numpy_find``: vectorised brute force — the distance to every resource,
  every resource scored, one ``lexsort``;
- ``kdtree_find``: a ``cKDTree`` of every resource (unit-sphere coordinates):
  a radius query, numpy scoring of the few candidates, and a k-nearest
  widening (k doubled until enough fully competent resources beyond the radius);
- ``needs_kdtree_find``: the strongest of them — per set of needs (and land),
  built on its first query and kept: the resources that may cover a need, their
  age-independent levels, a ``cKDTree`` of them and one of those that may cover
  every deficiency; a query is a radius query of the first tree, the age
  applied to the few candidates, and k-nearest widening in the second;
- ``kdtree_coverage``: the competent resources selected by numpy, one
  ``cKDTree`` per land mass, one query of all commune centroids;
- ``numpy_coverage``: every commune × competent resource distance, by chunks;
- the floors: what no implementation of these answers can skip — the radius
  query and one sort of its distances (findResources), the single tree query
  of all centroids (coverage).

Every answer is compared with the project's in the benchmark (it fails if one differs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from benchmarks.naive import Spreadsheet
from graph.competence import admits
from graph.geo import EARTH_RADIUS_KM, chord_for_km, haversine_km_many, to_unit_xyz
from graph.landmass import land_mass
from graph.matching import ADULT_AGE, BEYOND_ROWS, beyond_cap
from graph.model import codes_of_combination
from graph.vocabulary import CONDITIONS

__all__ = [
    "PeerColumns",
    "PeerAnswer",
    "numpy_find",
    "kdtree_find",
    "needs_kdtree_find",
    "find_floor",
    "kdtree_coverage",
    "numpy_coverage",
    "coverage_floor",
]

#: (ranked fully competent inside the radius, nearest fully competent beyond it,
#: ranked partial inside the radius) as (kind, key)
PeerAnswer = tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]


@dataclass(slots=True)
class PeerColumns:
    """Every located, open local resource as numpy columns, with a k-d tree."""

    kinds: NDArray[np.str_]
    keys: NDArray[np.str_]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    age_min: NDArray[np.float64]
    age_max: NDArray[np.float64]
    lands: NDArray[np.str_]
    generalist: NDArray[np.bool_]
    expertise: dict[tuple[str, str], NDArray[np.int8]]
    accepts: dict[str, tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]]
    tree: cKDTree
    cache: dict[object, object] = field(default_factory=dict)

    @classmethod
    def load(cls, sheet: Spreadsheet) -> PeerColumns:
        rows = sheet.rows
        n = len(rows)
        nan = float("nan")
        expertise: dict[tuple[str, str], NDArray[np.int8]] = {}
        accepts: dict[str, list[tuple[int, float, float]]] = {}
        for i, row in enumerate(rows):
            for target, level in row.expertise.items():
                column = expertise.setdefault(target, np.zeros(n, np.int8))
                column[i] = max(int(column[i]), level)
            for code, lo, hi in row.accepts:
                accepts.setdefault(code, []).append(
                    (i, nan if lo is None else float(lo), nan if hi is None else float(hi))
                )
        lats = np.array([r.lat for r in rows], np.float64)
        lons = np.array([r.lon for r in rows], np.float64)
        return cls(
            kinds=np.array([r.kind for r in rows], str),
            keys=np.array([r.key for r in rows], str),
            lats=lats,
            lons=lons,
            age_min=np.array(
                [nan if r.props.get("age_min") is None else float(r.props["age_min"]) for r in rows]
            ),  # type: ignore[arg-type]
            age_max=np.array(
                [nan if r.props.get("age_max") is None else float(r.props["age_max"]) for r in rows]
            ),  # type: ignore[arg-type]
            lands=np.array([land_mass(r.department) or "" for r in rows], str),
            generalist=np.array([bool(r.props.get("generalist")) for r in rows], bool),
            expertise=expertise,
            accepts={
                c: (
                    np.array([e[0] for e in v], np.int64),
                    np.array([e[1] for e in v]),
                    np.array([e[2] for e in v]),
                )
                for c, v in accepts.items()
            },
            tree=cKDTree(to_unit_xyz(lats, lons)),
        )

    def _columns_for(
        self, defs: tuple[str, ...]
    ) -> tuple[list[NDArray[np.int8]], list[list[NDArray[np.int8]]]]:
        """Expertise columns on a combination including ``defs``, and per deficiency
        on rare conditions that involve it (cached per set of deficiencies)."""
        key = ("columns", defs)
        found = self.cache.get(key)
        if found is None:
            wanted = frozenset(defs)
            combos = [
                c
                for (kind, code), c in self.expertise.items()
                if kind == "Combination" and wanted <= codes_of_combination(code)
            ]
            conditions = [
                [
                    c
                    for (kind, code), c in self.expertise.items()
                    if kind == "Condition" and code in CONDITIONS and d in CONDITIONS[code].involves
                ]
                for d in defs
            ]
            found = self.cache[key] = (combos, conditions)
        return found  # type: ignore[return-value]

    def land_mask(self, land: str) -> NDArray[np.bool_]:
        mask = self.cache.get(("land", land))
        if mask is None:
            mask = self.cache[("land", land)] = self.lands == land
        return mask  # type: ignore[return-value]

    def score(
        self,
        pos: NDArray[np.int64],
        defs: tuple[str, ...],
        skills: tuple[str, ...],
        age: int | None,
        land: str | None,
    ) -> tuple[NDArray[np.int8], NDArray[np.int16], NDArray[np.bool_], NDArray[np.int8]]:
        """(tier, points, candidate, every deficiency by expertise) of the resources at ``pos`` (``land`` None: on any known land mass)."""
        combos, conditions = self._columns_for(defs)
        n = pos.size
        combination = np.zeros(n, np.int8)
        for column in combos:
            np.maximum(combination, column[pos], out=combination)
        points = np.zeros(n, np.int16)
        all_covered = np.ones(n, bool)
        declared = np.ones(n, bool)  # every deficiency by expertise, not only by acceptance
        where = None
        for j, code in enumerate(defs):
            own = self.expertise.get(("Deficiency", code))
            level = np.maximum(own[pos], combination) if own is not None else combination.copy()
            for column in conditions[j]:
                np.maximum(level, column[pos], out=level)
            declared &= level > 0
            entry = self.accepts.get(code)
            if entry is not None:
                ids, lo, hi = entry
                if where is None:
                    where = np.full(len(self.keys), -1, np.int64)
                    where[pos] = np.arange(n)
                local = where[ids]
                ok = (local >= 0) & admits(lo, hi, age)
                at = local[ok]
                level[at] = np.maximum(level[at], 1)
            points += level
            all_covered &= level > 0
        for code in skills:
            column = self.expertise.get(("Skill", code))
            if column is not None:
                points += column[pos]
        tier = np.where(combination > 0, 0, np.where(all_covered, 1, 2)).astype(np.int8)
        on_land = self.lands[pos] != "" if land is None else self.land_mask(land)[pos]
        candidate = (points > 0) & admits(self.age_min[pos], self.age_max[pos], age) & on_land
        return tier, points, candidate, declared

    def ranked(
        self,
        pos: NDArray[np.int64],
        dist: NDArray[np.float64],
        tier: NDArray[np.int8],
        points: NDArray[np.int16],
        age: int | None,
        separate: NDArray[np.int8],
    ) -> NDArray[np.int64]:
        """``pos`` in rank order (tier, accepted each separately last, a children's service for an adult
        last, points, distance, kind, key)."""
        late = (self.age_max[pos] <= 20) if age is not None and age >= ADULT_AGE else np.zeros(pos.size, bool)
        return pos[np.lexsort((self.keys[pos], self.kinds[pos], dist, -points, late, separate, tier))]

    def pairs(self, pos: NDArray[np.int64]) -> list[tuple[str, str]]:
        return list(zip(self.kinds[pos].tolist(), self.keys[pos].tolist(), strict=True))


def _separate(tier: NDArray[np.int8], declared: NDArray[np.bool_], defs: tuple[str, ...]) -> NDArray[np.int8]:
    """The ranking's sub-tier: several deficiencies, every one covered, some only by acceptance."""
    return ((tier == 1) & ~declared & (len(defs) > 1)).astype(np.int8)


def _answer(
    cols: PeerColumns,
    pos: NDArray[np.int64],
    dist: NDArray[np.float64],
    tier: NDArray[np.int8],
    points: NDArray[np.int16],
    age: int | None,
    limit: int,
    separate: NDArray[np.int8],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    full = tier <= 1
    inside_full = cols.ranked(pos[full], dist[full], tier[full], points[full], age, separate[full])[:limit]
    inside_partial = cols.ranked(pos[~full], dist[~full], tier[~full], points[~full], age, separate[~full])[
        :limit
    ]
    return cols.pairs(inside_full), cols.pairs(inside_partial), int(full.sum())


def _box(cols: PeerColumns, lat: float, lon: float, radius_km: float) -> NDArray[np.bool_]:
    """The resources inside the latitude/longitude box around the circle (a cheap test on every row)."""
    dlat = math.degrees((radius_km + 0.001) / EARTH_RADIUS_KM)
    box = np.abs(cols.lats - lat) <= dlat
    coslat = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
    dlon = dlat / coslat if coslat > 0 else 360.0
    if dlon < 180.0 and lon - dlon >= -180.0 and lon + dlon <= 180.0:
        box &= np.abs(cols.lons - lon) <= dlon
    return box


def _widen(
    cols: PeerColumns,
    pos: NDArray[np.int64],
    lat: float,
    lon: float,
    defs: tuple[str, ...],
    skills: tuple[str, ...],
    age: int | None,
    radius_km: float,
    land: str,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The fully competent resources among ``pos`` beyond the radius, with their distances."""
    tier, _points, candidate, _separate = cols.score(pos, defs, skills, age, land)
    dist = haversine_km_many(lat, lon, cols.lats[pos], cols.lons[pos]).round(3)
    ok = candidate & (tier <= 1) & (dist > radius_km)
    return pos[ok], dist[ok]


def numpy_find(
    cols: PeerColumns,
    lat: float,
    lon: float,
    defs: tuple[str, ...],
    skills: tuple[str, ...],
    age: int | None,
    radius_km: float,
    limit: int,
    land: str,
) -> PeerAnswer:
    """Vectorised brute force: a box test on every row, the distance and score
    of those inside it; widening over every row."""
    pos = np.flatnonzero(_box(cols, lat, lon, radius_km))
    tier, points, candidate, declared = cols.score(pos, defs, skills, age, land)
    dist = haversine_km_many(lat, lon, cols.lats[pos], cols.lons[pos]).round(3)
    keep = candidate & (dist <= radius_km)
    separate = _separate(tier, declared, defs)
    full, partial, n_full = _answer(
        cols, pos[keep], dist[keep], tier[keep], points[keep], age, limit, separate[keep]
    )
    beyond: list[tuple[str, str]] = []
    if n_full < limit:
        far, far_dist = _widen(cols, np.arange(len(cols.keys)), lat, lon, defs, skills, age, radius_km, land)
        nearest = np.lexsort((cols.keys[far], far_dist))[: min(limit - n_full, BEYOND_ROWS)]
        nearest = nearest[far_dist[nearest] <= beyond_cap(radius_km, bool(keep.any()))]
        beyond = cols.pairs(far[nearest])
    return full, beyond, partial


#: Beyond this many nearest neighbours, widening scores every row instead.
_K_MAX = 4096


def kdtree_find(
    cols: PeerColumns,
    lat: float,
    lon: float,
    defs: tuple[str, ...],
    skills: tuple[str, ...],
    age: int | None,
    radius_km: float,
    limit: int,
    land: str,
) -> PeerAnswer:
    """A radius query of the k-d tree, the candidates scored, k-nearest
    widening (k ×4 up to 4,096, then every row)."""
    centre = to_unit_xyz(np.array([lat]), np.array([lon]))[0]
    pos = np.sort(np.asarray(cols.tree.query_ball_point(centre, chord_for_km(radius_km + 0.001)), np.int64))
    tier, points, candidate, declared = cols.score(pos, defs, skills, age, land)
    dist = haversine_km_many(lat, lon, cols.lats[pos], cols.lons[pos]).round(3)
    keep = candidate & (dist <= radius_km)
    separate = _separate(tier, declared, defs)
    full, partial, n_full = _answer(
        cols, pos[keep], dist[keep], tier[keep], points[keep], age, limit, separate[keep]
    )
    beyond: list[tuple[str, str]] = []
    wanted = min(limit - n_full, BEYOND_ROWS)
    if wanted > 0:
        n = len(cols.keys)
        k = min(n, max(64, 8 * wanted))
        found = np.zeros(0, np.int64)
        while k <= _K_MAX and k < n:
            _chords, near = cols.tree.query(centre, k=k)
            found, dists = _widen(
                cols, np.sort(np.asarray(near, np.int64)), lat, lon, defs, skills, age, radius_km, land
            )
            if found.size >= wanted:
                # everything as near as the wanted-th found (ties on the rounded metre included)
                reach = float(np.sort(dists)[wanted - 1])
                near = np.sort(
                    np.asarray(cols.tree.query_ball_point(centre, chord_for_km(reach + 0.002)), np.int64)
                )
                found, dists = _widen(cols, near, lat, lon, defs, skills, age, radius_km, land)
                break
            k *= 4
        else:
            found, dists = _widen(cols, np.arange(n), lat, lon, defs, skills, age, radius_km, land)
        nearest = np.lexsort((cols.keys[found], dists))[:wanted]
        beyond = cols.pairs(found[nearest[dists[nearest] <= beyond_cap(radius_km, bool(keep.any()))]])
    return full, beyond, partial


@dataclass(slots=True)
class _NeedsSet:
    """What one set of needs (on one land mass) keeps: the resources that may
    cover a need, as positions into the columns, their levels that do not depend
    on the age, and two trees (all of them; those that may cover every deficiency)."""

    pos: NDArray[np.int64]
    combination: NDArray[np.int8]
    levels: NDArray[np.int8]  # (deficiency, resource)
    declared: NDArray[np.bool_]
    skills: NDArray[np.int16]
    accepts: list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]]  # local ids, bands
    tree: cKDTree | None
    full_local: NDArray[np.int64]  # local ids that may cover every deficiency
    full_tree: cKDTree | None


def _needs_set(cols: PeerColumns, defs: tuple[str, ...], skills: tuple[str, ...], land: str) -> _NeedsSet:
    key = ("needs set", defs, skills, land)
    found = cols.cache.get(key)
    if found is not None:
        return found  # type: ignore[return-value]
    combos, conditions = cols._columns_for(defs)
    n = len(cols.keys)
    combination = np.zeros(n, np.int8)
    for column in combos:
        np.maximum(combination, column, out=combination)
    levels = np.zeros((len(defs), n), np.int8)
    may = combination > 0
    accepted = np.zeros((len(defs), n), bool)
    for j, code in enumerate(defs):
        own = cols.expertise.get(("Deficiency", code))
        if own is not None:
            np.maximum(levels[j], own, out=levels[j])
        np.maximum(levels[j], combination, out=levels[j])
        for column in conditions[j]:
            np.maximum(levels[j], column, out=levels[j])
        entry = cols.accepts.get(code)
        if entry is not None:
            accepted[j, entry[0]] = True
        may |= (levels[j] > 0) | accepted[j]
    skill_points = np.zeros(n, np.int16)
    for code in skills:
        column = cols.expertise.get(("Skill", code))
        if column is not None:
            skill_points += column
            may |= column > 0
    may &= cols.land_mask(land)
    pos = np.flatnonzero(may)
    local = np.full(n, -1, np.int64)
    local[pos] = np.arange(pos.size)
    accepts = []
    for code in defs:
        entry = cols.accepts.get(code)
        if entry is None:
            accepts.append((np.zeros(0, np.int64), np.zeros(0), np.zeros(0)))
            continue
        ids, lo, hi = entry
        at = local[ids]
        keep = at >= 0
        accepts.append((at[keep], lo[keep], hi[keep]))
    full = np.flatnonzero(((levels[:, pos] > 0) | accepted[:, pos]).all(axis=0) | (combination[pos] > 0))
    xyz = to_unit_xyz(cols.lats[pos], cols.lons[pos])
    found = _NeedsSet(
        pos,
        combination[pos],
        levels[:, pos],
        (levels[:, pos] > 0).all(axis=0),
        skill_points[pos],
        accepts,
        cKDTree(xyz) if pos.size else None,
        full,
        cKDTree(xyz[full]) if full.size else None,
    )
    cols.cache[key] = found
    return found


def _needs_score(
    cols: PeerColumns, kept: _NeedsSet, local: NDArray[np.int64], age: int | None
) -> tuple[NDArray[np.int8], NDArray[np.int16], NDArray[np.bool_], NDArray[np.bool_]]:
    """(tier, points, candidate, declared) of these local ids at this age."""
    levels = kept.levels[:, local].copy()
    if len(kept.accepts):
        where = np.full(kept.pos.size, -1, np.int64)
        where[local] = np.arange(local.size)
        for j, (ids, lo, hi) in enumerate(kept.accepts):
            at = where[ids]
            ok = (at >= 0) & admits(lo, hi, age)
            row = levels[j]
            row[at[ok]] = np.maximum(row[at[ok]], 1)
    points = levels.sum(axis=0, dtype=np.int16) + kept.skills[local]
    all_covered = (levels > 0).all(axis=0)
    tier = np.where(kept.combination[local] > 0, 0, np.where(all_covered, 1, 2)).astype(np.int8)
    at = kept.pos[local]
    candidate = (points > 0) & admits(cols.age_min[at], cols.age_max[at], age)
    return tier, points, candidate, kept.declared[local]


def needs_kdtree_find(
    cols: PeerColumns,
    lat: float,
    lon: float,
    defs: tuple[str, ...],
    skills: tuple[str, ...],
    age: int | None,
    radius_km: float,
    limit: int,
    land: str,
) -> PeerAnswer:
    """Trees per set of needs (see module doc): a radius query of the resources
    that may cover a need, k-nearest widening among those that may cover all."""
    kept = _needs_set(cols, defs, skills, land)
    if kept.tree is None:
        return [], [], []
    centre = to_unit_xyz(np.array([lat]), np.array([lon]))[0]
    local = np.sort(np.asarray(kept.tree.query_ball_point(centre, chord_for_km(radius_km + 0.001)), np.int64))
    tier, points, candidate, declared = _needs_score(cols, kept, local, age)
    pos = kept.pos[local]
    dist = haversine_km_many(lat, lon, cols.lats[pos], cols.lons[pos]).round(3)
    keep = candidate & (dist <= radius_km)
    separate = _separate(tier, declared, defs)
    full, partial, n_full = _answer(
        cols, pos[keep], dist[keep], tier[keep], points[keep], age, limit, separate[keep]
    )
    beyond: list[tuple[str, str]] = []
    wanted = min(limit - n_full, BEYOND_ROWS)
    if wanted > 0 and kept.full_tree is not None:
        size = kept.full_local.size

        def beyond_radius(near: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
            """The fully competent ones among these local ids beyond the radius, with their distances."""
            tier, _points, candidate, _declared = _needs_score(cols, kept, near, age)
            at = kept.pos[near]
            dist = haversine_km_many(lat, lon, cols.lats[at], cols.lons[at]).round(3)
            ok = candidate & (tier <= 1) & (dist > radius_km)
            return at[ok], dist[ok]

        k = min(size, max(16, 4 * wanted))
        while True:
            _chords, near = kept.full_tree.query(centre, k=k)
            near = np.atleast_1d(np.asarray(near, np.int64))
            found, dists = beyond_radius(np.sort(kept.full_local[near[near < size]]))
            if found.size >= wanted or k >= size:
                if k < size:  # everything as near as the wanted-th found (ties on the rounded metre included)
                    reach = float(np.sort(dists)[wanted - 1])
                    ball = kept.full_tree.query_ball_point(centre, chord_for_km(reach + 0.002))
                    found, dists = beyond_radius(np.sort(kept.full_local[np.asarray(ball, np.int64)]))
                break
            k = min(size, k * 4)
        nearest = np.lexsort((cols.keys[found], dists))[:wanted]
        beyond = cols.pairs(found[nearest[dists[nearest] <= beyond_cap(radius_km, bool(keep.any()))]])
    return full, beyond, partial


def find_floor(cols: PeerColumns, lat: float, lon: float, radius_km: float) -> int:
    """What any answer must do at least: the radius query and one sort of its distances."""
    centre = to_unit_xyz(np.array([lat]), np.array([lon]))[0]
    pos = np.asarray(cols.tree.query_ball_point(centre, chord_for_km(radius_km)), np.int64)
    order = np.argsort(haversine_km_many(lat, lon, cols.lats[pos], cols.lons[pos]))
    return int(order.size)


def _competent(cols: PeerColumns, defs: tuple[str, ...]) -> NDArray[np.int64]:
    every = np.arange(len(cols.keys))
    tier, _points, candidate, declared = cols.score(every, defs, (), None, None)
    # rare-combination competence (graph.matching.competent_positions): on the combination, or every
    # deficiency by expertise; a single deficiency also by acceptance, except by a generalist (CAMSP)
    competent = (tier == 0) | ((tier == 1) & (declared | ((len(defs) == 1) & ~cols.generalist)))
    return np.flatnonzero(candidate & competent)


def kdtree_coverage(
    cols: PeerColumns,
    defs: tuple[str, ...],
    commune_xyz: NDArray[np.float64],
    commune_lands: NDArray[np.str_],
    extra: Sequence[tuple[float, float, str]] = (),
) -> NDArray[np.float64]:
    """Km from every commune to the nearest competent resource on its land mass
    (inf: none there): the competent set selected by numpy, one tree per land
    mass, one query of its communes. ``extra``: further points (lat, lon, land),
    the national centres counted where they stand."""
    pos = _competent(cols, defs)
    lats = np.concatenate([cols.lats[pos], [e[0] for e in extra]])
    lons = np.concatenate([cols.lons[pos], [e[1] for e in extra]])
    lands = np.concatenate([cols.lands[pos], np.array([e[2] for e in extra], str)])
    out = np.full(len(commune_xyz), np.inf)
    xyz = to_unit_xyz(lats, lons)
    for land in np.unique(lands):
        if not land:
            continue
        here = commune_lands == land
        if not here.any():
            continue
        chords, _ = cKDTree(xyz[lands == land]).query(commune_xyz[here], k=1, workers=-1)
        out[here] = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, chords / 2))
    return out


def numpy_coverage(
    cols: PeerColumns,
    defs: tuple[str, ...],
    commune_lats: NDArray[np.float64],
    commune_lons: NDArray[np.float64],
    commune_lands: NDArray[np.str_],
    extra: Sequence[tuple[float, float, str]] = (),
    chunk: int = 2048,
) -> NDArray[np.float64]:
    """The same distances by brute force: every commune × competent resource, in chunks."""
    pos = _competent(cols, defs)
    lats = np.radians(np.concatenate([cols.lats[pos], [e[0] for e in extra]]))
    lons = np.radians(np.concatenate([cols.lons[pos], [e[1] for e in extra]]))
    lands = np.concatenate([cols.lands[pos], np.array([e[2] for e in extra], str)])
    out = np.full(len(commune_lats), np.inf)
    for land in np.unique(lands):
        here = np.flatnonzero(commune_lands == land)
        plat, plon = lats[lands == land], lons[lands == land]
        for start in range(0, here.size, chunk):
            rows = here[start : start + chunk]
            clat, clon = np.radians(commune_lats[rows])[:, None], np.radians(commune_lons[rows])[:, None]
            a = np.sin((plat - clat) / 2) ** 2 + np.cos(clat) * np.cos(plat) * np.sin((plon - clon) / 2) ** 2
            out[rows] = (2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))).min(axis=1)
    return out


def coverage_floor(tree: cKDTree, commune_xyz: NDArray[np.float64]) -> float:
    """The one unavoidable step: a single query of all centroids on a built tree."""
    chords, _ = tree.query(commune_xyz, k=1, workers=-1)
    return float(chords[0])
