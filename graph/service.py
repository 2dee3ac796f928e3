"""The domain services as every interface calls them: one place where access
rules are enforced and situation accesses are audited.

Each function takes the caller (:class:`graph.access.Principal`) first; the
GraphQL resolvers, REST routes, pages and CLI call these, never the store
directly for anything access-controlled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from graph import activity as act
from graph import coverage as cov
from graph import directory as dir_
from graph import knowledge, matching, network, quality
from graph import transition as radar_
from graph.access import Forbidden, Permission, Principal, Role, audit
from graph.casework import (
    MAX_PAGE,
    FollowUp,
    Referral,
    SituationView,
    _require,
    create_situation,
    get_situation,
    list_situations,
    record_referral,
    referrals_to_follow_up,
    update_referral,
    update_situation,
)
from graph.errors import InvalidInput, NotFound
from graph.model import (
    Edge,
    Node,
    NodeKind,
    NodeRef,
    RelType,
)
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.territories import TerritoryTable
from graph.views import LinkFacts, ResourceFacts

__all__ = [
    "SituationView",
    "Referral",
    "find_resources",
    "data_quality",
    "coverage",
    "gaps",
    "what_if",
    "network_insights",
    "list_situations",
    "get_situation",
    "record_referral",
    "MAX_PAGE",
    "ResourceView",
    "directory",
    "get_resource",
    "set_expertise",
    "update_referral",
    "save_knowledge",
    "create_situation",
    "update_situation",
    "activity",
    "pole_activity",
    "record_pole_report",
    "list_knowledge",
    "referrals_to_follow_up",
    "FollowUp",
]

K, R = NodeKind, RelType


def find_resources(
    store: GraphStore, principal: Principal, query: matching.SituationQuery
) -> matching.MatchResult:
    """The ranked matches, and beside them the knowledge about the situation's needs."""
    principal.require(Permission.MATCH)
    result = matching.find_resources(store, query)
    offered = knowledge.suggest(
        store,
        result.deficiencies,
        conditions=result.conditions,
        skills=result.skills,
        erhr=result.erhr.code or None,
    )
    return replace(result, knowledge=offered)


def _may_manage_knowledge(principal: Principal, erhr: str | None) -> None:
    """The GNCHR manages every knowledge item; an ERHR, those of its own territory."""
    principal.require(Permission.SITUATIONS_WRITE)
    if principal.role is Role.GNCHR:
        return
    if erhr is None or erhr.strip().upper() != principal.territory:
        raise Forbidden(
            "Une ERHR gère les savoirs de son territoire ; les savoirs nationaux sont gérés par le GNCHR."
        )


def save_knowledge(store: GraphStore, principal: Principal, **fields: Any) -> knowledge.KnowledgeItem:
    """Add (or, with ``key``, replace) a knowledge item; audited."""
    _may_manage_knowledge(principal, fields.get("erhr"))
    node, edges = knowledge.knowledge_node(**fields)
    old = store.get_node(K.KNOWLEDGE, node.key)
    if old is not None:
        _may_manage_knowledge(principal, old.props.get("erhr"))
        stale = [
            e
            for e in store.edges_from([node.ref], [R.ABOUT])[node.ref]
            if e.target not in {x.target for x in edges}
        ]
        if stale:
            store.delete_edges(stale)
    store.upsert([node], edges)
    audit(store, principal, "knowledge:save", params={"key": node.key})
    return knowledge.item_of(node, [e.target for e in edges])


def list_knowledge(store: GraphStore, principal: Principal, **filters: Any) -> list[knowledge.KnowledgeItem]:
    principal.require(Permission.DIRECTORY)
    return knowledge.list_knowledge(store, **filters)


def _protect(
    store: GraphStore, principal: Principal, result: cov.CoverageResult, table: TerritoryTable
) -> cov.CoverageResult:
    """What a principal may see of the situation counts. Partners: counts of the
    exact combination, "sans solution" at 60 km only, and below 11 or anything
    derivable by differencing territories or bands withheld
    (``graph.disclosure``); asked for one age, the counts are withheld whole
    (the age moves the competent resources, hence who is "sans solution":
    two ages side by side would isolate the persons between them), and so are
    counts of an including combination (DI and DI+EPI would differ by a few)
    and counts without the national centres (with and without, side by side,
    would isolate the persons near a centre)."""
    if not principal.suppresses_small_counts:
        return replace(result, demand_by_department={})
    if result.age is not None or not result.exact_counts or result.local_only:
        return cov.hide_counts(result)
    return cov.protect_counts(result, table)


