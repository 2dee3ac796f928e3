"""Per-needs views of the competence index: what one set of needs reads of it.

``_levels`` is the rule of a deficiency's level (expertise on it, on a
combination including every deficiency, on a condition involving it), written
once for the views, the direct scoring (:mod:`graph.ranking`) and the widening
sets (:mod:`graph.widening`). A :class:`_View` keeps those levels for the
resources that may cover some need, in latitude order, as numbers only: their
points on the unit sphere, their age bands and their ACCEPTS links in one byte
per year bound where they are whole years.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from graph.answers import K, _Needs
from graph.competence import CompetenceIndex
from graph.geo import EARTH_RADIUS_KM, to_unit_xyz
from graph.model import NodeKind, NodeRef, codes_of_combination
from graph.vocabulary import CONDITIONS

__all__ = [
    "_BAND_AGES",
    "_NeedTargets",
    "_View",
    "_accept_bands",
    "_build_view",
    "_conditions_involving",
    "_levels",
    "_need_targets",
    "_whole_years",
]


def _conditions_involving(idx: CompetenceIndex, code: str) -> tuple[str, ...]:
    """The conditions some indexed resource has expertise on that may involve
    ``code`` (cached per index state: a few conditions, not the 4,000)."""

    def build() -> tuple[str, ...]:
        return tuple(
            o for o in idx.targets(K.CONDITION) if o in CONDITIONS and code in CONDITIONS[o].involves
        )

    return idx.cached(("conditions involving", code), build)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _View:
    """The resources that may cover some of one set of needs (at some age), of
    the wanted kinds, on one land mass, in the index's latitude order, with
    their levels that do not depend on the age. Built once per index state and
    set of needs (``_view``); a query then scores one latitude band of it only,
    instead of every resource of that band."""

    positions: NDArray[np.int32]
    #: (x, y, z) rows: the points on the unit sphere (z, the sine of the
    #: latitude, ascends as the index's latitudes: the band is found on it)
    xyz: NDArray[np.float64]
    #: the resources' own age bands: whole years in one byte (``_whole_years``), else float32
    age_min: NDArray[Any]  # float32 or uint8
    age_max: NDArray[Any]
    combination: NDArray[np.int8]  # highest level on a combination including the needs
    levels: NDArray[np.int8]  # (deficiency, resource): expertise, combination, conditions
    skill_levels: NDArray[np.int8]  # (skill, resource)
    #: per deficiency, its ACCEPTS links: local positions (sorted) and age bands
    #: (empty when ``accept_bands`` holds them)
    accepts: tuple[tuple[NDArray[np.int32], NDArray[np.float32], NDArray[np.float32]], ...]
    #: the same links as (deficiency, resource) whole-year age bands, lowest and
    #: highest age (``_accept_bands``), or None: ``accepts`` is read link by link.
    #: Every deficiency's acceptance is then a few whole-band operations.
    accept_bands: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None
    #: a generalist establishment (CAMSP: ``generalist`` set from its FINESS category)
    generalist: NDArray[np.bool_]

    @property
    def nbytes(self) -> int:
        arrays = [
            self.positions,
            self.xyz,
            self.age_min,
            self.age_max,
            self.combination,
            self.levels,
            self.skill_levels,
            self.generalist,
            *(a for links in self.accepts for a in links),
            *(self.accept_bands or ()),
        ]
        return sum(a.nbytes for a in arrays)

    def band(self, lat: float, radius_km: float | None) -> slice:
        """The local positions whose latitude allows a great-circle distance ≤
        ``radius_km`` from latitude ``lat`` (None: all of them)."""
        if radius_km is None:
            return slice(0, len(self.positions))
        margin = math.degrees(
            (radius_km + 0.001) / EARTH_RADIUS_KM
        )  # + 1 m: distances are rounded to the metre
        # on z = sin(latitude), widened by far more than its rounding
        low = math.sin(math.radians(max(-90.0, lat - margin))) - 1e-9
        high = math.sin(math.radians(min(90.0, lat + margin))) + 1e-9
        z = self.xyz[2]
        return slice(int(z.searchsorted(low, "left")), int(z.searchsorted(high, "right")))


class _NeedTargets(NamedTuple):
    """The index columns one set of deficiencies reads (cached per index state)."""

    combinations: tuple[NodeRef, ...]  # combinations that include every deficiency
    conditions: tuple[tuple[NodeRef, ...], ...]  # per deficiency (sorted): conditions involving it


#: Sets of needs whose targets are kept per index state (a handful of refs each).
_TARGETS_KEPT = 4096


def _need_targets(idx: CompetenceIndex, deficiencies: frozenset[str]) -> _NeedTargets:
    kept: dict[frozenset[str], _NeedTargets] = idx.cached("need targets", dict)
    found = kept.get(deficiencies)
    if found is None:
        found = _NeedTargets(
            tuple(
                NodeRef(K.COMBINATION, key)
                for key in idx.targets(K.COMBINATION)
                if deficiencies <= codes_of_combination(key)
            ),
            tuple(
                tuple(NodeRef(K.CONDITION, orpha) for orpha in _conditions_involving(idx, code))
                for code in sorted(deficiencies)
            ),
        )
        if len(kept) >= _TARGETS_KEPT:
            kept.clear()
        kept[deficiencies] = found
    return found


def _build_view(idx: CompetenceIndex, needs: _Needs, kinds: frozenset[NodeKind], land: str | None) -> _View:
    n = len(idx)
    defs = sorted(needs.deficiencies)
    combination, levels = _levels(idx, needs, slice(0, n))
    may_cover = combination > 0
    accepts = []
    for j, code in enumerate(defs):
        may_cover |= levels[j] > 0
        link = idx.accepts(NodeRef(K.DEFICIENCY, code))
        may_cover[link.ids] = True
        accepts.append(link)
    skills = sorted(needs.skills)
    skill_levels = np.empty((len(skills), n), np.int8)
    for j, code in enumerate(skills):
        skill_levels[j] = idx.expertise(NodeRef(K.SKILL, code))
        may_cover |= skill_levels[j] > 0
    wanted = idx.kind_mask(frozenset(k.value for k in kinds))
    # Compact columns (int32 positions, float32 ages: exact for ages, NaN kept):
    # more views fit in the same bytes, so fewer are rebuilt on a varied mix.
    positions = (may_cover & wanted & idx.land_mask(land)).nonzero()[0].astype(np.int32)
    local = np.full(n, -1, np.int32)
    local[positions] = np.arange(positions.size, dtype=np.int32)
    local_accepts = []
    for link in accepts:
        at = local[link.ids]
        keep = at >= 0
        order = np.argsort(at[keep], kind="stable")
        local_accepts.append(
            (
                at[keep][order],
                link.age_min[keep][order].astype(np.float32),
                link.age_max[keep][order].astype(np.float32),
            )
        )
    bands = _accept_bands(local_accepts, positions.size)
    age_min, age_max = _whole_years(idx.age_min[positions], idx.age_max[positions])
    return _View(
        positions,
        np.ascontiguousarray(to_unit_xyz(idx.lats[positions], idx.lons[positions]).T),
        age_min,
        age_max,
        combination[positions],
        levels.take(positions, axis=1),
        skill_levels.take(positions, axis=1),
        tuple(local_accepts)
        if bands is None
        else tuple((at[:0], low[:0], high[:0]) for at, low, high in local_accepts),
        bands,
        idx.generalist[positions],
    )


def _whole_years(age_min: NDArray[Any], age_max: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Age bands in one byte each when every bound is a whole number of years in
    0..``_BAND_AGES`` (no lower bound 0, no upper bound ``_BAND_AGES``): compared
    with an age in that range (``admits``, a children's service, the transition's
    later start) they answer as the float bounds with nan; else float32."""
    low = np.where(np.isnan(age_min), 0, age_min)
    high = np.where(np.isnan(age_max), _BAND_AGES, age_max)
    if bool((low == np.round(low)).all() and (high == np.round(high)).all()) and bool(
        ((low >= 0) & (high <= _BAND_AGES)).all()
    ):
        return low.astype(np.uint8), high.astype(np.uint8)
    return age_min.astype(np.float32), age_max.astype(np.float32)


