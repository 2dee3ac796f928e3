"""What a search is asked and what it answers: the query, the matches, the groups and their labels.

The types every part of ``findResources`` shares (:mod:`graph.matching`, the
entry point; :mod:`graph.ranking`; :mod:`graph.explanation`; :mod:`graph.teams`),
and the rule's constants (README "Matching").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from graph.model import NodeKind, RelType
from graph.rare import Qualification
from graph.readmodel import INDEXED_KINDS
from graph.views import Contact
from graph.vocabulary import (
    DEFICIENCIES,
    SKILLS,
)

__all__ = [
    "ADULT_AGE",
    "BASIS_LABELS",
    "BEYOND_REACH",
    "BEYOND_ROWS",
    "Basis",
    "ErhrContact",
    "GROUPS",
    "InferredNeed",
    "K",
    "LEVEL_LABELS",
    "LOCAL_KINDS",
    "MAX_LIMIT",
    "MAX_TEAM_SIZE",
    "Match",
    "MatchLevel",
    "MatchResult",
    "NEXT_ROWS",
    "NEXT_YEARS",
    "NeedCoverage",
    "PersonPlace",
    "R",
    "SOURCE_LABELS",
    "SituationQuery",
    "TRANSITION_AGES",
    "Team",
    "Widening",
    "_LOCATION_SOURCES",
    "ZONE_SOURCE",
    "ACROSS_THE_SEA",
    "_MAX_TEAMS",
    "_Needs",
    "_TEAM_POOL",
    "_need_label",
    "age_group",
    "source_of",
]

K, R = NodeKind, RelType
LOCAL_KINDS = frozenset(INDEXED_KINDS)  # the kinds the read model indexes
MAX_LIMIT = 100
MAX_TEAM_SIZE = 3
_TEAM_POOL = 12  # nearest partial resources per deficiency considered for teams
_MAX_TEAMS = 3


#: The groups of an answer, in the order they are shown (README "Matching"):
#: local resources inside the radius; the nearest beyond it (« au-delà du
#: rayon »: never ahead of a row inside it, capped); adult services to prepare
#: the transition (« pour préparer la suite »); the ERHR and CNRHR, the
#: territory's referents, shown first on every page as the ones to call.
GROUPS = ("within", "beyond", "next", "referent")
#: Rows beyond the radius: at most this many fully competent ones (widening)...
BEYOND_ROWS = 3
#: ... and, when some resource inside the radius answers, none farther than
#: this many times the radius; a partial resource (the nearest covering a need
#: nobody inside covers) never farther than that, whatever the answer.
BEYOND_REACH = 2.0
#: Transition: adult services that admit the person within this many years
#: (at the latest from 20, when adult services open) are shown to prepare it.
NEXT_YEARS = 3
#: ... at most this many of them, inside the radius.
NEXT_ROWS = 5


class MatchLevel(enum.StrEnum):
    LOCAL = "LOCAL"
    ERHR = "ERHR"
    CNRHR = "CNRHR"


class Basis(enum.StrEnum):
    COMBINATION = "COMBINATION"  # expertise on the combination itself (or a superset)
    ALL_DEFICIENCIES = "ALL_DEFICIENCIES"  # expertise on every deficiency (directory, conditions)
    #: accepts every deficiency, each separately (a FINESS category such as 196,
    #: « sourd/aveugle »): not competence for their combination; ranked after
    #: expertise on each, before partial coverage
    SEPARATELY = "SEPARATELY"
    PARTIAL = "PARTIAL"
    TERRITORIAL = "TERRITORIAL"  # the ERHR of the person's territory, by its mission
    NATIONAL = "NATIONAL"  # a CNRHR competent by its D312-194 criterion


@dataclass(frozen=True, slots=True)
class SituationQuery:
    """What an animator knows of a situation. Ages in years, radius in km."""

    deficiencies: Iterable[str]
    conditions: Iterable[str] = ()
    skills: Iterable[str] = ()
    age: int | None = None
    commune: str | None = None
    postcode: str | None = None
    lat: float | None = None
    lon: float | None = None
    radius_km: float = 100.0
    kinds: Iterable[NodeKind] | None = None
    limit: int = 20


class NeedCoverage(NamedTuple):
    """One need a resource covers, and the graph path that proves it (immutable)."""

    need: str
    need_kind: str  # "deficiency" | "skill" | "combination"
    level: int
    path: str  # the graph path that proves it
    #: where the link comes from: categorie_finess, nom_finess, finess-equipements,
    #: annuaire, saisie, synthetique, hpo, d312-194, territoire (see SOURCE_LABELS)
    source: str = ""
    text: str = ""  # the explanation in French, as shown to users
    #: the link that proves it: ACCEPTS, HAS_EXPERTISE, INCLUDES (expertise on a
    #: combination that includes the need), TYPICALLY_INVOLVES (on a rare condition),
    #: D312_194 (a CNRHR's national mission), COVERS (the ERHR's territory)
    link: str = ""


#: The levels and bases of a match as a person reads them (pages, sheet, CLI).
LEVEL_LABELS = {"LOCAL": "Ressource locale", "ERHR": "ERHR du territoire", "CNRHR": "Centre national (CNRHR)"}
BASIS_LABELS = {
    "COMBINATION": "expertise sur la combinaison",
    "ALL_DEFICIENCIES": "expertise sur chaque déficience",
    "SEPARATELY": "accueille chaque déficience séparément (pas une compétence sur la combinaison)",
    "PARTIAL": "couverture partielle",
    "TERRITORIAL": "mission territoriale",
    "NATIONAL": "compétence nationale",
}

#: Where a competence link comes from, in French, weakest first (README "Competence sources").
SOURCE_LABELS: dict[str, str] = {
    "categorie_finess": "déduit de la catégorie FINESS",
    "nom_finess": "déduit du nom de l'établissement dans FINESS",
    "etablissement_connu": "établissement connu nationalement pour cette spécialité (table citée)",
    "finess-equipements": "clientèle déclarée dans FINESS (équipements sociaux et médico-sociaux)",
    "finess_activites": "activité autorisée déclarée dans FINESS (flux Activités : public, âges, mode)",
    "ror": "déclaré dans un annuaire national (ROR, Annuaire Santé : Bundle FHIR)",
    "annuaire": "expertise déclarée dans l'annuaire",
    "saisie": "expertise saisie dans dihr-graph",
    "synthetique": "donnée synthétique de démonstration",
    "d312-194": "mission nationale au titre de l'article D312-194 du CASF",
    "territoire": "mission territoriale de l'équipe relais",
}


def _need_label(code: str) -> str:
    if code in DEFICIENCIES:
        return f"{code} ({DEFICIENCIES[code].label.lower()})"
    if code in SKILLS:
        label = SKILLS[code].label
        return label if label.endswith(f"({code})") else f"{label} ({code})"
    return code


def source_of(props: Mapping[str, Any], fallback: str) -> tuple[str, str]:
    """(source code, French text) of one competence link."""
    source = str(props.get("source") or fallback)
    if source.startswith("annuaire"):
        source = "annuaire"
    text = SOURCE_LABELS.get(source, source)
    if source == "categorie_finess" and props.get("category"):
        text = f"déduit de la catégorie FINESS {props['category']}, {props.get('category_label', '')}".rstrip(
            ", "
        )
    elif source == "nom_finess" and props.get("keyword"):
        text = f"déduit du nom de l'établissement dans FINESS (mention « {props['keyword']} »)"
    elif source == "etablissement_connu" and props.get("reference"):
        text = f"établissement connu pour cette spécialité — source : {props['reference']}"
    return source, text


class Match(NamedTuple):
    """One ranked resource of an answer (immutable; a tuple for speed: dozens per answer)."""

    rank: int
    kind: NodeKind
    key: str
    name: str
    level: MatchLevel
    basis: Basis
    covers: tuple[NeedCoverage, ...]
    misses: tuple[str, ...]
    score: float  # weighted coverage, 0..1
    distance_km: float | None  # None: location unknown (an ERHR whose seat is not recorded)
    minutes: float | None
    within_radius: bool
    in_erhr_territory: bool
    department: str | None
    synthetic: bool
    lat: float | None
    lon: float | None
    contact: Contact | None = None
    #: "children" (a band ending by 20), "adults" (from 16), "all": the 16-25 transition view.
    age_group: str = "all"
    #: where ``lat``/``lon`` come from: finess, centroide_commune, workplace, seat…
    location_source: str | None = None
    #: the group the row is shown in (``GROUPS``): inside the radius, beyond it,
    #: to prepare the transition, or the territory's referents (ERHR, CNRHR).
    group: str = "within"


#: Stored location sources as shown (older stores said commune_centroid).
#: A service at 0 km because its declared intervention zone (FINESS Activités
#: flow) holds the person's commune: it comes to the person.
ZONE_SOURCE = "zone_intervention"
#: A referent on another land mass than the person (Corsica → Marseille, an
#: overseas department → a CNRHR in Paris): no road time, contact at a distance.
ACROSS_THE_SEA = "hors_continent"
_LOCATION_SOURCES = {
    "finess": "finess",
    "centroide_commune": "centroide_commune",
    "commune_centroid": "centroide_commune",
}


def age_group(props: Mapping[str, Any]) -> str:
    """children / adults / all, from a resource's own age bounds (years)."""
    lo, hi = props.get("age_min"), props.get("age_max")
    if hi is not None and int(hi) <= 20:
        return "children"
    if lo is not None and int(lo) >= 16:
        return "adults"
    return "all"