def _partner_thresholds(principal: Principal, options: Mapping[str, object]) -> None:
    """Partners ask the fixed thresholds only (30, 60, 100 km)."""
    if not principal.suppresses_small_counts:
        return
    fixed = cov.PARTNER_THRESHOLDS_KM
    more = options.get("thresholds_km") or []
    asked = [options.get("threshold_km", 60.0), *(more if isinstance(more, list | tuple) else [more])]
    for km in asked:
        try:
            allowed = float(km) in fixed
        except (TypeError, ValueError):
            allowed = False
        if not allowed:
            raise InvalidInput(
                "thresholdKm",
                "seuils ouverts aux partenaires : "
                + ", ".join(f"{t:g}" for t in fixed)
                + " km (des seuils voisins permettraient de recompter de petits effectifs par différence).",
            )


def _asked(combination: str | None, options: Mapping[str, object]) -> dict[str, object]:
    """An aggregate's parameters, for its audit entry (differencing shows there)."""
    return {
        "combination": combination,
        **{
            k: (" ".join(map(str, v)) if isinstance(v, list | tuple) else v)
            for k, v in options.items()
            if k != "protect"
        },
    }


def coverage(
    store: GraphStore, principal: Principal, deficiencies: Iterable[str], **options: object
) -> cov.CoverageResult:
    principal.require(Permission.AGGREGATES)
    _partner_thresholds(principal, options)
    table = read_model(store).territories
    result = cov.coverage(store, deficiencies, exact_counts=principal.suppresses_small_counts, **options)  # type: ignore[arg-type]
    audit(
        store,
        principal,
        "aggregate:coverage",
        count=sum(o for o, *_ in result.demand_by_department.values()),
        params=_asked(result.combination, options),
    )
    return _protect(store, principal, result, table)


def gaps(store: GraphStore, principal: Principal, **options: object) -> cov.GapMatrix:
    principal.require(Permission.AGGREGATES)
    _partner_thresholds(principal, options)
    table = read_model(store).territories
    audit(store, principal, "aggregate:gaps", params=_asked(None, options))
    return cov.gaps(
        store,
        protect=lambda r: _protect(store, principal, r, table),
        exact_counts=principal.suppresses_small_counts,
        **options,  # type: ignore[arg-type]
    )


def what_if(
    store: GraphStore,
    principal: Principal,
    deficiencies: Iterable[str],
    additions: Sequence[cov.Addition],
    **options: object,
) -> tuple[cov.CoverageResult, cov.CoverageResult, tuple[cov.TerritoryDelta, ...]]:
    principal.require(Permission.AGGREGATES)
    _partner_thresholds(principal, options)
    table = read_model(store).territories
    before, after, _ = cov.what_if(store, deficiencies, additions, **options)  # type: ignore[arg-type]
    audit(
        store,
        principal,
        "aggregate:what_if",
        params=_asked(
            before.combination,
            {**options, "additions": " ".join(f"{a.commune}:{'+'.join(a.deficiencies)}" for a in additions)},
        ),
    )
    if principal.suppresses_small_counts:
        # Placing a resource commune by commune would show where the persons
        # "sans solution" live: a partner's what-if gives populations only.
        before, after = cov.hide_counts(before), cov.hide_counts(after)
    else:
        before, after = _protect(store, principal, before, table), _protect(store, principal, after, table)
    deltas = tuple(
        cov.TerritoryDelta(b.code, b.name, b, a)
        for b, a in zip(before.territories, after.territories, strict=True)
        if b != a
    )
    return before, after, tuple(sorted(deltas, key=lambda d: (-d.population_gained, d.code)))


def data_quality(store: GraphStore, principal: Principal) -> quality.DataQuality:
    """Where the directory needs completing, per department: the GNCHR's view."""
    principal.require(Permission.ADMIN)
    return quality.data_quality(store)


def network_insights(store: GraphStore, principal: Principal, territory: str) -> network.NetworkInsights:
    """An ERHR's cooperation links (built from its situations' referrals): its own
    territory for an ERHR key, any for the GNCHR; asked and refused, both audited."""
    principal.require(Permission.NETWORK)
    code = territory.strip().upper()[:16]
    if principal.role is not Role.GNCHR and code != principal.territory:
        audit(store, principal, "denied:network_insights", params={"territory": code})
        raise Forbidden(
            f"Les liens de coopération du territoire {code} sont réservés à son ERHR et au GNCHR."
        )
    result = network.network_insights(store, code)
    audit(store, principal, "network:insights", params={"territory": code})
    return result


