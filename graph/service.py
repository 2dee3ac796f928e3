"""The domain services as every interface calls them: one place where access
rules are enforced and situation accesses are audited.

Each function takes the caller (:class:`graph.access.Principal`) first; the
GraphQL resolvers, REST routes, pages and CLI call these, never the store
directly for anything access-controlled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from graph import coverage as cov
from graph import matching, network
from graph.access import Permission, Principal, audit
from graph.errors import InvalidInput, NotFound
from graph.model import RESOURCE_KINDS, Edge, NodeKind, NodeRef, RelType
from graph.store import GraphStore
from graph.territories import TerritoryTable

__all__ = [
    "SituationView",
    "Referral",
    "find_resources",
    "coverage",
    "gaps",
    "what_if",
    "network_insights",
    "list_situations",
    "get_situation",
    "record_referral",
    "MAX_PAGE",
]

K, R = NodeKind, RelType
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Referral:
    resource_kind: str
    resource_key: str
    resource_name: str
    date: str
    outcome: str


@dataclass(frozen=True, slots=True)
class SituationView:
    """A pseudonymous situation as an ERHR or the GNCHR sees it."""

    key: str
    age: int | None
    status: str
    opened_on: str | None
    erhr: str
    department: str
    commune: str | None
    combination: str | None
    conditions: tuple[str, ...]
    needs: tuple[str, ...]
    referrals: tuple[Referral, ...]
    synthetic: bool


def find_resources(store: GraphStore, principal: Principal, query: matching.SituationQuery) -> matching.MatchResult:
    principal.require(Permission.MATCH)
    return matching.find_resources(store, query)


def _protect(store: GraphStore, principal: Principal, result: cov.CoverageResult, table: TerritoryTable) -> cov.CoverageResult:
    return cov.protect_counts(result, table) if principal.suppresses_small_counts else replace(result, demand_by_department={})


def coverage(store: GraphStore, principal: Principal, deficiencies: Iterable[str], **options: object) -> cov.CoverageResult:
    principal.require(Permission.AGGREGATES)
    table = TerritoryTable(store)
    result = cov.coverage(store, deficiencies, table=table, **options)  # type: ignore[arg-type]
    audit(store, principal, "aggregate:coverage", count=sum(o for o, _ in result.demand_by_department.values()))
    return _protect(store, principal, result, table)


def gaps(store: GraphStore, principal: Principal, **options: object) -> cov.GapMatrix:
    principal.require(Permission.AGGREGATES)
    table = TerritoryTable(store)
    audit(store, principal, "aggregate:gaps")
    return cov.gaps(store, protect=lambda r: _protect(store, principal, r, table), **options)  # type: ignore[arg-type]


def what_if(
    store: GraphStore, principal: Principal, deficiencies: Iterable[str], additions: Sequence[cov.Addition], **options: object
) -> tuple[cov.CoverageResult, cov.CoverageResult, tuple[cov.TerritoryDelta, ...]]:
    principal.require(Permission.AGGREGATES)
    table = TerritoryTable(store)
    before, after, _ = cov.what_if(store, deficiencies, additions, **options)  # type: ignore[arg-type]
    audit(store, principal, "aggregate:what_if")
    before, after = _protect(store, principal, before, table), _protect(store, principal, after, table)
    deltas = tuple(
        cov.TerritoryDelta(b.code, b.name, b, a)
        for b, a in zip(before.territories, after.territories, strict=True)
        if b != a
    )
    return before, after, tuple(sorted(deltas, key=lambda d: (-d.population_gained, d.code)))


def network_insights(store: GraphStore, principal: Principal, territory: str) -> network.NetworkInsights:
    principal.require(Permission.NETWORK)
    return network.network_insights(store, territory)


# -- situations --------------------------------------------------------------------
def _visible(principal: Principal, props: dict[str, object]) -> bool:
    return principal.sees_territory(str(props.get("erhr") or "") or None)


def list_situations(
    store: GraphStore, principal: Principal, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[SituationView]]:
    """The caller's situations (its territory; all for the GNCHR), newest first."""
    principal.require(Permission.SITUATIONS_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"taille de page entre 1 et {MAX_PAGE}.")
    if offset < 0:
        raise InvalidInput("offset", "le décalage doit être positif.")
    if status is not None and status not in ("open", "closed"):
        raise InvalidInput("status", "statut attendu : open ou closed.")
    nodes = [n for n in store.nodes(K.SITUATION) if _visible(principal, dict(n.props))
             and (status is None or n.props.get("status") == status)]
    nodes.sort(key=lambda n: (str(n.props.get("opened_on") or ""), n.key), reverse=True)
    page = nodes[offset : offset + limit]
    views = _views(store, page)
    audit(store, principal, "situations:list", [v.key for v in views])
    return len(nodes), views


