"""uvicorn's httptools protocol, with a deadline for request headers: a client
that opens a connection and trickles its headers (slowloris) is closed after
``DIHR_HEADER_TIMEOUT_S`` seconds instead of holding a worker's connection slot
for ever (uvicorn itself times out idle keep-alive connections only)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HeaderTimeoutProtocol", "with_header_timeout"]


class HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout_s = 10.0

    def _arm(self) -> None:
        if getattr(self, "_header_deadline", None) is None:
            self._header_deadline: asyncio.TimerHandle | None = self.loop.call_later(
                self.header_timeout_s, self._headers_too_slow
            )

    def _disarm(self) -> None:
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the next request of a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def with_header_timeout(seconds: float) -> Any:
    """The protocol class uvicorn is given, with this deadline."""
    return type("HeaderTimeout", (HeaderTimeoutProtocol,), {"header_timeout_s": float(seconds)})
