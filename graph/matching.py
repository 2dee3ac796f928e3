"""findResources: the nearest competent resources for a situation, and why.

Competence
    A resource covers a deficiency when it has expertise on it
    (``HAS_EXPERTISE {level}``), accepts it in an age band that admits the
    person (``ACCEPTS``, counted as level 1: from an équipements clientèle, or
    inferred from the FINESS category or name), has expertise on a rare
    condition that may involve it, or has expertise on a combination that
    includes the whole situation's combination (which covers every deficiency
    at the combination's level). Skills are covered by ``HAS_EXPERTISE`` only.
    Conditions bring the deficiencies their HPO phenotypes involve into the
    combination (:mod:`graph.conditions`), each explained by its phenotypes.
    Every covered need says where its link comes from (``SOURCE_LABELS``).

Ranking (local resources, inside the radius)
    1. expertise on the combination itself (or on one that includes it);
    2. then covering every deficiency separately;
    3. then partial coverage;
    within each tier, from ``ADULT_AGE`` adult services before children's
    services (a band ending by 20), then by weighted coverage (sum of levels /
    3 per need, over deficiencies and skills), then by great-circle distance,
    then by key. An age outside a resource's own bounds (``age_min``/
    ``age_max``) excludes it; a closed establishment is never indexed.

Subsidiarity
    Local resources (establishments, professionals, resource poles) first, then
    the ERHR of the person's territory, then the competent CNRHR (national:
    listed whatever their distance).

Widening
    When fewer than ``limit`` fully competent resources lie inside the radius,
    the result says so and lists the nearest fully competent ones beyond it
    (a k-nearest over the competent set, however far). A need (deficiency or
    skill) that no local resource inside the radius covers brings the nearest
    resource that covers it into the answer, with a note.

Teams
    When no single local resource inside the radius covers every need
    (deficiencies and skills), the smallest sets (at most 3 resources) inside
    the radius that together cover them are proposed, the nearest first.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from graph.competence import CompetenceIndex, Link, admits, bound, link_order
from graph.errors import InvalidInput, UnknownCode
from graph.geo import EARTH_RADIUS_KM, estimated_minutes, haversine_km, haversine_km_many
from graph.landmass import MAINLAND, land_mass
from graph.model import Node, NodeKind, NodeRef, RelType, codes_of_combination, combination_key
from graph.rare import Qualification, qualify
from graph.readmodel import INDEXED_KINDS, ReadModel, read_model
from graph.store import GraphStore
from graph.territories import TerritoryTable, commune_info
from graph.views import display_name
from graph.vocabulary import (
    CONDITIONS,
    DEFICIENCIES,
    SKILLS,
    normalise_conditions,
    normalise_deficiencies,
    normalise_skills,
)

__all__ = [
    "SituationQuery",
    "NeedCoverage",
    "Match",
    "Contact",
    "contact_of",
    "age_group",
    "SOURCE_LABELS",
    "LEVEL_LABELS",
    "BASIS_LABELS",
    "ADULT_AGE",
    "TRANSITION_AGES",
    "GROUPS",
    "BEYOND_ROWS",
    "BEYOND_REACH",
    "beyond_cap",
    "source_of",
    "Team",
    "Widening",
    "PersonPlace",
    "ErhrContact",
    "MatchResult",
    "InferredNeed",
    "MatchLevel",
    "Basis",
    "find_resources",
    "competent_resources",
    "competent_positions",
    "LOCAL_KINDS",
    "MAX_LIMIT",
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
        return f"{SKILLS[code].label} ({code})"
    return code


def source_of(props: Mapping[str, Any], fallback: str) -> tuple[str, str]:
    """(source code, French text) of one competence link."""
    source = str(props.get("source") or fallback)
    if source.startswith("annuaire"):
        source = "annuaire"
    text = SOURCE_LABELS.get(source, source)
    if source == "categorie_finess" and props.get("category"):
        text = f"déduit de la catégorie FINESS {props['category']}, {props.get('category_label', '')}".rstrip(", ")
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


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach a resource, and where that comes from. ``missing`` says, in
    French, who completes the fields left empty."""

    address: str | None
    postcode: str | None
    city: str | None
    phone: str | None
    email: str | None
    website: str | None
    source: str
    missing: str | None = None


_POSTCODE_CITY = re.compile(r"(?:^|,\s*)(\d{5})\s+([^,]+)$")


def contact_of(kind: NodeKind, props: Mapping[str, Any]) -> Contact | None:
    """The contact of a resource from its stored properties (FINESS for an
    establishment, ``graph/data/cnrhr.csv`` and its FINESS record for a CNRHR, ``graph/data/erhr.csv``
    for an ERHR, the directory for a resource pole); None when nothing is known."""
    address = props.get("address")
    postcode, city = props.get("postcode"), props.get("city")
    if address and not postcode and (found := _POSTCODE_CITY.search(str(address))):
        postcode, city = found.group(1), found.group(2).strip()
    fields = {
        "address": address, "postcode": postcode, "city": city,
        "phone": props.get("phone"), "email": props.get("email"), "website": props.get("website"),
    }
    if kind is K.ESTABLISHMENT:
        extraction = props.get("extraction_date")
        source = "FINESS" + (f", extraction du {extraction}" if extraction else "")
        if props.get("synthetic"):
            source = "donnée synthétique de démonstration"
        missing = "Courriel et site : FINESS ne les publie pas ; l'ERHR les complète dans l'annuaire."
    elif kind is K.CNRHR:
        source = str(props.get("contact_source") or props.get("source") or "GNCHR")
        missing = ("Courriel et site : ni FINESS ni la liste des centres nationaux ne les donnent ; "
                   "le GNCHR les complète dans la liste des CNRHR.")
    elif kind is K.ERHR_TEAM:
        source = str(props.get("contact_source") or "liste des ERHR du GNCHR (" + str(props.get("source") or "GNCHR") + ")")
        missing = ("Coordonnées non publiées par les sources du réseau (FINESS, GNCHR) : "
                   "le GNCHR les complète dans la liste des ERHR.")
    else:
        source = "annuaire" if not props.get("synthetic") else "donnée synthétique de démonstration"
        missing = "Champs vides : à compléter par l'ERHR dans l'annuaire."
    if not any(fields.values()) and kind is K.PROFESSIONAL:
        return None
    empty = [name for name, value in fields.items() if not value]
    return Contact(**{k: (str(v) if v else None) for k, v in fields.items()}, source=source,
                   missing=missing if empty else None)


#: Stored location sources as shown (older stores said commune_centroid).
_LOCATION_SOURCES = {"finess": "finess", "centroide_commune": "centroide_commune", "commune_centroid": "centroide_commune"}


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
            return (f"{_need_label(self.deficiency)} déduite de {self.condition_label} ({self.condition}), "
                    f"{self.frequency} — phénotypes HPO : {self.phenotypes}")
        return (f"parfois : {_need_label(self.deficiency)} ({self.frequency}) dans {self.condition_label} "
                f"({self.condition}) — non ajoutée ; cochez-la si la personne la présente. "
                f"Phénotypes HPO : {self.phenotypes}")


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


