"""The one table of errors raised on purpose.

One root, :class:`DihrError`, and groups by who must act (as httpx and the
Neo4j driver do): the caller's input, access, limits, conflicts, the service.
Each class carries its stable ``code`` (GraphQL extensions, JSON bodies, the
CLI's ``--json``), its HTTP ``status``, the CLI's ``exit_code``, and each
instance a French message a user can act on. Every boundary translates errors
from this table once: ``api/errors.py`` (HTTP, pages, GraphQL) and ``cli/``.
Anything that is not a :class:`DihrError` is a bug: masked with a correlation
id (:class:`InternalError`), the details only in the log.

::

    DihrError
    ├── InputError 400         InvalidInput, UnknownCode, InvalidQuery, FileFormatError,
    │                          DumpError, SchemaError, UsageError (exit 2)
    ├── NotFound 404
    ├── AccessError            Unauthenticated 401, Forbidden 403
    ├── LimitError             QueryTooDeep, TooManyAliases, QueryTooLong, QueryTooComplex 400,
    │                          BodyTooLarge 413, RateLimited 429, TooManySignIns 429
    ├── ConflictError 409      StoreError, ImportRefused
    ├── ServiceError 503       StoreUnavailable, QueryTimeout 504, ReferenceDataError,
    │                          ConfigurationError (exit 2)
    └── InternalError 500      (a bug, masked)
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = [
    "DihrError",
    "WriteConflict",
    "StorageFault",
    "InputError",
    "InvalidInput",
    "UnknownCode",
    "InvalidQuery",
    "FileFormatError",
    "DumpError",
    "SchemaError",
    "UsageError",
    "NotFound",
    "AccessError",
    "Unauthenticated",
    "Forbidden",
    "LimitError",
    "QueryTooDeep",
    "TooManyAliases",
    "QueryTooLong",
    "QueryTooComplex",
    "BodyTooLarge",
    "RateLimited",
    "TooManySignIns",
    "ConflictError",
    "StoreError",
    "ImportRefused",
    "ServiceError",
    "StoreUnavailable",
    "QueryTimeout",
    "ReferenceDataError",
    "ConfigurationError",
    "InternalError",
    "ERROR_TABLE",
]


class DihrError(Exception):
    """Root of every error raised on purpose."""

    code = "DIHR_ERROR"
    status = 400
    exit_code = 1

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with the error (``Retry-After``, ``WWW-Authenticate``)."""
        return {}


# -- the caller's input ----------------------------------------------------------------
class InputError(DihrError):
    """The request or file is wrong; the caller can fix it."""

    code = "BAD_REQUEST"
    status = 400


class InvalidInput(InputError):
    """A request argument is out of bounds or malformed."""

    code = "INVALID_INPUT"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"Paramètre « {field} » invalide : {reason}")


class UnknownCode(InputError):
    """A vocabulary or territory code that the graph does not know."""

    code = "UNKNOWN_CODE"

    def __init__(self, what: str, codes: list[str] | str, hint: str = "") -> None:
        self.what = what
        self.codes = [codes] if isinstance(codes, str) else list(codes)
        listed = ", ".join(self.codes)
        suffix = f" {hint}" if hint else ""
        super().__init__(f"Code(s) {what} inconnu(s) : {listed}.{suffix}")


class InvalidQuery(InputError):
    """A GraphQL document or its variables do not fit the schema (syntax,
    validation, a variable missing or of the wrong type)."""

    code = "GRAPHQL_VALIDATION_FAILED"


class FileFormatError(InputError):
    """The file is not what it claims to be: nothing was written."""

    code = "FILE_FORMAT"

    def __init__(self, path: Path, line: int, expected: str) -> None:
        self.path, self.line = path, line
        where = f"{path.name}, ligne {line}" if line else path.name
        super().__init__(f"{where} : {expected} Aucune donnée n'a été importée.")


class DumpError(InputError):
    """A dump file that cannot be restored: nothing was written."""

    code = "DUMP_FORMAT"


class SchemaError(InputError, ValueError):
    """A node or edge does not fit the schema (unknown kind, bad key, bad endpoints)."""

    code = "SCHEMA_ERROR"


class UsageError(InputError):
    """A command used the wrong way (the CLI's usage errors)."""

    code = "USAGE"
    exit_code = 2


# -- not found -------------------------------------------------------------------------
class NotFound(DihrError):
    """The requested node does not exist (or is not visible to the caller)."""

    code = "NOT_FOUND"
    status = 404


# -- access ----------------------------------------------------------------------------
class AccessError(DihrError):
    """Who the caller is, or what the caller's role allows."""

    code = "ACCESS_DENIED"
    status = 403


class Unauthenticated(AccessError):
    code = "UNAUTHENTICATED"
    status = 401

    def __init__(
        self, message: str = "Authentification requise : envoyez une clé d'API (Authorization: Bearer …)."
    ) -> None:
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(AccessError):
    code = "FORBIDDEN"
    status = 403

    def __init__(self, message: str = "Votre rôle ne permet pas cette opération.") -> None:
        super().__init__(message)


# -- limits ----------------------------------------------------------------------------
class LimitError(DihrError):
    """The request is too large, too costly or too frequent."""

    code = "LIMIT_EXCEEDED"
    status = 400


