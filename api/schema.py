"""The GraphQL schema (strawberry): wire types and their resolvers.

Resolvers are thin: parse arguments, call a domain function of ``graph/`` in a
worker thread (store calls block), convert domain types to wire types.
Expected failures (a :class:`graph.errors.DihrError`) become GraphQL errors
with ``extensions.code`` and a French message; anything else is masked and
logged with a correlation id.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio.to_thread
import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension, max_aliases, query_depth_limiter
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from api.types import (
    AdditionInput,
    Commune,
    Condition,
    CoverageResult,
    Deficiency,
    Erhr,
    FindResourcesResult,
    GapMatrix,
    Level,
    NetworkInsights,
    Qualification,
    ResourceRefKind,
    Situation,
    SituationInput,
    SituationPage,
    Skill,
    Territory,
    TerritoryKind,
    WhatIfResult,
    condition_wire,
    coverage_wire,
    gaps_wire,
    match_result_wire,
    network_wire,
    qualification_wire,
    situation_query,
    situation_wire,
    territory_wire,
    what_if_wire,
)
from graph import conditions as conditions_module
from graph import coverage as cov
from graph import rare, service, territories, vocabulary
from graph.access import Principal
from graph.errors import DihrError, InvalidInput
from graph.model import NodeKind, NodeRef
from graph.settings import Settings
from graph.store import GraphStore

__all__ = ["schema", "Context"]

log = logging.getLogger("dihr.api")
MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_TOKENS = 2000
#: Fields of a document once every fragment spread is expanded, and its cost
#: (the national computations weigh more): both counted in time linear in the
#: document's size, before any other validation rule walks it.
MAX_FIELDS = 2000
MAX_COST = 100
FIELD_COST = {"gaps": 40, "whatIf": 20, "coverage": 10, "networkInsights": 10, "findResources": 5, "situations": 2}
T = TypeVar("T")


class Context(BaseContext):
    def __init__(self, store: GraphStore, settings: Settings, principal: Principal) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.principal = principal


class QueryTimeout(DihrError):
    code = "TIMEOUT"


async def _run(fn: Callable[..., T], *args: Any, timeout_s: float = 20.0) -> T:
    """Run a blocking domain call in a worker thread, abandoned after ``timeout_s``."""
    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(lambda: fn(*args), abandon_on_cancel=True)
    except TimeoutError:
        raise QueryTimeout(f"La requête a dépassé {timeout_s:g} s : réduisez-la (rayon, niveau, nombre de résultats).") from None


async def _call(info: Info[Context, None], fn: Callable[..., T], *args: Any) -> T:
    """A service call as the caller, within the query timeout."""
    ctx = info.context
    return await _run(fn, ctx.store, ctx.principal, *args, timeout_s=ctx.settings.query_timeout_s)


@strawberry.type
class Query:
    @strawberry.field(description="Vocabulaire des déficiences.")
    def deficiencies(self) -> list[Deficiency]:
        return [
            Deficiency(code=d.code, label=d.label, family=d.family, chronic=d.chronic, ror_r245=d.ror_r245)
            for d in vocabulary.DEFICIENCIES.values()
        ]

    @strawberry.field(description="Vocabulaire des compétences.")
    def skills(self) -> list[Skill]:
        return [
            Skill(code=s.code, label=s.label, family=s.family, ror_r243_label=s.ror_r243_label)
            for s in vocabulary.SKILLS.values()
        ]

    @strawberry.field(description="Maladies rares (codes ORPHA, HPO) : recherche par code ou par nom, français ou anglais.")
    def conditions(self, search: str = "", first: int = 50) -> list[Condition]:
        if not 1 <= first <= 100:
            raise InvalidInput("first", "le nombre de résultats doit être compris entre 1 et 100.")
        if search.strip():
            found = conditions_module.search_conditions(search[:100], limit=first)
        else:
            found = list(itertools.islice(vocabulary.CONDITIONS.values(), first))
        return [condition_wire(c) for c in found]

    @strawberry.field(description="Régions, départements ou territoires ERHR.")
    async def territories(self, info: Info[Context, None], kind: TerritoryKind) -> list[Territory]:
        found = await _run(territories.territories, info.context.store, territories.TerritoryKind(kind.value))
        return [territory_wire(t) for t in found]

    @strawberry.field(description="Une commune par son code INSEE (arrondissements acceptés).")
    async def commune(self, info: Info[Context, None], code: str) -> Commune:
        c = await _run(territories.commune_info, info.context.store, code)
        return Commune(
            code=c.code,
            name=c.name,
            population=c.population,
            lat=c.lat,
            lon=c.lon,
            postcodes=list(c.postcodes),
            department=territory_wire(c.department),
            region=territory_wire(c.region),
            erhr_code=c.erhr_code,
        )

    @strawberry.field(description="Une équipe relais handicaps rares, ses régions et départements.")
    async def erhr(self, info: Info[Context, None], code: str) -> Erhr:
        e = await _run(territories.erhr_info, info.context.store, code)
        return Erhr(
            code=e.code,
            name=e.name,
            regions=[territory_wire(t) for t in e.regions],
            departments=[territory_wire(t) for t in e.departments],
            population=e.population,
            seat=e.seat,
            confidence=e.confidence,
        )

    @strawberry.field(
        description="Ressources compétentes les plus proches pour une situation, classées et expliquées."
    )
    async def find_resources(
        self, info: Info[Context, None], situation: SituationInput, limit: int = 20
    ) -> FindResourcesResult:
        query = situation_query(situation, limit)
        return match_result_wire(await _call(info, service.find_resources, query))

    @strawberry.field(description="Couverture territoriale d'une combinaison (distance à la ressource compétente la plus proche).")
    async def coverage(
        self,
        info: Info[Context, None],
        deficiencies: list[str],
        level: Level = Level.DEPARTMENT,
        threshold_km: float = 60.0,
        age: int | None = None,
    ) -> CoverageResult:
        result = await _call(
            info, lambda st, pr: service.coverage(st, pr, deficiencies, level=level.value, threshold_km=threshold_km, age=age)
        )
        return coverage_wire(result)

    @strawberry.field(description="Matrice territoire × critère D312-194, territoires classés par besoin non couvert.")
    async def gaps(self, info: Info[Context, None], level: Level = Level.DEPARTMENT, threshold_km: float = 60.0) -> GapMatrix:
        return gaps_wire(
            await _call(info, lambda st, pr: service.gaps(st, pr, level=level.value, threshold_km=threshold_km))
        )

    @strawberry.field(description="Couverture recalculée avec des ressources hypothétiques (rien n'est enregistré).")
    async def what_if(
        self,
        info: Info[Context, None],
        deficiencies: list[str],
        additions: list[AdditionInput],
        level: Level = Level.DEPARTMENT,
        threshold_km: float = 60.0,
        age: int | None = None,
    ) -> WhatIfResult:
        adds = [cov.Addition(a.commune, a.deficiencies) for a in additions]
        before, after, deltas = await _call(
            info,
            lambda st, pr: service.what_if(st, pr, deficiencies, adds, level=level.value, threshold_km=threshold_km, age=age),
        )
        return what_if_wire(before, after, deltas)

    @strawberry.field(description="Réseau de coopération d'un territoire ERHR : pivots, isolés, ponts.")
    async def network_insights(self, info: Info[Context, None], territory: str) -> NetworkInsights:
        return network_wire(await _call(info, service.network_insights, territory))

    @strawberry.field(description="Situations du territoire de l'appelant (toutes pour le GNCHR), les plus récentes d'abord.")
    async def situations(
        self, info: Info[Context, None], status: str | None = None, limit: int = 50, offset: int = 0
    ) -> SituationPage:
        total, views = await _call(
            info, lambda st, pr: service.list_situations(st, pr, status=status, limit=limit, offset=offset)
        )
        return SituationPage(total=total, items=[situation_wire(v) for v in views])

    @strawberry.field(description="Une situation (pseudonyme) ; hors du territoire de l'appelant, elle est introuvable.")
    async def situation(self, info: Info[Context, None], id: str) -> Situation:
        return situation_wire(await _call(info, service.get_situation, id))

    @strawberry.field(description="Critères D312-194 remplis par une combinaison et CNRHR compétent(s).")
    def qualify(self, deficiencies: list[str]) -> Qualification:
        return qualification_wire(rare.qualify(deficiencies))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Enregistre l'orientation d'une situation vers une ressource, et son issue.")
    async def record_referral(
        self, info: Info[Context, None], situation_id: str, resource_kind: ResourceRefKind, resource_key: str,
        date: str, outcome: str,
    ) -> Situation:
        ref = NodeRef(NodeKind(resource_kind.value), resource_key)
        view = await _call(
            info, lambda st, pr: service.record_referral(st, pr, situation_id, ref, date=date, outcome=outcome)
        )
        return situation_wire(view)


_LIMIT_ERRORS = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP", f"Requête trop imbriquée : profondeur maximale {MAX_DEPTH}."),
    ("aliases found", "TOO_MANY_ALIASES", f"Trop d'alias dans la requête : {MAX_ALIASES} au plus."),
    ("more than", "QUERY_TOO_LONG", f"Requête trop longue : {MAX_TOKENS} éléments au plus."),
)


class DihrErrors(MaskErrors):
    """DihrError → its French message and code; anything else → masked, logged
    with a correlation id that the caller can quote."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _e: True)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:  # validation, syntax, or one of the abuse limits
            if (error.extensions or {}).get("code") == "QUERY_TOO_COMPLEX":
                return error
            for fragment, code, message in _LIMIT_ERRORS:
                if fragment in error.message and (code != "QUERY_TOO_LONG" or "tokens" in error.message):
                    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                                        path=error.path, extensions={"code": code})
            return GraphQLError(error.message, nodes=error.nodes, source=error.source, positions=error.positions,
                                path=error.path, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
        if isinstance(original, DihrError):
            return GraphQLError(
                original.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": original.code},
            )
        correlation = uuid.uuid4().hex[:12]
        log.error("unexpected error %s", correlation, exc_info=original)
        return GraphQLError(
            f"Erreur interne. Référence à communiquer au support : {correlation}.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_ERROR", "correlationId": correlation},
        )


