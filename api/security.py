"""Authentication, abuse limits and error masking for every HTTP request.

One middleware: body size limit → public paths (``/health``, the login page,
Leaflet's static files) → API key (``Authorization: Bearer``) → per-key rate
limit → the handler, whose unexpected errors are masked (correlation id in the
response, details in the log). Access *rules* are not here: they are in
``graph/access.py`` and ``graph/service.py``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from graph.access import Principal, Role, Unauthenticated, authenticate
from graph.errors import DihrError
from graph.model import NodeKind

__all__ = ["install_security", "SignInThrottle", "throttled", "throttle_message", "map_csp", "with_nonce", "PAGE_CSP", "RateLimiter", "Sessions", "PUBLIC_PATHS", "SESSIONS_FILENAME"]

log = logging.getLogger("dihr.api")
PUBLIC_PATHS = frozenset({"/health", "/", "/connexion"})
SESSION_COOKIE = "dihr_session"
SESSION_HOURS = 8
SESSIONS_FILENAME = "sessions.sqlite"


@dataclass(slots=True)
class Session:
    principal: Principal
    csrf: str
    expires: float


class Sessions:
    """Page sessions: opaque random token → principal and CSRF token.

    Kept in a small SQLite file of the data directory so that every web worker
    process sees the same sessions; only a hash of each token is stored."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
            "role TEXT NOT NULL, territory TEXT, origin TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL)"
        )
        self._lock = threading.Lock()

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def open(self, principal: Principal) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), time.time() + SESSION_HOURS * 3600)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self._hash(token), principal.key_id, principal.role.value, principal.territory, principal.origin,
                 session.csrf, session.expires),
            )
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, role, territory, origin, csrf, expires FROM sessions WHERE token_hash = ?",
                (self._hash(token),),
            ).fetchone()
        if row is None:
            return None
        key_id, role, territory, origin, csrf, expires = row
        if expires < time.time():
            self.close(token)
            return None
        return Session(Principal(key_id, Role(role), territory, origin), csrf, expires)

    def close(self, token: str | None) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (self._hash(token or ""),))

    def shutdown(self) -> None:
        with self._lock:
            self._db.close()


PUBLIC_PREFIXES = ("/static/",)