def _validate(query: SituationQuery) -> _Needs:
    conditions = normalise_conditions(query.conditions)
    stated = set(normalise_deficiencies(query.deficiencies, required=not conditions))
    # Deficiencies ticked by hand win: a condition's core deficiencies are
    # inferred only when none is given (the form then shows them ticked, to untick).
    deficiencies = set(stated)
    inferred: list[InferredNeed] = []
    possible: list[InferredNeed] = []
    for orpha in sorted(conditions):
        condition = CONDITIONS[orpha]
        for code in condition.involves:
            need = InferredNeed(code, orpha, condition.label, condition.phenotype_text(code),
                                condition.frequency_text(code))
            if not stated:
                inferred.append(need)
                deficiencies.add(code)
        for code in condition.possible:
            if code not in deficiencies:
                possible.append(InferredNeed(code, orpha, condition.label, condition.phenotype_text(code),
                                             condition.frequency_text(code), core=False))
    if not deficiencies:
        names = ", ".join(f"{CONDITIONS[o].label} ({o})" for o in sorted(conditions))
        sometimes = ", ".join(f"{_need_label(p.deficiency)} ({p.frequency})" for p in possible)
        raise InvalidInput(
            "deficiencies",
            f"aucune déficience fréquente (30 % des personnes ou plus) n'est connue pour {names} : "
            "cochez les déficiences de la personne"
            + (f" (parfois : {sometimes})." if sometimes else "."),
        )
    skills = normalise_skills(query.skills)
    if not 1 <= query.radius_km <= 1000:
        raise InvalidInput("radiusKm", "le rayon doit être compris entre 1 et 1000 km.")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"le nombre de résultats doit être compris entre 1 et {MAX_LIMIT}.")
    if query.age is not None and not 0 <= query.age <= 120:
        raise InvalidInput("age", "l'âge doit être compris entre 0 et 120 ans.")
    given = [query.commune is not None, query.postcode is not None, query.lat is not None or query.lon is not None]
    if sum(given) != 1:
        raise InvalidInput(
            "lieu de vie", "indiquez soit un code commune INSEE, soit un code postal, soit lat et lon."
        )
    if (query.lat is None) != (query.lon is None):
        raise InvalidInput("lieu de vie", "lat et lon vont ensemble.")
    if query.lat is not None and not (-90 <= query.lat <= 90 and -180 <= query.lon <= 180):  # type: ignore[operator]
        raise InvalidInput("lieu de vie", "coordonnées hors limites (degrés WGS84).")
    if query.kinds is not None:
        bad = [k for k in query.kinds if k not in LOCAL_KINDS]
        if bad:
            raise InvalidInput("kinds", "types de ressources locales : Establishment, Professional, ResourcePole.")
    return _Needs(frozenset(deficiencies), skills, conditions, combination_key(list(deficiencies)), tuple(inferred),
                  tuple(possible))


def _place(store: GraphStore, query: SituationQuery, table: TerritoryTable) -> tuple[PersonPlace, list[str]]:
    notes: list[str] = []
    if query.commune is not None:
        info = commune_info(store, query.commune, table)
        return PersonPlace(info.code, info.name, info.department.code, info.lat, info.lon, False), notes
    if query.postcode is not None:
        candidates = store.communes_by_postcode(query.postcode.strip())
        if not candidates:
            raise UnknownCode("postal", query.postcode, "Vérifiez le code postal (5 chiffres).")
        chosen = max(candidates, key=lambda n: (int(n.props.get("population", 0)), n.key))
        if len(candidates) > 1:
            notes.append(
                f"Le code postal {query.postcode} couvre {len(candidates)} communes : "
                f"{chosen.props['name']} (la plus peuplée) a été retenue."
            )
        info = commune_info(store, chosen.key, table)
        return PersonPlace(info.code, info.name, info.department.code, info.lat, info.lon, True), notes
    assert query.lat is not None and query.lon is not None
    nearest = read_model(store).commune_of(query.lat, query.lon)
    node = None if nearest is None or nearest[1] > 50 else store.get_node(K.COMMUNE, nearest[0])
    if node is None:
        raise InvalidInput("lieu de vie", "ce point n'est pas en France (aucune commune à moins de 50 km).")
    return (
        PersonPlace(node.key, str(node.props["name"]), str(node.props["department"]), query.lat, query.lon, False),
        notes,
    )


# -- competence -------------------------------------------------------------------
_KIND_NAME = {k: k.value for k in NodeKind}


def _age_text(props: Mapping[str, Any]) -> str:
    lo, hi = props.get("age_min"), props.get("age_max")
    if lo is None and hi is None:
        return "tous âges"
    if hi is None:
        return f"{lo} ans et plus"
    if lo is None:
        return f"jusqu'à {hi} ans"
    return f"{lo}-{hi} ans"


@dataclass(slots=True)
class _Competence:
    deficiencies: dict[str, NeedCoverage] = field(default_factory=dict)
    skills: dict[str, NeedCoverage] = field(default_factory=dict)
    combination: NeedCoverage | None = None

    def offer(self, table: dict[str, NeedCoverage], cover: NeedCoverage) -> None:
        best = table.get(cover.need)
        if best is None or cover.level > best.level:
            table[cover.need] = cover


_NO_BOUND = float("nan")


class _Offer(NamedTuple):
    """What one competence link offers for the needs: a covered deficiency,
    skill or combination, and the age band it holds for (an ACCEPTS link;
    nan: no bound, the rule of ``graph.competence.admits``)."""

    slot: str  # "deficiency" | "skill" | "combination"
    cover: NeedCoverage
    age_min: float = _NO_BOUND
    age_max: float = _NO_BOUND