class QueryTooDeep(LimitError):
    code = "QUERY_TOO_DEEP"


class TooManyAliases(LimitError):
    code = "TOO_MANY_ALIASES"


class QueryTooLong(LimitError):
    code = "QUERY_TOO_LONG"


class QueryTooComplex(LimitError):
    code = "QUERY_TOO_COMPLEX"


class BodyTooLarge(LimitError):
    code = "BODY_TOO_LARGE"
    status = 413

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"Requête trop volumineuse : {limit_bytes} octets au plus.")


class _Retry(LimitError):
    status = 429

    def __init__(self, message: str, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.wait_s)))}


class RateLimited(_Retry):
    code = "RATE_LIMITED"

    def __init__(self, wait_s: float) -> None:
        super().__init__("Trop de requêtes pour cette clé : réessayez dans quelques secondes.", wait_s)


class TooManySignIns(_Retry):
    code = "TOO_MANY_SIGN_INS"

    def __init__(self, wait_s: float) -> None:
        minutes = max(1, math.ceil(wait_s / 60))
        super().__init__(f"Trop de tentatives de connexion échouées : réessayez dans {minutes} min.", wait_s)


# -- conflicts -------------------------------------------------------------------------
class ConflictError(DihrError):
    """The request is well formed but cannot be applied to the data as it is."""

    code = "CONFLICT"
    status = 409


class StoreError(ConflictError):
    """A write was refused; nothing of the batch was stored."""

    code = "STORE_ERROR"


class StorageFault(StoreError):
    """The disk refused a write (full, read-only, I/O error): nothing was written;
    the server reports itself degraded until a write succeeds again."""

    code = "STORAGE_FAULT"
    status = 503


class WriteConflict(ConflictError):
    """A compare-and-set found the data changed since it was read: nothing was
    written (another person changed it first)."""

    code = "WRITE_CONFLICT"


class ImportRefused(ConflictError):
    """The file is well formed but importing it would damage the register
    (e.g. close too many establishments): nothing was written."""

    code = "IMPORT_REFUSED"

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"{path.name} : {reason} Aucune donnée n'a été importée.")


# -- the service -----------------------------------------------------------------------
class ServiceError(DihrError):
    """The service cannot answer now; not the caller's fault."""

    code = "SERVICE_UNAVAILABLE"
    status = 503
    #: What a user of the web application or the API reads: the cause and what
    #: an operator must fix (a setting's name, a server's address) go to the
    #: server's log only (``api.errors.as_dihr_error``); the CLI, run by the
    #: operator, shows the full message.
    public_message = (
        "Service momentanément indisponible : la base de données ne répond pas. "
        "Réessayez dans quelques instants ; si cela dure, prévenez l'administrateur."
    )

    def public(self) -> ServiceError:
        """This error as a user reads it (same class, code and status)."""
        shown = ServiceError.__new__(type(self))
        DihrError.__init__(shown, self.public_message)
        return shown


class StoreUnavailable(ServiceError):
    """The store cannot be opened or reached."""

    code = "STORE_UNAVAILABLE"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}  # a load balancer or a client tries again shortly


class QueryTimeout(ServiceError):
    code = "TIMEOUT"
    status = 504

    def public(self) -> ServiceError:
        return self  # its message says what to narrow, nothing of the servers


class ReferenceDataError(ServiceError):
    """Reference data (geography, ERHR file) is missing or malformed."""

    code = "REFERENCE_DATA_ERROR"


class ConfigurationError(ServiceError):
    """A setting (``DIHR_*`` environment variable) is missing or malformed."""

    code = "CONFIGURATION_ERROR"
    exit_code = 2


class InternalError(DihrError):
    """An unexpected error, masked: the caller gets a reference to quote."""

    code = "INTERNAL_ERROR"
    status = 500

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        super().__init__(f"Erreur interne. Référence à communiquer au support : {correlation_id}.")


def _leaves(root: type[DihrError]) -> list[type[DihrError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _leaves(sub)
    return found


#: code → (HTTP status, CLI exit code, class): the table every boundary reads
#: (and the README's, generated by ``tests/test_errors.py``).
ERROR_TABLE: dict[str, tuple[int, int, type[DihrError]]] = {}
for _cls in _leaves(DihrError):
    if not _cls.__name__.startswith("_"):
        ERROR_TABLE.setdefault(_cls.code, (_cls.status, _cls.exit_code, _cls))


def error_table_markdown() -> str:
    """The table as the README shows it (``python -m tools.error_table`` writes it there)."""
    lines = ["| code | HTTP | CLI exit | class | group |", "|---|---|---|---|---|"]
    for code, (status, exit_code, cls) in ERROR_TABLE.items():
        group = next(
            (
                base.__name__
                for base in cls.__mro__[1:]
                if base is not DihrError and issubclass(base, DihrError) and base.__name__ in _GROUPS
            ),
            "—",
        )
        lines.append(f"| `{code}` | {status} | {exit_code} | `{cls.__name__}` | {group} |")
    return "\n".join(lines)


_GROUPS = frozenset({"InputError", "AccessError", "LimitError", "ConflictError", "ServiceError"})
