"""The GraphQL schema (strawberry): wire types and their resolvers.

Resolvers are thin: parse arguments, call a domain function of ``graph/`` in a
worker thread (store calls block), convert domain types to wire types.
Expected failures (a :class:`graph.errors.DihrError`) become GraphQL errors
with ``extensions.code`` and a French message; anything else is masked and
logged with a correlation id.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from graph import rare, territories, vocabulary
from graph.errors import DihrError
from graph.settings import Settings
from graph.store import GraphStore

__all__ = ["schema", "Context"]

log = logging.getLogger("dihr.api")
T = TypeVar("T")


class Context(BaseContext):
    def __init__(self, store: GraphStore, settings: Settings) -> None:
        super().__init__()
        self.store = store
        self.settings = settings


async def _run(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(lambda: fn(*args))


# -- wire types -----------------------------------------------------------------
@strawberry.type(description="Déficience (vocabulaire DIHR), avec son code ROR R245 s'il existe.")
class Deficiency:
    code: str
    label: str
    family: str
    chronic: bool
    ror_r245: str | None


@strawberry.type(description="Compétence ou modalité de communication.")
class Skill:
    code: str
    label: str
    family: str
    ror_r243_label: str | None


@strawberry.type(description="Maladie rare (code ORPHA) et déficiences typiquement associées.")
class Condition:
    orpha: str
    label: str
    involves: list[str]


@strawberry.enum
class TerritoryKind(enum.Enum):
    REGION = "REGION"
    DEPARTMENT = "DEPARTMENT"
    ERHR = "ERHR"


@strawberry.type
class Territory:
    kind: TerritoryKind
    code: str
    name: str
    population: int


@strawberry.type
class Erhr:
    code: str
    name: str
    regions: list[Territory]
    departments: list[Territory]
    population: int
    seat: str | None
    confidence: str = strawberry.field(description="'good' ou 'to verify' (source : ERHR.md).")


@strawberry.type
class Commune:
    code: str
    name: str
    population: int
    lat: float
    lon: float
    postcodes: list[str]
    department: Territory
    region: Territory
    erhr_code: str


@strawberry.type
class Criterion:
    code: str
    label: str
    cnrhr: str | None


@strawberry.type(description="Qualification d'une combinaison au regard de l'article D312-194 du CASF.")
class Qualification:
    combination: str
    matched: bool
    criteria: list[Criterion]
    cnrhr: list[str]
    superseded: list[str]
    summary: str


def _territory(t: territories.Territory) -> Territory:
    return Territory(kind=TerritoryKind(t.kind.value), code=t.code, name=t.name, population=t.population)


def qualification_wire(q: rare.Qualification) -> Qualification:
    return Qualification(
        combination=q.combination,
        matched=q.matched,
        criteria=[Criterion(code=c.code, label=c.label, cnrhr=c.cnrhr) for c in q.criteria],
        cnrhr=list(q.cnrhr),
        superseded=list(q.superseded),
        summary=q.summary,
    )


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

    @strawberry.field(description="Maladies rares connues (codes ORPHA).")
    def conditions(self) -> list[Condition]:
        return [
            Condition(orpha=c.orpha, label=c.label, involves=list(c.involves))
            for c in vocabulary.CONDITIONS.values()
        ]

    @strawberry.field(description="Régions, départements ou territoires ERHR.")
    async def territories(self, info: Info[Context, None], kind: TerritoryKind) -> list[Territory]:
        found = await _run(territories.territories, info.context.store, territories.TerritoryKind(kind.value))
        return [_territory(t) for t in found]

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
            department=_territory(c.department),
            region=_territory(c.region),
            erhr_code=c.erhr_code,
        )

    @strawberry.field(description="Une équipe relais handicaps rares, ses régions et départements.")
    async def erhr(self, info: Info[Context, None], code: str) -> Erhr:
        e = await _run(territories.erhr_info, info.context.store, code)
        return Erhr(
            code=e.code,
            name=e.name,
            regions=[_territory(t) for t in e.regions],
            departments=[_territory(t) for t in e.departments],
            population=e.population,
            seat=e.seat,
            confidence=e.confidence,
        )

    @strawberry.field(description="Critères D312-194 remplis par une combinaison et CNRHR compétent(s).")
    def qualify(self, deficiencies: list[str]) -> Qualification:
        return qualification_wire(rare.qualify(deficiencies))


class DihrErrors(MaskErrors):
    """DihrError → its French message and code; anything else → masked, logged
    with a correlation id that the caller can quote."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: e.original_error is not None)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
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


schema = DihrSchema(query=Query, extensions=[DihrErrors])
