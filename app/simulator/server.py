"""The simulator's HTTP app: qyapi under /cgi-bin/ (qyapi.py) and the control API under /_sim/.

Every /cgi-bin/ call is recorded (credentials masked), then faults are applied (latency, an HTTP
error status, or an errcode), then the endpoint answers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.simulator.control import control_router
from app.simulator.qyapi import ROUTES, ApiRequest, error_body, handle
from app.simulator.sender import CallbackTarget
from app.simulator.state import CallRecord, SimState

# Removed from the calls record: a token is a credential even in a simulator's log.
DROPPED_QUERY = frozenset({"access_token"})
# Kept but masked: shows that they were sent without showing them.
MASKED_QUERY = frozenset({"corpsecret", "key"})


def mask_query(query: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k in MASKED_QUERY else v) for k, v in query.items() if k not in DROPPED_QUERY}


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def create_simulator_app(state: SimState, *, callback: CallbackTarget | None = None) -> FastAPI:
    """The simulated WeCom as an ASGI app (serve it with uvicorn on a loopback address)."""
    if callback is not None:
        state.callback_target = callback
    app = FastAPI(
        title="WeCom simulator (wecom-warden)",
        docs_url="/_sim/docs",
        openapi_url="/_sim/openapi.json",
        redoc_url=None,
    )
    app.state.sim = state
    app.include_router(control_router(state))

    @app.api_route("/cgi-bin/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def qyapi(request: Request, rest: str) -> Response:
        path = "/cgi-bin/" + rest
        route = ROUTES.get(path)
        if route is None:
            return JSONResponse({"errcode": 404, "errmsg": "api not found"}, status_code=404)
        query = dict(request.query_params)
        body = _parse_json(await request.body()) if request.method == "POST" else None
        record = CallRecord(state.now(), request.method, path, mask_query(query), body)
        state.record_call(record)
        fault = state.draw_faults(path)
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.http_status is not None:
            record.http_status, record.fault = fault.http_status, True
            return PlainTextResponse(f"simulated HTTP {fault.http_status}", status_code=fault.http_status)
        if fault.errcode is not None:
            record.fault = True
            answer = error_body(fault.errcode, fault.errmsg or "")
        else:
            answer = handle(state, route, ApiRequest(request.method, path, query, body))
        record.errcode = int(answer["errcode"])
        return JSONResponse(answer)

    return app