@dataclass(frozen=True, slots=True)
class Team:
    members: tuple[Match, ...]
    max_distance_km: float


@dataclass(frozen=True, slots=True)
class Widening:
    competent_inside: int
    message: str


@dataclass(frozen=True, slots=True)
class PersonPlace:
    commune: str
    commune_name: str
    department: str
    lat: float
    lon: float
    approximate: bool


@dataclass(frozen=True, slots=True)
class ErhrContact:
    code: str
    name: str
    seat: str | None
    email: str | None
    phone: str | None
    website: str | None
    regions: tuple[str, ...]
    missing: str | None = None  # who completes the empty fields (French)


@dataclass(frozen=True, slots=True)
class InferredNeed:
    """A deficiency a rare condition involves: *core* (a phenotype seen in 30 %
    of patients or more: added to the search when no deficiency is ticked) or
    *possible* (rarer: shown, added only by hand)."""

    deficiency: str
    condition: str  # ORPHA key
    condition_label: str
    phenotypes: str  # the HPO phenotypes behind it with their frequencies (``Condition.phenotype_text``)
    frequency: str = ""  # the strongest frequency behind it, in French (« fréquent (30-79 %) »)
    core: bool = True

    @property
    def text(self) -> str:
        if self.core:
            return (
                f"{_need_label(self.deficiency)} déduite de {self.condition_label} ({self.condition}), "
                f"{self.frequency} — phénotypes HPO : {self.phenotypes}"
            )
        return (
            f"parfois : {_need_label(self.deficiency)} ({self.frequency}) dans {self.condition_label} "
            f"({self.condition}) — non ajoutée ; cochez-la si la personne la présente. "
            f"Phénotypes HPO : {self.phenotypes}"
        )


