"""Assembles the FastAPI application. Nothing is opened at import time: the
store is opened by the lifespan, from the settings given to :func:`create_app`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from cross_web import HTTPException  # what strawberry raises for a 400 (its own base view imports it so)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter

from api import exports, map_routes, pages
from api.maps_service import VENDOR_PREFIX
from api.schema import Context, schema
from api.security import (
    PAGE_PREFIXES,
    SESSIONS_FILENAME,
    RateLimiter,
    Sessions,
    SignInThrottle,
    install_security,
)
from graph.errors import DihrError, InvalidInput
from graph.settings import Settings
from graph.store import GraphStore
from graph.stores import open_store
from maps._base import local_vendor_dir

__all__ = ["create_app", "HTTP_STATUS"]

#: Expected errors → HTTP status (anything else is a 400; unexpected errors are 500, masked).
HTTP_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "TIMEOUT": 504}


class DihrGraphQLRouter(GraphQLRouter):  # type: ignore[type-arg]
    """Strawberry's router, with bodies that are not a JSON object (invalid
    UTF-8, garbage, ``null``) refused with a French 400 instead of failing later."""

    def parse_json(self, data: str | bytes) -> Any:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            value = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400, "Corps de requête illisible : un objet JSON en UTF-8 est attendu "
                                     '({"query": "…", "variables": {…}}).') from None
        if not isinstance(value, dict):
            raise HTTPException(400, 'Corps de requête invalide : un objet JSON est attendu ({"query": "…"}).')
        return value


def create_app(settings: Settings | None = None, *, store: GraphStore | None = None) -> FastAPI:
    """The web application. ``store`` (tests) is used as is and not closed."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings or Settings()
        owned = store is None
        app.state.store = open_store(app.state.settings) if owned else store
        # Each of N web workers counts on its own: each allows its share of the limit.
        workers = app.state.settings.workers or 1
        app.state.rate_limiter = RateLimiter(max(1, app.state.settings.rate_limit_per_minute // workers))
        app.state.sign_ins = SignInThrottle()
        app.state.sessions = Sessions(app.state.settings.data_dir / SESSIONS_FILENAME)
        try:
            yield
        finally:
            app.state.sessions.shutdown()
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="dihr-graph",
        description="Réseau et ressources du dispositif intégré handicaps rares.",
        lifespan=lifespan,
    )

    async def get_context(request: Request) -> Context:
        return Context(request.app.state.store, request.app.state.settings, request.state.principal)

    install_security(app)

    app.include_router(DihrGraphQLRouter(schema, context_getter=get_context), prefix="/graphql")
    app.include_router(exports.router)
    app.include_router(map_routes.router)
    app.include_router(pages.router)
    app.mount("/static/dihr", StaticFiles(directory=pages.STATIC_DIR), name="dihr-static")
    vendor = local_vendor_dir()
    if vendor is not None:
        for package in ("leaflet", "leaflet.markercluster"):
            app.mount(f"{VENDOR_PREFIX}/{package}", StaticFiles(directory=vendor / package), name=package)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, err: RequestValidationError) -> Response:
        """A parameter FastAPI could not read (``page=abc``): a French 400 naming it."""
        first = err.errors()[0] if err.errors() else {}
        field = str((first.get("loc") or ("?",))[-1])
        problem = InvalidInput(field, "valeur absente ou mal formée (un nombre est attendu ?).")
        if request.url.path.startswith(PAGE_PREFIXES):
            return pages.error_page(request, problem)
        return JSONResponse({"code": problem.code, "message": problem.message}, status_code=400)

    @app.exception_handler(DihrError)
    async def dihr_error(_request: Request, err: DihrError) -> JSONResponse:
        return JSONResponse({"code": err.code, "message": err.message}, status_code=HTTP_STATUS.get(err.code, 400))

    @app.get("/health", tags=["service"])
    async def health(request: Request) -> dict[str, object]:
        counts = request.app.state.store.count_nodes()
        return {"status": "ok", "nodes": sum(counts.values())}

    @app.get("/modeles/annuaire.csv", tags=["modèles"], response_class=PlainTextResponse)
    async def directory_template() -> PlainTextResponse:
        """Exemple d'annuaire à compléter (colonnes en français) pour `dihr import directory`."""
        text = (files("importers") / "data" / "annuaire_exemple.csv").read_text(encoding="utf-8")
        return PlainTextResponse(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="annuaire-exemple.csv"'},
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> str:
        return _HOME

    return app


_HOME = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>dihr-graph — accueil</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>dihr-graph</h1>
<p>Cartographie des ressources du dispositif intégré handicaps rares.</p>
<p>L'accès aux données demande une clé d'API (en-tête
<code>Authorization: Bearer …</code>), remise par le GNCHR (<code>dihr keys create</code>) ;
<code>make run</code> affiche une clé de démonstration.</p>
<ul>
<li><a href="/graphql">API GraphQL (GraphiQL)</a></li>
<li><a href="/health">État du service</a></li>
<li><a href="/docs">Documentation de l'API REST</a></li>
<li><a href="/modeles/annuaire.csv">Modèle d'annuaire à compléter (CSV)</a></li>
</ul>
<p>Les données de démonstration (établissements, professionnels, situations)
sont <strong>synthétiques</strong>.</p>
</main></body></html>
"""
