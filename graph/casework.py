"""Situations and their referrals as the services see them: listed, read,
created and updated under the access rules (territory by role) with every
access audited (GDPR art. 9: pseudonymous situations only)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from graph import activity as act
from graph import referrals
from graph.access import Forbidden, Permission, Principal, Role, audit
from graph.errors import InvalidInput, NotFound, WriteConflict
from graph.model import (
    RESOURCE_KINDS,
    Edge,
    Node,
    NodeKind,
    NodeRef,
    RelType,
    combination_elements,
    combination_key,
)
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.territories import resolve_commune
from graph.views import SituationFacts, display_name
from graph.vocabulary import CONDITIONS, normalise_conditions, normalise_deficiencies, normalise_skills

K, R = NodeKind, RelType
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Referral:
    resource_kind: str
    resource_key: str
    resource_name: str
    date: str  # proposed on
    outcome: str  # the note typed with it
    id: str = ""
    status: str = "proposee"
    status_label: str = "proposée"
    updated_on: str = ""
    next_action_on: str | None = None
    reason: str | None = None
    history: tuple[tuple[str, str], ...] = ()
    next_statuses: tuple[str, ...] = ()


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


# -- situations --------------------------------------------------------------------
def _visible(principal: Principal, node: Node) -> bool:
    return principal.sees_territory(SituationFacts.of(node).erhr)


def list_situations(
    store: GraphStore,
    principal: Principal,
    *,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    combination: str | None = None,
    age_band: str | None = None,
    commune: str | None = None,
) -> tuple[int, list[SituationView]]:
    """The caller's situations (its territory; all for the GNCHR), newest first;
    filtered by status, combination (exact, « DV+TSA »), age band (« 16-25 ans »)
    and commune (INSEE code)."""
    _require(store, principal, Permission.SITUATIONS_READ, "situations:list", "")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"taille de page entre 1 et {MAX_PAGE}.")
    if offset < 0:
        raise InvalidInput("offset", "le décalage doit être positif.")
    if status is not None and status not in ("open", "closed"):
        raise InvalidInput("status", "statut attendu : open ou closed.")
    bands = {label for _lo, _hi, label in act.AGE_BANDS}
    if age_band is not None and age_band not in bands:
        raise InvalidInput(
            "tranche", "tranches d'âge : " + ", ".join(label for _lo, _hi, label in act.AGE_BANDS) + "."
        )
    wanted_combination = combination_key(combination.replace(" ", "+").split("+")) if combination else None
    nodes = [
        n
        for n in store.nodes(K.SITUATION)
        if _visible(principal, n)
        and (status is None or SituationFacts.of(n).status == status)
        and (age_band is None or act.age_band(SituationFacts.of(n).age) == age_band)
    ]
    if wanted_combination or commune:
        out = store.edges_from([n.ref for n in nodes], [R.PRESENTS, R.LIVES_IN]) if nodes else {}
        nodes = [
            n
            for n in nodes
            if (
                not wanted_combination
                or any(
                    e.type is R.PRESENTS and e.target.key == wanted_combination for e in out.get(n.ref, [])
                )
            )
            and (
                not commune
                or any(e.type is R.LIVES_IN and e.target.key == commune.strip() for e in out.get(n.ref, []))
            )
        ]
    nodes.sort(key=lambda n: (SituationFacts.of(n).opened_on or "", n.key), reverse=True)
    page = nodes[offset : offset + limit]
    views = _views(store, page)
    audit(store, principal, "situations:list", [v.key for v in views])
    return len(nodes), views


def _denied(store: GraphStore, principal: Principal, operation: str, key: str, exists: bool) -> None:
    """A refused attempt on a situation, in the audit: the situation's own id when
    it exists (its history then shows who tried), the text asked otherwise."""
    if exists:
        audit(store, principal, f"denied:{operation}", [key])
    else:
        audit(store, principal, f"denied:{operation}", params={"requested": key[:64]})


def _require(
    store: GraphStore, principal: Principal, permission: Permission, operation: str, key: str
) -> None:
    if not principal.can(permission):
        audit(store, principal, f"denied:{operation}", params={"requested": key[:64]})
        principal.require(permission)


def get_situation(store: GraphStore, principal: Principal, key: str) -> SituationView:
    """One situation; outside the caller's territory it is indistinguishable from a missing one."""
    _require(store, principal, Permission.SITUATIONS_READ, "situations:read", key)
    node = store.get_node(K.SITUATION, key)
    if node is None or not _visible(principal, node):
        _denied(store, principal, "situations:read", key, node is not None)
        raise NotFound(f"Situation introuvable : {key}.")
    [view] = _views(store, [node])
    audit(store, principal, "situations:read", [key])
    return view


