"""Small-cell suppression against an oracle: an attacker who knows every
published figure can compute any linear combination of them. A set of cells
whose count is 1 to 10 must never be computable that way.

The oracle tries every set of cells of small synthetic tables (a set is
computable when its indicator lies in the span of the published figures'
indicators) — independent of how ``graph.disclosure`` decides."""

from __future__ import annotations

import random

import numpy as np
import pytest

from graph.disclosure import SMALL_CELL, Tree, suppressed_cells, suppressed_tails

TREE = Tree(
    region_of={"d1": "r1", "d2": "r1", "d3": "r2", "d4": "r3", "d5": "r3"},
    erhr_of={"r1": "E1", "r2": "E1", "r3": "E2"},
)
DEPARTMENTS = sorted(TREE.region_of)
CHOICES = (0, 0, 1, 2, 3, 5, 8, 10, 11, 12, 15, 20, 30)


def _territories() -> dict[tuple[str, str], set[str]]:
    members = {("DEPARTMENT", d): {d} for d in DEPARTMENTS}
    for dep, region in TREE.region_of.items():
        members.setdefault(("REGION", region), set()).add(dep)
        members.setdefault(("ERHR", TREE.erhr_of[region]), set()).add(dep)
    members[("NATIONAL", "FR")] = set(DEPARTMENTS)
    return members


TERRITORIES = _territories()


def leak(published: list[list[int]], cells: list[int]) -> tuple[list[int], int] | None:
    """A set of cells with 1 to 10 persons that the published figures determine."""
    if not published:
        return None
    matrix = np.array(published, dtype=float)
    rank = np.linalg.matrix_rank(matrix)
    for mask in range(1, 2 ** len(cells)):
        chosen = [(mask >> i) & 1 for i in range(len(cells))]
        count = sum(c for c, s in zip(cells, chosen, strict=True) if s)
        if 1 <= count < SMALL_CELL and np.linalg.matrix_rank(np.vstack([matrix, chosen])) == rank:
            return chosen, count
    return None


def banded_figures(bands: list[dict[str, int]], hidden: list[dict[str, set[str]]]) -> list[list[int]]:
    """Indicator vectors (over band × department cells) of the published tail sums."""
    vectors = []
    for k in range(len(bands)):
        for (level, code), members in TERRITORIES.items():
            if code not in hidden[k][level]:
                vectors.append([int(j >= k and d in members) for j in range(len(bands)) for d in DEPARTMENTS])
    return vectors


def _random_bands(rng: random.Random, n: int) -> list[dict[str, int]]:
    return [{d: rng.choice(CHOICES) for d in DEPARTMENTS} for _ in range(n)]


def test_territory_suppression_survives_every_linear_combination():
    rng = random.Random(17)
    for _ in range(150):
        counts = {d: rng.choice(CHOICES) for d in DEPARTMENTS}
        hidden = suppressed_cells(counts, TREE)
        published = [
            [int(d in m) for d in DEPARTMENTS]
            for (lvl, code), m in TERRITORIES.items()
            if code not in hidden[lvl]
        ]
        assert leak(published, [counts[d] for d in DEPARTMENTS]) is None, counts


@pytest.mark.slow  # the oracle over three bands: ~15 s
@pytest.mark.parametrize("n_bands", [2, 3])
def test_open_and_without_solution_together_isolate_nobody(n_bands):
    """Open situations and "sans solution" (and a third band: two thresholds)
    published side by side, over every territory level."""
    rng = random.Random(n_bands)
    for _ in range(120):
        bands = _random_bands(rng, n_bands)
        hidden = suppressed_tails(bands, TREE)
        cells = [band[d] for band in bands for d in DEPARTMENTS]
        assert leak(banded_figures(bands, hidden), cells) is None, bands
        for k, figure in enumerate(hidden):  # nothing published is itself below 11
            for (level, code), members in TERRITORIES.items():
                if code not in figure[level]:
                    assert sum(bands[j][d] for j in range(k, n_bands) for d in members) >= SMALL_CELL


def test_the_oracle_catches_open_minus_without_solution():
    """Checking open situations and "sans solution" each on its own tree (the
    rule before bands) publishes a department's 15 open and 12 "sans solution":
    3 persons within the threshold. The oracle sees it; the bands withhold it."""
    served = {"d1": 3, "d2": 20, "d3": 15, "d4": 40, "d5": 12}
    unmet = {"d1": 12, "d2": 0, "d3": 11, "d4": 11, "d5": 30}
    total = {d: served[d] + unmet[d] for d in DEPARTMENTS}
    separate = [suppressed_cells(total, TREE), suppressed_cells(unmet, TREE)]
    found = leak(
        banded_figures([served, unmet], separate),
        [served[d] for d in DEPARTMENTS] + [unmet[d] for d in DEPARTMENTS],
    )
    assert found is not None and found[1] == 3
    assert (
        leak(
            banded_figures([served, unmet], suppressed_tails([served, unmet], TREE)),
            [served[d] for d in DEPARTMENTS] + [unmet[d] for d in DEPARTMENTS],
        )
        is None
    )


def test_empty_bands_do_not_hide_a_large_figure():
    """A department whose 30 open situations are all "sans solution" shows 30
    and 30: an empty band isolates nobody."""
    served = {"d1": 0, "d2": 20, "d3": 15, "d4": 40, "d5": 12}
    unmet = {"d1": 30, "d2": 0, "d3": 11, "d4": 0, "d5": 30}
    hidden = suppressed_tails([served, unmet], TREE)
    assert "d1" not in hidden[0]["DEPARTMENT"] and "d1" not in hidden[1]["DEPARTMENT"]
    assert (
        "d2" not in hidden[0]["DEPARTMENT"] and "d2" in hidden[1]["DEPARTMENT"]
    )  # 0 "sans solution": below 11
