"""Run the simulator: in a background thread for tests and the demo (`SimulatorServer`), or in
the foreground for `wecom-warden simulate` (`serve_simulator`). Loopback addresses only, ever:
the simulator accepts well-known test credentials and must not be reachable from elsewhere.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from app.simulator.org import Org, load_org
from app.simulator.sender import CallbackTarget
from app.simulator.server import create_simulator_app
from app.simulator.state import SimConfig, SimState

log = logging.getLogger("warden.simulator")
START_TIMEOUT_S = 20.0


def require_loopback(host: str) -> None:
    """Refuse any address that is not loopback (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulator only listens on loopback addresses, not {host!r}")


def _uvicorn_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    # access_log off: uvicorn would log each URL, access_token and webhook key included.
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")


class SimulatorServer:
    """The simulator on 127.0.0.1 and a free port, served from a background thread.

    with SimulatorServer() as sim:
        client = WeComClient(base_url=sim.base_url, corp_id=sim.config.corp_id, ...)
    """

    def __init__(
        self,
        org: Org | Path | None = None,
        *,
        config: SimConfig | None = None,
        callback: CallbackTarget | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        require_loopback(host)
        loaded = org if isinstance(org, Org) else load_org(org)
        self.state = SimState(loaded, config)
        self.app = create_simulator_app(self.state, callback=callback)
        self.host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def config(self) -> SimConfig:
        return self.state.config

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the simulator is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def set_callback_target(self, target: CallbackTarget | None) -> None:
        """Where `/_sim/callbacks` delivers (the service may start after the simulator)."""
        self.state.callback_target = target

    def start(self) -> SimulatorServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        # Bind first, so port 0 becomes a known free port before uvicorn starts.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._socket = sock
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.host, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="wecom-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        log.info("sim.started base_url=%s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None
        self._socket = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def serve_simulator(
    *,
    host: str = "127.0.0.1",
    port: int,
    org_path: Path | None = None,
    corp_id: str,
    agent_id: int,
    secret: str,
    contacts_secret: str | None = None,
    callback: CallbackTarget | None = None,
) -> None:
    """Serve the simulator in the foreground until the process is told to stop (Ctrl-C)."""
    require_loopback(host)
    config = SimConfig(corp_id=corp_id, agent_id=agent_id, secret=secret, contacts_secret=contacts_secret)
    state = SimState(load_org(org_path), config)
    server = uvicorn.Server(_uvicorn_config(create_simulator_app(state, callback=callback), host, port))
    await server.serve()
