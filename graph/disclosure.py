"""Small-cell suppression of situation counts for partners.

Rule (French statistical secrecy for health data): a count of situations
below 11 is never published; it is shown as "< 11" (None plus a flag).

Differencing: territories nest (department ⊂ region ⊂ ERHR ⊂ France), and a
partner may query every level. A published count minus published counts of
some of its parts must never isolate suppressed counts summing to 1-10. So a
count is also suppressed when *some* decomposition of it into published
counts (at any mix of levels) leaves a residual between 1 and 10. The
residuals a territory can leave are computed bottom-up with values clamped at
11 ("11 or more" is safe), so the check is exact and cheap.

Bands: a territory's open situations split into disjoint bands (within the
threshold, beyond it), and both "open" and "beyond" are published. Checking
each figure alone is not enough: open minus "beyond", or sums of both across
territories, isolate persons within the threshold. :func:`suppressed_tails`
checks each band on its own tree and publishes a figure (a sum of bands) only
where every band in it is publishable: every published figure is then a sum
of band cells, each safe in its band, and the bands are disjoint, so no linear
combination of published figures yields a count of 1 to 10.
``tests/graph/test_disclosure.py`` checks that claim against an oracle that
tries every set of cells (linear span of what is published).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SMALL_CELL", "Tree", "suppressed_cells", "suppressed_tails"]

SMALL_CELL = 11
_SAFE = SMALL_CELL  # clamp: any residual of 11 or more is safe


@dataclass(frozen=True, slots=True)
class Tree:
    """The nesting of territories: leaf (department) → region → ERHR → "FR"."""

    region_of: Mapping[str, str]  # department → region
    erhr_of: Mapping[str, str]  # region → ERHR


def _sumset(a: set[int], b: set[int]) -> set[int]:
    return {min(_SAFE, x + y) for x in a for y in b}


def suppressed_cells(
    leaf_counts: Mapping[str, int], tree: Tree, *, zero_is_safe: bool = False
) -> dict[str, set[str]]:
    """Codes to suppress at each level (``DEPARTMENT``, ``REGION``, ``ERHR``,
    ``NATIONAL``), from the department counts. With ``zero_is_safe``, a count
    of 0 is not withheld (used for the bands of :func:`suppressed_tails`,
    where an empty band isolates nobody)."""

    def small(count: int) -> bool:
        return count < SMALL_CELL and not (zero_is_safe and count == 0)

    levels: dict[str, set[str]] = {"DEPARTMENT": set(), "REGION": set(), "ERHR": set(), "NATIONAL": set()}
    options: dict[str, set[int]] = {}
    value: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    for dep, count in leaf_counts.items():
        value[dep] = count
        if small(count):
            levels["DEPARTMENT"].add(dep)
            options[dep] = {min(_SAFE, count)}
        else:
            options[dep] = {0}
    for dep, region in tree.region_of.items():
        children.setdefault(f"R:{region}", []).append(dep)
    for region, erhr in tree.erhr_of.items():
        children.setdefault(f"E:{erhr}", []).append(f"R:{region}")
    # Each ERHR once in France, however many regions it covers (counted once per
    # region, a multi-region ERHR doubled the national total: a national count
    # of 8 was published as if it were 16).
    children["FR"] = [f"E:{erhr}" for erhr in sorted(set(tree.erhr_of.values()))]

    def settle(node: str, level: str, code: str) -> None:
        parts = children.get(node, [])
        total = sum(value.get(p, 0) for p in parts)
        value[node] = total
        decomposed = {0}
        for part in parts:
            decomposed = _sumset(decomposed, options.get(part, {0}))
        unsafe = small(total) or any(1 <= r < SMALL_CELL for r in decomposed)
        if unsafe:
            levels[level].add(code)
            options[node] = {min(_SAFE, total)} | decomposed
        else:
            options[node] = {0} | decomposed

    for node in [n for n in children if n.startswith("R:")]:
        settle(node, "REGION", node[2:])
    for node in [n for n in children if n.startswith("E:")]:
        settle(node, "ERHR", node[2:])
    settle("FR", "NATIONAL", "FR")
    return levels


def suppressed_tails(bands: Sequence[Mapping[str, int]], tree: Tree) -> list[dict[str, set[str]]]:
    """Codes to suppress, at each level, for each tail sum of disjoint bands.

    ``bands[k]`` maps each department to its count in band ``k``; the published
    figure ``k`` of a territory is the sum of its bands ``k``, ``k + 1``, …
    (e.g. bands *served*, *beyond the threshold*: figure 0 is the open
    situations, figure 1 those "sans solution"). A figure is withheld where any
    of its bands is withheld by :func:`suppressed_cells` (an empty band is not),
    or where the figure itself is below 11."""
    per_band = [suppressed_cells(band, tree, zero_is_safe=True) for band in bands]
    departments = set(tree.region_of).union(*(set(b) for b in bands))
    groups: dict[tuple[str, str], list[str]] = {("NATIONAL", "FR"): sorted(departments)}
    for dep in sorted(departments):
        groups[("DEPARTMENT", dep)] = [dep]
        region = tree.region_of.get(dep)
        if region is not None:
            groups.setdefault(("REGION", region), []).append(dep)
            if region in tree.erhr_of:
                groups.setdefault(("ERHR", tree.erhr_of[region]), []).append(dep)
    tails = []
    for k in range(len(bands)):
        hidden: dict[str, set[str]] = {level: set() for level in per_band[0]} if per_band else {}
        for level in hidden:
            hidden[level] = set().union(*(per_band[j][level] for j in range(k, len(bands))))
        for (level, code), members in groups.items():
            if sum(bands[j].get(d, 0) for j in range(k, len(bands)) for d in members) < SMALL_CELL:
                hidden[level].add(code)
        tails.append(hidden)
    return tails
