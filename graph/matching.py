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

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from graph.answers import (
    ACROSS_THE_SEA,
    ADULT_AGE,
    BASIS_LABELS,
    BEYOND_REACH,
    BEYOND_ROWS,
    GROUPS,
    LEVEL_LABELS,
    LOCAL_KINDS,
    MAX_LIMIT,
    SOURCE_LABELS,
    TRANSITION_AGES,
    ZONE_SOURCE,
    Basis,
    ErhrContact,
    InferredNeed,
    K,
    Match,
    MatchLevel,
    MatchResult,
    NeedCoverage,
    PersonPlace,
    SituationQuery,
    Team,
    Widening,
    _need_label,
    _Needs,
    age_group,
    source_of,
)
from graph.competence import CompetenceIndex
from graph.errors import InvalidInput, UnknownCode
from graph.explanation import (
    _Candidate,
    _explain,
    _Facts,
    _facts_of,
    _links_of,
    _match,
    _national_candidate,
    _Offer,
    _referent,
)
from graph.geo import estimated_minutes, haversine_km, haversine_km_many
from graph.landmass import MAINLAND, land_mass
from graph.model import Node, NodeKind, NodeRef, combination_key
from graph.ranking import (
    _BASIS,
    _children_service_for_adult,
    _future_age,
    _kth_smallest,
    _next_services,
    _Pick,
    _relevant_targets,
    _score_all,
    _within,
    beyond_cap,
    zone_positions,
)
from graph.rare import _qualify
from graph.readmodel import ReadModel, read_model
from graph.store import GraphStore
from graph.teams import _team_pool, _teams
from graph.territories import commune_info
from graph.views import Contact, contact_of, display_name
from graph.vocabulary import (
    CONDITIONS,
    normalise_conditions,
    normalise_deficiencies,
    normalise_skills,
)
from graph.widening import _nearest_beyond, _uncovered

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


def _validate(query: SituationQuery) -> _Needs:
    """The needs of a query, once its fields are checked (InvalidInput otherwise)."""
    given = (tuple(query.deficiencies), tuple(query.conditions), tuple(query.skills))
    try:
        needs = _needs_of(*given)
    except TypeError:  # an item that cannot be a cache key: checked (and refused) uncached
        needs = _needs_of.__wrapped__(*given)
    if not 1 <= query.radius_km <= 1000:
        raise InvalidInput("radiusKm", "le rayon doit être compris entre 1 et 1000 km.")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"le nombre de résultats doit être compris entre 1 et {MAX_LIMIT}.")
    if query.age is not None and not 0 <= query.age <= 120:
        raise InvalidInput("age", "l'âge doit être compris entre 0 et 120 ans.")
    places = [
        query.commune is not None,
        query.postcode is not None,
        query.lat is not None or query.lon is not None,
    ]
    if sum(places) != 1:
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
            raise InvalidInput(
                "kinds", "types de ressources locales : Establishment, Professional, ResourcePole."
            )
    return needs


@functools.lru_cache(maxsize=4096)
def _needs_of(given: tuple[str, ...], named_conditions: tuple[str, ...], skills: tuple[str, ...]) -> _Needs:
    """The needs from the deficiencies, conditions and skills of a query (the
    vocabulary is fixed: cached; an error is raised again, never kept)."""
    conditions = normalise_conditions(named_conditions)
    stated = set(normalise_deficiencies(given, required=not conditions))
    # Deficiencies ticked by hand win: a condition's core deficiencies are
    # inferred only when none is given (the form then shows them ticked, to untick).
    deficiencies = set(stated)
    inferred: list[InferredNeed] = []
    possible: list[InferredNeed] = []
    for orpha in sorted(conditions):
        condition = CONDITIONS[orpha]
        for code in condition.involves:
            need = InferredNeed(
                code, orpha, condition.label, condition.phenotype_text(code), condition.frequency_text(code)
            )
            if not stated:
                inferred.append(need)
                deficiencies.add(code)
        for code in condition.possible:
            if code not in deficiencies:
                possible.append(
                    InferredNeed(
                        code,
                        orpha,
                        condition.label,
                        condition.phenotype_text(code),
                        condition.frequency_text(code),
                        core=False,
                    )
                )
    if not deficiencies:
        names = ", ".join(f"{CONDITIONS[o].label} ({o})" for o in sorted(conditions))
        sometimes = ", ".join(f"{_need_label(p.deficiency)} ({p.frequency})" for p in possible)
        raise InvalidInput(
            "deficiencies",
            f"aucune déficience fréquente (30 % des personnes ou plus) n'est connue pour {names} : "
            "cochez les déficiences de la personne" + (f" (parfois : {sometimes})." if sometimes else "."),
        )
    return _Needs(
        frozenset(deficiencies),
        normalise_skills(skills),
        conditions,
        combination_key(list(deficiencies)),
        tuple(inferred),
        tuple(possible),
    )


