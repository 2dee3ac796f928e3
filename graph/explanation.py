"""Explanations: for the rows returned only, what each covers, by which link, from which source, in French."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from graph.answers import (
    _LOCATION_SOURCES,
    Basis,
    K,
    Match,
    MatchLevel,
    NeedCoverage,
    PersonPlace,
    R,
    _need_label,
    _Needs,
    age_group,
    source_of,
)
from graph.competence import Link, bound, link_order
from graph.geo import estimated_minutes, haversine_km
from graph.model import Node, NodeKind, NodeRef, RelType, codes_of_combination
from graph.readmodel import ReadModel
from graph.store import GraphStore
from graph.territories import TerritoryTable
from graph.views import Contact, contact_of, display_name, french_day
from graph.vocabulary import (
    CONDITIONS,
)

__all__ = [
    "shown_covers",
    "_Candidate",
    "_Competence",
    "_EXPLANATIONS_KEPT",
    "_FINESS_CONTACT",
    "_Facts",
    "_KIND_NAME",
    "_NO_BOUND",
    "_Offer",
    "_age_text",
    "_basis",
    "_explain",
    "_facts_of",
    "_links_of",
    "_match",
    "_national_candidate",
    "_offers",
    "_referent",
    "_score",
]


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
    source: NodeKind,
    rel: RelType,
    target: NodeRef,
    props: Mapping[str, Any],
    needs: _Needs,
    fallback: str = "annuaire",
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
            yield _Offer(
                "deficiency",
                NeedCoverage(target.key, "deficiency", 1, path, origin, text, "ACCEPTS"),
                bound(props.get("age_min")),
                bound(props.get("age_max")),
            )
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
        yield _Offer(
            "combination",
            NeedCoverage(
                needs.combination,
                "combination",
                level,
                path,
                origin,
                f"{text} — {origin_text}",
                "HAS_EXPERTISE",
            ),
        )
        for code in codes_of_combination(needs.combination):
            yield _Offer(
                "deficiency",
                NeedCoverage(
                    code,
                    "deficiency",
                    level,
                    f"{path} —INCLUDES→ {code}",
                    origin,
                    f"{text} (dont {_need_label(code)}) — {origin_text}",
                    "INCLUDES",
                ),
            )
    elif target.kind is K.CONDITION:
        condition = CONDITIONS.get(target.key)
        if condition is None:
            return
        origin, origin_text = source_of(props, fallback)
        for code in condition.involves:
            if code in needs.deficiencies:
                path = f"{src} —HAS_EXPERTISE(level {level})→ {target.key} —TYPICALLY_INVOLVES→ {code}"
                text = (
                    f"expertise de niveau {level} sur {condition.label} ({target.key}), "
                    f"qui comporte {_need_label(code)} — {origin_text}"
                )
                yield _Offer(
                    "deficiency",
                    NeedCoverage(code, "deficiency", level, path, origin, text, "TYPICALLY_INVOLVES"),
                )


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


#: Explanations kept per index state (resource, needs): at most this many, then forgotten.
_EXPLANATIONS_KEPT = 50_000


def _explain(
    links: tuple[Link, ...],
    source: NodeKind,
    needs: _Needs,
    age: int | None,
    relevant: frozenset[str],
    props: Mapping[str, Any],
    kept: dict[Any, tuple[_Offer, ...]] | None = None,
    key: Any = None,
) -> _Competence:
    """What a resource (of these properties) covers of the needs, with the graph
    paths and their French explanations. ``kept``: the explanations of this
    index state, by ``key`` (they do not depend on the age; the age picks
    among them)."""
    offers = kept.get(key) if kept is not None else None
    if offers is None:
        fallback = "synthetique" if props.get("synthetic") else "annuaire"
        offers = tuple(
            offer
            for rel, target, link in links
            if target.key in relevant
            for offer in _offers(source, rel, target, link, needs, fallback)
        )
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
            extra["contact_source"] = f"FINESS n° {finess}" + (
                f", extraction du {french_day(extraction)}" if extraction else ""
            )
        return extra

    finess = node.props.get("finess")
    # keyed by the record it reads: a write that does not touch it carries it over (graph.readmodel)
    record_ref = NodeRef(K.ESTABLISHMENT, str(finess)) if finess else None
    props = {**node.props, **model.cached(("referent contact", node.ref, record_ref), record)}
    sites = [(str(props.get("seat") or ""), props.get("lat"), props.get("lon"))] + [
        (str(name), lat, lon) for name, lat, lon in props.get("antennas") or ()
    ]
    located = [
        (haversine_km(place.lat, place.lon, float(lat), float(lon)), name, lat, lon)
        for name, lat, lon in sites
        if lat is not None and lon is not None
    ]
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
        rank,
        node.kind,
        node.key,
        facts.name,
        level,
        cand.basis,
        covers,
        misses,
        cand.score,
        None if cand.distance_km is None else round(cand.distance_km, 1),
        None if cand.distance_km is None else estimated_minutes(cand.distance_km),
        cand.within,
        in_territory,
        department,
        facts.synthetic,
        facts.lat,
        facts.lon,
        facts.contact,
        facts.age_group,
        facts.location_source,
        group,
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
        else "workplace"
        if node.kind is K.PROFESSIONAL and lat is None and index_lat is not None
        else "seat"
        if lat is not None
        else None,
    )


_INCLUDES = " —INCLUDES→ "


def shown_covers(covers: Iterable[NeedCoverage]) -> tuple[NeedCoverage, ...]:
    """The coverages a person reads: a deficiency covered because the resource's
    expertise is on a combination that includes it (link INCLUDES) is said by
    that combination's own line when the match shows it — not once more per
    deficiency (« expertise sur DA+DV », then « … (dont DA) », « … (dont DV) »).
    The API keeps every coverage (one per need, for programs)."""
    covers = tuple(covers)
    combinations = {c.path for c in covers if c.need_kind == "combination"}
    return tuple(
        c for c in covers if not (c.link == "INCLUDES" and c.path.rsplit(_INCLUDES, 1)[0] in combinations)
    )
