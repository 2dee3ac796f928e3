"""The ranking of ``findResources``: per-needs views of the competence index and their scoring.

A :class:`_View` holds, for one set of needs, the resources that may cover some
of them, in latitude order, as numbers only; a query scores the latitude band
of its radius (``_score_all``), then orders the rows by the rule of
:mod:`graph.matching` (tier, adult/children service, points, distance, kind, key).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from graph.answers import (
    ADULT_AGE,
    BEYOND_REACH,
    NEXT_ROWS,
    NEXT_YEARS,
    Basis,
    K,
    PersonPlace,
    SituationQuery,
    _Needs,
)
from graph.competence import CompetenceIndex, admits
from graph.geo import (
    EARTH_RADIUS_KM,
    chord2_xyz,
    chord_for_km,
    haversine_km_many,
    km_from_chord2,
    unit_xyz,
)
from graph.model import NodeKind, NodeRef, codes_of_combination
from graph.needsview import (
    _BAND_AGES,
    _build_view,
    _conditions_involving,
    _levels,
    _View,
)
from graph.store import release_freed_memory

__all__ = [
    "_BASIS",
    "_Pick",
    "_Scored",
    "_VIEWS_BYTES",
    "_VIEWS_KEPT",
    "_VIEWS_LOCK",
    "_View",
    "_build_view",
    "_children_service_for_adult",
    "_conditions_involving",
    "_future_age",
    "_next_services",
    "_relevant_targets",
    "_score_all",
    "_view",
    "_within",
    "beyond_cap",
    "zone_positions",
]


_NO_POSITIONS = np.zeros(0, np.int64)

_BASIS = {0: Basis.COMBINATION, 1: Basis.ALL_DEFICIENCIES, 2: Basis.PARTIAL}


class _Pick(NamedTuple):
    """A resource picked for the answer: its index position and ranking keys."""

    position: int
    distance_km: float
    within: bool
    tier: int
    score: float
    separate: bool = False  # tier 1 by accepting each deficiency separately (Basis.SEPARATELY)


@dataclass(slots=True)
class _Scored:
    """Some resources of a :class:`_View` (a latitude band of it) scored for
    the needs, as arrays over them (local positions)."""

    index: CompetenceIndex
    positions: NDArray[np.integer[Any]]  # local position → index position
    tier: NDArray[np.int8]  # 0 combination, 1 all deficiencies, 2 partial
    points: NDArray[np.int16]  # sum of the levels over the needs: the score's numerator
    total: int  # 3 × the number of needs: the score's denominator
    covers: NDArray[np.bool_]  # (need, resource): the resource covers it (deficiencies, then skills)
    deficiencies: list[str]  # the needs of ``covers``' rows: deficiency codes, then skill codes
    candidate: NDArray[np.bool_]  # covers a need, admits the age
    lats: NDArray[np.float64] | None  # None with ``xyz``
    lons: NDArray[np.float64] | None  # None with ``xyz``
    age_max: NDArray[Any]  # float, or whole years in one byte (``_whole_years``)
    age_min: NDArray[Any]
    declared: NDArray[np.bool_]  # every deficiency covered by expertise, not only by acceptance
    generalist: NDArray[np.bool_]
    #: 1 where the whole combination of several deficiencies is covered only by
    #: accepting them each separately (a ranking key after the tier)
    separate: NDArray[np.int8]
    #: True where the resource's declared intervention zone holds the person's
    #: commune (a SESSAD, a mobile team: at 0 km); None when none does
    zone: NDArray[np.bool_] | None = None
    #: the points on the unit sphere (rows x, y, z), when the view keeps them:
    #: distances from their chords (``graph.geo.great_circle_km_xyz``)
    xyz: NDArray[np.float64] | None = None

    def keys_at(self, local: NDArray[np.int64]) -> NDArray[np.int64]:
        """The keys' order of these local positions (equal keys, equal ranks): sorting
        by it is sorting by the keys, on integers instead of strings."""
        ranks: NDArray[np.int64] = _ranks(self.index, "keys")[self.positions[local]]
        return ranks

    def kinds_at(self, local: NDArray[np.int64]) -> NDArray[np.int64]:
        """The kinds' order of these local positions (as ``keys_at``)."""
        ranks: NDArray[np.int64] = _ranks(self.index, "kinds")[self.positions[local]]
        return ranks

    def picks(self, local: NDArray[np.int64], distances: NDArray[np.float64], within: bool) -> list[_Pick]:
        """``pick`` for several local positions at once (same picks, read as lists)."""
        scores = _scores(self.total)
        return [
            _Pick(p, d, within, t, scores[points], bool(sep))
            for p, d, t, points, sep in zip(
                self.positions[local].tolist(),
                distances.tolist(),
                self.tier[local].tolist(),
                self.points[local].tolist(),
                self.separate[local].tolist(),
                strict=True,
            )
        ]

    def pick(self, local: int, distance_km: float, within: bool) -> _Pick:
        score = _score(int(self.points[local]), self.total)
        return _Pick(
            int(self.positions[local]),
            distance_km,
            within,
            int(self.tier[local]),
            score,
            bool(self.separate[local]),
        )