def _place(store: GraphStore, query: SituationQuery, model: ReadModel) -> tuple[PersonPlace, list[str]]:
    notes: list[str] = []
    table = model.territories
    if query.commune is not None:
        places: dict[str, PersonPlace] = model.cached("places", dict)
        found = places.get(query.commune)
        if found is None:
            info = commune_info(store, query.commune, table)
            found = PersonPlace(info.code, info.name, info.department.code, info.lat, info.lon, False)
            if len(places) >= _PLACES_KEPT:
                places.clear()
            places[query.commune] = found
        return found, notes
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
        PersonPlace(
            node.key, str(node.props["name"]), str(node.props["department"]), query.lat, query.lon, False
        ),
        notes,
    )


#: A Match from its fields in order (``Match._make`` without its length check: the
#: rows assembled below always have every field).
_new_match = tuple.__new__

#: Room for a distance in metres inside one integer ranking key (``ordered``):
#: no great-circle distance on Earth (at most 20,038 km) comes near it, and the
#: keys above it (tier, separate, late, points: below 12 × (3 × needs + 1)) keep
#: the product far below 2**63.
_METRE_ROOM = 2**32

#: Communes placed (a query's commune code → the person's place) kept per read model.
_PLACES_KEPT = 100_000

#: Row templates kept per index state (resource, needs, age, ERHR): at most this many, then forgotten.
_TEMPLATES_KEPT = 50_000


