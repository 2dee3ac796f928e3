"""The population coverage counts: INSEE inhabitants by department and age band
(1 January 2021, ``graph/data/insee_population_age.csv``), and the age groups an
age-given coverage or radar weighs communes by."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib.resources import files

from graph.errors import InvalidInput

__all__ = ["AGE_GROUPS", "age_group", "age_share"]


#: The age groups coverage is weighted by when an age is given (years, inclusive):
#: children, the transition from adolescence to adulthood (DOMAIN.md §7), adults.
AGE_GROUPS = ((0, 15, 0, 17, "0-17 ans"), (16, 25, 16, 25, "16-25 ans"), (26, 200, 18, 104, "18 ans et plus"))


def age_group(age: int) -> tuple[int, int, str]:
    """(first age, last age, French label) of the population an age-given coverage counts."""
    for lo, hi, first, last, label in AGE_GROUPS:
        if lo <= age <= hi:
            return first, last, label
    raise InvalidInput("age", "l'âge doit être compris entre 0 et 120 ans.")


@lru_cache(maxsize=1)
def _insee_bands() -> dict[str, tuple[float, ...]]:
    """Department → its inhabitants per five-year band 0-4 … 95+ (INSEE, 1 January
    2021: ``graph/data/insee_population_age.csv``, ``importers/insee_ages.py``)."""
    text = (files("graph") / "data" / "insee_population_age.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {
        row["departement"]: tuple(
            float(v) for k, v in row.items() if k not in ("departement", "nom", "total")
        )
        for row in rows
    }


def age_share(department: str, first: int, last: int) -> float:
    """The share of a department's inhabitants aged ``first``-``last`` (INSEE bands,
    split linearly within a band; France's share where INSEE gives none)."""
    bands = _insee_bands()
    found = bands.get(department)
    if found is None:
        found = tuple(float(sum(b[i] for b in bands.values())) for i in range(20))
    wanted = 0.0
    for i, count in enumerate(found):
        lo, hi = 5 * i, (5 * i + 4 if i < 19 else 104)
        overlap = max(0, min(hi, last) - max(lo, first) + 1)
        wanted += count * overlap / (hi - lo + 1)
    total = sum(found)
    return wanted / total if total > 0 else 0.0
