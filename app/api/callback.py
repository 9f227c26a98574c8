"""WeCom callbacks: the app's XML callback and the AI bot's JSON callback.

POST: size cap → signed query → timestamp window → envelope → signature + decrypt (wechatpy) →
parse → inbox (durable, de-duplicated) → 200 with an empty body. No WeCom API call happens here;
the worker does the rest. Every refusal stores nothing and is logged without secrets or text
(rate limited per reason). Before the signature check a refusal says why; after it every failure
gets one answer, 400 `undecodable`, and only the log says why (no padding oracle; see Undecodable).

The two POSTs are the hot path, so `CallbackIngest` serves them as plain ASGI ahead of FastAPI's
routing and middleware (bench/ingest: that stack costs about as much as all our own work). The
GET URL checks are rare and are ordinary FastAPI routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.inbox import InboxRecord, parse_aibot_payload
from app.logs import log_event, log_limited
from app.runtime import Runtime
from app.wecom.crypto import (
    UNDECODABLE_ANSWER,
    UNDECODABLE_STATUS,
    CallbackCrypto,
    CallbackRejected,
    MalformedCallback,
    SignedQuery,
    Undecodable,
    parse_xml,
    xml_fields,
)

APP_PATH = "/wecom/callback"
AIBOT_PATH = "/wecom/aibot"

router = APIRouter(tags=["wecom"])


class TooLarge(CallbackRejected):
    status = 413


class Stale(CallbackRejected):
    status = 403


def _log_refusal(runtime: Runtime, exc: CallbackRejected, endpoint: str, client: str) -> None:
    log_limited(
        runtime.refusal_log,
        f"{endpoint}:{exc.reason}",
        "callback.refused",
        endpoint=endpoint,
        status=exc.status,
        reason=exc.reason,
        client=client,
    )


def _log_undecodable(runtime: Runtime, exc: Exception, endpoint: str) -> None:
    """An unforeseen error while decoding (a bug, or input we did not think of): ERROR, limited."""
    error = type(exc).__name__
    log_limited(
        runtime.refusal_log,
        f"{endpoint}:{error}",
        "callback.undecodable",
        level=logging.ERROR,
        endpoint=endpoint,
        error=error,
    )


def signed_query(params: Mapping[str, str], runtime: Runtime) -> SignedQuery:
    sig, ts, nonce = params.get("msg_signature"), params.get("timestamp"), params.get("nonce")
    if not sig or not ts or not nonce:
        raise MalformedCallback("missing_signature_parameters")
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 12 or len(nonce) > 64 or len(sig) > 64:
        raise MalformedCallback("malformed_signature_parameters")
    window = runtime.settings.replay_window_s
    if window and abs(runtime.clock() - int(ts)) > window:
        raise Stale("stale_timestamp")
    return SignedQuery(sig, ts, nonce)


# -- POST: plain ASGI -------------------------------------------------------------------------

# The decoders' failures after decrypt_* returned are all Undecodable: the plaintext is signed.


def decode_app(runtime: Runtime, query: SignedQuery, body: bytes) -> InboxRecord:
    plaintext = runtime.app_crypto.decrypt_xml(query, body)
    try:
        fields = xml_fields(parse_xml(plaintext))
    except CallbackRejected as exc:
        raise Undecodable(exc.reason) from exc
    if not fields.get("MsgType"):
        raise Undecodable("missing_msgtype")
    return InboxRecord.from_xml_fields(fields, plaintext)


def decode_aibot(runtime: Runtime, query: SignedQuery, body: bytes) -> InboxRecord:
    plaintext = runtime.aibot_crypto.decrypt_json(query, body)
    try:
        message: dict[str, Any] = parse_aibot_payload(plaintext)
    except (ValueError, RecursionError) as exc:
        raise Undecodable("malformed_payload") from exc
    return InboxRecord.from_aibot_json(message, plaintext)


Decoder = Callable[[Runtime, SignedQuery, bytes], InboxRecord]
DECODERS: dict[str, tuple[str, Decoder]] = {
    APP_PATH: ("callback", decode_app),
    AIBOT_PATH: ("aibot", decode_aibot),
}


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and (not value.isdigit() or int(value) > limit):
            raise TooLarge("body_too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # the sender gave up; nothing to store
            raise MalformedCallback("client_disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge("body_too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, text: str = "") -> None:
    body = text.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CallbackIngest:
    """ASGI middleware answering POST /wecom/callback and /wecom/aibot; the rest passes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = DECODERS.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        name, decode = route
        runtime: Runtime = scope["app"].state.runtime
        try:
            body = await _read_body(scope, receive, runtime.settings.max_body_bytes)
            params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            record = decode(runtime, signed_query(params, runtime), body)
        except CallbackRejected as exc:
            client = scope["client"][0] if scope.get("client") else "-"
            _log_refusal(runtime, exc, name, client)
            await _answer(send, exc.status, exc.answer)
            return
        except Exception as exc:  # noqa: BLE001 - a decoding bug: refuse, store nothing, no 500
            _log_undecodable(runtime, exc, name)  # the same answer as Undecodable: no oracle
            await _answer(send, UNDECODABLE_STATUS, UNDECODABLE_ANSWER)
            return
        try:
            is_new = await runtime.inbox.put(record)
        except Exception as exc:  # noqa: BLE001 - not stored: 503 makes WeCom retry, nothing lost
            log_event("callback.store_failed", endpoint=name, error=type(exc).__name__)
            await _answer(send, 503, "temporarily unavailable")
            return
        log_event("callback.accepted", level=10, endpoint=name, key=record.dedupe_key, new=is_new)
        await _answer(send, 200)