def _kth_smallest(values: NDArray[Any], k: int) -> Any:
    """``np.partition(values, k)[k]`` (``values`` left as they are), without the
    function's Python wrapper: a few microseconds on the small arrays of a query."""
    part = values.copy()
    part.partition(k)
    return part[k]


def _score(points: int, total: int) -> float:
    """A row's score: the levels it has over the most it could have (4 decimals)."""
    return round(points / total, 4)


@functools.lru_cache(maxsize=256)
def _scores(total: int) -> tuple[float, ...]:
    """``_score(points, total)`` for every points from 0 to ``total`` (read by index:
    rounding to 4 decimals costs more than the rest of a pick)."""
    return tuple(_score(points, total) for points in range(total + 1))


def _ranks(idx: CompetenceIndex, column: str) -> NDArray[np.int64]:
    """Each position's rank in the sorted values of ``idx.keys`` or ``idx.kinds``
    (equal values, equal ranks), once per index state; an edit carries them
    (``patch_competence_index``: removals may leave gaps, the order holds)."""

    def build() -> NDArray[np.int64]:
        values = idx.keys if column == "keys" else idx.kinds
        ranks = np.unique(values, return_inverse=True)[1].astype(np.int64).reshape(-1)
        release_freed_memory()  # sorting the texts of the whole index: ~25 MB of temporaries at 4×
        return ranks

    return idx.cached(("ranks", column), build)  # type: ignore[no-any-return]


#: Views kept per index state (the most asked sets of needs, see ``_view``).
_VIEWS_KEPT = 256
#: Sets of needs whose askings are counted per index state (then counted afresh).
_ASKED_KEPT = 8192
#: ... and at most this many bytes of them (a worker's memory). A view holds
#: numbers only (no copy of keys or kinds: ~40 bytes per resource that may
#: cover a need); the needs without a view are scored directly.
_VIEWS_BYTES = 96 * 2**20
_VIEWS_LOCK = threading.Lock()


def _sorted_accepts(idx: CompetenceIndex, code: str) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[Any]]:
    """The ACCEPTS links to a deficiency by ascending position (once per index state)."""

    def build() -> tuple[NDArray[np.int64], NDArray[Any], NDArray[Any]]:
        link = idx.accepts(NodeRef(K.DEFICIENCY, code))
        order = np.argsort(link.ids, kind="stable")
        return link.ids[order], link.age_min[order], link.age_max[order]

    return idx.cached(("accepts by position", code), build)  # type: ignore[no-any-return]


