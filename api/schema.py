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
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.fastapi import BaseContext
from strawberry.schema.schema import validate_document
from strawberry.types import Info

from api.deps import run_blocking, run_search
from api.errors import as_dihr_error
from api.fastinput import install_input_builders
from api.fastpath import PlainDataExecutor
from api.prepared import remember
from api.types import (
    AdditionInput,
    Commune,
    Condition,
    CoverageResult,
    Deficiency,
    Erhr,
    ErhrActivity,
    FindResourcesResult,
    FollowUp,
    GapMatrix,
    HypothesisInput,
    KnowledgeItem,
    Level,
    NetworkInsights,
    PoleActivity,
    Qualification,
    ResourceConnection,
    ResourceFilter,
    ResourceRefKind,
    Situation,
    SituationInput,
    SituationPage,
    Skill,
    Territory,
    TerritoryKind,
    TransitionRadar,
    WhatIfResult,
    condition_wire,
    coverage_wire,
    directory_filter,
    erhr_activity_wire,
    gaps_wire,
    knowledge_wire,
    match_result_wire,
    network_wire,
    pole_activity_wire,
    qualification_wire,
    radar_wire,
    referral_wire,
    resource_connection_wire,
    situation_query,
    situation_wire,
    territory_wire,
    what_if_wire,
)
from graph import conditions as conditions_module
from graph import coverage as cov
from graph import rare, service, territories, vocabulary
from graph.access import Principal
from graph.errors import (
    DihrError,
    InternalError,
    InvalidInput,
    InvalidQuery,
    QueryTooComplex,
    QueryTooDeep,
    QueryTooLong,
    TooManyAliases,
)
from graph.model import NodeKind, NodeRef
from graph.settings import Settings
from graph.store import GraphStore
from graph.transition import Hypothesis

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
FIELD_COST = {
    "gaps": 40,
    "whatIf": 20,
    "transitionRadar": 10,
    "coverage": 10,
    "networkInsights": 10,
    "findResources": 5,
    "resources": 5,
    "referralsToFollowUp": 5,
    "activity": 10,
    "poleActivity": 5,
    "situations": 2,
}
T = TypeVar("T")


class Context(BaseContext):
    def __init__(self, store: GraphStore, settings: Settings, principal: Principal) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.principal = principal


async def _read(info: Info[Context, None], fn: Callable[..., T], *args: Any) -> T:
    """A public store read (territories, communes), off the event loop and within the query timeout."""
    ctx = info.context
    return await run_blocking(fn, ctx.store, *args, timeout_s=ctx.settings.query_timeout_s)