def _offers(
    source: NodeKind, rel: RelType, target: NodeRef, props: Mapping[str, Any], needs: _Needs, fallback: str = "annuaire",
) -> Iterator[_Offer]:
    """What one competence link of a resource of kind ``source`` covers of the
    needs, with its path and its French explanation, whatever the person's age.
    ``fallback``: the source of a link that records none (the resource's own)."""
    src = _KIND_NAME[source]
    if rel is R.ACCEPTS:
        if target.key in needs.deficiencies:
            origin, origin_text = source_of(props, fallback)
            band = _age_text(props)
            path = f"{src} —ACCEPTS({band})→ {target.key}"
            text = f"accueille {_need_label(target.key)}, {band} — {origin_text}"
            yield _Offer("deficiency", NeedCoverage(target.key, "deficiency", 1, path, origin, text, "ACCEPTS"),
                         bound(props.get("age_min")), bound(props.get("age_max")))
        return
    if rel is not R.HAS_EXPERTISE:
        return
    level = int(props["level"])
    if target.kind is K.DEFICIENCY or target.kind is K.SKILL:
        kind = "deficiency" if target.kind is K.DEFICIENCY else "skill"
        wanted = needs.deficiencies if target.kind is K.DEFICIENCY else needs.skills
        if target.key in wanted:
            origin, origin_text = source_of(props, fallback)
            path = f"{src} —HAS_EXPERTISE(level {level})→ {target.key}"
            text = f"expertise de niveau {level} sur {_need_label(target.key)} — {origin_text}"
            yield _Offer(kind, NeedCoverage(target.key, kind, level, path, origin, text, "HAS_EXPERTISE"))
    elif target.kind is K.COMBINATION:
        if not needs.deficiencies <= codes_of_combination(target.key):
            return
        origin, origin_text = source_of(props, fallback)
        path = f"{src} —HAS_EXPERTISE(level {level})→ {target.key}"
        text = f"expertise de niveau {level} sur la combinaison {target.key}"
        if target.key != needs.combination:
            path += f" (inclut {needs.combination})"
            text += f", qui inclut {needs.combination}"
        yield _Offer("combination", NeedCoverage(needs.combination, "combination", level, path, origin,
                                                 f"{text} — {origin_text}", "HAS_EXPERTISE"))
        for code in codes_of_combination(needs.combination):
            yield _Offer("deficiency", NeedCoverage(
                code, "deficiency", level, f"{path} —INCLUDES→ {code}", origin,
                f"{text} (dont {_need_label(code)}) — {origin_text}", "INCLUDES"))
    elif target.kind is K.CONDITION:
        condition = CONDITIONS.get(target.key)
        if condition is None:
            return
        origin, origin_text = source_of(props, fallback)
        for code in condition.involves:
            if code in needs.deficiencies:
                path = (
                    f"{src} —HAS_EXPERTISE(level {level})→ {target.key} —TYPICALLY_INVOLVES→ {code}"
                )
                text = (f"expertise de niveau {level} sur {condition.label} ({target.key}), "
                        f"qui comporte {_need_label(code)} — {origin_text}")
                yield _Offer("deficiency", NeedCoverage(code, "deficiency", level, path, origin, text,
                                                        "TYPICALLY_INVOLVES"))


def _basis(comp: _Competence, needs: _Needs) -> Basis:
    if comp.combination is not None:
        return Basis.COMBINATION
    if needs.deficiencies <= comp.deficiencies.keys():
        if len(needs.deficiencies) > 1 and any(c.link == "ACCEPTS" for c in comp.deficiencies.values()):
            return Basis.SEPARATELY
        return Basis.ALL_DEFICIENCIES
    return Basis.PARTIAL


def _score(comp: _Competence, needs: _Needs) -> float:
    total = len(needs.deficiencies) + len(needs.skills)
    levels = sum(c.level for c in comp.deficiencies.values()) + sum(c.level for c in comp.skills.values())
    return round(levels / (3 * total), 4)


# -- assembling -------------------------------------------------------------------
@dataclass(slots=True)
class _Candidate:
    node: Node
    comp: _Competence
    basis: Basis
    score: float
    distance_km: float | None
    within: bool
    department: str | None = None
    lat: float | None = None  # the index's location (a professional: its workplace's)
    lon: float | None = None
    facts: _Facts | None = None  # what the match says of it whatever the query (kept per indexed resource)