def _view(
    idx: CompetenceIndex, needs: _Needs, kinds: frozenset[NodeKind], land: str | None, use: str = "ask"
) -> _View | None:
    """The view of ``idx`` for these needs (see :class:`_View`), cached per index
    state; None when this set of needs is not worth a view (yet): the query is
    then scored directly on the index (``_score_direct``, same answers).

    Which views are kept: a set of needs gets one when asked a second time
    (``use`` "ask": a query's radius band, counted once per query) or when a query
    scores a wider band (``use`` "wide": what nobody covers nearby; such bands
    cost less on a view, its build included, than scored directly), while there
    is room or in place of the least asked view, if asked at least twice as
    often; the room needed is the view's size once it has been built. A varied
    mix of needs therefore keeps a stable set of views for its most frequent
    needs instead of rebuilding views in turn. ``use`` "peek" (the transition's
    band): the view is used if there is one."""
    views: dict[Any, tuple[_View, int]] = idx.cached("views", dict)
    asked: dict[Any, int] = idx.cached("views asked", dict)
    sizes: dict[Any, int] = idx.cached("views sizes", dict)  # a view's bytes, once built (kept or not)
    held: list[int] = idx.cached("views held", lambda: [0])  # their bytes, kept with them
    key = (needs.deficiencies, needs.skills, kinds, land)
    if use == "peek":
        found = views.get(key)
        return None if found is None else found[0]

    def room(size: int) -> bool:
        return len(views) < _VIEWS_KEPT and held[0] + size <= _VIEWS_BYTES

    with _VIEWS_LOCK:
        times = asked.get(key, 0) + (use == "ask")
        if len(asked) >= _ASKED_KEPT:
            asked.clear()
            sizes.clear()
        asked[key] = times
        found = views.get(key)
        if found is not None:
            return found[0]
        if times < 2 and use != "wide":
            return None
        expected = sizes.get(key, held[0] // len(views) if views else 0)
        if not room(expected) and (not views or 2 * min(asked.get(k, 0) for k in views) > times):
            return None
    built = _build_view(idx, needs, kinds, land)
    size = built.nbytes
    with _VIEWS_LOCK:
        sizes[key] = size
        while views and not room(size):
            victim = min(views, key=lambda k: asked.get(k, 0))
            if 2 * asked.get(victim, 0) > times:
                break  # every view kept is asked more than half as often: this one is not kept
            held[0] -= views.pop(victim)[1]
        if key not in views and room(size):
            views[key] = (built, size)
            held[0] += size
    return built


def zone_positions(idx: CompetenceIndex, commune: str) -> NDArray[np.int64]:
    """The index positions (ascending) of the resources whose declared
    intervention zone (``intervention_communes``, FINESS Activités flow) holds ``commune``."""
    if not len(idx.zone_codes):
        return _NO_POSITIONS

    def build() -> dict[str, NDArray[np.int64]]:
        codes, first = np.unique(idx.zone_codes, return_index=True)  # zone_codes is sorted
        ends = np.append(first[1:], len(idx.zone_codes))
        return {str(c): idx.zone_at[a:b] for c, a, b in zip(codes, first, ends, strict=True)}

    by_commune: dict[str, NDArray[np.int64]] = idx.cached("zones by commune", build)
    return by_commune.get(commune, _NO_POSITIONS)


def _wanted(idx: CompetenceIndex, kinds: frozenset[NodeKind], land: str | None) -> NDArray[np.bool_]:
    """Which resources are of these kinds and on this land mass (once per index state)."""
    return idx.cached(  # type: ignore[no-any-return]
        ("wanted", kinds, land),
        lambda: idx.kind_mask(frozenset(k.value for k in kinds)) & idx.land_mask(land),
    )


def _band(idx: CompetenceIndex, lat: float, radius_km: float) -> tuple[int, int]:
    """The positions whose latitude allows a great-circle distance ≤ ``radius_km``
    from latitude ``lat`` (the index is in latitude order)."""
    margin = math.degrees((radius_km + 0.001) / EARTH_RADIUS_KM)  # + 1 m: distances are rounded to the metre
    return (
        int(idx.lats.searchsorted(lat - margin, "left")),
        int(idx.lats.searchsorted(lat + margin, "right")),
    )


def _score_direct(
    idx: CompetenceIndex,
    needs: _Needs,
    age: int | None,
    kinds: frozenset[NodeKind],
    lat: float | None = None,
    reach_km: float | None = None,
    land: str | None = None,
    zone: NDArray[np.int64] = _NO_POSITIONS,
    lon: float | None = None,
    among: NDArray[np.int64] | None = None,
) -> _Scored:
    """The ranking keys of the candidates (a wanted kind on ``land``, admitting
    the age, covering some need) that may be within ``reach_km`` of latitude
    ``lat`` (None: everywhere), at once (same rules as the module doc).
    ``zone``: index positions serving the person's commune where they live
    (``zone_positions``), scored wherever their seat stands. With ``lon``, only
    the resources of the latitude/longitude box that can hold ``reach_km`` are scored;
    with ``among`` (ascending positions, no ``zone``), only those.

    The latitude band is a slice of the index's columns: a query reads the
    columns of its needs over that slice only (no per-needs copy of the index
    is built or kept), then gathers the candidates' rows."""
    bounded = lat is not None and reach_km is not None
    lo, hi = _band(idx, lat, reach_km) if lat is not None and reach_km is not None else (0, len(idx))
    take: slice | NDArray[np.int64] = slice(lo, hi)
    if bounded and lon is not None and lat is not None and reach_km is not None:
        box = _longitude_box(idx.lons[lo:hi], lat, lon, reach_km)
        if box is not None:
            take = lo + box.nonzero()[0]
    if among is not None:
        take = among
    if zone.size:
        outside = zone[(zone < lo) | (zone >= hi)] if isinstance(take, slice) else np.setdiff1d(zone, take)
        if outside.size:
            take = np.union1d(np.arange(lo, hi) if isinstance(take, slice) else take, outside)
    defs, skills = sorted(needs.deficiencies), sorted(needs.skills)
    size = hi - lo if isinstance(take, slice) else len(take)
    combination, levels = _levels(idx, needs, take)
    # every deficiency by expertise (on it, a combination, a condition), before acceptance
    declared: NDArray[np.bool_] = (
        np.logical_and.reduce(levels > 0, axis=0) if len(defs) else np.ones(size, bool)
    )
    for j, code in enumerate(defs):
        _admit(levels[j], *_sorted_accepts(idx, code), take, age)
    points = np.add.reduce(levels, axis=0, dtype=np.int16)
    skill_levels = np.empty((len(skills), size), np.int8)
    for j, code in enumerate(skills):
        skill_levels[j] = idx.expertise(NodeRef(K.SKILL, code))[take]
    if len(skills):
        points += np.add.reduce(skill_levels, axis=0, dtype=np.int16)
    # The candidates only, gathered once: a wanted kind on the land mass, some
    # need covered, the resource's own age band admitting the person.
    mask = points > 0
    mask &= _wanted(idx, kinds, land)[take]
    rows = mask.nonzero()[0]
    positions = rows + lo if isinstance(take, slice) else take[rows]
    keep = admits(idx.age_min[positions], idx.age_max[positions], age)
    if not keep.all():
        rows, positions = rows[keep], positions[keep]
    return _finish(
        idx,
        needs,
        positions,
        levels.take(rows, axis=1),
        skill_levels.take(rows, axis=1),
        points[rows],
        combination[rows],
        declared[rows],
        None,
        np.isin(positions, zone) if zone.size else None,
    )


def _score_all(
    idx: CompetenceIndex,
    needs: _Needs,
    age: int | None,
    kinds: frozenset[NodeKind],
    lat: float | None = None,
    reach_km: float | None = None,
    land: str | None = None,
    zone: NDArray[np.int64] = _NO_POSITIONS,
    lon: float | None = None,
    use: str = "ask",
    starting_after: int | None = None,
) -> _Scored:
    """The ranking keys of every resource that may be within ``reach_km`` of
    latitude ``lat`` (None: everywhere) at once (same rules as the module doc);
    ``zone``: index positions serving the person's commune where they live
    (``zone_positions``), scored wherever their seat stands. ``use``: how
    this band asks for a view (see ``_view``). ``starting_after``: an age; on
    a view, only the resources whose age band starts after it are scored (the
    transition's next services; the others may be scored too)."""
    view = _view(idx, needs, kinds, land, use)
    if view is None:
        return _score_direct(idx, needs, age, kinds, lat, reach_km, land, zone, lon)
    span = view.band(lat, reach_km) if lat is not None else view.band(0.0, None)
    lo, hi = span.start, span.stop
    take: slice | NDArray[np.int64] = span
    in_zone = None
    if zone.size:
        local = np.minimum(view.positions.searchsorted(zone), max(len(view.positions) - 1, 0))
        local = local[view.positions[local] == zone] if len(view.positions) else local[:0]
        if local.size:
            outside = local[(local < lo) | (local >= hi)]
            if outside.size:
                take = np.union1d(np.arange(lo, hi), outside)
            rows = take if isinstance(take, np.ndarray) else np.arange(lo, hi)
            in_zone = np.isin(rows, local)
    if starting_after is not None:
        rows = np.arange(lo, hi) if isinstance(take, slice) else take
        later = (view.age_min[rows] > starting_after).nonzero()[0]
        take = rows[later]
        in_zone = None if in_zone is None else in_zone[later]
    levels = _columns(view.levels, take).copy()
    # every deficiency by expertise (on it, a combination, a condition), before acceptance
    declared: NDArray[np.bool_] = np.logical_and.reduce(levels > 0, axis=0)
    if view.accept_bands is None:
        for j, (ids, age_min, age_max) in enumerate(view.accepts):
            _admit(levels[j], ids, age_min, age_max, take, age)
    elif len(view.accepts):
        if age is not None and not 0 <= age <= _BAND_AGES:
            raise ValueError(f"an age of {age} years cannot be compared with the view's age bands")
        low, high = (_columns(band, take) for band in view.accept_bands)
        admitted = low <= (high if age is None else age)
        if age is not None:
            admitted &= high >= age
        np.maximum(levels, admitted, out=levels)
    points = np.add.reduce(levels, axis=0, dtype=np.int16)
    skill_levels = _columns(view.skill_levels, take)
    if len(skill_levels):
        points += np.add.reduce(skill_levels, axis=0, dtype=np.int16)
    positions = view.positions[take]
    candidate = (points > 0) & admits(view.age_min[take], view.age_max[take], age)
    return _finish(
        idx,
        needs,
        positions,
        levels,
        skill_levels,
        points,
        view.combination[take],
        declared,
        candidate,
        in_zone,
        (None, None, view.age_min[take], view.age_max[take], view.generalist[take]),
        _columns(view.xyz, take),
    )


def _admit(
    row: NDArray[np.int8],
    ids: NDArray[Any],
    age_min: NDArray[Any],
    age_max: NDArray[Any],
    take: slice | NDArray[np.int64],
    age: int | None,
) -> None:
    """Level 1 at least in ``row`` (over the positions ``take``) for the ACCEPTS
    links (``ids`` ascending, same numbering as ``take``) whose age band admits ``age``."""
    if isinstance(take, slice):
        a, b = ids.searchsorted((take.start, take.stop))
        admitted = ids[a:b][admits(age_min[a:b], age_max[a:b], age)] - take.start
    else:
        a, b = ids.searchsorted((take[0], take[-1] + 1)) if len(take) else (0, 0)
        if 8 * len(take) < b - a:  # a few positions among many links: each position's links looked up
            first = ids.searchsorted(take, "left")
            many = ids.searchsorted(take, "right") - first
            rows = np.repeat(np.arange(len(take)), many)
            links = np.repeat(first - np.cumsum(many) + many, many) + np.arange(rows.size)
            admitted = rows[admits(age_min[links], age_max[links], age)]
        else:
            ids, age_min, age_max = ids[a:b], age_min[a:b], age_max[a:b]
            at = np.minimum(take.searchsorted(ids), max(len(take) - 1, 0))
            here = take[at] == ids
            admitted = at[here][admits(age_min[here], age_max[here], age)]
    row[admitted] = np.maximum(row[admitted], 1)


def _columns(array: NDArray[Any], take: slice | NDArray[np.int64]) -> NDArray[Any]:
    """``array[:, take]`` (a gather of columns by ``np.take``: several times faster
    than fancy indexing on the second axis)."""
    return array[:, take] if isinstance(take, slice) else array.take(take, axis=1)


def _finish(
    idx: CompetenceIndex,
    needs: _Needs,
    positions: NDArray[Any],
    levels: NDArray[np.int8],
    skill_levels: NDArray[np.int8],
    points: NDArray[np.int16],
    combination: NDArray[np.int8],
    declared: NDArray[np.bool_],
    candidate: NDArray[np.bool_] | None,
    zone: NDArray[np.bool_] | None,
    columns: tuple[Any, ...] | None = None,
    xyz: NDArray[np.float64] | None = None,
) -> _Scored:
    """The ranking keys of scored rows (tier, covers, the separate-acceptance key);
    ``candidate`` None: every row is one; ``columns``: (lats, lons, age_min,
    age_max, generalist) when the caller holds them, else read from the index."""
    n = len(positions)
    covered = levels > 0
    # 2 partial, 1 every deficiency, 0 on a combination (which covers every deficiency too)
    tier = np.subtract(2, np.logical_and.reduce(covered, axis=0), dtype=np.int8)
    tier -= combination > 0
    lats, lons, age_min, age_max, generalist = columns or (
        idx.lats[positions],
        idx.lons[positions],
        idx.age_min[positions],
        idx.age_max[positions],
        idx.generalist[positions],
    )
    return _Scored(
        idx,
        positions,
        tier,
        points,
        3 * (len(needs.deficiencies) + len(needs.skills)),
        np.concatenate((covered, skill_levels > 0)) if len(skill_levels) else covered,
        sorted(needs.deficiencies) + sorted(needs.skills),
        np.ones(n, bool) if candidate is None else candidate,
        lats,
        lons,
        age_max,
        age_min,
        declared,
        generalist,
        ((tier == 1) & ~declared).astype(np.int8) if len(needs.deficiencies) > 1 else np.zeros(n, np.int8),
        zone,
        xyz,
    )


def _longitude_box(
    lons: NDArray[np.float64], lat: float, lon: float, radius_km: float
) -> NDArray[np.bool_] | None:
    """Which of ``lons`` (at latitudes within the band of ``lat``) may stand
    within ``radius_km`` of (lat, lon); None when every one may (near a pole)."""
    angle = (radius_km + 0.001) / EARTH_RADIUS_KM
    if angle >= math.pi / 2 - math.radians(abs(lat)):
        return None
    # The widest longitude difference a point within the radius can have.
    dlon_max = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat))))) + 1e-9
    if lon - dlon_max >= -180.0 and lon + dlon_max <= 180.0:
        return np.abs(lons - lon) <= dlon_max
    return (
        np.abs((lons - lon + 180.0) % 360.0 - 180.0) <= dlon_max
    )  # across the antimeridian (Wallis-et-Futuna)