# -- GET: WeCom's URL check, FastAPI routes ----------------------------------------------------


def _verify_url(request: Request, crypto: Callable[[Runtime], CallbackCrypto], name: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        query = signed_query(request.query_params, runtime)
        # Query parsing turns a raw '+' into ' '; base64 never contains spaces.
        echostr = (request.query_params.get("echostr") or "").replace(" ", "+")
        if not echostr:
            raise MalformedCallback("missing_echostr")
        plain = crypto(runtime).verify_url(query, echostr)
    except CallbackRejected as exc:
        _log_refusal(runtime, exc, name, request.client.host if request.client else "-")
        return PlainTextResponse(exc.answer, status_code=exc.status)
    except Exception as exc:  # noqa: BLE001 - a decoding bug: refuse, no 500
        _log_undecodable(runtime, exc, name)
        return PlainTextResponse(UNDECODABLE_ANSWER, status_code=UNDECODABLE_STATUS)
    log_event("callback.url_verified", endpoint=name)
    return PlainTextResponse(plain)


@router.get(APP_PATH, response_class=PlainTextResponse)
async def verify_app_url(request: Request) -> Response:
    """WeCom's URL check: answer the decrypted echostr (plain text, within 1 s)."""
    return _verify_url(request, lambda r: r.app_crypto, "callback")


@router.get(AIBOT_PATH, response_class=PlainTextResponse)
async def verify_aibot_url(request: Request) -> Response:
    """The AI bot's URL check (receiveid "")."""
    return _verify_url(request, lambda r: r.aibot_crypto, "aibot")


_SIGNED_PARAMS = [
    {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
    for name in ("msg_signature", "timestamp", "nonce")
]
_ANSWERS = {
    "200": {"description": "stored (or already stored: a WeCom retry); empty body"},
    "400": {
        "description": "malformed envelope (XML/JSON, entity declarations, parameters); and, "
        "once the signature checks out, anything else wrong (base64, padding, "
        "CorpID/receiveid, plaintext): always the body `undecodable`"
    },
    "403": {"description": "bad signature, timestamp outside the window"},
    "413": {"description": "body over WARDEN_MAX_BODY_BYTES (64 KiB)"},
    "503": {"description": "could not be stored now; WeCom will retry"},
}


def document_posts(schema: dict[str, Any]) -> None:
    """Describe the two ASGI-served POSTs in the OpenAPI schema (FastAPI does not see them)."""
    bodies = {
        APP_PATH: (
            "application/xml",
            "<xml><ToUserName/><Encrypt/><AgentID/></xml>",
            "An encrypted message or event from the self-built app",
        ),
        AIBOT_PATH: (
            "application/json",
            '{"encrypt": "..."}',
            'An encrypted JSON message from the AI bot (receiveid "")',
        ),
    }
    for path, (media, example, summary) in bodies.items():
        schema.setdefault("paths", {}).setdefault(path, {})["post"] = {
            "tags": ["wecom"],
            "summary": summary,
            "parameters": _SIGNED_PARAMS,
            "requestBody": {"required": True, "content": {media: {"example": example}}},
            "responses": _ANSWERS,
        }