def find_resources(store: GraphStore, query: SituationQuery) -> MatchResult:
    """Rank and explain the resources competent for a situation (see module doc).

    Raises InvalidInput / UnknownCode on bad input; writes nothing."""
    needs = _validate(query)
    model = read_model(store)
    table = model.territories
    place, notes = _place(store, query, table)
    person_erhr = table.erhr_of_department.get(place.department, "")
    qualification = qualify(needs.deficiencies)
    kinds = frozenset(query.kinds) if query.kinds is not None else LOCAL_KINDS
    idx = model.competence
    # Scored over the latitude band that can hold the radius (a slice of the index).
    # Local resources stand on the person's own land mass (travel never crosses the sea).
    land = land_mass(place.department)
    scored = _score_all(idx, needs, query.age, kinds, place.lat, query.radius_km, land)
    inside_pos, inside_dist = _within(scored, place.lat, place.lon, query.radius_km)
    full_mask = scored.tier[inside_pos] <= 1
    widening = None
    beyond: list[_Pick] = []
    n_full = int(full_mask.sum())
    bands: dict[float | None, _Scored] = {}

    def around(reach: float | None) -> _Scored:
        """The resources within ``reach`` km (latitude band; None: all) scored, once per query."""
        found = bands.get(reach)
        if found is None:
            found = bands[reach] = _score_all(idx, needs, query.age, kinds, place.lat, reach, land)
        return found

    # Rows beyond the radius (README "Matching"): never ahead of a row inside it,
    # at most BEYOND_ROWS fully competent ones, none beyond BEYOND_REACH × the
    # radius when some resource inside the radius answers.
    cap_km = beyond_cap(query.radius_km, inside_pos.size > 0)
    if n_full < query.limit:
        wanted = min(query.limit - n_full, BEYOND_ROWS)
        # The nearest beyond the radius: looked for within 2×, then 4× the radius
        # (every resource outside such a latitude band is farther), then everywhere.
        for reach in (2 * query.radius_km, 4 * query.radius_km, None):
            competent = around(reach)
            local = np.flatnonzero(competent.candidate & (competent.tier <= 1))
            far = haversine_km_many(place.lat, place.lon, competent.lats[local], competent.lons[local]).round(3)
            outside = np.flatnonzero(far > query.radius_km)
            if reach is None or np.count_nonzero(far[outside] <= reach) >= wanted:
                break
        order = outside[np.lexsort((competent.keys[local[outside]], far[outside]))[:wanted]]
        nearest = [competent.pick(int(local[i]), float(far[i]), False) for i in order]
        beyond = [p for p in nearest if p.distance_km <= cap_km]
        if nearest:
            first = nearest[0]
            name = display_name(idx.props[first.position], idx.refs[first.position].key)
            nearest_text = f" La plus proche au-delà : {name}, à {first.distance_km:.0f} km" + (
                "." if beyond else
                f" (plus de {BEYOND_REACH:g} fois le rayon : citée ici, pas dans le tableau).")
        else:
            nearest_text = (
                " Aucune autre ressource locale compétente n'est connue"
                + ("." if land == MAINLAND else " sur ce territoire (les ressources d'une autre terre, au-delà de la mer, "
                                                "ne sont pas proposées).")
            )
        widening = Widening(
            competent_inside=n_full,
            message=(
                f"{n_full} ressource(s) locale(s) compétente(s) pour toute la combinaison "
                f"dans un rayon de {query.radius_km:g} km (moins que les {query.limit} demandées)."
                + nearest_text
            ),
        )

    def ordered(pos: NDArray[np.int64], dist: NDArray[np.float64], count: int) -> list[_Pick]:
        """The first ``count`` by rank: the key tuple (tier, a children's service
        for an adult last, more points, nearer, kind, key) compared element by
        element, never folded into one number (which breaks silently once one
        element outgrows the room left for it)."""
        if count <= 0 or pos.size == 0:
            return []
        late = _children_service_for_adult(scored, pos, query.age)
        order = np.lexsort(
            (scored.keys[pos], scored.kinds[pos], dist, -scored.points[pos], late, scored.separate[pos],
             scored.tier[pos])
        )[:count]
        return [scored.pick(int(pos[i]), float(dist[i]), True) for i in order]

    # Inside the radius: fully competent resources, then partial ones. Then, in
    # their own group, the nearest fully competent beyond the radius (widening)
    # and, for a need nobody inside the radius covers, the nearest resource that
    # covers it (within the cap; a note names it in any case).
    uncovered_notes, nearest_covering = _uncovered(idx, scored, query, place, inside_pos, around,
                                                   frozenset(p.position for p in beyond))
    known = {p.position for p in beyond}
    nearest_covering = [p for p in nearest_covering
                        if p.position not in known and p.distance_km <= BEYOND_REACH * query.radius_km]
    chosen = ordered(inside_pos[full_mask], inside_dist[full_mask], query.limit)
    chosen += ordered(inside_pos[~full_mask], inside_dist[~full_mask], query.limit - len(chosen))
    groups = {p.position: "within" for p in chosen}
    for p in beyond + nearest_covering:
        if p.position not in groups:
            chosen.append(p)
            groups[p.position] = "beyond"
    transition = query.age is not None and (
        TRANSITION_AGES[0] <= query.age <= TRANSITION_AGES[1] or "TRANSITION" in needs.skills)
    if transition and query.age is not None:
        for p in _next_services(idx, needs, query, kinds, place, land, groups):
            chosen.append(p)
            groups[p.position] = "next"
    # Teams when no single local resource inside the radius covers every need
    # (every deficiency, and every skill asked for).
    covers_all = scored.covers[:, inside_pos].all(axis=0) if inside_pos.size else np.zeros(0, bool)
    pool = _team_pool(scored, inside_pos, inside_dist) if not covers_all.any() else []
    relevant = _relevant_targets(idx, needs)

    resources: dict[int, tuple[Node, str | None, _Facts]] = idx.cached("match facts", dict)
    explained: dict[Any, tuple[_Offer, ...]] = idx.cached("explanations", dict)

    def candidate(pick: _Pick, age: int | None = query.age) -> _Candidate:
        p = pick.position
        found = resources.get(p)
        if found is None:
            ref = idx.refs[p]
            node = Node(ref.kind, ref.key, idx.props[p])  # the store's own mapping: read only
            found = resources[p] = (node, str(idx.departments[p]) or None,
                                    _facts_of(node, float(idx.lats[p]), float(idx.lons[p])))
        node, department, facts = found
        comp = _explain(idx.out[p], node.kind, needs, age, relevant, node.props, explained, (p, needs))
        basis = Basis.SEPARATELY if pick.separate else _BASIS[pick.tier]
        return _Candidate(node, comp, basis, pick.score, pick.distance_km, pick.within,
                          department, facts.lat, facts.lon, facts)

    future = _future_age(query.age)
    ranked = [(candidate(p, future if groups[p.position] == "next" else query.age), groups[p.position])
              for p in chosen]

    matches: list[Match] = []
    for cand, group in ranked:
        matches.append(_match(len(matches) + 1, cand, MatchLevel.LOCAL, needs, table, person_erhr, group))
    # Teams are found on the index's coverage columns; only their members are explained.
    team_picks = _teams(len(scored.deficiencies), pool) if pool else []
    members = {p.position: candidate(p) for team in team_picks for p in team}
    teams = [[members[p.position] for p in team] for team in team_picks]
    notes += uncovered_notes

    # Then the ERHR of the person's territory and the competent CNRHR (links read
    # once per index state: they are not in the index of local resources).
    erhr_node = table.erhr.get(person_erhr)
    if erhr_node is not None:
        erhr_node = _referent(store, model, erhr_node, place)
        comp = _explain(_links_of(store, model, erhr_node.ref), K.ERHR_TEAM, needs, query.age, relevant, erhr_node.props)
        cand = _national_candidate(erhr_node, comp, needs, place, place.department)
        cand.basis = Basis.TERRITORIAL
        matches.append(_match(len(matches) + 1, cand, MatchLevel.ERHR, needs, table, person_erhr, "referent"))
    for code in qualification.cnrhr:
        cnrhr = store.get_node(K.CNRHR, code)
        if cnrhr is not None:
            cnrhr = _referent(store, model, cnrhr, place)
            comp = _explain(_links_of(store, model, cnrhr.ref), K.CNRHR, needs, query.age, relevant, cnrhr.props)
            cand = _national_candidate(cnrhr, comp, needs, place, None)
            matches.append(_match(len(matches) + 1, cand, MatchLevel.CNRHR, needs, table, person_erhr, "referent"))

    team_results = tuple(
        Team(
            members=tuple(
                _match(i + 1, member, MatchLevel.LOCAL, needs, table, person_erhr)
                for i, member in enumerate(team)
            ),
            max_distance_km=round(max(m.distance_km or 0.0 for m in team), 1),
        )
        for team in teams
    )
    erhr_props = erhr_node.props if erhr_node is not None else {}
    return MatchResult(
        combination=needs.combination,
        deficiencies=tuple(sorted(needs.deficiencies)),
        skills=tuple(sorted(needs.skills)),
        conditions=tuple(sorted(needs.conditions)),
        qualification=qualification,
        place=place,
        erhr=ErhrContact(
            code=person_erhr,
            name=str(erhr_props.get("name", "")),
            seat=erhr_props.get("seat"),
            email=erhr_props.get("email"),
            phone=erhr_props.get("phone"),
            website=erhr_props.get("website"),
            regions=tuple(erhr_props.get("regions", [])),
            missing=None if all(erhr_props.get(f) for f in ("email", "phone", "website")) else
            "Coordonnées incomplètes dans les sources du réseau (FINESS, GNCHR) : le GNCHR les complète dans la "
            "liste des ERHR.",
        ),
        radius_km=query.radius_km,
        matches=tuple(matches),
        teams=team_results,
        widening=widening,
        notes=tuple(notes),
        inferred=needs.inferred,
        possible=needs.possible,
        transition=transition,
    )