def _within(
    scored: _Scored, lat: float, lon: float, radius_km: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Local positions of the candidates inside the radius, with their
    great-circle distances (km, 3 decimals)."""
    if scored.xyz is not None:
        # the chords first (whole columns, no gathering): those that can be within the radius
        chord2 = chord2_xyz(unit_xyz(lat, lon), scored.xyz)
        mask = chord2 <= chord_for_km(radius_km + 0.002) ** 2
        mask &= scored.candidate
        if scored.zone is not None:
            mask |= scored.candidate & scored.zone
        pos = mask.nonzero()[0]
        dist = km_from_chord2(chord2[pos]).round(3)
    else:
        assert scored.lats is not None and scored.lons is not None
        mask = scored.candidate
        box = _longitude_box(scored.lons, lat, lon, radius_km)
        if box is not None:
            mask = mask & box
        if scored.zone is not None:
            mask = mask | (scored.candidate & scored.zone)
        pos = mask.nonzero()[0]
        dist = haversine_km_many(lat, lon, scored.lats[pos], scored.lons[pos]).round(3)
    if scored.zone is not None:
        dist[scored.zone[pos]] = 0.0  # it comes to the person's commune
    keep = dist <= radius_km
    return pos[keep], dist[keep]


def _children_service_for_adult(scored: _Scored, pos: NDArray[np.int64], age: int | None) -> NDArray[np.int8]:
    """1 where a children's service would serve an adult, else 0 (a ranking key)."""
    if age is None or age < ADULT_AGE:
        return np.zeros(pos.size, np.int8)
    age_max = scored.age_max[pos]
    return (age_max <= 20).astype(np.int8)


def beyond_cap(radius_km: float, answered_inside: bool) -> float:
    """How far a fully competent row beyond the radius may stand: BEYOND_REACH ×
    the radius when some resource inside the radius answers, else anywhere."""
    return BEYOND_REACH * radius_km if answered_inside else math.inf


def _future_age(age: int | None) -> int | None:
    """The age at which the transition's adult services are looked for."""
    return None if age is None else max(age + NEXT_YEARS, 20)


def _next_services(
    idx: CompetenceIndex,
    needs: _Needs,
    query: SituationQuery,
    kinds: frozenset[NodeKind],
    place: PersonPlace,
    land: str | None,
    shown: Mapping[int, str],
) -> list[_Pick]:
    """Transition: the services inside the radius that do not admit the person
    yet but will within the next years (an adult service from 18 or 20 for a
    person of 16-17), best first by the same keys as inside the radius; the
    resources already shown are left out."""
    future = _future_age(query.age)
    assert query.age is not None and future is not None
    later = _score_all(
        idx,
        needs,
        future,
        kinds,
        place.lat,
        query.radius_km,
        land,
        zone_positions(idx, place.commune),
        place.lon,
        use="peek",
        starting_after=query.age,
    )
    pos, dist = _within(later, place.lat, place.lon, query.radius_km)
    if pos.size == 0:
        return []
    starts = later.age_min[pos]
    index_pos = later.positions[pos]
    keep = (starts > query.age) & ~np.isin(index_pos, np.fromiter(shown, np.int64, len(shown)))
    pos, dist = pos[keep], dist[keep]
    order = np.lexsort(
        (
            later.keys_at(pos),
            later.kinds_at(pos),
            dist,
            -later.points[pos],
            later.separate[pos],
            later.tier[pos],
        )
    )[:NEXT_ROWS]
    return later.picks(pos[order], dist[order], True)


def _relevant_targets(idx: CompetenceIndex, needs: _Needs) -> frozenset[str]:
    """Keys of the targets whose links can cover a need (``_offers`` checks their kinds)."""
    return (
        needs.deficiencies
        | needs.skills
        | {orpha for code in needs.deficiencies for orpha in _conditions_involving(idx, code)}
        | {key for key in idx.targets(K.COMBINATION) if needs.deficiencies <= codes_of_combination(key)}
    )
