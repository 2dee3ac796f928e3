"""The HTTP boundary's one translation of errors (``graph.errors`` is the table).

A :class:`~graph.errors.DihrError` becomes its status, code and French message
(JSON for the API, the site's error page for pages, a GraphQL error in
``api/schema.py``); anything else is a bug, logged with a correlation id and
masked as :class:`~graph.errors.InternalError`."""

from __future__ import annotations

import logging
import uuid

from fastapi.responses import JSONResponse

from graph.errors import DihrError, InternalError, ServiceError

__all__ = ["as_dihr_error", "json_error"]

log = logging.getLogger("dihr.api")


def as_dihr_error(exc: BaseException, where: str = "") -> DihrError:
    """``exc`` itself when raised on purpose (a service error in its public
    form, its cause logged); else an InternalError whose correlation id is
    logged with the traceback (never sent)."""
    if isinstance(exc, ServiceError):
        # the cause (a server's address, a setting to fix) is the operator's: in the log only
        log.warning("service unavailable%s: %s", f" on {where}" if where else "", exc.message)
        return exc.public()
    if isinstance(exc, DihrError):
        return exc
    correlation = uuid.uuid4().hex[:12]
    log.error("unexpected error %s%s", correlation, f" on {where}" if where else "", exc_info=exc)
    return InternalError(correlation)


def json_error(err: DihrError) -> JSONResponse:
    """``{"code", "message"}`` with the error's status and headers."""
    body: dict[str, str] = {"code": err.code, "message": err.message}
    if isinstance(err, InternalError):
        body["correlationId"] = err.correlation_id
    return JSONResponse(body, status_code=err.status, headers=err.headers())
