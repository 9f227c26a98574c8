"""The server `serve` runs, on 127.0.0.1: a request head has a size cap, a slow client a deadline,
and open connections a cap, so no client can starve the callbacks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.devtools.serverthread import ThreadedServer
from app.httpserver import ServerLimits
from app.main import create_app
from tests.conftest import make_settings

LIMITS = ServerLimits(max_header_bytes=8 * 1024, request_timeout_s=0.5, max_connections=20)


@pytest.fixture
def server(sqlite_url: str) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(make_settings(sqlite_url), run_worker=False), limits=LIMITS) as running:
        yield running


def _connect(server: ThreadedServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or 5 s)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _healthy(server: ThreadedServer) -> bool:
    return httpx.get(server.url + "/healthz", timeout=5).status_code == 200


class TestHeadSize:
    def test_an_oversized_head_is_431_and_not_buffered(self, server: ThreadedServer) -> None:
        with _connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent = 0
            try:
                for _ in range(64):  # 4 MiB offered; the server stops reading long before
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 431 ") or answer == b""
        assert sent < 4 * 1024 * 1024 or answer.startswith(b"HTTP/1.1 431 ")
        assert _healthy(server)

    def test_body_bytes_never_count_as_head(self, server: ThreadedServer) -> None:
        """A request whose body arrives in the same reads as its end is not the next head."""
        body = b"x" * (LIMITS.max_header_bytes * 2)
        request = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        with _connect(server) as sock:
            sock.sendall(request + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answers = _read_all(sock)
        assert b" 431 " not in answers and answers.count(b"HTTP/1.1 ") == 2

    def test_a_normal_head_passes(self, server: ThreadedServer) -> None:
        r = httpx.get(server.url + "/healthz", headers={"X-Padding": "a" * 4000})
        assert r.status_code == 200


class TestSlowClients:
    def test_a_stalled_head_is_disconnected_after_the_deadline(self, server: ThreadedServer) -> None:
        with _connect(server) as sock:
            sock.sendall(b"POST /wecom/callback HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            answer = _read_all(sock)
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert waited < 4  # closed by the server's deadline, not by the test's 5 s timeout

    def test_a_stalled_body_is_disconnected(self, server: ThreadedServer) -> None:
        with _connect(server) as sock:
            sock.sendall(
                b"POST /wecom/callback?msg_signature=a&timestamp=1&nonce=n HTTP/1.1\r\n"
                b"Host: x\r\nContent-Length: 1000\r\n\r\n<xml>"
            )
            answer = _read_all(sock)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4")

    def test_a_silent_connection_is_closed(self, server: ThreadedServer) -> None:
        with _connect(server) as sock:
            assert _read_all(sock).startswith(b"HTTP/1.1 408 ")

    def test_a_kept_alive_connection_cannot_stall_its_next_request(self, server: ThreadedServer) -> None:
        with _connect(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 200 ")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # and then nothing
            assert _read_all(sock).startswith(b"HTTP/1.1 408 ")


class TestConnectionCap:
    def test_idle_connections_cannot_starve_the_service(self, server: ThreadedServer) -> None:
        socks: list[socket.socket] = []
        try:
            for _ in range(40):  # twice the cap, each a half-sent request
                sock = _connect(server)
                sock.sendall(b"POST /wecom/callback HTTP/1.1\r\n")
                socks.append(sock)
            time.sleep(LIMITS.request_timeout_s * 2)  # the deadline frees their slots
            assert _healthy(server)
            closed = 0
            for sock in socks:
                sock.settimeout(1)
                try:
                    closed += sock.recv(65536) in (b"",) or 1
                except (TimeoutError, ConnectionResetError):
                    closed += 1
            assert closed == len(socks)
        finally:
            for sock in socks:
                sock.close()

    def test_connections_over_the_cap_are_closed_at_once(self, server: ThreadedServer) -> None:
        held: list[Any] = []
        try:
            for _ in range(LIMITS.max_connections):
                held.append(_connect(server))
            time.sleep(0.1)
            with _connect(server) as extra:
                extra.settimeout(2)
                started = time.monotonic()
                try:
                    data = extra.recv(65536)
                except ConnectionResetError:
                    data = b""
                assert data == b"" and time.monotonic() - started < LIMITS.request_timeout_s
        finally:
            for sock in held:
                sock.close()