async def _call(info: Info[Context, None], fn: Callable[..., T], *args: Any) -> T:
    """A service call as the caller, off the event loop and within the query timeout."""
    ctx = info.context
    return await run_blocking(fn, ctx.store, ctx.principal, *args, timeout_s=ctx.settings.query_timeout_s)


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

    @strawberry.field(
        description="Maladies rares (codes ORPHA, HPO) : recherche par code ou par nom, français ou anglais."
    )
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
        found = await _read(info, territories.territories, territories.TerritoryKind(kind.value))
        return [territory_wire(t) for t in found]

    @strawberry.field(description="Une commune par son code INSEE (arrondissements acceptés).")
    async def commune(self, info: Info[Context, None], code: str) -> Commune:
        c = await _read(info, territories.commune_info, code)
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
        e = await _read(info, territories.erhr_info, code)
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
        description="L'annuaire des ressources, filtré et paginé (curseurs) ; jamais une situation."
    )
    async def resources(
        self,
        info: Info[Context, None],
        filter: ResourceFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> ResourceConnection:
        query = directory_filter(filter)
        return resource_connection_wire(
            await _call(info, lambda st, pr: service.directory(st, pr, query, first=first, after=after))
        )

    @strawberry.field(
        description="Ressources compétentes les plus proches pour une situation, classées et expliquées."
    )
    async def find_resources(
        self, info: Info[Context, None], situation: SituationInput, limit: int = 20
    ) -> FindResourcesResult:
        query = situation_query(situation, limit)
        ctx = info.context
        return match_result_wire(
            await run_search(
                service.find_resources, ctx.store, ctx.principal, query, ctx.settings.query_timeout_s
            )
        )

    @strawberry.field(
        description="Radar de la transition : jeunes suivis atteignant 20 ans dans 1, 2, 3 ans, par territoire, "
        "et ceux sans service pour adultes compétent à portée (ERHR : son territoire ; partenaires : effectifs publiés)."
    )
    async def transition_radar(
        self,
        info: Info[Context, None],
        level: Level = Level.DEPARTMENT,
        threshold_km: float = 60.0,
        criterion: Annotated[
            str | None, strawberry.argument(description="Critère D312-194 (1, 2, 3, 4, 5a-5d) ou « autre ».")
        ] = None,
        hypotheses: list[HypothesisInput] | None = None,
    ) -> TransitionRadar:
        found = [Hypothesis(h.commune, h.deficiencies, h.places) for h in hypotheses or []]
        return radar_wire(
            await _call(
                info,
                lambda st, pr: service.transition_radar(
                    st,
                    pr,
                    level=level.value,
                    threshold_km=threshold_km,
                    criterion=criterion,
                    hypotheses=found,
                ),
            )
        )

    @strawberry.field(
        description="Couverture territoriale d'une combinaison (distance à la ressource compétente la plus proche)."
    )
    async def coverage(
        self,
        info: Info[Context, None],
        deficiencies: list[str],
        level: Level = Level.DEPARTMENT,
        threshold_km: float = 60.0,
        age: int | None = None,
        local_only: Annotated[
            bool,
            strawberry.argument(description="Ressources locales seulement (sans les centres nationaux)."),
        ] = False,
        separately: Annotated[
            bool,
            strawberry.argument(
                description="Compter aussi les ressources qui accueillent chaque déficience séparément (catégorie FINESS) et les structures généralistes (CAMSP) : par défaut, seule la compétence sur la combinaison compte."
            ),
        ] = False,
    ) -> CoverageResult:
        result = await _call(
            info,
            lambda st, pr: service.coverage(
                st,
                pr,
                deficiencies,
                level=level.value,
                threshold_km=threshold_km,
                age=age,
                local_only=local_only,
                separately=separately,
            ),
        )
        return coverage_wire(result)

    @strawberry.field(
        description="Matrice territoire × critère D312-194, territoires classés par besoin non couvert."
    )
    async def gaps(
        self,
        info: Info[Context, None],
        level: Level = Level.DEPARTMENT,
        threshold_km: float = 60.0,
        separately: Annotated[
            bool,
            strawberry.argument(
                description="Compter aussi les ressources qui accueillent chaque déficience séparément (catégorie FINESS) et les structures généralistes (CAMSP) : par défaut, seule la compétence sur la combinaison compte."
            ),
        ] = False,
    ) -> GapMatrix:
        return gaps_wire(
            await _call(
                info,
                lambda st, pr: service.gaps(
                    st, pr, level=level.value, threshold_km=threshold_km, separately=separately
                ),
            )
        )

    @strawberry.field(
        description="Couverture recalculée avec des ressources hypothétiques (rien n'est enregistré)."
    )
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
            lambda st, pr: service.what_if(
                st, pr, deficiencies, adds, level=level.value, threshold_km=threshold_km, age=age
            ),
        )
        return what_if_wire(before, after, deltas)

    @strawberry.field(description="Réseau de coopération d'un territoire ERHR : pivots, isolés, ponts.")
    async def network_insights(self, info: Info[Context, None], territory: str) -> NetworkInsights:
        return network_wire(await _call(info, service.network_insights, territory))

    @strawberry.field(
        description="Situations du territoire de l'appelant (toutes pour le GNCHR), les plus récentes d'abord."
    )
    async def situations(
        self, info: Info[Context, None], status: str | None = None, limit: int = 50, offset: int = 0
    ) -> SituationPage:
        total, views = await _call(
            info, lambda st, pr: service.list_situations(st, pr, status=status, limit=limit, offset=offset)
        )
        return SituationPage(total=total, items=[situation_wire(v) for v in views])

    @strawberry.field(
        description="Les chiffres d'une année : file active, nouvelles personnes, sans solution… d'une ERHR, ou nationaux."
    )
    async def activity(self, info: Info[Context, None], year: int, erhr: str | None = None) -> ErhrActivity:
        return erhr_activity_wire(await _call(info, lambda st, pr: service.activity(st, pr, year, erhr)))

    @strawberry.field(
        description="L'activité des pôles ressources handicap sur une période (2026, 2026-S1), file active par ETP contre la cible de 30."
    )
    async def pole_activity(
        self, info: Info[Context, None], period: str, erhr: str | None = None
    ) -> list[PoleActivity]:
        rows = await _call(info, lambda st, pr: service.pole_activity(st, pr, period, erhr))
        return [pole_activity_wire(r) for r in rows]

    @strawberry.field(
        description="Les savoirs du réseau (guides, formations, outils, aides en prêt), filtrés."
    )
    async def knowledge(
        self,
        info: Info[Context, None],
        kind: str | None = None,
        about: str | None = None,
        erhr: str | None = None,
        text: str = "",
    ) -> list[KnowledgeItem]:
        found = await _call(
            info,
            lambda st, pr: service.list_knowledge(st, pr, kind=kind, about=about, erhr=erhr, text=text[:100]),
        )
        return [knowledge_wire(k) for k in found]

    @strawberry.field(
        description="Les orientations à relancer du territoire : prochaine action due au plus tard le jour dit."
    )
    async def referrals_to_follow_up(self, info: Info[Context, None], today: str) -> list[FollowUp]:
        found = await _call(info, lambda st, pr: service.referrals_to_follow_up(st, pr, today))
        return [
            FollowUp(situation_id=f.situation, erhr=f.erhr, referral=referral_wire(f.referral)) for f in found
        ]

    @strawberry.field(
        description="Une situation (pseudonyme) ; hors du territoire de l'appelant, elle est introuvable."
    )
    async def situation(self, info: Info[Context, None], id: str) -> Situation:
        return situation_wire(await _call(info, service.get_situation, id))

    @strawberry.field(description="Critères D312-194 remplis par une combinaison et CNRHR compétent(s).")
    def qualify(self, deficiencies: list[str]) -> Qualification:
        return qualification_wire(rare.qualify(deficiencies))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Oriente une situation vers une ressource : une orientation « proposée », "
        "avec une note et la date de la prochaine action."
    )
    async def record_referral(
        self,
        info: Info[Context, None],
        situation_id: str,
        resource_kind: ResourceRefKind,
        resource_key: str,
        date: str,
        outcome: str = "",
        next_action_on: str | None = None,
    ) -> Situation:
        ref = NodeRef(NodeKind(resource_kind.value), resource_key)
        view = await _call(
            info,
            lambda st, pr: service.record_referral(
                st, pr, situation_id, ref, date=date, outcome=outcome, next_action_on=next_action_on
            ),
        )
        return situation_wire(view)

    @strawberry.mutation(
        description="Enregistre l'activité d'un pôle ressources pour une période (remplace la précédente)."
    )
    async def record_pole_report(
        self,
        info: Info[Context, None],
        pole: str,
        period: str,
        active_file: int,
        families: int,
        appointments: int,
        awareness_actions: int,
        fte: float,
    ) -> PoleActivity:
        row = await _call(
            info,
            lambda st, pr: service.record_pole_report(
                st,
                pr,
                pole,
                period,
                active_file=active_file,
                families=families,
                appointments=appointments,
                awareness_actions=awareness_actions,
                fte=fte,
            ),
        )
        return pole_activity_wire(row)

    @strawberry.mutation(
        description="Ajoute ou remplace un savoir (GNCHR : tous ; ERHR : ceux de son territoire)."
    )
    async def save_knowledge(
        self,
        info: Info[Context, None],
        kind: str,
        title: str,
        about: list[str],
        summary: str = "",
        link: str | None = None,
        author: str = "",
        erhr: str | None = None,
        available: bool | None = None,
        key: str | None = None,
    ) -> KnowledgeItem:
        item = await _call(
            info,
            lambda st, pr: service.save_knowledge(
                st,
                pr,
                kind=kind,
                title=title,
                about=about,
                summary=summary,
                link=link,
                author=author,
                erhr=erhr,
                available=available,
                key=key,
            ),
        )
        return knowledge_wire(item)

    @strawberry.mutation(
        description="Fait passer une orientation au statut suivant (motif obligatoire pour un refus)."
    )
    async def update_referral(
        self,
        info: Info[Context, None],
        situation_id: str,
        referral_id: str,
        status: str,
        date: str,
        reason: str | None = None,
        next_action_on: str | None = None,
        note: str | None = None,
    ) -> Situation:
        view = await _call(
            info,
            lambda st, pr: service.update_referral(
                st,
                pr,
                situation_id,
                referral_id,
                status=status,
                date=date,
                reason=reason,
                next_action_on=next_action_on,
                note=note,
            ),
        )
        return situation_wire(view)