class DihrSchema(strawberry.Schema):
    """Expected errors (DihrError) are answers, not incidents: they are not logged."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = [e for e in errors if not isinstance(e.original_error, DihrError)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


class _Lru:
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


#: The abuse limits as validation rules built once, so that a document's
#: validation (which depends only on its text and the rules) can be reused.
_LIMIT_RULES: tuple[type[ASTValidationRule], ...] = (
    query_depth_limiter.create_validator(MAX_DEPTH, None),
    max_aliases.create_validator(MAX_ALIASES),
)


def document_size(document: Any) -> tuple[int, int]:
    """(fields, cost) of a parsed document with its fragments expanded, each
    fragment measured once (memoised), so ``...F0`` spreading ``...F1`` twice,
    and so on, costs one pass however many paths it multiplies into. A cycle
    of fragments counts as too large."""
    from graphql.language import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode

    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, int]] = {}
    visiting: set[str] = set()
    cap = 10**9

    def measure(selection_set: Any) -> tuple[int, int]:
        fields = cost = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                sub = measure(selection.selection_set)
                fields, cost = fields + 1 + sub[0], cost + FIELD_COST.get(selection.name.value, 0) + sub[1]
            elif isinstance(selection, InlineFragmentNode):
                sub = measure(selection.selection_set)
                fields, cost = fields + sub[0], cost + sub[1]
            elif isinstance(selection, FragmentSpreadNode):
                sub = spread(selection.name.value)
                fields, cost = fields + sub[0], cost + sub[1]
            fields, cost = min(fields, cap), min(cost, cap)
        return fields, cost

    def spread(name: str) -> tuple[int, int]:
        if name in memo:
            return memo[name]
        if name in visiting or name not in fragments:
            return (cap, cap) if name in visiting else (0, 0)  # an unknown fragment: refused by validation
        visiting.add(name)
        memo[name] = measure(fragments[name].selection_set)
        visiting.discard(name)
        return memo[name]

    total = (0, 0)
    for definition in document.definitions:
        if not isinstance(definition, FragmentDefinitionNode):
            sub = measure(getattr(definition, "selection_set", None))
            total = (min(cap, total[0] + sub[0]), min(cap, total[1] + sub[1]))
    return total


def _size_errors(document: Any) -> list[GraphQLError]:
    fields, cost = document_size(document)
    if fields > MAX_FIELDS:
        return [GraphQLError(f"Requête trop volumineuse une fois ses fragments développés : {MAX_FIELDS} champs au plus.",
                             extensions={"code": "QUERY_TOO_COMPLEX"})]
    if cost > MAX_COST:
        return [GraphQLError(f"Requête trop coûteuse ({cost} points, {MAX_COST} au plus) : demandez moins de calculs "
                             "nationaux par requête (gaps 40, whatIf 20, coverage 10, networkInsights 10, "
                             "findResources 5).", extensions={"code": "QUERY_TOO_COMPLEX"})]
    return []


class Limits(SchemaExtension):
    """The depth and alias limits (fixed rule classes) and the token limit."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.validation_rules = ctx.validation_rules + _LIMIT_RULES
        ctx.parse_options["max_tokens"] = MAX_TOKENS
        yield