# -- directory -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResourceView:
    kind: str
    key: str
    name: str
    department: str | None
    commune: str | None
    erhr: str | None
    synthetic: bool
    props: dict[str, object]
    expertise: tuple[tuple[str, str, int, str], ...]  # (target kind, code, level, detail)
    neighbours: tuple[tuple[str, str, str, str], ...]  # (relation, kind, key, name) — never a situation
    contact: matching.Contact | None = None


def _resource_view(store: GraphStore, node: Node, table: TerritoryTable, with_links: bool) -> ResourceView:
    p = dict(node.props)
    facts = ResourceFacts.of(node)
    department = facts.department
    expertise: list[tuple[str, str, int, str]] = []
    neighbours: list[tuple[str, str, str, str]] = []
    if with_links:
        out = store.edges_from([node.ref])[node.ref]
        into = store.edges_to([node.ref], [R.WORKS_AT])[node.ref]
        for e in sorted(out, key=lambda e: (e.type.value, e.target.key)):
            fallback = "synthetique" if facts.synthetic else "annuaire"
            link = LinkFacts.of(e.props)
            if e.type is R.HAS_EXPERTISE:
                _code, origin = matching.source_of(e.props, fallback)
                expertise.append((e.target.kind.value, e.target.key, int(link.level or 0), origin))
            elif e.type is R.ACCEPTS:
                _code, origin = matching.source_of(e.props, fallback)
                expertise.append(("Deficiency", e.target.key, 1, f"accueil {link.age_band()} — {origin}"))
            elif e.type in (R.WORKS_AT, R.LOCATED_IN):
                neighbours.append((e.type.value, e.target.kind.value, e.target.key, ""))
        for e in into:
            neighbours.append(("WORKS_AT (entrant)", e.source.kind.value, e.source.key, ""))
        names = {}
        for kind in {NodeKind(k) for _r, k, _key, _n in neighbours}:
            for key, n in store.get_nodes(
                kind, [key for _r, k, key, _n in neighbours if k == kind.value]
            ).items():
                workplace = ResourceFacts.of(n)
                names[(kind.value, key)] = workplace.name
                if department is None and kind is K.ESTABLISHMENT and workplace.department:
                    department = workplace.department
        neighbours = [(r, k, key, names.get((k, key), key)) for r, k, key, _n in neighbours]
    return ResourceView(
        kind=node.kind.value,
        key=node.key,
        name=facts.name,
        department=department,
        commune=facts.commune,
        erhr=table.erhr_of_department.get(department) if department else None,
        synthetic=facts.synthetic,
        props=p,
        expertise=tuple(expertise),
        neighbours=tuple(neighbours),
        contact=matching.contact_of(node.kind, p),
    )


DIRECTORY_KINDS = (K.ESTABLISHMENT, K.PROFESSIONAL, K.RESOURCE_POLE)


def directory(
    store: GraphStore,
    principal: Principal,
    query: dir_.DirectoryFilter,
    *,
    first: int = 20,
    after: str | None = None,
) -> dir_.DirectoryPage:
    """The directory API (``graph.directory``): resources only, never a situation."""
    principal.require(Permission.DIRECTORY)
    return dir_.search_directory(store, query, first=first, after=after)


def get_resource(store: GraphStore, principal: Principal, kind: NodeKind, key: str) -> ResourceView:
    principal.require(Permission.DIRECTORY)
    if kind not in DIRECTORY_KINDS + (K.ERHR_TEAM, K.CNRHR):
        raise NotFound("Ressource introuvable.")
    node = store.get_node(kind, key)
    if node is None:
        raise NotFound(f"Ressource introuvable : {key}.")
    return _resource_view(store, node, read_model(store).territories, with_links=True)


