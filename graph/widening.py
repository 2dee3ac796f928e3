"""Beyond the radius: widening (the nearest fully competent resources farther
than the radius) and, for a need no resource inside the radius covers, the
nearest resource that covers it. Both look in sets kept per set of needs and
index state (the resources that can cover every deficiency, or each need, at
some age), not in wide bands of the index: those covering by expertise are
sure wherever their own age band admits the person, those that only accept a
need are checked at the person's age."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from graph.answers import BEYOND_REACH, K, PersonPlace, SituationQuery, _need_label, _Needs
from graph.competence import CompetenceIndex, admits
from graph.geo import great_circle_km_xyz, haversine_km_many, to_unit_xyz, unit_xyz
from graph.model import NodeKind, NodeRef
from graph.needsview import _levels
from graph.ranking import (
    _VIEWS_LOCK,
    _admit,
    _kth_smallest,
    _Pick,
    _ranks,
    _score,
    _score_direct,
    _Scored,
    _sorted_accepts,
    _wanted,
)
from graph.views import display_name

__all__ = ["_SETS_BYTES", "_Widening", "_may_cover_all", "_may_cover_each", "_nearest_beyond", "_uncovered"]


#: The bytes of widening sets (``_may_cover_all``) and of per-need sets
#: (``_may_cover_each``) kept per index state, each: past it, they are dropped
#: and built again as asked (a few hundred sets of needs fit at national scale).
_SETS_BYTES = 32 * 2**20


def _keep(idx: CompetenceIndex, name: str, key: Any, value: Any, size: int) -> None:
    """Keep ``value`` under ``key`` in the index's ``name`` cache, within ``_SETS_BYTES``."""
    kept: dict[Any, Any] = idx.cached(name, dict)
    held: list[int] = idx.cached((name, "bytes"), lambda: [0])
    with _VIEWS_LOCK:
        if held[0] + size > _SETS_BYTES:
            kept.clear()
            held[0] = 0
        kept[key] = value
        held[0] += size


@dataclass(frozen=True, slots=True)
class _Widening:
    """The resources of some kinds on a land mass that cover every deficiency of a
    set of needs at some age (by expertise, a combination, a condition, or an
    ACCEPTS link whatever its ages): the only ones that can be fully competent
    (tier 0 or 1) for a person of any age, with what does not depend on the age."""

    positions: NDArray[np.int64]  # ascending
    xyz: NDArray[np.float64]  # (x, y, z) rows: the points on the unit sphere
    age_min: NDArray[np.floating[Any]]
    age_max: NDArray[np.floating[Any]]
    #: every deficiency covered by expertise (not only by an ACCEPTS link): fully
    #: competent at any age its own age band admits, with ``tier`` and ``points``
    declared: NDArray[np.bool_]
    tier: NDArray[np.int8]
    points: NDArray[np.int16]

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.positions,
                self.xyz,
                self.age_min,
                self.age_max,
                self.declared,
                self.tier,
                self.points,
            )
        )


def _coverable(
    idx: CompetenceIndex, needs: _Needs
) -> tuple[NDArray[np.int8], NDArray[np.int8], list[tuple[NDArray[np.bool_], NDArray[np.bool_]]]]:
    """Over the whole index: the combination level and each deficiency's level
    (``_levels``), and per deficiency which resources cover it by expertise (at
    any age) and which may cover it at some age (that, or an ACCEPTS link
    whatever its ages) — the rule of the sets below, written once."""
    combination, levels = _levels(idx, needs, slice(0, len(idx)))
    per_deficiency = []
    for j, code in enumerate(sorted(needs.deficiencies)):
        sure = levels[j] > 0
        may = sure.copy()
        may[idx.accepts(NodeRef(K.DEFICIENCY, code)).ids] = True
        per_deficiency.append((sure, may))
    return combination, levels, per_deficiency


def _may_cover_all(
    idx: CompetenceIndex, needs: _Needs, kinds: frozenset[NodeKind], land: str | None
) -> _Widening:
    """The widening set of these needs (see :class:`_Widening`), kept per index
    state and set of needs (a few thousand resources at most)."""
    kept: dict[Any, _Widening] = idx.cached("may cover all", dict)
    key = (needs.deficiencies, needs.skills, kinds, land)
    found = kept.get(key)
    if found is None:
        combination, levels, per_deficiency = _coverable(idx, needs)
        every = _wanted(idx, kinds, land).copy()
        declared = np.ones(len(idx), bool)
        for sure, may in per_deficiency:
            declared &= sure
            every &= may
        at = every.nonzero()[0].astype(np.int64)
        points = levels.take(at, axis=1).sum(axis=0, dtype=np.int16)
        for code in sorted(needs.skills):
            points += idx.expertise(NodeRef(K.SKILL, code))[at]
        found = _Widening(
            at,
            np.ascontiguousarray(to_unit_xyz(idx.lats[at], idx.lons[at]).T),
            idx.age_min[at],
            idx.age_max[at],
            declared[at],
            np.where(combination[at] > 0, 0, 1).astype(np.int8),
            points,
        )
        _keep(idx, "may cover all", key, found, found.nbytes)
    return found