def find_resources(store: GraphStore, query: SituationQuery) -> MatchResult:
    """Rank and explain the resources competent for a situation (see module doc).

    Raises InvalidInput / UnknownCode on bad input; writes nothing."""
    needs = _validate(query)
    model = read_model(store)
    table = model.territories
    place, notes = _place(store, query, model)
    person_erhr = table.erhr_of_department.get(place.department, "")
    qualification = _qualify(needs.deficiencies)  # codes already validated and upper-cased
    kinds = frozenset(query.kinds) if query.kinds is not None else LOCAL_KINDS
    idx = model.competence
    # Scored over the latitude band that can hold the radius (a slice of the index).
    # Local resources stand on the person's own land mass (travel never crosses the sea).
    land = land_mass(place.department)
    zone = zone_positions(idx, place.commune)  # services working in the person's commune: 0 km
    scored = _score_all(idx, needs, query.age, kinds, place.lat, query.radius_km, land, zone, place.lon)
    inside_pos, inside_dist = _within(scored, place.lat, place.lon, query.radius_km)
    full_mask = scored.tier[inside_pos] <= 1
    widening = None
    beyond: list[_Pick] = []
    n_full = int(np.count_nonzero(full_mask))
    # Rows beyond the radius (README "Matching"): never ahead of a row inside it,
    # at most BEYOND_ROWS fully competent ones, none beyond BEYOND_REACH × the
    # radius when some resource inside the radius answers.
    cap_km = beyond_cap(query.radius_km, inside_pos.size > 0)
    if n_full < query.limit:
        wanted = min(query.limit - n_full, BEYOND_ROWS)
        # The nearest fully competent beyond the radius (wherever they stand).
        nearest = _nearest_beyond(
            idx, needs, query.age, kinds, land, place.lat, place.lon, query.radius_km, zone, wanted
        )
        beyond = [p for p in nearest if p.distance_km <= cap_km]
        if nearest:
            first = nearest[0]
            name = display_name(idx.props[first.position], idx.refs[first.position].key)
            nearest_text = f" La plus proche au-delà : {name}, à {first.distance_km:.0f} km" + (
                "."
                if beyond
                else f" (plus de {BEYOND_REACH:g} fois le rayon : citée ici, pas dans le tableau)."
            )
        else:
            nearest_text = " Aucune autre ressource locale compétente n'est connue" + (
                "."
                if land == MAINLAND
                else " sur ce territoire (les ressources d'une autre terre, au-delà de la mer, "
                "ne sont pas proposées)."
            )
        widening = Widening(
            competent_inside=n_full,
            message=(
                f"{n_full} ressource(s) locale(s) compétente(s) pour toute la combinaison "
                f"dans un rayon de {query.radius_km:g} km, pour {query.limit} lignes demandées : "
                "la recherche s'étend au-delà du rayon." + nearest_text
            ),
        )

    def ordered(pos: NDArray[np.int64], dist: NDArray[np.float64], count: int) -> list[_Pick]:
        """The first ``count`` by rank: the key tuple (tier, a children's service
        for an adult last, more points, nearer, kind, key). The keys before the
        kind are small bounded integers and the distance a whole number of metres
        (3 decimals of km): one exact integer, each key in room it cannot outgrow
        (``_METRE_ROOM``); the kind and the key break its ties."""
        if count <= 0 or pos.size == 0:
            return []
        late = _children_service_for_adult(scored, pos, query.age)
        bound = scored.total + 1
        head = ((scored.tier[pos].astype(np.int64) * 2 + scored.separate[pos]) * 2 + late) * bound + (
            scored.total - scored.points[pos]
        )
        key = head * _METRE_ROOM + np.rint(dist * 1000.0).astype(np.int64)
        if pos.size > count:
            # only the rows that may be among the first ``count`` are sorted
            keep = (key <= _kth_smallest(key, count - 1)).nonzero()[0]
            pos, dist, key = pos[keep], dist[keep], key[keep]
        order = np.lexsort((scored.keys_at(pos), scored.kinds_at(pos), key))[:count]
        return scored.picks(pos[order], dist[order], True)

    # Inside the radius: fully competent resources, then partial ones. Then, in
    # their own group, the nearest fully competent beyond the radius (widening)
    # and, for a need nobody inside the radius covers, the nearest resource that
    # covers it (within the cap; a note names it in any case).
    inside_covers = scored.covers.take(inside_pos, axis=1)  # (need, row inside the radius)
    uncovered_notes, nearest_covering = _uncovered(
        idx,
        scored,
        needs,
        query,
        place,
        inside_pos,
        kinds,
        land,
        frozenset(p.position for p in beyond),
        inside_covers,
    )
    known = {p.position for p in beyond}
    nearest_covering = [
        p
        for p in nearest_covering
        if p.position not in known and p.distance_km <= BEYOND_REACH * query.radius_km
    ]
    # fully competent first, then partial ones: the tier is the first key of the order
    chosen = ordered(inside_pos, inside_dist, query.limit)
    groups = {p.position: "within" for p in chosen}
    for p in beyond + nearest_covering:
        if p.position not in groups:
            chosen.append(p)
            groups[p.position] = "beyond"
    transition = query.age is not None and (
        TRANSITION_AGES[0] <= query.age <= TRANSITION_AGES[1] or "TRANSITION" in needs.skills
    )
    if transition and query.age is not None:
        for p in _next_services(idx, needs, query, kinds, place, land, groups):
            chosen.append(p)
            groups[p.position] = "next"
    # Teams when no single local resource inside the radius covers every need
    # (every deficiency, and every skill asked for).
    # (a row of tier 0 or 1 covers every deficiency: only the skills are left to check)
    skills = inside_covers[len(needs.deficiencies) :, full_mask]
    covered = n_full > 0 and (len(skills) == 0 or bool(np.logical_and.reduce(skills, axis=0).any()))
    pool = _team_pool(scored, inside_pos, inside_dist, inside_covers) if not covered else None
    # per needs: the targets whose links can cover one, the needs sorted as the answer states them
    of_needs: dict[_Needs, tuple[frozenset[str], tuple[tuple[str, ...], ...]]] = idx.cached(
        "needs read", dict
    )
    found_needs = of_needs.get(needs)
    if found_needs is None:
        if len(of_needs) >= _TEMPLATES_KEPT:
            of_needs.clear()
        found_needs = of_needs[needs] = (
            _relevant_targets(idx, needs),
            tuple(tuple(sorted(codes)) for codes in (needs.deficiencies, needs.skills, needs.conditions)),
        )
    relevant, sorted_needs = found_needs

    resources: dict[int, tuple[Node, str | None, _Facts]] = idx.cached("match facts", dict)
    explained: dict[Any, tuple[_Offer, ...]] = idx.cached("explanations", dict)

    def candidate(pick: _Pick, age: int | None = query.age) -> _Candidate:
        p = pick.position
        found = resources.get(p)
        if found is None:
            ref = idx.refs[p]
            node = Node(ref.kind, ref.key, idx.props[p])  # the store's own mapping: read only
            found = resources[p] = (
                node,
                str(idx.departments[p]) or None,
                _facts_of(node, float(idx.lats[p]), float(idx.lons[p])),
            )
        node, department, facts = found
        comp = _explain(idx.out[p], node.kind, needs, age, relevant, node.props, explained, (p, needs))
        basis = Basis.SEPARATELY if pick.separate else _BASIS[pick.tier]
        return _Candidate(
            node,
            comp,
            basis,
            pick.score,
            pick.distance_km,
            pick.within,
            department,
            facts.lat,
            facts.lon,
            facts,
        )

    # What a row says of a resource but its rank, distance and group depends on
    # the resource, the needs, the age and the person's ERHR only: assembled once
    # per index state for those, then completed per answer.
    templates: dict[Any, dict[Any, tuple[tuple[Any, ...], tuple[Any, ...]]]] = idx.cached(
        "match templates", dict
    )
    held: list[int] = idx.cached("match templates held", lambda: [0])
    rows_of: dict[int | None, dict[Any, tuple[tuple[Any, ...], tuple[Any, ...]]]] = {}

    def local_match(pick: _Pick, age: int | None, group: str, rank: int) -> Match:
        rows = rows_of.get(age)
        if rows is None:
            rows = rows_of[age] = templates.setdefault((needs, age, person_erhr), {})
        position, distance, within, tier, score, separate = pick
        key = (position, tier, separate, score)
        found = rows.get(key)
        if found is None:
            if held[0] >= _TEMPLATES_KEPT:
                templates.clear()
                held[0] = 0
                rows = rows_of[age] = templates.setdefault((needs, age, person_erhr), {})
            template = _match(0, candidate(pick, age), MatchLevel.LOCAL, needs, table, person_erhr)
            found = rows[key] = (tuple(template[1:9]), tuple(template[12:20]))
            held[0] += 1
        head, tail = found
        return _new_match(
            Match, (rank, *head, round(distance, 1), estimated_minutes(distance), within, *tail, group)
        )

    future = _future_age(query.age)
    matches: list[Match] = []
    serving = {int(p) for p in zone} if zone.size else set()
    for p in chosen:
        group = groups[p.position]
        match = local_match(p, future if group == "next" else query.age, group, len(matches) + 1)
        if match.distance_km == 0 and p.position in serving:
            # at 0 km because it works in the person's commune, not because its seat is there
            match = match._replace(location_source=ZONE_SOURCE)
        matches.append(match)
    # Teams are found on the index's coverage columns; only their members are explained.
    team_picks = _teams(scored, pool) if pool is not None and len(pool) else []
    notes += uncovered_notes

    # Then the ERHR of the person's territory and the competent CNRHR (links read
    # once per index state: they are not in the index of local resources).
    referents: dict[Any, Match] = model.cached("referent templates", dict)
    sites: dict[Any, Node] = model.cached("referents placed", dict)  # at their site nearest the person

    def referent_match(node: Node, level: MatchLevel, department: str | None) -> Match:
        """An ERHR's or a CNRHR's row: what it says but its rank and distance depends
        on the referent, its site nearest the person, the needs, the age and the
        person's ERHR and department; assembled once for those, then completed."""
        at = (node.ref, place.lat, place.lon)
        placed = sites.get(at)
        if placed is None:
            if len(sites) >= _TEMPLATES_KEPT:
                sites.clear()
            placed = sites[at] = _referent(store, model, node, place)
        node = placed
        key = (level, node.key, node.props.get("nearest_site"), needs, query.age, person_erhr, department)
        template = referents.get(key)
        if template is None:
            comp = _explain(
                _links_of(store, model, node.ref), node.kind, needs, query.age, relevant, node.props
            )
            cand = _national_candidate(node, comp, needs, place, department)
            if level is MatchLevel.ERHR:
                cand.basis = Basis.TERRITORIAL
            if len(referents) >= _TEMPLATES_KEPT:
                referents.clear()
            template = referents[key] = _match(0, cand, level, needs, table, person_erhr, "referent")
        lat, lon = node.props.get("lat"), node.props.get("lon")
        if lat is None or lon is None:
            return template._replace(rank=len(matches) + 1)
        distance = round(haversine_km(place.lat, place.lon, float(lat), float(lon)), 3)
        return template._replace(
            rank=len(matches) + 1, distance_km=round(distance, 1), minutes=estimated_minutes(distance)
        )

    erhr_node = table.erhr.get(person_erhr)
    first_referent = len(matches)
    if erhr_node is not None:
        matches.append(referent_match(erhr_node, MatchLevel.ERHR, place.department))
    for code in qualification.cnrhr:
        cnrhr: Node | None = model.cached(("cnrhr", code), functools.partial(store.get_node, K.CNRHR, code))
        if cnrhr is not None:
            matches.append(referent_match(cnrhr, MatchLevel.CNRHR, None))

    # A referent across the sea (an ERHR or a CNRHR on another land mass): no road
    # time, the person is accompanied from a distance.
    matches[first_referent:] = [
        m._replace(minutes=None, location_source=ACROSS_THE_SEA)
        if m.lat is not None and m.lon is not None and _land_at(model, m.lat, m.lon) not in (None, land)
        else m
        for m in matches[first_referent:]
    ]
    team_results = tuple(
        Team(
            members=tuple(local_match(member, query.age, "within", i + 1) for i, member in enumerate(team)),
            max_distance_km=round(max(m.distance_km for m in team), 1),
        )
        for team in team_picks
    )
    return MatchResult(
        combination=needs.combination,
        deficiencies=sorted_needs[0],
        skills=sorted_needs[1],
        conditions=sorted_needs[2],
        qualification=qualification,
        place=place,
        erhr=model.cached(
            ("ERHR contact", person_erhr), functools.partial(_erhr_contact, person_erhr, erhr_node)
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


def _erhr_contact(code: str, node: Node | None) -> ErhrContact:
    """The person's ERHR as the answer names it (read only: kept per read-model state)."""
    props = node.props if node is not None else {}
    return ErhrContact(
        code=code,
        name=str(props.get("name", "")),
        seat=props.get("seat"),
        email=props.get("email"),
        phone=props.get("phone"),
        website=props.get("website"),
        regions=tuple(props.get("regions", [])),
        missing=None
        if all(props.get(f) for f in ("email", "phone", "website"))
        else "Coordonnées incomplètes dans les sources du réseau (FINESS, GNCHR) : le GNCHR les complète dans la "
        "liste des ERHR.",
    )


def _land_at(model: ReadModel, lat: float, lon: float) -> str | None:
    """The land mass of a point: that of its nearest commune (kept per read-model state)."""

    def find() -> str | None:
        grid = model.communes
        if not len(grid.codes):
            return None
        nearest = int(np.argmin(haversine_km_many(lat, lon, grid.lats, grid.lons)))
        return land_mass(grid.department[nearest])

    return model.cached(("land at", round(lat, 5), round(lon, 5)), find)  # type: ignore[no-any-return]


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
    positions, tiers = competent_positions(
        read_model(store).competence, deficiencies, age=age, kinds=kinds, separately=separately
    )
    refs = read_model(store).competence.refs
    return {refs[p]: _BASIS[t] for p, t in zip(positions.tolist(), tiers.tolist(), strict=True)}


def competent_positions(
    idx: CompetenceIndex,
    deficiencies: Iterable[str],
    *,
    age: int | None = None,
    kinds: Iterable[NodeKind] = LOCAL_KINDS,
    separately: bool = True,
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
    full = (scored.candidate & competent).nonzero()[0]
    return scored.positions[full].astype(np.int64), scored.tier[full]
