"""FastAPI dependencies, as route signatures read them (the FastAPI template's
``Annotated`` aliases):

- ``CurrentKey`` — who calls: an API key (``Authorization: Bearer``) or a page
  session, with failed sign-ins throttled and a rate limit per key, both
  counted in the state every server shares (``graph.shared``). Checked on the
  event loop when the store answers from this machine (a key in memory or in
  the per-revision cache, a one-row SQLite write: microseconds, less than the
  thread hop), in a worker thread over Bolt (a network round trip);
- ``Store``, ``AppSettings`` — what the application was started with;
- ``Service`` — the domain services as the caller: each call runs in a worker
  thread, within the query timeout, for GraphQL, pages, maps and CSV alike.

Routes never read ``request.app.state`` themselves: this module does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request

from api.security import SESSION_COOKIE, RateLimiter, Session, Sessions, SignInThrottle
from graph.access import Principal, authenticate
from graph.errors import Forbidden, QueryTimeout, RateLimited, TooManySignIns, Unauthenticated
from graph.model import NodeKind
from graph.readmodel import built
from graph.settings import Settings
from graph.store import GraphStore

__all__ = [
    "AppSettings",
    "CurrentKey",
    "OptionalKey",
    "PageSession",
    "Service",
    "BoundService",
    "Store",
    "SignIns",
    "AppSessions",
    "run_blocking",
    "run_search",
    "origin_of",
]

T = TypeVar("T")


async def run_blocking(fn: Callable[..., T], *args: Any, timeout_s: float = 20.0, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, abandoned after ``timeout_s``."""
    try:
        with anyio.fail_after(timeout_s):
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), abandon_on_cancel=True)
    except TimeoutError:
        raise QueryTimeout(
            f"La requête a dépassé {timeout_s:g} s : réduisez-la (rayon, niveau, nombre de résultats)."
        ) from None


#: A search within this radius, on a built read model, runs on the event loop (:func:`run_search`).
LOOP_RADIUS_KM = 200.0


async def run_search(
    fn: Callable[[GraphStore, Principal, Any], T],
    store: GraphStore,
    principal: Principal,
    query: Any,
    timeout_s: float,
) -> T:
    """``fn(store, principal, query)`` for a search (``graph.service.find_resources``).

    On a built read model (``graph.readmodel.built``) a search within a regional
    radius answers in about a millisecond (a few at 4× the national network):
    less than handing it to a worker thread and back, whose hand-offs of the
    interpreter lock with the event loop cost a sixth of a worker's throughput
    under load — it runs on the loop. Anything else (the first search after a
    write, a read model being built, a radius up to 1000 km, a Bolt store) runs
    in a worker thread within the query timeout."""
    if query.radius_km <= LOOP_RADIUS_KM and built(store):
        return fn(store, principal, query)
    return await run_blocking(fn, store, principal, query, timeout_s=timeout_s)


def origin_of(request: Request) -> str:
    return request.client.host if request.client else ""


async def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _store(request: Request) -> GraphStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions  # type: ignore[no-any-return]


async def _sign_ins(request: Request) -> SignInThrottle:
    return request.app.state.sign_ins  # type: ignore[no-any-return]


async def _rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(_settings)]
Store = Annotated[GraphStore, Depends(_store)]
AppSessions = Annotated[Sessions, Depends(_sessions)]
SignIns = Annotated[SignInThrottle, Depends(_sign_ins)]


async def _off_loop(store: GraphStore, call: Callable[[], T]) -> T:
    """``call`` (a read or a small write of the store or its shared state) on
    the event loop when the store answers from this machine in microseconds,
    else in a worker thread (a network round trip must not stall the loop)."""
    if store.local_reads:
        return call()
    return await anyio.to_thread.run_sync(call)


async def current_session(request: Request, sessions: AppSessions) -> Session | None:
    """The page session of the cookie, if any (kept on ``request.state`` for the
    pages' layout: who is signed in, the CSRF token)."""
    token = request.cookies.get(SESSION_COOKIE)
    session = await anyio.to_thread.run_sync(sessions.get, token) if token else None
    request.state.session = session
    return session


PageSession = Annotated[Session | None, Depends(current_session)]


def _session_principal(
    store: GraphStore, sessions: Sessions, session: Session, token: str | None
) -> Principal:
    """A page session stays valid only while its key does (revocation applies at once)."""
    node = store.get_node(NodeKind.API_KEY, session.principal.key_id)
    if node is None or node.props.get("revoked_at"):
        sessions.close(token)
        raise Unauthenticated("Session expirée : reconnectez-vous.")
    return session.principal