def error_response(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to the same."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go; else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class SignInThrottle:
    """Failed sign-ins (a wrong, forged or revoked key, on the login form or as a
    bearer) per origin: ``limit`` in ``window_s``, then refused for the rest of the
    window, each failure logged (origin, never the secret). Each web worker
    counts on its own."""

    def __init__(self, limit: int = 10, window_s: float = 900.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, origin: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(origin, []) if now - t < self.window_s]
        if kept:
            self._failures[origin] = kept
        else:
            self._failures.pop(origin, None)
        return kept

    def wait(self, origin: str) -> float:
        """Seconds before this origin may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(origin, now)
            return 0.0 if len(recent) < self.limit else self.window_s - (now - recent[0])

    def failed(self, origin: str, where: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._recent(origin, now)
            recent.append(now)
            self._failures[origin] = recent
            if len(self._failures) > 100_000:  # bounded memory under a spray of origins
                self._failures.pop(next(iter(self._failures)))
        log.warning("failed sign-in (%s) from %s: %d in %.0f min", where, origin or "?", len(recent), self.window_s / 60)


def throttle_message(wait: float) -> str:
    """What a throttled origin is told (the login form and the API say the same)."""
    return f"Trop de tentatives de connexion échouées : réessayez dans {max(1, math.ceil(wait / 60))} min."


def throttled(wait: float) -> JSONResponse:
    return error_response(429, "TOO_MANY_SIGN_INS", throttle_message(wait), **{"Retry-After": str(max(1, math.ceil(wait)))})


#: Pages: an anonymous visitor is sent to the login page rather than given a 401.
PAGE_PREFIXES = ("/recherche", "/couverture", "/annuaire", "/situations", "/deconnexion")


def authenticate_session(request: Request, session: Session) -> Principal:
    """A page session stays valid only while its key does (revocation applies at once)."""
    node = request.app.state.store.get_node(NodeKind.API_KEY, session.principal.key_id)
    if node is None or node.props.get("revoked_at"):
        request.app.state.sessions.close(request.cookies.get(SESSION_COOKIE))
        raise Unauthenticated("Session expirée : reconnectez-vous.")
    return session.principal


#: The pages' policy: scripts and styles from the app only (styles may be inline
#: attributes), maps in frames of the app only, never framed by another site.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'")
#: Paths whose HTML is not ours (FastAPI's /docs, strawberry's GraphiQL load their CDN scripts).
_THIRD_PARTY_HTML = ("/docs", "/redoc", "/graphql")
#: Responses that may be cached (the same for everybody, no personal data).
_CACHEABLE = ("/static/",)


def map_csp(nonce: str) -> str:
    """A map's policy: folium writes inline scripts, each carries this response's
    nonce (``with_nonce``); Leaflet's tiles and stylesheets may come from elsewhere."""
    return (f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline' https:; "
            "img-src 'self' data: https:; font-src 'self' data: https:; connect-src 'self'; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; object-src 'none'")


def with_nonce(html_text: str, nonce: str) -> str:
    """Every ``<script`` of a rendered map with the nonce (data in a map is
    escaped, so every script element there is the map's own)."""
    return html_text.replace("<script", f'<script nonce="{nonce}"')


def _secure_headers(path: str, response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    if not path.startswith(_CACHEABLE):
        headers.setdefault("Cache-Control", "no-store")
    if headers.get("content-type", "").startswith("text/html") and not path.startswith(_THIRD_PARTY_HTML):
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
    return response


class BodyTooLarge(Exception):
    """A request body grew past ``max_body_bytes`` while it streamed."""


class BodyLimit:
    """Counts a request's body bytes as they arrive (a ``Content-Length`` can be
    left out: ``Transfer-Encoding: chunked``) and stops reading past the limit;
    the guard answers 413. Pure ASGI: nothing is buffered here."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = scope["app"].state.settings.max_body_bytes
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message  # type: ignore[no-any-return]

        await self.app(scope, counted, send)


def _too_large(settings: Any) -> JSONResponse:
    return error_response(413, "BODY_TOO_LARGE", f"Requête trop volumineuse : {settings.max_body_bytes} octets au plus.")


def install_security(app: FastAPI) -> None:
    app.add_middleware(BodyLimit)  # every body counted as it streams, whatever its headers say
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        return _secure_headers(request.url.path, await checked(request, call_next))

    async def checked(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        settings = request.app.state.settings
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return _too_large(settings)
        path = request.url.path
        session = request.app.state.sessions.get(request.cookies.get(SESSION_COOKIE))
        request.state.session = session
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            header = request.headers.get("authorization", "")
            scheme, _, secret = header.partition(" ")
            origin = request.client.host if request.client else ""
            try:
                if header:
                    wait = request.app.state.sign_ins.wait(origin)
                    if wait > 0:
                        return throttled(wait)
                    if scheme.lower() != "bearer" or not secret:
                        raise Unauthenticated()
                    try:
                        principal = authenticate(request.app.state.store, secret, origin=origin)
                    except Unauthenticated:
                        request.app.state.sign_ins.failed(origin, "bearer")
                        raise
                elif session is not None:
                    principal = authenticate_session(request, session)
                else:
                    raise Unauthenticated()
            except DihrError as err:
                if path.startswith(PAGE_PREFIXES) and request.method == "GET":
                    return RedirectResponse(f"/connexion?suite={path}", status_code=303)
                return error_response(401, err.code, err.message, **{"WWW-Authenticate": "Bearer"})
            wait = request.app.state.rate_limiter.take(principal.key_id)
            if wait > 0:
                return error_response(429, "RATE_LIMITED",
                                      "Trop de requêtes pour cette clé : réessayez dans quelques secondes.",
                                      **{"Retry-After": str(max(1, math.ceil(wait)))})
            request.state.principal = principal
        try:
            return await call_next(request)
        except BodyTooLarge:
            return _too_large(settings)
        except Exception:  # masked: no trace, path or query text reaches the caller
            correlation = uuid.uuid4().hex[:12]
            log.exception("unexpected error %s on %s", correlation, path)
            return JSONResponse(
                {"code": "INTERNAL_ERROR", "message": f"Erreur interne. Référence à communiquer au support : {correlation}.",
                 "correlationId": correlation},
                status_code=500,
            )
