"""How the service listens: uvicorn (uvloop + httptools) with limits it lacks on its own.

uvicorn's httptools protocol buffers a request head of any size, never times out a client that
sends its head or body slowly, and accepts connections until the process runs out of file
descriptors (a test buffered a 167 MiB header; 300 idle half-requests made every valid callback
fail). `GuardedHttpToolsProtocol` adds, per connection:
- a cap on the bytes of a request head (431, then close);
- a deadline for a whole request, head and body, from its first byte (or from the connection
  when nothing arrives): a client too slow for it is disconnected;
- a cap on open connections: past it a new connection is closed at once, so valid callbacks are
  refused for a moment at worst, never the whole process starved.
In production put a reverse proxy in front as well (docker-compose.yml has nginx): it absorbs
slow clients without holding a Python object each. Everything here is loopback-tested.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.logs import log_event
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_header_bytes: int = 64 * 1024
    request_timeout_s: float = 10.0  # head and body of one request, from its first byte
    max_connections: int = 512  # keep below the process's file-descriptor limit

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            request_timeout_s=settings.request_timeout_s,
            max_connections=settings.max_connections,
        )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (configure with `with_limits`)."""

    limits: ClassVar[ServerLimits] = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._reading_head = True
        self._completed = 0  # requests that arrived whole on this connection
        self._deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_limits(cls, limits: ServerLimits) -> type[GuardedHttpToolsProtocol]:
        return type("GuardedHttpToolsProtocol", (cls,), {"limits": limits})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log_event("http.connection_refused", level=10, open=len(self.connections))
            transport.abort()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head and self._deadline is None:
            self._arm()  # the first byte of a request on a kept-alive connection
        completed = self._completed
        super().data_received(data)
        # Counted after parsing, and only for a chunk that neither completed a head nor ended a
        # request (its bytes are head or body of that request, not of the next one's head).
        if self._reading_head and completed == self._completed and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._disarm()
                self._reject(431, b"Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # the request arrived whole: the app takes its time from here
        super().on_message_complete()
        self._reading_head, self._head_bytes = True, 0
        self._completed += 1

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.limits.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log_event("http.request_timeout", level=10)
            # Still in the head (a new request: `cycle` is the last one), or in a body the app
            # has not answered yet: the client can be told.
            if self._reading_head or self.cycle is None or not self.cycle.response_started:
                self._reject(408, b"Request Timeout")
            else:
                self.transport.close()

    def _reject(self, status: int, reason: bytes) -> None:
        body = reason
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()


def server_config(app: Any, *, host: str, port: int, limits: ServerLimits, **kwargs: Any) -> uvicorn.Config:
    """The uvicorn configuration `serve` runs (tests and the demo use it too)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=GuardedHttpToolsProtocol.with_limits(limits),
        log_level="warning",
        access_log=False,
        **kwargs,
    )