def competent_resources(
    store: GraphStore,
    deficiencies: Iterable[str],
    *,
    age: int | None = None,
    kinds: Iterable[NodeKind] = LOCAL_KINDS,
    separately: bool = True,
) -> dict[NodeRef, Basis]:
    """Resources competent for the *whole* combination (on it, or on every
    deficiency separately), with the same rules as ``find_resources``
    (``separately``: see ``competent_positions``)."""
    positions, tiers = competent_positions(read_model(store).competence, deficiencies, age=age, kinds=kinds,
                                           separately=separately)
    refs = read_model(store).competence.refs
    return {refs[p]: _BASIS[t] for p, t in zip(positions.tolist(), tiers.tolist(), strict=True)}


def competent_positions(
    idx: CompetenceIndex, deficiencies: Iterable[str], *, age: int | None = None,
    kinds: Iterable[NodeKind] = LOCAL_KINDS, separately: bool = True,
) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """The index positions (ascending) of the resources competent for the whole
    combination, and their tiers (0 on the combination, 1 every deficiency).

    ``separately`` False is rare-combination competence (coverage and gaps,
    README "What each source can say"): expertise on the combination, or on
    every deficiency (directory, conditions); a resource that only *accepts*
    each deficiency separately (a FINESS category such as 196, « sourd/
    aveugle ») is not competent for their combination, and a generalist one
    (CAMSP) not even for one deficiency, unless by expertise."""
    codes = normalise_deficiencies(deficiencies)
    needs = _Needs(codes, frozenset(), frozenset(), combination_key(list(codes)))
    scored = _score_all(idx, needs, age, frozenset(kinds))
    competent = scored.tier <= 1
    if not separately:
        one = len(codes) == 1
        competent = (scored.tier == 0) | ((scored.tier == 1) & (scored.declared | (one & ~scored.generalist)))
    full = np.flatnonzero(scored.candidate & competent)
    return scored.positions[full], scored.tier[full]


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
    positions: NDArray[np.int64]  # local position → index position
    tier: NDArray[np.int8]  # 0 combination, 1 all deficiencies, 2 partial
    points: NDArray[np.int16]  # sum of the levels over the needs: the score's numerator
    total: int  # 3 × the number of needs: the score's denominator
    covers: NDArray[np.bool_]  # (need, resource): the resource covers it (deficiencies, then skills)
    deficiencies: list[str]  # the needs of ``covers``' rows: deficiency codes, then skill codes
    candidate: NDArray[np.bool_]  # covers a need, admits the age
    keys: NDArray[np.str_]
    kinds: NDArray[np.str_]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    age_max: NDArray[np.float64]
    age_min: NDArray[np.float64]
    declared: NDArray[np.bool_]  # every deficiency covered by expertise, not only by acceptance
    generalist: NDArray[np.bool_]
    #: 1 where the whole combination of several deficiencies is covered only by
    #: accepting them each separately (a ranking key after the tier)
    separate: NDArray[np.int8]

    def pick(self, local: int, distance_km: float, within: bool) -> _Pick:
        score = round(int(self.points[local]) / self.total, 4)
        return _Pick(int(self.positions[local]), distance_km, within, int(self.tier[local]), score,
                     bool(self.separate[local]))


def _conditions_involving(idx: CompetenceIndex, code: str) -> tuple[str, ...]:
    """The conditions some indexed resource has expertise on that may involve
    ``code`` (cached per index state: a few conditions, not the 4,000)."""

    def build() -> tuple[str, ...]:
        return tuple(o for o in idx.targets(K.CONDITION) if o in CONDITIONS and code in CONDITIONS[o].involves)

    return idx.cached(("conditions involving", code), build)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _View:
    """The resources that may cover some of one set of needs (at some age), of
    the wanted kinds, on one land mass, in the index's latitude order, with
    their levels that do not depend on the age. Built once per index state and
    set of needs (``_view``); a query then scores one latitude band of it only,
    instead of every resource of that band."""

    positions: NDArray[np.int64]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    keys: NDArray[np.str_]
    kinds: NDArray[np.str_]
    age_min: NDArray[np.float64]
    age_max: NDArray[np.float64]
    combination: NDArray[np.int8]  # highest level on a combination including the needs
    levels: NDArray[np.int8]  # (deficiency, resource): expertise, combination, conditions
    skill_levels: NDArray[np.int8]  # (skill, resource)
    #: per deficiency, its ACCEPTS links: local positions (sorted) and age bands
    accepts: tuple[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]], ...]
    #: a generalist establishment (CAMSP: ``generalist`` set from its FINESS category)
    generalist: NDArray[np.bool_]

    @property
    def nbytes(self) -> int:
        arrays = [self.positions, self.lats, self.lons, self.keys, self.kinds, self.age_min, self.age_max,
                  self.combination, self.levels, self.skill_levels, self.generalist,
                  *(a for links in self.accepts for a in links)]
        return sum(a.nbytes for a in arrays)

    def band(self, lat: float, radius_km: float | None) -> slice:
        """The local positions whose latitude allows a great-circle distance ≤
        ``radius_km`` from latitude ``lat`` (None: all of them)."""
        if radius_km is None:
            return slice(0, len(self.positions))
        margin = math.degrees((radius_km + 0.001) / EARTH_RADIUS_KM)  # + 1 m: distances are rounded to the metre
        return slice(int(np.searchsorted(self.lats, lat - margin, "left")),
                     int(np.searchsorted(self.lats, lat + margin, "right")))


#: Views kept per index state (the most recently used sets of needs).
_VIEWS_KEPT = 64
#: ... and at most this many bytes of them (a worker's memory: a view of a need
#: that most resources accept holds a few MB at national scale).
_VIEWS_BYTES = 32 * 2**20
_VIEWS_LOCK = threading.Lock()


def _view(idx: CompetenceIndex, needs: _Needs, kinds: frozenset[NodeKind], land: str | None) -> _View:
    """The view of ``idx`` for these needs (see :class:`_View`), cached per index state."""
    views: OrderedDict[Any, _View] = idx.cached("views", OrderedDict)
    key = (needs.deficiencies, needs.skills, kinds, land)
    with _VIEWS_LOCK:
        found = views.get(key)
        if found is not None:
            views.move_to_end(key)
            return found
    built = _build_view(idx, needs, kinds, land)
    with _VIEWS_LOCK:
        views[key] = built
        held = sum(v.nbytes for v in views.values())
        while len(views) > _VIEWS_KEPT or (held > _VIEWS_BYTES and len(views) > 1):
            held -= views.popitem(last=False)[1].nbytes
    return built


