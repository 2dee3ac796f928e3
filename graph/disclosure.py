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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SMALL_CELL", "Tree", "suppressed_cells"]

SMALL_CELL = 11
_SAFE = SMALL_CELL  # clamp: any residual of 11 or more is safe


@dataclass(frozen=True, slots=True)
class Tree:
    """The nesting of territories: leaf (department) → region → ERHR → "FR"."""

    region_of: Mapping[str, str]  # department → region
    erhr_of: Mapping[str, str]  # region → ERHR


def _sumset(a: set[int], b: set[int]) -> set[int]:
    return {min(_SAFE, x + y) for x in a for y in b}


def suppressed_cells(leaf_counts: Mapping[str, int], tree: Tree) -> dict[str, set[str]]:
    """Codes to suppress at each level (``DEPARTMENT``, ``REGION``, ``ERHR``,
    ``NATIONAL``), from the department counts."""
    levels: dict[str, set[str]] = {"DEPARTMENT": set(), "REGION": set(), "ERHR": set(), "NATIONAL": set()}
    options: dict[str, set[int]] = {}
    value: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    for dep, count in leaf_counts.items():
        value[dep] = count
        if count < SMALL_CELL:
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
        unsafe = total < SMALL_CELL or any(1 <= r < SMALL_CELL for r in decomposed)
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
