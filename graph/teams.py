"""Teams: the smallest sets of local resources inside the radius that together cover every need."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from graph.answers import _MAX_TEAMS, _TEAM_POOL, MAX_TEAM_SIZE
from graph.ranking import _kth_smallest, _Pick, _Scored

__all__ = [
    "_COMBINATIONS",
    "_Member",
    "_Pool",
    "_combinations",
    "_team_pool",
    "_team_pool_per_need",
    "_teams",
]


def _team_pool_per_need(needs: int) -> int:
    """How many of the nearest resources covering each need are team candidates:
    ``_TEAM_POOL`` for two needs, fewer for more (the pool, hence the sets of 3
    to try, stays about the same size)."""
    return max(4, (2 * _TEAM_POOL) // max(1, needs))


class _Member(NamedTuple):
    """A team candidate: its local position in the scored rows, its distance, the
    needs it covers (bits) and its key (its pick is made only if it joins a team)."""

    local: int
    distance_km: float
    bits: int
    key: int  # the rank of its key (``_Scored.keys_at``)


@dataclass(frozen=True, slots=True)
class _Pool:
    """The team candidates as columns, nearest first (then by key); ``pool[i]`` is
    the i-th as a :class:`_Member`."""

    local: NDArray[np.int64]
    distance_km: NDArray[np.float64]
    bits: NDArray[np.int64]
    key: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.local)

    def __getitem__(self, i: int) -> _Member:
        return _Member(int(self.local[i]), float(self.distance_km[i]), int(self.bits[i]), int(self.key[i]))

    def without(self, drop: NDArray[np.bool_]) -> _Pool:
        keep = ~drop
        return _Pool(self.local[keep], self.distance_km[keep], self.bits[keep], self.key[keep])


def _team_pool(
    scored: _Scored,
    pos: NDArray[np.int64],
    dist: NDArray[np.float64],
    covers: NDArray[np.bool_] | None = None,
) -> _Pool:
    """The nearest resources inside the radius covering each need (team members),
    nearest first, then by key. ``covers``: ``scored.covers`` at ``pos``, when
    the caller has them."""
    needs = len(scored.deficiencies)
    per_need = _team_pool_per_need(needs)
    if covers is None:
        covers = scored.covers.take(pos, axis=1)  # (a column gather: faster than [:, pos])
    chosen = []  # indices into ``pos``
    for j in range(needs):
        at = covers[j].nonzero()[0]
        if at.size > per_need:  # the nearest ``per_need`` and their ties, before sorting them
            near = dist[at]
            at = at[near <= _kth_smallest(near, per_need - 1)]
            at = at[np.lexsort((scored.keys_at(pos[at]), dist[at]))[:per_need]]
        chosen.append(at)
    member = np.zeros(len(pos), bool)  # their union, ascending (np.unique sorts: slower)
    for at in chosen:
        member[at] = True
    picked = member.nonzero()[0]
    keys = scored.keys_at(pos[picked])
    order = np.lexsort((keys, dist[picked]))
    picked, keys = picked[order], keys[order]
    bits = (covers.take(picked, axis=1).T.astype(np.int64) << np.arange(needs, dtype=np.int64)).sum(axis=1)
    return _Pool(pos[picked], dist[picked], bits, keys)


def _combinations(n: int, size: int) -> NDArray[np.int64]:
    """Every ``size``-subset of ``range(n)`` in ``itertools.combinations`` order, as rows."""
    key = (n, size)
    found = _COMBINATIONS.get(key)
    if found is None:
        found = np.array(list(itertools.combinations(range(n), size)), dtype=np.int64).reshape(-1, size)
        found.flags.writeable = False
        _COMBINATIONS[key] = found
    return found


_COMBINATIONS: dict[tuple[int, int], NDArray[np.int64]] = {}


def _teams(scored: _Scored, pool: _Pool) -> list[list[_Pick]]:
    """Smallest sets (≤ 3) of the pool's resources (inside the radius, see
    ``_team_pool``, nearest first) covering every need — deficiencies and
    skills, the rows of ``_Scored.covers`` — nearest first (by the farthest
    member, then the total distance, then the members' keys); no member is
    redundant. Needs are bits, and every set of a size is tried at once.

    Sizes are tried smallest first and the first size with a team ends the
    search: then no smaller set covers every need, so no member of a team found
    is redundant (the others alone are a smaller set). A member covering every
    need alone is no team member (the search starts at pairs)."""
    full = (1 << len(scored.deficiencies)) - 1
    alone = pool.bits == full
    if alone.any():
        pool = pool.without(alone)
    if not len(pool):
        return []
    bits = pool.bits
    if int(np.bitwise_or.reduce(bits)) != full:
        return []  # some need is covered by no member: no team
    dist = pool.distance_km
    # the members' keys, ties by pool order (nearest first): one integer each
    key_order = pool.key * len(pool) + np.arange(len(pool))
    # a team needs no more members than needs (each brings one the others lack)
    for size in range(2, min(MAX_TEAM_SIZE, len(scored.deficiencies)) + 1):
        if len(pool) < size:
            break
        sets = _combinations(len(pool), size)
        union = bits[sets[:, 0]]
        for c in range(1, size):
            union = union | bits[sets[:, c]]
        found = sets[union == full]
        if found.size:
            d = dist[found]
            total = d[:, 0].copy()
            for c in range(1, size):
                total += d[:, c]
            ranks = key_order[found]
            order = np.lexsort((*[ranks[:, c] for c in reversed(range(size))], total, d.max(axis=1)))[
                :_MAX_TEAMS
            ]
            # members in pool order: nearest first, then by key
            chosen = found[order].reshape(-1)
            picks = scored.picks(pool.local[chosen], dist[chosen], True)
            return [picks[i : i + size] for i in range(0, len(picks), size)]
    return []