def _may_cover_each(
    idx: CompetenceIndex, needs: _Needs, kinds: frozenset[NodeKind], land: str | None
) -> tuple[tuple[NDArray[np.int64], NDArray[np.bool_]], ...]:
    """Per need (the rows of ``_Scored.covers``: deficiencies, then skills): the
    positions (ascending) of the resources of these kinds on this land mass that
    may cover it at some age, and which of them cover it by expertise (whatever
    the age; the others only accept it, at some ages). Kept per index state and
    set of needs: what nobody covers near a person is looked for there."""
    kept: dict[Any, tuple[tuple[NDArray[np.int64], NDArray[np.bool_]], ...]] = idx.cached(
        "may cover each", dict
    )
    key = (needs.deficiencies, needs.skills, kinds, land)
    found = kept.get(key)
    if found is None:
        wanted = _wanted(idx, kinds, land)
        rows = []
        for sure, may in _coverable(idx, needs)[2]:
            at = (may & wanted).nonzero()[0].astype(np.int64)
            rows.append((at, sure[at]))
        for code in sorted(needs.skills):
            at = ((idx.expertise(NodeRef(K.SKILL, code)) > 0) & wanted).nonzero()[0].astype(np.int64)
            rows.append((at, np.ones(at.size, bool)))
        found = tuple(rows)
        _keep(idx, "may cover each", key, found, sum(at.nbytes + sure.nbytes for at, sure in rows))
    return found


def _nearest_beyond(
    idx: CompetenceIndex,
    needs: _Needs,
    age: int | None,
    kinds: frozenset[NodeKind],
    land: str | None,
    lat: float,
    lon: float,
    radius_km: float,
    zone: NDArray[np.int64],
    wanted: int,
) -> list[_Pick]:
    """The ``wanted`` nearest resources of the land mass beyond ``radius_km`` that
    are fully competent (tier 0 or 1) for the needs at this age, nearest first
    (then by key): widening. Only the widening set's resources can be; those
    covering every deficiency by expertise are so wherever their own age band
    admits the person; the others (some deficiency only accepted, at some ages)
    are scored at this age, and only those nearer than the ``wanted``-th sure one."""
    full = _may_cover_all(idx, needs, kinds, land)
    far = great_circle_km_xyz(unit_xyz(lat, lon), full.xyz).round(3)
    if zone.size:
        far[np.isin(full.positions, zone)] = 0.0  # serves the person's commune: inside, never beyond
    outside = far > radius_km
    sure = (outside & full.declared & admits(full.age_min, full.age_max, age)).nonzero()[0]
    reach = _kth_smallest(far[sure], wanted - 1) if sure.size >= wanted else math.inf
    accepting = _accepting_at(idx, needs, kinds, land, full, age)
    unsure = (outside[accepting.rows] & (far[accepting.rows] <= reach)).nonzero()[0]
    ranks = _ranks(idx, "keys")
    rows = accepting.rows[unsure]
    keys = np.concatenate((ranks[full.positions[sure]], ranks[full.positions[rows]]))
    dist = np.concatenate((far[sure], far[rows]))
    total = 3 * (len(needs.deficiencies) + len(needs.skills))
    picks = []
    for i in np.lexsort((keys, dist))[:wanted].tolist():
        if i < sure.size:
            row = int(sure[i])
            score = _score(int(full.points[row]), total)
            picks.append(_Pick(int(full.positions[row]), float(dist[i]), False, int(full.tier[row]), score))
        else:
            at = int(unsure[i - sure.size])
            row = int(accepting.rows[at])
            score = _score(int(accepting.points[at]), total)
            picks.append(
                _Pick(
                    int(full.positions[row]),
                    float(dist[i]),
                    False,
                    int(accepting.tier[at]),
                    score,
                    bool(accepting.separate[at]),
                )
            )
    return picks


class _AtAge(NamedTuple):
    """The rows of a widening set not sure by expertise that are fully competent
    at one age (scored at it: some deficiency accepted by a link admitting it)."""

    rows: NDArray[np.int64]  # rows of the widening set, ascending
    tier: NDArray[np.int8]
    points: NDArray[np.int16]
    separate: NDArray[np.int8]


