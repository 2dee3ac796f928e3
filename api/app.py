"""Assembles the FastAPI application. Nothing is opened at import time: the
store is opened by the lifespan, from the settings given to :func:`create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import orjson
from cross_web import HTTPException  # what strawberry raises for a 400 (its own base view imports it so)
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from strawberry.asgi import GraphQL

from api import exports, map_routes, pages
from api.deps import (
    AppSettings,
    BoundService,
    OptionalKey,
    Store,
    current_key,
    run_blocking,
    signed_in_caller,
)
from api.errors import as_dihr_error, json_error
from api.fastpath import PlainDataExecutor
from api.maps_service import VENDOR_PREFIX
from api.observability import REVISION, metrics_allowed, metrics_body
from api.prepared import execute_prepared, prepared_request
from api.schema import Context, mask_error, schema
from api.security import (
    PAGE_PREFIXES,
    RateLimiter,
    Sessions,
    SignInThrottle,
    install_security,
)
from graph.errors import DihrError, InvalidInput, NotFound, ServiceError, Unauthenticated
from graph.health import storage_problem
from graph.readmodel import read_model, warm_and_freeze
from graph.settings import Settings
from graph.store import GraphStore
from graph.stores import open_store
from maps.vendor import local_vendor_dir

__all__ = ["create_app"]

#: The interpreter's thread switch interval in a server process (``sys.setswitchinterval``).
SWITCH_INTERVAL_S = 0.0005


#: npm packages the app serves itself (maps, GraphiQL, the API docs): nothing from a CDN.
VENDOR_PACKAGES = ("leaflet", "leaflet.markercluster", "graphiql", "react", "react-dom", "swagger-ui-dist")

GRAPHIQL_PAGE = f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>dihr-graph — GraphiQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{VENDOR_PREFIX}/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/static/dihr/graphiql.css"></head>
<body><div id="graphiql">Chargement de GraphiQL…</div>
<script src="{VENDOR_PREFIX}/react/umd/react.production.min.js"></script>
<script src="{VENDOR_PREFIX}/react-dom/umd/react-dom.production.min.js"></script>
<script src="{VENDOR_PREFIX}/graphiql/graphiql.min.js"></script>
<script src="/static/dihr/graphiql-init.js"></script>
</body></html>
"""


