"""Errors raised on purpose. Each carries a stable ``code`` (for GraphQL
extensions, HTTP mapping and the CLI) and a French message a user can act on."""

from __future__ import annotations

__all__ = [
    "DihrError",
    "InvalidInput",
    "UnknownCode",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
    "ReferenceDataError",
]


class DihrError(Exception):
    """Base of every error raised on purpose."""

    code = "DIHR_ERROR"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidInput(DihrError):
    """A request argument is out of bounds or malformed."""

    code = "INVALID_INPUT"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"Paramètre « {field} » invalide : {reason}")


class UnknownCode(DihrError):
    """A vocabulary or territory code that the graph does not know."""

    code = "UNKNOWN_CODE"

    def __init__(self, what: str, codes: list[str] | str, hint: str = "") -> None:
        self.what = what
        self.codes = [codes] if isinstance(codes, str) else list(codes)
        listed = ", ".join(self.codes)
        suffix = f" {hint}" if hint else ""
        super().__init__(f"Code(s) {what} inconnu(s) : {listed}.{suffix}")


class NotFound(DihrError):
    """The requested node does not exist (or is not visible to the caller)."""

    code = "NOT_FOUND"


class StoreError(DihrError):
    """A write was refused; nothing of the batch was stored."""

    code = "STORE_ERROR"


class StoreUnavailable(DihrError):
    """The store cannot be opened or reached."""

    code = "STORE_UNAVAILABLE"


class ReferenceDataError(DihrError):
    """Reference data (geography, ERHR file) is missing or malformed."""

    code = "REFERENCE_DATA_ERROR"