def _writable_situation(store: GraphStore, principal: Principal, situation: str, operation: str) -> Node:
    _require(store, principal, Permission.SITUATIONS_WRITE, operation, situation)
    node = store.get_node(K.SITUATION, situation)
    if node is None or not _visible(principal, node):
        _denied(store, principal, operation, situation, node is not None)
        raise NotFound(f"Situation introuvable : {situation}.")
    return node


def _view_of(store: GraphStore, situation: str) -> SituationView:
    stored = store.get_node(K.SITUATION, situation)
    assert stored is not None  # read or written just above
    [view] = _views(store, [stored])
    return view


def record_referral(
    store: GraphStore,
    principal: Principal,
    situation: str,
    resource: NodeRef,
    *,
    date: str,
    outcome: str = "",
    next_action_on: str | None = None,
) -> SituationView:
    """Refer a situation to a resource: a new referral, « proposée » on ``date``,
    with an optional note and the date of the next action."""
    node = _writable_situation(store, principal, situation, "situations:referral")
    if resource.kind not in RESOURCE_KINDS or store.get_node(resource.kind, resource.key) is None:
        raise NotFound(f"Ressource introuvable : {resource.kind.value} {resource.key}.")
    day = referrals.check_date(date, "date")
    text = outcome.strip()
    if len(text) > 500:
        raise InvalidInput("outcome", "la note tient en 500 caractères au plus.")
    props: dict[str, object] = {
        "status": referrals.Status.PROPOSED.value,
        "proposed_on": day,
        "date": day,
        "updated_on": day,
        "history": [f"{day}|{referrals.Status.PROPOSED.value}"],
    }
    if text:
        props["note"] = text
    if next_action_on:
        props["next_action_on"] = referrals.check_date(next_action_on, "nextActionOn")
    referral = referrals.new_referral_id()
    store.upsert(edges=[Edge(R.REFERRED_TO, node.ref, resource, props, key=referral)])
    audit(
        store,
        principal,
        "situations:referral",
        [situation],
        params={"referral": referral, "status": "proposee"},
    )
    return _view_of(store, situation)