class DocumentCache(SchemaExtension):
    """Reuses the parsed and validated document of a query text already seen.

    Clients send the same few documents with different variables, and graphql-core
    spends more time parsing and validating such a document than executing it.
    Only successful parses are kept (a syntax error is parsed again), keyed by the
    exact text; validation is keyed by the text and the rule set."""

    _documents = _Lru(256)
    _validations = _Lru(256)

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        cached = self._documents.get(ctx.query) if ctx.query else None
        if cached is not None:
            ctx.graphql_document = cached
        yield
        if cached is None and ctx.query and ctx.graphql_document is not None:
            self._documents.put(ctx.query, ctx.graphql_document)

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        key = (ctx.query, ctx.validation_rules)
        cached = self._validations.get(key)
        if cached is not None:
            ctx.pre_execution_errors = list(cached)
        elif ctx.graphql_document is not None and (too_big := _size_errors(ctx.graphql_document)):
            ctx.pre_execution_errors = too_big  # the other rules never walk it (they would, 2^n times)
        yield
        if cached is None and ctx.pre_execution_errors is not None:
            self._validations.put(key, tuple(ctx.pre_execution_errors))


schema = DihrSchema(
    query=Query,
    mutation=Mutation,
    extensions=[Limits, DocumentCache, DihrErrors],
)