def get_situation(store: GraphStore, principal: Principal, key: str) -> SituationView:
    """One situation; outside the caller's territory it is indistinguishable from a missing one."""
    principal.require(Permission.SITUATIONS_READ)
    node = store.get_node(K.SITUATION, key)
    if node is None or not _visible(principal, dict(node.props)):
        raise NotFound(f"Situation introuvable : {key}.")
    [view] = _views(store, [node])
    audit(store, principal, "situations:read", [key])
    return view


def record_referral(
    store: GraphStore, principal: Principal, situation: str, resource: NodeRef, *, date: str, outcome: str
) -> SituationView:
    """Record that a situation was referred to a resource, with its outcome."""
    principal.require(Permission.SITUATIONS_WRITE)
    node = store.get_node(K.SITUATION, situation)
    if node is None or not _visible(principal, dict(node.props)):
        raise NotFound(f"Situation introuvable : {situation}.")
    if resource.kind not in RESOURCE_KINDS or store.get_node(resource.kind, resource.key) is None:
        raise NotFound(f"Ressource introuvable : {resource.kind.value} {resource.key}.")
    if len(date) != 10 or date[4] != "-" or date[7] != "-" or not date.replace("-", "").isdigit():
        raise InvalidInput("date", "date attendue au format AAAA-MM-JJ.")
    text = outcome.strip()
    if not 1 <= len(text) <= 500:
        raise InvalidInput("outcome", "indiquez l'issue de l'orientation (500 caractères au plus).")
    store.upsert(edges=[Edge(R.REFERRED_TO, node.ref, resource, {"date": date, "outcome": text}, key=date)])
    audit(store, principal, "situations:referral", [situation])
    [view] = _views(store, [store.get_node(K.SITUATION, situation)])  # type: ignore[list-item]
    return view


def _views(store: GraphStore, nodes: list) -> list[SituationView]:  # type: ignore[type-arg]
    out = store.edges_from([n.ref for n in nodes])
    targets: dict[NodeKind, set[str]] = {}
    for edges in out.values():
        for e in edges:
            if e.type is R.REFERRED_TO:
                targets.setdefault(e.target.kind, set()).add(e.target.key)
    names = {
        NodeRef(kind, key): str(node.props.get("name") or node.props.get("profession") or key)
        for kind, keys in targets.items()
        for key, node in store.get_nodes(kind, keys).items()
    }
    views = []
    for node in nodes:
        edges = out[node.ref]
        first = lambda rel: next((e.target.key for e in edges if e.type is rel), None)  # noqa: E731
        referrals = tuple(
            Referral(e.target.kind.value, e.target.key, names.get(e.target, e.target.key),
                     str(e.props.get("date", "")), str(e.props.get("outcome", "")))
            for e in sorted((e for e in edges if e.type is R.REFERRED_TO), key=lambda e: (str(e.props.get("date", "")), e.target.key))
        )
        p = node.props
        views.append(SituationView(
            key=node.key, age=p.get("age"), status=str(p.get("status", "open")), opened_on=p.get("opened_on"),
            erhr=str(p.get("erhr", "")), department=str(p.get("department", "")), commune=first(R.LIVES_IN),
            combination=first(R.PRESENTS),
            conditions=tuple(sorted(e.target.key for e in edges if e.type is R.HAS_CONDITION)),
            needs=tuple(sorted(e.target.key for e in edges if e.type is R.NEEDS)),
            referrals=referrals, synthetic=bool(p.get("synthetic", False)),
        ))
    return views