def update_referral(
    store: GraphStore,
    principal: Principal,
    situation: str,
    referral: str,
    *,
    status: str,
    date: str,
    reason: str | None = None,
    next_action_on: str | None = None,
    note: str | None = None,
) -> SituationView:
    """Move a referral to its next status (``graph.referrals.NEXT``), on ``date``;
    a refusal says why. Every change is audited."""
    node = _writable_situation(store, principal, situation, "situations:referral_status")
    edge = next(
        (e for e in store.edges_from([node.ref], [R.REFERRED_TO])[node.ref] if (e.key or "") == referral),
        None,
    )
    if edge is None:
        raise NotFound(f"Orientation introuvable : {referral[:40]}.")
    facts = referrals.ReferralFacts.of(edge.key, edge.props)
    wanted = referrals.parse_status(status)
    referrals.check_change(facts.status, wanted, reason)
    day = referrals.check_date(date, "date")
    if day < facts.updated_on:
        raise InvalidInput("date", f"la date ne peut précéder le dernier changement ({facts.updated_on}).")
    props: dict[str, object] = {
        "status": wanted.value,
        "updated_on": day,
        "history": [f"{d}|{s.value}" for d, s in facts.history] + [f"{day}|{wanted.value}"],
        "next_action_on": referrals.check_date(next_action_on, "nextActionOn") if next_action_on else None,
    }
    if wanted is referrals.Status.REFUSED:
        props["reason"] = (reason or "").strip()[:500]
    if note is not None and note.strip():
        props["note"] = note.strip()[:500]
    if not props["next_action_on"] or wanted not in referrals.OPEN_STATUSES:
        props["next_action_on"] = None
    # Compare-and-set: the status read is the status changed; two people changing
    # one referral at once, the second is told, and no step of the history is lost.
    read = {k: edge.props.get(k) for k in ("status", "updated_on", "history")}
    try:
        store.upsert(
            edges=[Edge(R.REFERRED_TO, node.ref, edge.target, props, key=edge.key)], expect=[(edge, read)]
        )
    except WriteConflict:
        raise WriteConflict(
            "Cette orientation vient d'être modifiée par quelqu'un d'autre : rien n'a été enregistré. "
            "Rechargez la situation pour voir son statut actuel, puis recommencez si besoin."
        ) from None
    audit(
        store,
        principal,
        "situations:referral_status",
        [situation],
        params={"referral": referral, "from": facts.status.value, "to": wanted.value},
    )
    return _view_of(store, situation)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A referral to follow up (« à relancer »): its next action is due."""

    situation: str
    erhr: str
    referral: Referral


def referrals_to_follow_up(store: GraphStore, principal: Principal, today: str) -> list[FollowUp]:
    """The caller's territory's referrals still followed whose next action is due
    on ``today`` or before, the most overdue first. The read is audited."""
    _require(store, principal, Permission.SITUATIONS_READ, "situations:follow_up", "")
    day = referrals.check_date(today, "today")
    nodes = [n for n in store.nodes(K.SITUATION) if _visible(principal, n)]
    due: list[FollowUp] = []
    for view in _views(store, nodes):
        for r in view.referrals:
            if (
                r.next_action_on
                and r.next_action_on <= day
                and r.status in {s.value for s in referrals.OPEN_STATUSES}
            ):
                due.append(FollowUp(view.key, view.erhr, r))
    due.sort(key=lambda f: (f.referral.next_action_on or "", f.situation, f.referral.id))
    audit(store, principal, "situations:follow_up", sorted({f.situation for f in due}))
    return due


def _views(store: GraphStore, nodes: list[Node]) -> list[SituationView]:
    out = store.edges_from([n.ref for n in nodes])
    targets: dict[NodeKind, set[str]] = {}
    for edges in out.values():
        for e in edges:
            if e.type is R.REFERRED_TO:
                targets.setdefault(e.target.kind, set()).add(e.target.key)
    names = {
        NodeRef(kind, key): display_name(node.props, key)
        for kind, keys in targets.items()
        for key, node in store.get_nodes(kind, keys).items()
    }
    views = []
    for node in nodes:
        edges = out[node.ref]

        def first(rel: RelType, edges: list[Edge] = edges) -> str | None:
            return next((e.target.key for e in edges if e.type is rel), None)

        links = sorted(
            ((referrals.ReferralFacts.of(e.key, e.props), e) for e in edges if e.type is R.REFERRED_TO),
            key=lambda pair: (pair[0].proposed_on, pair[0].id),
        )
        followed = tuple(
            Referral(
                e.target.kind.value,
                e.target.key,
                names.get(e.target, e.target.key),
                f.proposed_on,
                f.note,
                id=f.id,
                status=f.status.value,
                status_label=f.label,
                updated_on=f.updated_on,
                next_action_on=f.next_action_on,
                reason=f.reason,
                history=tuple((d, s.value) for d, s in f.history),
                next_statuses=tuple(s.value for s in referrals.Status if s in referrals.NEXT[f.status]),
            )
            for f, e in links
        )
        facts = SituationFacts.of(node)
        views.append(
            SituationView(
                key=node.key,
                age=facts.age,
                status=facts.status,
                opened_on=facts.opened_on,
                erhr=facts.erhr or "",
                department=facts.department,
                commune=first(R.LIVES_IN),
                combination=first(R.PRESENTS),
                conditions=tuple(sorted(e.target.key for e in edges if e.type is R.HAS_CONDITION)),
                needs=tuple(sorted(e.target.key for e in edges if e.type is R.NEEDS)),
                referrals=followed,
                synthetic=facts.synthetic,
            )
        )
    return views


# -- situations written from the pages ----------------------------------------------------
def create_situation(
    store: GraphStore,
    principal: Principal,
    *,
    age: int,
    commune: str,
    deficiencies: Iterable[str],
    conditions: Iterable[str] = (),
    needs: Iterable[str] = (),
    opened_on: str,
) -> SituationView:
    """A new pseudonymous situation: its id is generated (never typed), its ERHR
    is its commune's; an ERHR creates them in its own territory only. No field
    takes free text: nothing identifying can be written."""
    _require(store, principal, Permission.SITUATIONS_WRITE, "situations:create", "")
    if not 0 <= age <= 120:
        raise InvalidInput("age", "l'âge doit être compris entre 0 et 120 ans.")
    place = resolve_commune(store, commune)
    department = str(place.props["department"])
    table = read_model(store).territories
    erhr = table.erhr_of_department.get(department, "")
    if principal.role is not Role.GNCHR and erhr != principal.territory:
        raise Forbidden(
            f"La commune {place.key} relève de l'ERHR {erhr or '?'} : une ERHR crée les situations de son territoire."
        )
    codes = normalise_deficiencies(deficiencies)
    orphas = normalise_conditions(list(conditions)) if conditions else frozenset()
    skills = normalise_skills(needs) if needs else frozenset()
    day = referrals.check_date(opened_on, "date")
    key = f"SIT-{secrets.token_hex(6)}"
    ref = NodeRef(K.SITUATION, key)
    combo = combination_key(list(codes))
    elements = list(combination_elements(combo))
    nodes = [
        Node(
            K.SITUATION,
            key,
            {"age": age, "status": "open", "opened_on": day, "department": department, "erhr": erhr},
        ),
        *(e for e in elements if isinstance(e, Node)),
    ]
    nodes += [Node(K.CONDITION, c, {"label": CONDITIONS[c].label}) for c in sorted(orphas)]
    edges = [e for e in elements if isinstance(e, Edge)]
    edges += [Edge(R.LIVES_IN, ref, place.ref), Edge(R.PRESENTS, ref, NodeRef(K.COMBINATION, combo))]
    if erhr:
        edges.append(Edge(R.FOLLOWED_BY, ref, NodeRef(K.ERHR_TEAM, erhr)))
    edges += [Edge(R.HAS_CONDITION, ref, NodeRef(K.CONDITION, c)) for c in sorted(orphas)]
    edges += [Edge(R.NEEDS, ref, NodeRef(K.SKILL, s)) for s in sorted(skills)]
    store.upsert(nodes, edges)
    audit(store, principal, "situations:create", [key])
    return _view_of(store, key)


def update_situation(
    store: GraphStore,
    principal: Principal,
    situation: str,
    *,
    status: str | None = None,
    age: int | None = None,
    closed_on: str | None = None,
    needs: Iterable[str] | None = None,
) -> SituationView:
    """Close or reopen a situation, correct its age, set its needs; audited."""
    node = _writable_situation(store, principal, situation, "situations:update")
    props: dict[str, object] = {}
    if status is not None:
        if status not in ("open", "closed"):
            raise InvalidInput("statut", "statut attendu : ouverte ou close.")
        props["status"] = status
        props["closed_on"] = (
            referrals.check_date(closed_on or "", "date de clôture") if status == "closed" else None
        )
    if age is not None:
        if not 0 <= age <= 120:
            raise InvalidInput("age", "l'âge doit être compris entre 0 et 120 ans.")
        props["age"] = age
    edges: list[Edge] = []
    if needs is not None:
        skills = normalise_skills(needs) if needs else frozenset()
        stale = [e for e in store.edges_from([node.ref], [R.NEEDS])[node.ref] if e.target.key not in skills]
        if stale:
            store.delete_edges(stale)
        edges = [Edge(R.NEEDS, node.ref, NodeRef(K.SKILL, s)) for s in sorted(skills)]
    store.upsert([Node(K.SITUATION, node.key, props)], edges)
    audit(store, principal, "situations:update", [situation], params={k: str(v) for k, v in props.items()})
    return _view_of(store, situation)