def _build_view(idx: CompetenceIndex, needs: _Needs, kinds: frozenset[NodeKind], land: str | None) -> _View:
    n = len(idx)
    defs = sorted(needs.deficiencies)
    # Expertise on a combination that includes the whole need covers each deficiency at its level.
    combination = np.zeros(n, np.int8)
    for key in idx.targets(K.COMBINATION):
        if needs.deficiencies <= codes_of_combination(key):
            np.maximum(combination, idx.expertise(NodeRef(K.COMBINATION, key)), out=combination)
    levels = np.empty((len(defs), n), np.int8)
    may_cover = combination > 0
    accepts = []
    for j, code in enumerate(defs):
        row = levels[j]
        np.maximum(idx.expertise(NodeRef(K.DEFICIENCY, code)), combination, out=row)
        for orpha in _conditions_involving(idx, code):
            np.maximum(row, idx.expertise(NodeRef(K.CONDITION, orpha)), out=row)
        may_cover |= row > 0
        link = idx.accepts(NodeRef(K.DEFICIENCY, code))
        may_cover[link.ids] = True
        accepts.append(link)
    skills = sorted(needs.skills)
    skill_levels = np.empty((len(skills), n), np.int8)
    for j, code in enumerate(skills):
        skill_levels[j] = idx.expertise(NodeRef(K.SKILL, code))
        may_cover |= skill_levels[j] > 0
    wanted = idx.kind_mask(frozenset(k.value for k in kinds))
    positions = np.flatnonzero(may_cover & wanted & idx.land_mask(land))
    local = np.full(n, -1, np.int64)
    local[positions] = np.arange(positions.size)
    local_accepts = []
    for link in accepts:
        at = local[link.ids]
        keep = at >= 0
        order = np.argsort(at[keep], kind="stable")
        local_accepts.append((at[keep][order], link.age_min[keep][order], link.age_max[keep][order]))
    return _View(
        positions, idx.lats[positions], idx.lons[positions], idx.keys[positions], idx.kinds[positions],
        idx.age_min[positions], idx.age_max[positions], combination[positions], levels[:, positions],
        skill_levels[:, positions], tuple(local_accepts),
        np.fromiter((bool(idx.props[p].get("generalist")) for p in positions.tolist()), np.bool_, positions.size),
    )


def _score_all(
    idx: CompetenceIndex, needs: _Needs, age: int | None, kinds: frozenset[NodeKind], lat: float | None = None,
    reach_km: float | None = None, land: str | None = None,
) -> _Scored:
    """The ranking keys of every resource that may be within ``reach_km`` of
    latitude ``lat`` (None: everywhere) at once (same rules as the module doc)."""
    view = _view(idx, needs, kinds, land)
    span = view.band(lat, reach_km) if lat is not None else view.band(0.0, None)
    lo, hi = span.start, span.stop
    levels = view.levels[:, lo:hi].copy()
    declared: NDArray[np.bool_] = np.asarray((levels > 0).all(axis=0))  # every deficiency by expertise (on it, a combination, a condition)
    for j, (ids, age_min, age_max) in enumerate(view.accepts):
        a, b = np.searchsorted(ids, (lo, hi))
        ok = admits(age_min[a:b], age_max[a:b], age)
        admitted = ids[a:b][ok] - lo
        levels[j, admitted] = np.maximum(levels[j, admitted], 1)
    points = levels.sum(axis=0, dtype=np.int16)
    skill_levels = view.skill_levels[:, lo:hi]
    if len(skill_levels):
        points += skill_levels.sum(axis=0, dtype=np.int16)
    tier = np.full(hi - lo, 2, np.int8)
    tier[(levels > 0).all(axis=0)] = 1
    tier[view.combination[lo:hi] > 0] = 0
    covers = np.vstack([levels > 0, skill_levels > 0]) if len(skill_levels) else levels > 0
    candidate = (points > 0) & admits(view.age_min[lo:hi], view.age_max[lo:hi], age)
    return _Scored(
        idx, view.positions[lo:hi], tier, points, 3 * (len(needs.deficiencies) + len(needs.skills)), covers,
        sorted(needs.deficiencies) + sorted(needs.skills), candidate,
        view.keys[lo:hi], view.kinds[lo:hi], view.lats[lo:hi], view.lons[lo:hi], view.age_max[lo:hi],
        view.age_min[lo:hi], declared, view.generalist[lo:hi],
        ((tier == 1) & ~declared).astype(np.int8) if len(needs.deficiencies) > 1 else np.zeros(hi - lo, np.int8),
    )