#: Strawberry's reasons for refusing a request (English), as the user reads them.
_REFUSALS = {
    "No GraphQL query found in the request": "Aucune requête GraphQL dans la demande (champ « query »).",
    "Unsupported content type": "Type de contenu non pris en charge : envoyez un objet JSON "
    "(Content-Type: application/json).",
    "Unable to parse request body as JSON": "Corps de requête illisible : un objet JSON en UTF-8 est attendu.",
    "The GraphQL operation's `query` must be a string or null, if provided.": "« query » doit être "
    "une chaîne de caractères (le texte de la requête GraphQL).",
    "The GraphQL operation's `variables` must be an object or null, if provided.": "« variables » "
    "doit être un objet JSON.",
    "The GraphQL operation's `extensions` must be an object or null, if provided.": "« extensions » "
    "doit être un objet JSON.",
    "Batching is not enabled": "Une requête par appel : un tableau de requêtes n'est pas accepté.",
    "GraphQL only supports GET and POST requests.": "Méthode non prise en charge : GET ou POST.",
}
_REFUSAL_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class DihrGraphQL(GraphQL):  # type: ignore[type-arg]
    """Strawberry's ASGI view at ``/graphql``, the caller signed in first (401
    otherwise: GraphiQL's page too), bodies that are not a JSON object (invalid
    UTF-8, garbage, ``null``) refused with a French 400 instead of failing later;
    every refusal in the API's error shape (``{"code", "message"}``, JSON, in
    French), not strawberry's plain text.

    A route of its own rather than strawberry's FastAPI router: that one solves
    FastAPI dependencies (the context, the root value, a response) for every
    request — a tenth of a findResources request's time — where one call does."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        response: Response | None
        try:
            request = Request(scope=scope, receive=receive)
            response = await self._prepared(request) if scope["method"] == "POST" else None
            if response is None:
                response = await self.run(request)
        except HTTPException as err:
            reason = str(err.reason)
            message = _REFUSALS.get(reason)
            if message is None and "not allowed when using GET" in reason:
                message = "Seules les lectures (query) passent en GET : envoyez cette opération en POST."
            if message is None:  # ours are French already; strawberry's others are named
                message = (
                    reason
                    if reason.startswith(("Corps", "Requête"))
                    else f"Requête GraphQL refusée : {reason}"
                )
            response = JSONResponse(
                {"code": _REFUSAL_CODES.get(err.status_code, "BAD_REQUEST"), "message": message},
                status_code=err.status_code,
            )
        await response(scope, receive, send)

    async def _prepared(self, request: Request) -> Response | None:
        """A plain JSON POST of a document already validated: executed without
        strawberry's per-request machinery (``api.prepared``), the caller signed
        in as ``run`` signs them in; None: ``run`` serves it."""
        headers = request.headers
        if headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
            return None
        if self._get_stream_transport_from_headers(headers) is not None:
            return None  # a streamed answer (multipart, SSE)
        found = prepared_request(await request.body())
        if found is None:
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        data = await execute_prepared(schema, *found, context, PlainDataExecutor, mask_error)
        return self.create_response(data, sub_response)

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(*await signed_in_caller(request))

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL from the app's own assets (strawberry's page loads them from a
        CDN), with the page session's CSRF token for its requests."""
        session = getattr(request.state, "session", None)
        token = html.escape(session.csrf if session is not None else "", quote=True)
        return HTMLResponse(
            GRAPHIQL_PAGE.replace("<head>", f'<head><meta name="csrf-token" content="{token}">', 1)
        )

    def encode_json(self, data: object) -> bytes:
        """orjson: a tenth of the standard library's time for a findResources answer."""
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """A GraphQL answer whose error is the store's outage is an HTTP 503 with
        Retry-After (a load balancer, a client's retry loop read the status),
        its body the usual GraphQL errors in French."""
        answers = response_data if isinstance(response_data, list) else [response_data]
        if any(
            (error.get("extensions") or {}).get("code") == "STORE_UNAVAILABLE"
            for answer in answers
            if isinstance(answer, dict)
            for error in answer.get("errors") or ()
        ):
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = "5"
        return super().create_response(response_data, sub_response)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            value = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(
                400,
                "Corps de requête illisible : un objet JSON en UTF-8 est attendu "
                '({"query": "…", "variables": {…}}).',
            ) from None
        if not isinstance(value, dict):
            raise HTTPException(
                400, 'Corps de requête invalide : un objet JSON est attendu ({"query": "…"}).'
            )
        return value