_LIMIT_ERRORS: tuple[tuple[str, DihrError], ...] = (
    (
        "exceeds maximum operation depth",
        QueryTooDeep(f"Requête trop imbriquée : profondeur maximale {MAX_DEPTH}."),
    ),
    ("aliases found", TooManyAliases(f"Trop d'alias dans la requête : {MAX_ALIASES} au plus.")),
    ("more than", QueryTooLong(f"Requête trop longue : {MAX_TOKENS} éléments au plus.")),
)


def _graphql_error(error: GraphQLError, err: DihrError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": err.code}
    if isinstance(err, InternalError):
        extensions["correlationId"] = err.correlation_id
    return GraphQLError(
        err.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class DihrErrors(MaskErrors):
    """DihrError → its French message and code; anything else → masked, logged
    with a correlation id that the caller can quote."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _e: True)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return mask_error(error)


def mask_error(error: GraphQLError) -> GraphQLError:
    """What a caller is shown of an error (``DihrErrors``; ``api.prepared``)."""
    return _graphql_error(error, _classify(error))


def _classify(error: GraphQLError) -> DihrError:
    """The error table's entry for a GraphQL error: a DihrError raised by a
    resolver; an abuse limit; a document or variables that do not fit the
    schema (graphql-core reports a variable it cannot coerce with the coercion's
    own GraphQLError as the cause); anything else masked (logged once, here)."""
    original = error.original_error
    if isinstance(original, DihrError):
        return as_dihr_error(original, "graphql")  # a service error in its public form
    if original is None or isinstance(original, GraphQLError):
        code = (error.extensions or {}).get("code")
        if code == "QUERY_TOO_COMPLEX":
            return QueryTooComplex(error.message)
        for fragment, limit in _LIMIT_ERRORS:
            if fragment in error.message and (
                not isinstance(limit, QueryTooLong) or "tokens" in error.message
            ):
                return limit
        return InvalidQuery(_french_validation(error.message))
    return as_dihr_error(original, "graphql")


def _french_validation(message: str) -> str:
    """graphql-core's validation message, introduced in French (its own text
    names the field, variable or type at fault, which the caller needs)."""
    return f"Requête GraphQL invalide : {message}"


class DihrSchema(strawberry.Schema):
    """Errors are logged where they are classified (``_classify``): expected
    ones are answers, not incidents."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        return None


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
        return [
            GraphQLError(
                f"Requête trop volumineuse une fois ses fragments développés : {MAX_FIELDS} champs au plus.",
                extensions={"code": "QUERY_TOO_COMPLEX"},
            )
        ]
    if cost > MAX_COST:
        return [
            GraphQLError(
                f"Requête trop coûteuse ({cost} points, {MAX_COST} au plus) : demandez moins de calculs "
                "nationaux par requête (gaps 40, whatIf 20, coverage 10, networkInsights 10, "
                "findResources 5).",
                extensions={"code": "QUERY_TOO_COMPLEX"},
            )
        ]
    return []


class Limits(SchemaExtension):
    """The depth and alias limits (fixed rule classes) and the token limit."""

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.validation_rules = ctx.validation_rules + _LIMIT_RULES
        ctx.parse_options["max_tokens"] = MAX_TOKENS
        yield


class Parsing(ParserCache):
    """strawberry's parser cache; a document that does not parse (syntax, token
    limit) is left to strawberry's own parse step, which reports the error
    through the error masking like any other (errors are never cached)."""

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        try:
            ctx.graphql_document = self.cached_parse_document(ctx.query, **ctx.parse_options)
        except GraphQLError:
            ctx.graphql_document = None
        yield


class Validation(ValidationCache):
    """strawberry's validation cache, with the size and cost check first: a
    document too large once its fragments are expanded is refused before any
    rule walks it (the rules would, 2^n times), in time linear in its text."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None:
            yield from super().on_validate()
            return
        # Kept by the document's text (the parser cache gives one document per
        # text): strawberry's own cache hashes the whole syntax tree per request.
        key = (ctx.query, tuple(ctx.validation_rules))
        with _VALIDATED_LOCK:
            errors = _VALIDATED.get(key)
            if errors is not None:
                _VALIDATED.move_to_end(key)
        if errors is None:
            errors = _size_errors(ctx.graphql_document) or validate_document(
                ctx.schema._schema, ctx.graphql_document, ctx.validation_rules
            )
            with _VALIDATED_LOCK:
                _VALIDATED[key] = errors
                while len(_VALIDATED) > _VALIDATED_KEPT:
                    _VALIDATED.popitem(last=False)
        ctx.pre_execution_errors = list(errors)
        if not errors:
            remember(ctx.query, ctx.graphql_document)  # the next request for it: api.prepared
        yield


#: Validation results of the most recent document texts (``Validation``).
_VALIDATED: OrderedDict[tuple[Any, ...], list[GraphQLError]] = OrderedDict()
_VALIDATED_KEPT = 256
_VALIDATED_LOCK = threading.Lock()


schema = DihrSchema(
    query=Query,
    mutation=Mutation,
    extensions=[Limits, lambda: Parsing(maxsize=256), lambda: Validation(maxsize=256), DihrErrors],
    execution_context_class=PlainDataExecutor,
)
install_input_builders(schema)
