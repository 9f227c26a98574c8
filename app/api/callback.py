"""WeCom callbacks: the app's XML callback and the AI bot's JSON callback.

POST: size cap → signed query → timestamp window → envelope → signature + decrypt (wechatpy) →
parse → inbox (durable, de-duplicated) → 200 with an empty body. No WeCom API call happens here;
the worker does the rest. Every refusal stores nothing and is logged without secrets or text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from app.inbox import InboxRecord, parse_aibot_payload
from app.logs import log_event
from app.runtime import Runtime, get_runtime
from app.wecom.crypto import (
    CallbackCrypto,
    CallbackRejected,
    MalformedCallback,
    SignedQuery,
    parse_xml,
    xml_fields,
)

router = APIRouter(tags=["wecom"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class TooLarge(CallbackRejected):
    status = 413


class Stale(CallbackRejected):
    status = 403


def _refuse(exc: CallbackRejected, endpoint: str, request: Request) -> Response:
    client = request.client.host if request.client else "-"
    log_event("callback.refused", endpoint=endpoint, status=exc.status, reason=exc.reason,
              client=client)
    return PlainTextResponse(exc.reason.replace("_", " "), status_code=exc.status)


def _signed_query(request: Request, runtime: Runtime) -> SignedQuery:
    q = request.query_params
    sig, ts, nonce = q.get("msg_signature"), q.get("timestamp"), q.get("nonce")
    if not sig or not ts or not nonce:
        raise MalformedCallback("missing_signature_parameters")
    if not ts.isdigit() or len(ts) > 12 or len(nonce) > 64 or len(sig) > 64:
        raise MalformedCallback("malformed_signature_parameters")
    window = runtime.settings.replay_window_s
    if window and abs(runtime.clock() - int(ts)) > window:
        raise Stale("stale_timestamp")
    return SignedQuery(sig, ts, nonce)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge("body_too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _verify_url(request: Request, runtime: Runtime, crypto: CallbackCrypto, name: str) -> Response:
    try:
        query = _signed_query(request, runtime)
        # Query parsing turns a raw '+' into ' '; base64 never contains spaces.
        echostr = (request.query_params.get("echostr") or "").replace(" ", "+")
        if not echostr:
            raise MalformedCallback("missing_echostr")
        plain = crypto.verify_url(query, echostr)
    except CallbackRejected as exc:
        return _refuse(exc, name, request)
    log_event("callback.url_verified", endpoint=name)
    return PlainTextResponse(plain)


@router.get("/wecom/callback", response_class=PlainTextResponse)
async def verify_app_url(request: Request, runtime: RuntimeDep) -> Response:
    """WeCom's URL check: answer the decrypted echostr (plain text, within 1 s)."""
    return _verify_url(request, runtime, runtime.app_crypto, "callback")


async def _receive(
    request: Request, runtime: Runtime, name: str,
    decode: Callable[[SignedQuery, bytes], InboxRecord],
) -> Response:
    """The POST path shared by both callbacks; `decode` verifies, decrypts and parses."""
    try:
        body = await _read_body(request, runtime.settings.max_body_bytes)
        record = decode(_signed_query(request, runtime), body)
    except CallbackRejected as exc:
        return _refuse(exc, name, request)
    try:
        is_new = await runtime.inbox.put(record)
    except Exception as exc:  # noqa: BLE001 - not stored: 503 makes WeCom retry, nothing lost
        log_event("callback.store_failed", endpoint=name, error=type(exc).__name__)
        return PlainTextResponse("temporarily unavailable", status_code=503)
    log_event("callback.accepted", level=10, endpoint=name, key=record.dedupe_key, new=is_new)
    return Response(status_code=200)


@router.post("/wecom/callback")
async def receive_app_callback(request: Request, runtime: RuntimeDep) -> Response:
    """An encrypted XML message or event from the self-built app."""

    def decode(query: SignedQuery, body: bytes) -> InboxRecord:
        plaintext = runtime.app_crypto.decrypt_xml(query, body)
        fields = xml_fields(parse_xml(plaintext))
        if not fields.get("MsgType"):
            raise MalformedCallback("missing_msgtype")
        return InboxRecord.from_xml_fields(fields, plaintext)

    return await _receive(request, runtime, "callback", decode)


@router.get("/wecom/aibot", response_class=PlainTextResponse)
async def verify_aibot_url(request: Request, runtime: RuntimeDep) -> Response:
    return _verify_url(request, runtime, runtime.aibot_crypto, "aibot")


@router.post("/wecom/aibot")
async def receive_aibot_callback(request: Request, runtime: RuntimeDep) -> Response:
    """An encrypted JSON message from the AI bot (receiveid is "")."""

    def decode(query: SignedQuery, body: bytes) -> InboxRecord:
        plaintext = runtime.aibot_crypto.decrypt_json(query, body)
        try:
            message: dict[str, Any] = parse_aibot_payload(plaintext)
        except ValueError as exc:
            raise MalformedCallback("malformed_payload") from exc
        return InboxRecord.from_aibot_json(message, plaintext)

    return await _receive(request, runtime, "aibot", decode)
