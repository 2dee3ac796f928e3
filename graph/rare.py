"""The legal definition of *handicap rare* and the routing to a CNRHR.

Source: Code de l'action sociale et des familles, art. D312-194 (criteria 1° to
5°, and the precedence of 1° over 2° and 3°), and the CNRHR expertise of the
national *schémas handicaps rares* (shared DOMAIN.md §1-2).

The software says which criterion a combination *matches*; it does not
certify a diagnosis (prevalence is a property of the condition).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from graph.model import combination_key
from graph.vocabulary import CHRONIC_CONDITIONS, SEVERE_DEFICIENCIES, normalise_deficiencies

__all__ = [
    "Criterion",
    "Qualification",
    "CRITERIA",
    "CNRHR_NAMES",
    "qualify",
    "criterion_combinations",
]


@dataclass(frozen=True, slots=True)
class Criterion:
    code: str  # "1", "2", "3", "4", "5a" … "5d"
    label: str
    cnrhr: str | None  # None: no dedicated CNRHR (ERHR + filières maladies rares)


CRITERIA: dict[str, Criterion] = {
    "1": Criterion("1", "1° Déficience auditive grave et déficience visuelle grave (surdicécité)", "CRESAM"),
    "2": Criterion(
        "2", "2° Déficience visuelle grave et une ou plusieurs autres déficiences graves", "PEPINIERE"
    ),
    "3": Criterion(
        "3", "3° Déficience auditive grave et une ou plusieurs autres déficiences graves", "LAPLANE"
    ),
    "4": Criterion("4", "4° Dysphasie grave, associée ou non à une autre déficience", "LAPLANE"),
    "5a": Criterion("5a", "5° a) Déficience(s) grave(s) et maladie mitochondriale", None),
    "5b": Criterion("5b", "5° b) Déficience(s) grave(s) et maladie métabolique", None),
    "5c": Criterion("5c", "5° c) Déficience(s) grave(s) et affection évolutive du système nerveux", None),
    "5d": Criterion("5d", "5° d) Déficience(s) grave(s) et épilepsie sévère", "FAHRES"),
}

_CHRONIC_CRITERION = {"MITO": "5a", "METAB": "5b", "NEURO": "5c", "EPI": "5d"}

# Source: shared DOMAIN.md §1 (CNRHR table, after the GNCHR's presentation of the centres).
CNRHR_NAMES = {
    "CRESAM": "Centre de ressources expertise surdicécité (CRESAM)",
    "PEPINIERE": "La Pépinière",
    "LAPLANE": "Centre Robert Laplane",
    "FAHRES": "FAHRES",
}


@dataclass(frozen=True, slots=True)
class Qualification:
    """Which D312-194 criteria a combination matches and which CNRHR are competent."""

    combination: str
    criteria: tuple[Criterion, ...]
    cnrhr: tuple[str, ...]
    #: Criteria left aside by precedence (2° and 3° when 1° matches).
    superseded: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return bool(self.criteria)

    @property
    def summary(self) -> str:
        if not self.criteria:
            return (
                "Aucun critère de l'article D312-194 du CASF n'est rempli par cette "
                "combinaison : relève de l'accompagnement de droit commun."
            )
        return "Critère(s) D312-194 : " + " ; ".join(c.label for c in self.criteria)


def qualify(codes: Iterable[str]) -> Qualification:
    """Qualify a set of deficiency codes against CASF art. D312-194.

    Raises UnknownCode / InvalidInput on unknown or missing codes."""
    return _qualify(frozenset(normalise_deficiencies(codes)))


@lru_cache(maxsize=4096)
def _qualify(found: frozenset[str]) -> Qualification:
    """``qualify`` of valid codes (a pure function of them: kept, a few hundred sets)."""
    severe = found & SEVERE_DEFICIENCIES
    chronic = found & CHRONIC_CONDITIONS
    matched: list[str] = []
    superseded: list[str] = []
    if {"DA", "DV"} <= found:
        matched.append("1")
        # 1° takes precedence over 2° and 3° when both sensory deficiencies are present.
        if found - {"DA", "DV"}:
            superseded += ["2", "3"]
    else:
        others = found - {"DV"}
        if "DV" in found and others:
            matched.append("2")
        others = found - {"DA"}
        if "DA" in found and others:
            matched.append("3")
    if "DYSPH" in found:
        matched.append("4")
    if severe:
        matched += [_CHRONIC_CRITERION[c] for c in sorted(chronic)]
    criteria = tuple(CRITERIA[c] for c in sorted(matched, key=_criterion_order))
    cnrhr: list[str] = []
    for criterion in criteria:
        if criterion.cnrhr and criterion.cnrhr not in cnrhr:
            cnrhr.append(criterion.cnrhr)
    return Qualification(combination_key(list(found)), criteria, tuple(cnrhr), tuple(superseded))


def _criterion_order(code: str) -> tuple[int, str]:
    return int(code[0]), code[1:]


#: The deficiencies at the heart of each criterion (what its CNRHR is expert in).
CRITERION_CORE: dict[str, tuple[str, ...]] = {
    "1": ("DA", "DV"),
    "2": ("DV",),
    "3": ("DA",),
    "4": ("DYSPH",),
    "5a": ("MITO",),
    "5b": ("METAB",),
    "5c": ("NEURO",),
    "5d": ("EPI",),
}


def criterion_combinations(criterion: str) -> list[str]:
    """The combinations (keys) a criterion covers in its simplest forms, on which
    its CNRHR holds expertise. The first one is the criterion's typical
    combination (used by the gap matrix): the core with an intellectual
    deficiency, except for 1° (DA+DV) and 4° (DYSPH alone)."""
    core = CRITERION_CORE[criterion]
    if criterion == "1":
        return ["DA+DV"]
    others = ["DI"] + sorted(SEVERE_DEFICIENCIES - {"DI", "DA", "DV", *core})
    keys = [combination_key([*core, other]) for other in others]
    return ["DYSPH", *keys] if criterion == "4" else keys