async def _sign_in(
    request: Request, store: GraphStore, sessions: Sessions, sign_ins: SignInThrottle, session: Session | None
) -> Principal:
    """The caller of a bearer key (failed sign-ins throttled per origin) or of a
    page session; TooManySignIns or Unauthenticated otherwise."""
    header = request.headers.get("authorization", "")
    if header:
        origin = origin_of(request)
        scheme, _, secret = header.partition(" ")
        key_id = sign_ins.key_id_of(secret)
        if scheme.lower() != "bearer" or not secret:
            await _off_loop(store, lambda: sign_ins.failed(origin, "bearer", key_id))
            raise Unauthenticated()
        try:  # a valid key first: never refused because of others' failures
            return await _off_loop(store, lambda: authenticate(store, secret, origin=origin))
        except Unauthenticated:

            def count() -> float:
                sign_ins.failed(origin, "bearer", key_id)
                return sign_ins.refused(origin, key_id)

            wait = await _off_loop(store, count)
            if wait > 0:
                raise TooManySignIns(wait) from None
            raise
    if session is None:
        raise Unauthenticated()
    token = request.cookies.get(SESSION_COOKIE)
    return await anyio.to_thread.run_sync(lambda: _session_principal(store, sessions, session, token))


async def current_key(
    request: Request,
    store: Store,
    sessions: AppSessions,
    sign_ins: SignIns,
    limiter: Annotated[RateLimiter, Depends(_rate_limiter)],
    session: PageSession,
) -> Principal:
    principal = await _sign_in(request, store, sessions, sign_ins, session)
    wait = await _off_loop(store, lambda: limiter.take(principal.key_id))
    if wait > 0:
        raise RateLimited(wait)
    request.state.principal = principal
    return principal


CurrentKey = Annotated[Principal, Depends(current_key)]


async def signed_in_caller(request: Request) -> tuple[GraphStore, Settings, Principal]:
    """``current_key`` and what a service needs, in one dependency: the store,
    the settings and the signed-in caller (the GraphQL route, where FastAPI's
    resolution of a dozen small dependencies per request was a tenth of its
    time)."""
    state = request.app.state
    session = await current_session(request, state.sessions)
    principal = await current_key(
        request, state.store, state.sessions, state.sign_ins, state.rate_limiter, session
    )
    # Signed in by the page session's cookie: a POST must carry the session's
    # CSRF token (GraphiQL sends it), so another site cannot post in its name.
    if (
        session is not None
        and request.method == "POST"
        and "authorization" not in request.headers
        and not secrets.compare_digest(session.csrf, request.headers.get("x-csrf-token", ""))
    ):
        raise Forbidden(
            "Jeton CSRF manquant ou invalide (en-tête X-CSRF-Token) : une requête GraphQL signée par "
            "la session du navigateur doit le porter ; rechargez la page, ou utilisez une clé d'API."
        )
    return state.store, state.settings, principal


async def optional_key(
    request: Request, session: PageSession, store: Store, sessions: AppSessions, sign_ins: SignIns
) -> Principal | None:
    """The signed-in principal on a public page (the home page), by the same
    sign-in as everywhere (throttle included); None when not signed in."""
    try:
        principal = await _sign_in(request, store, sessions, sign_ins, session)
    except (Unauthenticated, TooManySignIns):
        return None
    request.state.principal = principal
    return principal


OptionalKey = Annotated[Principal | None, Depends(optional_key)]


@dataclass(frozen=True, slots=True)
class BoundService:
    """The domain services as the caller: ``await service(fn, *args)`` runs
    ``fn(store, principal, *args)`` off the event loop within the query timeout;
    ``await service.read(fn, *args)`` runs ``fn(store, *args)`` (public reads)."""

    store: GraphStore
    settings: Settings
    principal: Principal

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_blocking(
            fn, self.store, self.principal, *args, timeout_s=self.settings.query_timeout_s, **kwargs
        )

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_blocking(fn, self.store, *args, timeout_s=self.settings.query_timeout_s, **kwargs)

    async def search(self, fn: Callable[..., T], query: Any) -> T:
        """A search as the caller (``run_search``: on the loop when it answers at once)."""
        return await run_search(fn, self.store, self.principal, query, self.settings.query_timeout_s)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Any blocking call (rendering a map, a CSV), within the query timeout."""
        return await run_blocking(fn, *args, timeout_s=self.settings.query_timeout_s, **kwargs)


async def _service(store: Store, settings: AppSettings, principal: CurrentKey) -> BoundService:
    return BoundService(store, settings, principal)


Service = Annotated[BoundService, Depends(_service)]
