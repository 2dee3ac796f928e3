"""Authentication, abuse limits and error masking for every HTTP request.

One middleware: body size limit → the handler, whose unexpected errors are
masked (correlation id in the response, details in the log) → security
headers. Page sessions, the rate limiter and the sign-in throttle live here;
authentication itself is the ``CurrentKey`` dependency (``api/deps.py``), and
access *rules* are in ``graph/access.py`` and ``graph/service.py``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import Headers, MutableHeaders

from api.errors import as_dihr_error, json_error
from api.observability import record_request
from api.rendering import error_page
from graph.access import Principal, Role
from graph.errors import BodyTooLarge
from graph.shared import SharedState, window_of
from graph.store import one_look

__all__ = [
    "install_security",
    "SignInThrottle",
    "map_csp",
    "with_nonce",
    "PAGE_CSP",
    "PAGE_PREFIXES",
    "RateLimiter",
    "Session",
    "Sessions",
    "SESSION_COOKIE",
    "SESSION_HOURS",
]

log = logging.getLogger("dihr.api")
SESSION_COOKIE = "dihr_session"
SESSION_HOURS = 8


@dataclass(slots=True)
class Session:
    principal: Principal
    csrf: str
    expires: float


class Sessions:
    """Page sessions: opaque random token → principal and CSRF token, in the
    state every worker and app server shares (``graph.shared``: beside an
    embedded store, a SQLite file of its data directory; with Bolt, the
    database): a session opened on one server is valid on every other. Only a
    hash of each token is stored."""

    SCOPE = "session"

    def __init__(self, shared: SharedState) -> None:
        self._shared = shared

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def open(self, principal: Principal) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(24), time.time() + SESSION_HOURS * 3600)
        self._shared.shared_put(
            self.SCOPE,
            self._hash(token),
            {
                "key_id": principal.key_id,
                "role": principal.role.value,
                "territory": principal.territory,
                "origin": principal.origin,
                "csrf": session.csrf,
                "expires": session.expires,
            },
            SESSION_HOURS * 3600,
        )
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        found = self._shared.shared_get(self.SCOPE, self._hash(token))
        if found is None:
            return None
        principal = Principal(found["key_id"], Role(found["role"]), found["territory"], found["origin"])
        return Session(principal, found["csrf"], float(found["expires"]))

    def close(self, token: str | None) -> None:
        self._shared.shared_delete(self.SCOPE, self._hash(token or ""))


class RateLimiter:
    """``per_minute`` requests a minute per key for the whole service (every
    worker and app server counts in the shared state, ``graph.shared``): fixed
    windows of a minute, so a burst may reach twice the limit across the turn of
    a minute, never more.

    A busy key's worker takes its requests from the shared count in *leases*
    instead of one write per request: 1, then twice as many each time a lease is
    used up within the minute (up to 64), never more than a sixteenth of what is
    left of the limit — near the limit, one at a time again. The shared count
    never grants more than the limit, whichever worker asks; what a worker
    holds unused is at most a sixteenth of the remainder when another is refused.
    Once the limit is reached, the worker refuses the key until the next window
    without asking again."""

    WINDOW_S = 60.0
    MAX_LEASE = 64

    def __init__(self, shared: SharedState, per_minute: int) -> None:
        self._shared = shared
        self.per_minute = per_minute
        # key → [window, requests left of its lease, the lease's size, a sixteenth of what was left]
        self._leases: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go; else the seconds to wait (the window's end)."""
        now = time.time()
        window = window_of(now, self.WINDOW_S)
        wait = max(1.0, self.WINDOW_S - now % self.WINDOW_S)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease[0] != window:
                lease = None  # a past minute's
            if lease is not None and lease[1] > 0:
                lease[1] -= 1
                return 0.0
            if lease is not None and lease[3] == 0:
                return wait  # the limit reached: until the next window, without asking again
            size = 1 if lease is None else min(2 * lease[2], self.MAX_LEASE, lease[3])
            total = self._shared.shared_hit("rate", key, self.WINDOW_S, add=size)
            granted = min(size, max(0, self.per_minute - (total - size)))
            left = self.per_minute - total
            self._leases[key] = [window, granted - 1, size, max(1, left // 16) if left > 0 else 0]
            if len(self._leases) > 10_000:  # keys of past minutes
                self._leases = {k: v for k, v in self._leases.items() if v[0] == window}
        return 0.0 if granted > 0 else wait


class SignInThrottle:
    """Failed sign-ins (a wrong, forged or revoked key, on the login form or as a
    bearer) per (origin, key id): ``limit`` in a window of ``window_s``, then
    that pair is refused for the rest of the window; and per origin,
    ``origin_limit`` (a spray of key ids). Counted in the shared state
    (``graph.shared``): every worker and app server sees every failure. A valid
    key is never refused: it is checked first, so others' failures from the
    same address (a whole ARS behind one proxy) never lock it out. Each failure
    is logged (origin, key id, never the secret)."""

    def __init__(
        self, shared: SharedState, limit: int = 10, window_s: float = 900.0, origin_limit: int = 100
    ) -> None:
        self._shared = shared
        self.limit, self.window_s, self.origin_limit = limit, window_s, origin_limit

    @staticmethod
    def key_id_of(secret: str) -> str:
        """The key id a presented secret claims (``dihr_<id>_<secret>``), or "" if malformed."""
        parts = secret.strip().split("_", 2)
        return parts[1][:32] if len(parts) == 3 and parts[0] == "dihr" and parts[1].isalnum() else ""

    def refused(self, origin: str, key_id: str) -> float:
        """After a failed attempt: seconds this (origin, key id) — or this origin's
        spray — must wait (0: the failure is answered as a wrong key)."""
        pair = self._shared.shared_hit("signin", f"{origin}|{key_id}", self.window_s, add=0)
        spray = self._shared.shared_hit("signin", origin, self.window_s, add=0)
        if pair > self.limit or spray > self.origin_limit:
            return max(1.0, self.window_s - time.time() % self.window_s)
        return 0.0

    def failed(self, origin: str, where: str, key_id: str = "") -> None:
        recent = self._shared.shared_hit("signin", f"{origin}|{key_id}", self.window_s)
        self._shared.shared_hit("signin", origin, self.window_s)
        log.warning(
            "failed sign-in (%s) from %s, key id %s: %d in %.0f min",
            where,
            origin or "?",
            key_id or "?",
            recent,
            self.window_s / 60,
        )


#: Pages: an anonymous visitor is sent to the login page rather than given a 401.
PAGE_PREFIXES = (
    "/recherche",
    "/couverture",
    "/annuaire",
    "/situations",
    "/savoirs",
    "/activite",
    "/qualite",
    "/transition",
    "/deconnexion",
)


#: The pages' policy: scripts and styles from the app only (styles may be inline
#: attributes), maps in frames of the app only, never framed by another site.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
#: Paths whose HTML is not ours (FastAPI's /docs, strawberry's GraphiQL load their CDN scripts).
_THIRD_PARTY_HTML = ("/docs", "/redoc")
#: Responses that may be cached (the same for everybody, no personal data).
_CACHEABLE = ("/static/",)


def map_csp(nonce: str) -> str:
    """A map's policy: folium writes inline scripts, each carries this response's
    nonce (``with_nonce``); Leaflet's tiles and stylesheets may come from elsewhere."""
    return (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline' https:; "
        "img-src 'self' data: https:; font-src 'self' data: https:; connect-src 'self'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"
    )


def with_nonce(html_text: str, nonce: str) -> str:
    """Every ``<script`` of a rendered map with the nonce (data in a map is
    escaped, so every script element there is the map's own)."""
    return html_text.replace("<script", f'<script nonce="{nonce}"')


def _secure_headers(path: str, headers: MutableHeaders) -> None:
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    if not path.startswith(_CACHEABLE):
        headers.setdefault("Cache-Control", "no-store")
    if headers.get("content-type", "").startswith("text/html") and not path.startswith(_THIRD_PARTY_HTML):
        headers.setdefault("Content-Security-Policy", PAGE_CSP)


class Guard:
    """The one middleware (pure ASGI: nothing buffered, no task per request):
    a declared body over the limit is refused at once, and a body's bytes are
    counted as they arrive (a ``Content-Length`` can be left out:
    ``Transfer-Encoding: chunked``), reading stopping past the limit (413); an
    unexpected error of the handler is masked (correlation id in the response,
    traceback in the log), a page's as the site's error page; every response
    gets the security headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = scope["app"].state.settings.max_body_bytes
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._answer(scope, receive, send, json_error(BodyTooLarge(limit)))
            return
        started = False
        status = 500
        began = time.perf_counter()
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message  # type: ignore[no-any-return]

        async def secured(message: dict[str, Any]) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = list(message.get("headers", ()))
                _secure_headers(path, MutableHeaders(scope=message))
            await send(message)

        try:
            with one_look():  # one request reads one state of the store (graph.store.one_look)
                await self.app(scope, counted, secured)
        except BodyTooLarge as err:
            if started:
                raise
            status = err.status
            await self._answer(scope, receive, send, json_error(err))
        except Exception as exc:
            if started:
                raise
            err = as_dihr_error(exc, path)
            if path.startswith(PAGE_PREFIXES) or path == "/":
                response = error_page(Request(scope, receive), err)
            else:
                response = json_error(err)
            status = response.status_code
            await self._answer(scope, receive, send, response)
        finally:
            record_request(scope, status, time.perf_counter() - began)

    @staticmethod
    async def _answer(scope: dict[str, Any], receive: Any, send: Any, response: Response) -> None:
        _secure_headers(scope["path"], response.headers)
        await response(scope, receive, send)


def install_security(app: FastAPI) -> None:
    """The middleware every response passes: the body limit (bytes counted as
    they stream), security headers, and the masking of unexpected errors
    (correlation id in the response, the traceback only in the log).
    Authentication is a dependency (``api.deps.CurrentKey``) of each route
    that needs it, not a middleware."""
    app.add_middleware(Guard)