@dataclass(frozen=True, slots=True)
class MatchResult:
    combination: str
    deficiencies: tuple[str, ...]
    skills: tuple[str, ...]
    conditions: tuple[str, ...]
    qualification: Qualification
    place: PersonPlace
    erhr: ErhrContact
    radius_km: float
    matches: tuple[Match, ...]
    teams: tuple[Team, ...]
    widening: Widening | None
    notes: tuple[str, ...] = field(default=())
    #: deficiencies inferred from the conditions (core), with their phenotypes and frequencies.
    inferred: tuple[InferredNeed, ...] = field(default=())
    #: deficiencies the conditions sometimes involve (< 30 %, or of unknown frequency), not searched for.
    possible: tuple[InferredNeed, ...] = field(default=())
    #: 16-25 years old: children's and adult services are shown apart (``Match.age_group``).
    transition: bool = False
    #: the GNCHR's knowledge offered beside the matches (``graph.knowledge``; set by the service)
    knowledge: tuple[Any, ...] = field(default=())


# -- input ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Needs:
    deficiencies: frozenset[str]
    skills: frozenset[str]
    conditions: frozenset[str]
    combination: str
    inferred: tuple[InferredNeed, ...] = ()
    possible: tuple[InferredNeed, ...] = ()


#: From this age a person is an adult: a children's service (a band ending by 20,
#: CASF annexes XXIV; the « amendement Creton » keeps young adults there while
#: they wait) ranks after the adult services that admit the person.
ADULT_AGE = 18
#: The transition from adolescence to adulthood (DOMAIN.md §4), in years.
TRANSITION_AGES = (16, 25)