def set_expertise(
    store: GraphStore, principal: Principal, kind: NodeKind, key: str, target: NodeRef, level: int | None
) -> ResourceView:
    """Set (1-3) or remove (None) a resource's expertise; an ERHR key may edit
    only the resources of its territory."""
    from graph.access import Forbidden, Role

    principal.require(Permission.SITUATIONS_WRITE)
    view = get_resource(store, principal, kind, key)
    if principal.role is Role.ERHR and view.erhr != principal.territory:
        raise Forbidden("Cette ressource n'est pas dans le territoire de votre ERHR.")
    if store.get_node(target.kind, target.key) is None:
        raise InvalidInput("code", f"code inconnu : {target.key}.")
    edge = Edge(R.HAS_EXPERTISE, NodeRef(kind, key), target, {"level": level} if level else {})
    if level is None:
        store.delete_edges([edge])
    else:
        if not 1 <= level <= 3:
            raise InvalidInput("niveau", "le niveau d'expertise va de 1 à 3.")
        store.upsert(edges=[edge])
    return get_resource(store, principal, kind, key)


# -- activity -------------------------------------------------------------------------
def activity(store: GraphStore, principal: Principal, year: int, erhr: str | None = None) -> act.ErhrActivity:
    """A year's figures of an ERHR territory (or national); partners under the
    small-count rule, without breakdowns. Audited like every aggregate."""
    principal.require(Permission.AGGREGATES)
    code = erhr.strip().upper()[:16] if erhr else None
    result = act.erhr_activity(store, year, code)
    audit(store, principal, "aggregate:activity", params={"year": year, "erhr": code or "FR"})
    if principal.suppresses_small_counts:
        return act.protect_erhr(store, result)
    return replace(result, cells={})


def pole_activity(
    store: GraphStore, principal: Principal, period: str, erhr: str | None = None
) -> list[act.PoleActivity]:
    principal.require(Permission.AGGREGATES)
    rows = act.pole_activity(store, period, erhr.strip().upper()[:16] if erhr else None)
    audit(store, principal, "aggregate:pole_activity", params={"period": period[:10], "erhr": erhr or "FR"})
    return act.protect_poles(rows) if principal.suppresses_small_counts else rows


def record_pole_report(
    store: GraphStore, principal: Principal, pole: str, period: str, **counts: object
) -> act.PoleActivity:
    """A pôle's activity report for a period (replaces that period's): the GNCHR,
    or the ERHR of the pôle's territory."""
    principal.require(Permission.SITUATIONS_WRITE)
    node = store.get_node(K.RESOURCE_POLE, pole.strip())
    if node is None:
        raise NotFound(f"Pôle ressources introuvable : {pole[:40]}.")
    table = read_model(store).territories
    territory = table.erhr_of_department.get(str(node.props.get("department", "")))
    if principal.role is not Role.GNCHR and territory != principal.territory:
        raise Forbidden("Une ERHR enregistre l'activité des pôles de son territoire.")
    report, edge = act.report_node(node.key, period, **counts)  # type: ignore[arg-type]
    store.upsert([report], [edge])
    audit(store, principal, "activity:pole_report", params={"pole": node.key, "period": period[:10]})
    return next(r for r in act.pole_activity(store, str(report.props["period"])) if r.pole == node.key)


def transition_radar(
    store: GraphStore,
    principal: Principal,
    *,
    level: str = "DEPARTMENT",
    threshold_km: float = 60.0,
    criterion: str | None = None,
    hypotheses: Sequence[radar_.Hypothesis] = (),
    as_of: date | None = None,
) -> radar_.Radar:
    """The transition radar as the caller may read it (graph/transition.py): the
    GNCHR everything; an ERHR its territory's young people and figures; a
    partner every territory's published counts, no person, no what-if (placing
    a service commune by commune would show where the young people live)."""
    options = {
        "level": level,
        "thresholdKm": threshold_km,
        "criterion": criterion,
        "hypotheses": " ".join(f"{h.commune}:{'+'.join(h.deficiencies)}:{h.places}" for h in hypotheses)
        or None,
    }
    if principal.role is Role.PARTNER:
        principal.require(Permission.AGGREGATES)
        if hypotheses:
            audit(store, principal, "denied:transition_what_if", params=options)
            raise Forbidden("La simulation du radar est réservée aux ERHR et au GNCHR.")
    else:
        _require(store, principal, Permission.SITUATIONS_READ, "situations:transition", "")
    found = radar_.transition_radar(
        store, level=level, threshold_km=threshold_km, criterion=criterion, hypotheses=hypotheses, as_of=as_of
    )
    table = read_model(store).territories
    if principal.role is Role.PARTNER:
        audit(store, principal, "aggregate:transition", params=options)
        return radar_.protect_radar(store, found, table)
    if principal.role is Role.ERHR:
        found = radar_.restrict_to_territory(found, table, principal.territory or "")
    audit(store, principal, "situations:transition", [p.key for p in found.people], params=options)
    return found