def _accepting_at(
    idx: CompetenceIndex,
    needs: _Needs,
    kinds: frozenset[NodeKind],
    land: str | None,
    full: _Widening,
    age: int | None,
) -> _AtAge:
    """``_AtAge`` of the widening set ``full`` of these needs, kept per index
    state, set of needs and age (within ``_SETS_BYTES``): a query then reads
    which accepting resources count beyond its radius instead of scoring them."""
    kept: dict[Any, _AtAge] = idx.cached("may cover all at age", dict)
    key = (needs.deficiencies, needs.skills, kinds, land, age)
    found = kept.get(key)
    if found is None:
        undeclared = (~full.declared).nonzero()[0]
        scored = _score_direct(idx, needs, age, kinds, land=land, among=full.positions[undeclared])
        local = (scored.tier <= 1).nonzero()[0]
        rows = undeclared[full.positions[undeclared].searchsorted(scored.positions[local])]
        found = _AtAge(rows, scored.tier[local], scored.points[local], scored.separate[local])
        _keep(idx, "may cover all at age", key, found, sum(a.nbytes for a in found))
    return found


def _uncovered(
    idx: CompetenceIndex,
    scored: _Scored,
    needs: _Needs,
    query: SituationQuery,
    place: PersonPlace,
    inside_pos: NDArray[np.int64],
    kinds: frozenset[NodeKind],
    land: str | None,
    listed: frozenset[int] = frozenset(),
    inside_covers: NDArray[np.bool_] | None = None,
) -> tuple[list[str], list[_Pick]]:
    """``listed``: the positions already in the table (beyond the radius);
    ``inside_covers``: ``scored.covers`` at ``inside_pos``, when the caller has them.
    For each need (deficiency or skill) that no local resource inside the
    radius covers: a note naming the nearest resource of the land mass that
    covers it at the person's age, and that resource (beyond the radius),
    nearest first."""
    if inside_covers is None:
        inside_covers = scored.covers.take(inside_pos, axis=1)
    found = (
        np.logical_or.reduce(inside_covers, axis=1) if inside_pos.size else np.zeros(len(inside_covers), bool)
    )
    missing = [j for j, covered in enumerate(found.tolist()) if not covered]
    if not missing:
        return [], []
    each = _may_cover_each(idx, needs, kinds, land)
    ranks = _ranks(idx, "keys")
    defs = sorted(needs.deficiencies)
    found_at: dict[int, _Pick] = {}  # need row → the nearest resource covering it
    for j in missing:
        at, sure = each[j]
        ok = admits(idx.age_min[at], idx.age_max[at], query.age)  # the resource's own age band
        accepted = (ok & ~sure).nonzero()[0]
        if accepted.size:  # covered only by accepting it: at this age?
            admitted = np.zeros(accepted.size, np.int8)
            _admit(admitted, *_sorted_accepts(idx, defs[j]), at[accepted], query.age)
            ok[accepted] = admitted > 0
        rows = ok.nonzero()[0]
        if rows.size == 0:
            continue
        far = haversine_km_many(place.lat, place.lon, idx.lats[at[rows]], idx.lons[at[rows]]).round(3)
        best = int(np.lexsort((ranks[at[rows]], far))[0])
        one = _score_direct(idx, needs, query.age, kinds, land=land, among=at[rows[best : best + 1]])
        found_at[j] = one.pick(0, float(far[best]), False)
    notes: list[str] = []
    picks: dict[int, _Pick] = {}
    for j in missing:
        label = _need_label(scored.deficiencies[j])
        if j not in found_at:
            notes.append(
                f"Aucune ressource locale connue ne couvre {label} : voir l'ERHR et le CNRHR ci-dessous."
            )
            continue
        pick = found_at[j]
        position, distance = pick.position, pick.distance_km
        props = idx.props[position]
        name = display_name(props, idx.refs[position].key)
        shown = distance <= BEYOND_REACH * query.radius_km or position in listed
        notes.append(
            f"Aucune ressource locale dans le rayon de {query.radius_km:g} km ne couvre {label} ; "
            f"la plus proche qui la couvre : {name} ({distance:.0f} km)"
            + (
                ", ajoutée au tableau (au-delà du rayon)."
                if shown
                else f" — plus de {BEYOND_REACH:g} fois le rayon : citée ici, pas dans le tableau."
            )
        )
        picks.setdefault(position, pick)
    ordered_picks = sorted(picks.values(), key=lambda p: (p.distance_km, str(idx.keys[p.position])))
    return notes, ordered_picks