def create_app(settings: Settings | None = None, *, store: GraphStore | None = None) -> FastAPI:
    """The web application. ``store`` (tests) is used as is and not closed."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Searches run in worker threads (the query timeout); with Python's default
        # 5 ms switch interval, each one kept the event loop — hence every other
        # request of the worker — waiting 5 ms at a time under load (p99 ×2).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        app.state.settings = settings or Settings()
        owned = store is None
        app.state.store = (
            open_store(app.state.settings, server_workers=app.state.settings.workers or 1) if owned else store
        )
        if owned and os.environ.get("DIHR_BACKGROUND_READ_MODELS") == "1":  # served by `dihr serve`
            # The read models built and everything loaded frozen out of the
            # collector's sight, once, before the first request (graph.store.freeze_loaded).
            await asyncio.to_thread(warm_and_freeze, app.state.store)
        # Sessions, rate limits and failed sign-ins in the state every worker and
        # app server shares (graph.shared: the store's own place for it).
        shared = app.state.store
        app.state.rate_limiter = RateLimiter(shared, app.state.settings.rate_limit_per_minute)
        app.state.sign_ins = SignInThrottle(shared)
        app.state.sessions = Sessions(shared)
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="dihr-graph",
        description="Réseau et ressources du dispositif intégré handicaps rares.",
        lifespan=lifespan,
        docs_url=None,  # served below, to signed-in callers only
        openapi_url=None,
    )

    install_security(app)

    signed_in = [Depends(current_key)]
    app.add_route("/graphql", DihrGraphQL(schema), methods=["GET", "POST"], include_in_schema=False)
    app.include_router(exports.router)
    app.include_router(map_routes.router)
    app.include_router(pages.public_router)
    app.include_router(pages.router)
    app.mount("/static/dihr", StaticFiles(directory=pages.STATIC_DIR), name="dihr-static")
    vendor = local_vendor_dir()
    if vendor is not None:
        for package in VENDOR_PACKAGES:
            app.mount(f"{VENDOR_PREFIX}/{package}", StaticFiles(directory=vendor / package), name=package)

    def answer(request: Request, err: DihrError) -> Response:
        """The HTTP translation of the error table: a page asked by a browser gets
        the site's French error page (or the sign-in page), the API gets JSON."""
        err = as_dihr_error(err, request.url.path)  # a service error in its public form
        if request.url.path.startswith(PAGE_PREFIXES):
            if isinstance(err, Unauthenticated) and request.method == "GET":
                return RedirectResponse(f"/connexion?suite={request.url.path}", status_code=303)
            return pages.error_page(request, err)
        return json_error(err)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, err: RequestValidationError) -> Response:
        """A parameter FastAPI could not read (``page=abc``): a French 400 naming it."""
        first = err.errors()[0] if err.errors() else {}
        field = str((first.get("loc") or ("?",))[-1])
        return answer(request, InvalidInput(field, "valeur absente ou mal formée (un nombre est attendu ?)."))

    @app.exception_handler(DihrError)
    async def dihr_error(request: Request, err: DihrError) -> Response:
        return answer(request, err)

    @app.get("/health", tags=["service"])
    async def health(store: Store, settings: AppSettings) -> Response:
        """ok; unavailable (503) when the database does not answer (an outage:
        the cause in the server log); degraded (503) when the storage refuses
        writes — the audit included — or the data directory's disk is nearly full."""
        try:
            counts = await run_blocking(store.count_nodes, timeout_s=5.0)
        except ServiceError as err:
            public = as_dihr_error(err, "/health")
            return JSONResponse(
                {"status": "unavailable", "problem": public.message},
                status_code=503,
                headers=public.headers(),
            )
        problem = storage_problem(None if settings.neo4j_uri else settings.data_dir)
        if problem:
            return JSONResponse(
                {"status": "degraded", "problem": problem, "nodes": sum(counts.values())}, status_code=503
            )
        return JSONResponse({"status": "ok", "nodes": sum(counts.values())})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request, store: Store, settings: AppSettings) -> Response:
        """Prometheus metrics (api/observability.py), for the scrapers of
        DIHR_METRICS_ALLOW only: anyone else gets the site's 404."""
        client = request.client.host if request.client else ""
        if not metrics_allowed(client, settings.metrics_allow):
            raise NotFound("Page introuvable.")
        with contextlib.suppress(DihrError):  # during an outage, the figures that remain
            REVISION.set(read_model(store).revision if store.local_reads else store.revision())
        body, media_type = await run_blocking(metrics_body, store, timeout_s=10.0)
        return Response(body, media_type=media_type)

    @app.get("/openapi.json", include_in_schema=False, dependencies=signed_in)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=signed_in)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="dihr-graph — API",
            swagger_js_url=f"{VENDOR_PREFIX}/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR_PREFIX}/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="/static/dihr/favicon.svg",
        )

    @app.get(
        "/modeles/annuaire.csv", tags=["modèles"], response_class=PlainTextResponse, dependencies=signed_in
    )
    async def directory_template() -> PlainTextResponse:
        """Exemple d'annuaire à compléter (colonnes en français) pour `dihr import directory`."""
        text = (files("importers") / "data" / "annuaire_exemple.csv").read_text(encoding="utf-8")
        return PlainTextResponse(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="annuaire-exemple.csv"'},
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(
        request: Request, principal: OptionalKey, store: Store, settings: AppSettings
    ) -> HTMLResponse:
        dashboard = None
        if principal is not None:
            dashboard = await pages.dashboard(BoundService(store, settings, principal))
        return pages.render(request, "home.html", "dihr-graph — accueil", dashboard=dashboard)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        """Starlette's own errors (an unknown path, a method not allowed) in French:
        the site's error page for a browser, JSON for the API."""
        problem: DihrError
        if err.status_code == 404:
            problem = NotFound("Page introuvable : vérifiez l'adresse.")
        elif err.status_code == 405:
            problem = InvalidInput("méthode", f"{request.method} n'est pas permis ici.")
        else:
            problem = InvalidInput("requête", str(err.detail))
        response = (
            pages.error_page(request, problem)
            if "text/html" in request.headers.get("accept", "")
            else json_error(problem)
        )
        response.status_code = err.status_code
        return response

    return app