#: The highest age ``accept_bands`` can compare (the query's age is at most 120
#: years, the transition's a few more): 255 marks "no link" as the lowest age.
_BAND_AGES = 254


def _accept_bands(
    links: list[tuple[NDArray[np.int32], NDArray[np.float32], NDArray[np.float32]]], size: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
    """The ACCEPTS links as (deficiency, resource) columns of the band's lowest and
    highest age, one byte each: no lower bound 0, no upper bound ``_BAND_AGES``,
    no link (255, 0): an age ``a`` in 0..``_BAND_AGES`` is admitted where
    lowest ≤ a ≤ highest, as ``admits`` says, and there is a link where lowest ≤
    highest. None when that cannot hold: some resource has two links to one
    deficiency, or some bound is not a whole number of years in 0..``_BAND_AGES``, or
    a band is empty (its link counts for no age but for an unknown one)."""
    low = np.full((len(links), size), 255, np.uint8)
    high = np.zeros((len(links), size), np.uint8)
    for j, (at, age_min, age_max) in enumerate(links):
        if at.size > 1 and bool((at[1:] == at[:-1]).any()):
            return None
        lo = np.where(np.isnan(age_min), 0, age_min)
        hi = np.where(np.isnan(age_max), _BAND_AGES, age_max)
        if not (
            bool((lo == np.round(lo)).all() and (hi == np.round(hi)).all())
            and bool(((lo >= 0) & (hi <= _BAND_AGES) & (lo <= hi)).all())
        ):
            return None
        low[j, at], high[j, at] = lo, hi
    return low, high


def _levels(
    idx: CompetenceIndex, needs: _Needs, take: slice | NDArray[np.int64]
) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """At the positions ``take``: the highest level on a combination including
    every deficiency, and each deficiency's level by expertise on it, on such a
    combination or on a condition involving it (the rule, written once)."""
    targets = _need_targets(idx, needs.deficiencies)
    defs = sorted(needs.deficiencies)
    size = len(range(len(idx))[take]) if isinstance(take, slice) else len(take)
    combination = np.zeros(size, np.int8)
    for ref in targets.combinations:
        np.maximum(combination, idx.expertise(ref)[take], out=combination)
    levels = np.empty((len(defs), size), np.int8)
    for j, code in enumerate(defs):
        row = levels[j]
        np.maximum(idx.expertise(NodeRef(K.DEFICIENCY, code))[take], combination, out=row)
        for ref in targets.conditions[j]:
            np.maximum(row, idx.expertise(ref)[take], out=row)
    return combination, levels