def _within(scored: _Scored, lat: float, lon: float, radius_km: float) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Local positions of the candidates inside the radius, with their
    great-circle distances (km, 3 decimals)."""
    mask = scored.candidate
    angle = (radius_km + 0.001) / EARTH_RADIUS_KM
    if angle < math.pi / 2 - math.radians(abs(lat)):
        # The widest longitude difference a point within the radius can have.
        dlon_max = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat))))) + 1e-9
        if lon - dlon_max >= -180.0 and lon + dlon_max <= 180.0:
            mask = mask & (np.abs(scored.lons - lon) <= dlon_max)
        else:  # across the antimeridian (Wallis-et-Futuna)
            mask = mask & (np.abs((scored.lons - lon + 180.0) % 360.0 - 180.0) <= dlon_max)
    pos = np.flatnonzero(mask)
    dist = haversine_km_many(lat, lon, scored.lats[pos], scored.lons[pos]).round(3)
    keep = dist <= radius_km
    return pos[keep], dist[keep]


#: From this age a person is an adult: a children's service (a band ending by 20,
#: CASF annexes XXIV; the « amendement Creton » keeps young adults there while
#: they wait) ranks after the adult services that admit the person.
ADULT_AGE = 18
#: The transition from adolescence to adulthood (DOMAIN.md §4), in years.
TRANSITION_AGES = (16, 25)


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
    idx: CompetenceIndex, needs: _Needs, query: SituationQuery, kinds: frozenset[NodeKind], place: PersonPlace,
    land: str | None, shown: Mapping[int, str],
) -> list[_Pick]:
    """Transition: the services inside the radius that do not admit the person
    yet but will within the next years (an adult service from 18 or 20 for a
    person of 16-17), best first by the same keys as inside the radius; the
    resources already shown are left out."""
    future = _future_age(query.age)
    assert query.age is not None and future is not None
    later = _score_all(idx, needs, future, kinds, place.lat, query.radius_km, land)
    pos, dist = _within(later, place.lat, place.lon, query.radius_km)
    if pos.size == 0:
        return []
    starts = later.age_min[pos]
    index_pos = later.positions[pos]
    keep = (starts > query.age) & ~np.isin(index_pos, np.fromiter(shown, np.int64, len(shown)))
    pos, dist = pos[keep], dist[keep]
    order = np.lexsort((later.keys[pos], later.kinds[pos], dist, -later.points[pos], later.separate[pos],
                        later.tier[pos]))[:NEXT_ROWS]
    return [later.pick(int(pos[i]), float(dist[i]), True) for i in order]


def _uncovered(
    idx: CompetenceIndex, scored: _Scored, query: SituationQuery, place: PersonPlace, inside_pos: NDArray[np.int64],
    around: Callable[[float | None], _Scored], listed: frozenset[int] = frozenset(),
) -> tuple[list[str], list[_Pick]]:
    """``listed``: the positions already in the table (beyond the radius).
    For each need (deficiency or skill) that no local resource inside the
    radius covers: a note naming the nearest resource that covers it, and that
    resource (beyond the radius), nearest first. ``around(reach)``: the
    resources within ``reach`` km scored (the query's, shared with widening)."""
    missing = [j for j, _ in enumerate(scored.deficiencies) if not scored.covers[j, inside_pos].any()]
    if not missing:
        return [], []
    found_at: dict[int, _Pick] = {}  # need row → the nearest resource covering it
    # Looked for within 2×, then 4× the radius (every resource outside such a
    # latitude band is farther), then everywhere, as for widening.
    for reach in (2 * query.radius_km, 4 * query.radius_km, None):
        band = around(reach)
        for j in [j for j in missing if j not in found_at]:
            found = np.flatnonzero(band.candidate & band.covers[j])
            if found.size == 0:
                continue
            far = haversine_km_many(place.lat, place.lon, band.lats[found], band.lons[found]).round(3)
            best = int(np.lexsort((band.keys[found], far))[0])
            if reach is None or far[best] <= reach:
                found_at[j] = band.pick(int(found[best]), float(far[best]), False)
        if len(found_at) == len(missing):
            break
    notes: list[str] = []
    picks: dict[int, _Pick] = {}
    for j in missing:
        label = _need_label(scored.deficiencies[j])
        if j not in found_at:
            notes.append(f"Aucune ressource locale connue ne couvre {label} : voir l'ERHR et le CNRHR ci-dessous.")
            continue
        pick = found_at[j]
        position, distance = pick.position, pick.distance_km
        props = idx.props[position]
        name = display_name(props, idx.refs[position].key)
        shown = distance <= BEYOND_REACH * query.radius_km or position in listed
        notes.append(
            f"Aucune ressource locale dans le rayon de {query.radius_km:g} km ne couvre {label} ; "
            f"la plus proche qui la couvre : {name} ({distance:.0f} km)"
            + (", ajoutée au tableau (au-delà du rayon)." if shown else
               f" — plus de {BEYOND_REACH:g} fois le rayon : citée ici, pas dans le tableau.")
        )
        picks.setdefault(position, pick)
    ordered_picks = sorted(picks.values(), key=lambda p: (p.distance_km, str(idx.keys[p.position])))
    return notes, ordered_picks


def _team_pool_per_need(needs: int) -> int:
    """How many of the nearest resources covering each need are team candidates:
    ``_TEAM_POOL`` for two needs, fewer for more (the pool, hence the sets of 3
    to try, stays about the same size)."""
    return max(4, (2 * _TEAM_POOL) // max(1, needs))


class _Member(NamedTuple):
    """A team candidate: its pick, the needs it covers (bits) and its key."""

    pick: _Pick
    bits: int
    key: str


def _team_pool(scored: _Scored, pos: NDArray[np.int64], dist: NDArray[np.float64]) -> list[_Member]:
    """The nearest resources inside the radius covering each need (team members)."""
    per_need = _team_pool_per_need(len(scored.deficiencies))
    covers = scored.covers[:, pos]
    keys = scored.keys[pos]
    chosen: dict[int, None] = {}  # local indices into ``pos``, in need order (as a set keeping order)
    for j in range(len(scored.deficiencies)):
        at = np.flatnonzero(covers[j])
        for i in at[np.lexsort((keys[at], dist[at]))[:per_need]].tolist():
            chosen[i] = None
    picked = np.fromiter(chosen, np.int64, len(chosen))
    bits = (covers[:, picked].T.astype(np.int64) << np.arange(len(scored.deficiencies), dtype=np.int64)).sum(axis=1)
    members = [
        _Member(scored.pick(p, d, True), b, k)
        for p, d, b, k in zip(pos[picked].tolist(), dist[picked].tolist(), bits.tolist(), keys[picked].tolist(),
                              strict=True)
    ]
    return sorted(members, key=lambda m: (m.pick.distance_km, m.key))


def _relevant_targets(idx: CompetenceIndex, needs: _Needs) -> frozenset[str]:
    """Keys of the targets whose links can cover a need (``_offers`` checks their kinds)."""
    return needs.deficiencies | needs.skills | {
        orpha for code in needs.deficiencies for orpha in _conditions_involving(idx, code)
    } | {key for key in idx.targets(K.COMBINATION) if needs.deficiencies <= codes_of_combination(key)}


#: Explanations kept per index state (resource, needs): at most this many, then forgotten.
_EXPLANATIONS_KEPT = 50_000


def _explain(
    links: tuple[Link, ...], source: NodeKind, needs: _Needs, age: int | None, relevant: frozenset[str],
    props: Mapping[str, Any], kept: dict[Any, tuple[_Offer, ...]] | None = None, key: Any = None,
) -> _Competence:
    """What a resource (of these properties) covers of the needs, with the graph
    paths and their French explanations. ``kept``: the explanations of this
    index state, by ``key`` (they do not depend on the age; the age picks
    among them)."""
    offers = kept.get(key) if kept is not None else None
    if offers is None:
        fallback = "synthetique" if props.get("synthetic") else "annuaire"
        offers = tuple(offer for rel, target, link in links if target.key in relevant
                       for offer in _offers(source, rel, target, link, needs, fallback))
        if kept is not None:
            if len(kept) >= _EXPLANATIONS_KEPT:
                kept.clear()
            kept[key] = offers
    comp = _Competence()
    for slot, cover, age_min, age_max in offers:
        # the age rule of graph.competence.admits: a nan bound admits every age
        if age is not None and (age_min > age or age_max < age):
            continue
        if slot == "combination":
            if comp.combination is None or cover.level > comp.combination.level:
                comp.combination = cover
        else:
            comp.offer(comp.deficiencies if slot == "deficiency" else comp.skills, cover)
    return comp


def _links_of(store: GraphStore, model: ReadModel, ref: NodeRef) -> tuple[Link, ...]:
    """The competence links of a node outside the index (an ERHR, a CNRHR),
    read once per read-model state, in the index's order."""

    def read() -> tuple[Link, ...]:
        edges = store.edges_from([ref], [R.HAS_EXPERTISE, R.ACCEPTS])[ref]
        links = [(e.type, e.target, e.props) for e in edges]
        return tuple(sorted(links, key=link_order))

    return model.cached(("links of", ref), read)  # type: ignore[no-any-return]


#: What a referent's FINESS record gives its contact (the structure that carries it).
_FINESS_CONTACT = ("address", "postcode", "city", "phone")


def _referent(store: GraphStore, model: ReadModel, node: Node, place: PersonPlace) -> Node:
    """An ERHR or a CNRHR as shown: its contact completed from its own FINESS
    record (one resource, not two: that record makes no local row), and placed
    at the nearest of its sites (seat, antennas: ERHR Bretagne at Auray and Brest)."""

    def record() -> dict[str, Any]:
        finess = node.props.get("finess")
        found = store.get_node(K.ESTABLISHMENT, str(finess)) if finess else None
        if found is None:
            return {}
        extra = {k: found.props[k] for k in _FINESS_CONTACT if found.props.get(k) and not node.props.get(k)}
        extraction = found.props.get("extraction_date")
        if extra:
            extra["contact_source"] = f"FINESS n° {finess}" + (f", extraction du {extraction}" if extraction else "")
        return extra

    props = {**node.props, **model.cached(("referent contact", node.ref), record)}
    sites = [(str(props.get("seat") or ""), props.get("lat"), props.get("lon"))] + [
        (str(name), lat, lon) for name, lat, lon in props.get("antennas") or ()]
    located = [(haversine_km(place.lat, place.lon, float(lat), float(lon)), name, lat, lon)
               for name, lat, lon in sites if lat is not None and lon is not None]
    if len(located) > 1:
        _d, name, lat, lon = min(located)
        props.update(lat=lat, lon=lon, nearest_site=name)
    return Node(node.kind, node.key, props)


def _national_candidate(
    node: Node, comp: _Competence, needs: _Needs, place: PersonPlace, department: str | None
) -> _Candidate:
    lat, lon = node.props.get("lat"), node.props.get("lon")
    distance = (
        round(haversine_km(place.lat, place.lon, float(lat), float(lon)), 3)
        if lat is not None and lon is not None
        else None
    )
    basis = _basis(comp, needs) if comp.combination else Basis.NATIONAL
    return _Candidate(node, comp, basis, _score(comp, needs), distance, True, department)


def _match(
    rank: int,
    cand: _Candidate,
    level: MatchLevel,
    needs: _Needs,
    table: TerritoryTable,
    person_erhr: str,
    group: str = "within",
) -> Match:
    node, comp = cand.node, cand.comp
    defs, skills = comp.deficiencies, comp.skills
    covers = tuple(
        ([comp.combination] if comp.combination else [])
        + [defs[d] for d in sorted(defs)]
        + [skills[s] for s in sorted(skills)]
    )
    misses = tuple(sorted(needs.deficiencies - defs.keys()) + sorted(needs.skills - skills.keys()))
    if cand.basis is Basis.NATIONAL:
        criteria = ", ".join(str(c) for c in node.props.get("criteria", []))
        covers = (
            NeedCoverage(
                needs.combination,
                "combination",
                3,
                f"Cnrhr —compétent au titre du D312-194 ({criteria})→ {needs.combination}",
                "d312-194",
                f"centre national de ressources compétent pour {needs.combination} "
                f"(critère {criteria} de l'article D312-194 du CASF)",
                "D312_194",
            ),
        )
        misses = tuple(sorted(needs.skills - comp.skills.keys()))
    elif cand.basis is Basis.TERRITORIAL:
        regions = ", ".join(str(r) for r in node.props.get("regions", []))
        covers = covers or (
            NeedCoverage(
                needs.combination,
                "combination",
                1,
                f"ErhrTeam —COVERS→ Region {regions} (territoire de la personne)",
                "territoire",
                "équipe relais handicaps rares du territoire de la personne : coordonne le parcours",
                "COVERS",
            ),
        )
        misses = tuple(sorted(needs.skills - comp.skills.keys()))
    department = cand.department
    if level is MatchLevel.ERHR:
        in_territory = node.key == person_erhr
    elif level is MatchLevel.CNRHR:
        in_territory = False
    else:
        in_territory = department is not None and table.erhr_of_department.get(department) == person_erhr
    facts = cand.facts or _facts_of(node, cand.lat, cand.lon)
    return Match(
        rank, node.kind, node.key, facts.name, level, cand.basis, covers, misses, cand.score,
        None if cand.distance_km is None else round(cand.distance_km, 1),
        None if cand.distance_km is None else estimated_minutes(cand.distance_km),
        cand.within, in_territory, department, facts.synthetic, facts.lat, facts.lon, facts.contact,
        facts.age_group, facts.location_source, group,
    )


class _Facts(NamedTuple):
    """What a match says of a resource whatever the query (kept per indexed resource)."""

    name: str
    synthetic: bool
    lat: float | None
    lon: float | None
    contact: Contact | None
    age_group: str
    location_source: str | None


def _facts_of(node: Node, index_lat: float | None, index_lon: float | None) -> _Facts:
    """``index_lat``/``index_lon``: where the index places it (a professional: its workplace)."""
    lat, lon = node.props.get("lat"), node.props.get("lon")
    return _Facts(
        display_name(node.props, node.key),
        bool(node.props.get("synthetic", False)),
        float(lat) if lat is not None else index_lat,
        float(lon) if lon is not None else index_lon,
        contact_of(node.kind, node.props),
        age_group(node.props),
        _LOCATION_SOURCES.get(str(node.props.get("location_source") or "finess"), "finess")
        if node.kind is K.ESTABLISHMENT
        else "workplace" if node.kind is K.PROFESSIONAL and lat is None and index_lat is not None
        else "seat" if lat is not None else None,
    )


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


def _teams(needs: int, pool: list[_Member]) -> list[list[_Pick]]:
    """Smallest sets (≤ 3) of the pool's resources (inside the radius, see
    ``_team_pool``, nearest first) covering every need — deficiencies and
    skills, the rows of ``_Scored.covers`` — nearest first (by the farthest
    member, then the total distance, then the members' keys); no member is
    redundant. Needs are bits, and every set of a size is tried at once."""
    full = (1 << needs) - 1
    bits = np.array([m.bits for m in pool], dtype=np.int64)
    dist = np.array([m.pick.distance_km for m in pool], dtype=np.float64)
    key_rank = np.argsort(np.argsort(np.array([m.key for m in pool]), kind="stable"), kind="stable")
    for size in range(2, MAX_TEAM_SIZE + 1):
        if len(pool) < size:
            break
        sets = _combinations(len(pool), size)
        member_bits = bits[sets]
        union = np.bitwise_or.reduce(member_bits, axis=1)
        ok = union == full
        for leave in range(size):  # no member is redundant: the others alone fall short
            rest = np.bitwise_or.reduce(np.delete(member_bits, leave, axis=1), axis=1)
            ok &= rest != full
        found = sets[ok]
        if found.size:
            d = dist[found]
            total = d[:, 0].copy()
            for c in range(1, size):
                total += d[:, c]
            ranks = key_rank[found]
            order = np.lexsort((*[ranks[:, c] for c in reversed(range(size))], total, d.max(axis=1)))[:_MAX_TEAMS]
            # members in pool order: nearest first, then by key
            return [[pool[int(i)].pick for i in found[row]] for row in order]
    return []
