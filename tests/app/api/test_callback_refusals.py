"""Refusals on a real server: after the signature check every failure gets one answer (no padding
oracle) and only the log says why; refusals are logged at INFO, rate limited, and cannot forge log
fields; a poisoned AI-bot message fails nobody; same-second directory changes are two events."""

from __future__ import annotations

import base64
import json
import re
import secrets
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.logs import LogLimiter
from app.main import create_app
from app.settings import Settings
from app.wecom.crypto import CallbackCrypto, signature
from tests.callbacks import Client, text_message, wait_processed
from tests.callbacks import aibot_message as bot_message
from tests.callbacks import post_aibot as bot_post
from tests.conftest import CORP_ID, make_settings
from tests.dbutil import fetch, snapshot


def sealed(
    settings: Settings, plaintext: bytes, receive_id: str = CORP_ID, *, good_padding: bool = True
) -> str:
    """Encrypt exactly as WeCom does (or with padding bytes of 0), for a correctly signed request."""
    key = base64.b64decode(settings.aes_key.get_secret_value() + "=")
    framed = secrets.token_bytes(16) + struct.pack(">I", len(plaintext)) + plaintext + receive_id.encode()
    n = 32 - len(framed) % 32
    tail = bytes([n]) * n if good_padding else b"\x00" * n
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(framed + tail) + encryptor.finalize()).decode()


def post_aibot_encrypt(settings: Settings, url: str, encrypt: str) -> httpx.Response:
    ts = str(int(time.time()))
    sig = signature(settings.token.get_secret_value(), ts, "n1", encrypt)
    return httpx.post(
        f"{url}/wecom/aibot",
        content=json.dumps({"encrypt": encrypt}).encode(),
        params={"msg_signature": sig, "timestamp": ts, "nonce": "n1"},
    )


@pytest.fixture
def served(sqlite_url: str, live_server_factory: Any) -> tuple[Client, Any, str]:
    settings = make_settings(sqlite_url)
    app = create_app(settings, run_worker=False)
    server = live_server_factory(app)
    return Client(settings, server.url), app, sqlite_url


def refusal_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        m.group(1)
        for r in caplog.records
        if (m := re.search(r"^callback\.refused .*reason=(\w+)", r.getMessage()))
    ]


def test_every_failure_after_the_signature_check_gets_the_same_answer(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, db = served
    s = client.settings
    valid = text_message(41).encode()
    app_cases = {
        "bad_base64": "not*base64!",
        "bad_cipher_length": "QUJD",
        "bad_padding": sealed(s, valid, good_padding=False),
        "wrong_receiver": sealed(s, valid, "wwSomeoneElse"),
        "bad_plaintext": sealed(s, b"\xff\xfe<xml/>"),  # not UTF-8
        "malformed_xml": sealed(s, b"<xml><MsgType>text</Msg"),
        "missing_msgtype": sealed(s, b"<xml><Content>x</Content></xml>"),
        "xml_too_deep": sealed(s, b"<xml>" + b"<a>" * 20 + b"</a>" * 20 + b"</xml>"),
    }
    bot_cases = {
        "wrong_receiver": sealed(s, bot_message("m-1").encode(), CORP_ID),
        "bad_padding": sealed(s, bot_message("m-1").encode(), "", good_padding=False),
        "malformed_payload": sealed(s, b"[1, 2]", ""),
    }
    answers = set()
    with caplog.at_level("INFO", logger="warden"):
        for encrypt in app_cases.values():
            r = client.post(*client.raw_signed(encrypt))
            answers.add((r.status_code, r.headers.get("content-type"), r.content))
        for encrypt in bot_cases.values():
            r = post_aibot_encrypt(s, client.url, encrypt)
            answers.add((r.status_code, r.headers.get("content-type"), r.content))
    assert answers == {(400, "text/plain; charset=utf-8", b"undecodable")}
    # The log (only the log) says why, each time.
    assert refusal_reasons(caplog) == list(app_cases) + list(bot_cases)
    assert snapshot(db) == (0, 0, 0)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_before_the_signature_check_the_answer_still_says_why(served: Any) -> None:
    client, _, _ = served
    params, body = client.signed(text_message(42))
    params["msg_signature"] = "0" * 40
    r = client.post(params, body)
    assert (r.status_code, r.text) == (403, "bad signature")


def test_an_unknown_xml_encoding_in_the_envelope_is_an_ordinary_refusal(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, db = served
    params, _ = client.signed(text_message(43))
    body = b'<?xml version="1.0" encoding="x-no-such"?><xml><Encrypt>abc</Encrypt></xml>'
    with caplog.at_level("INFO", logger="warden"):
        r = client.post(params, body)
    assert (r.status_code, r.text) == (400, "unknown xml encoding")
    assert refusal_reasons(caplog) == ["unknown_xml_encoding"]
    assert {r.levelname for r in caplog.records} == {"INFO"}
    assert snapshot(db) == (0, 0, 0)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusal_logging_is_rate_limited_per_reason(served: Any, caplog: pytest.LogCaptureFixture) -> None:
    client, app, _ = served
    clock = Clock()
    app.state.runtime.refusal_log = LogLimiter(per_window=2, window_s=60, clock=clock)
    params, body = client.signed(text_message(44))
    params["msg_signature"] = "0" * 40
    with caplog.at_level("INFO", logger="warden"):
        for _ in range(6):
            assert client.post(params, body).status_code == 403
        assert client.post({}, body).status_code == 400  # another reason: its own budget
        clock.now = 61
        assert client.post(params, body).status_code == 403
    lines = [r.getMessage() for r in caplog.records]
    assert refusal_reasons(caplog) == ["bad_signature"] * 2 + [
        "missing_signature_parameters",
        "bad_signature",
    ]
    assert [line for line in lines if ".suppressed" in line] == [
        "callback.refused.suppressed key=callback:bad_signature suppressed=4 window_s=60"
    ]


def test_a_forwarded_for_header_cannot_forge_log_fields(
    served: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, _ = served
    params, body = client.signed(text_message(45))
    params["msg_signature"] = "0" * 40
    forged = '203.0.113.9" reason="accepted'  # uvicorn trusts X-Forwarded-For from 127.0.0.1
    with caplog.at_level("INFO", logger="warden"):
        client.post(params, body, headers={"X-Forwarded-For": forged})
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("callback.refused")]
    fields = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)', line)
    assert [k for k, _ in fields] == ["endpoint", "status", "reason", "client"]
    assert dict(fields)["reason"] == "bad_signature"


# -- storing -----------------------------------------------------------------------------------


@pytest.fixture
def bot_service(db_url: str, live_server_factory: Any) -> tuple[CallbackCrypto, str, str]:
    settings = make_settings(db_url, worker_concurrency=4)
    server = live_server_factory(create_app(settings, run_worker=True))
    crypto = CallbackCrypto(settings.token.get_secret_value(), settings.aes_key.get_secret_value(), "")
    return crypto, server.url, db_url


def test_a_lone_surrogate_fails_no_neighbour_and_is_stored_repaired(bot_service: Any) -> None:
    crypto, url, db = bot_service
    poisoned = bot_message("m-poison").replace('"wrkSFfCgAAAA"', '"wr\\ud800x\\u0000"')
    assert json.loads(poisoned)["chatid"] == "wr\ud800x\x00"
    plaintexts = [bot_message(f"m-{n}") for n in range(40)]
    plaintexts.insert(20, poisoned)
    with ThreadPoolExecutor(16) as pool:  # concurrent: they share group commits
        statuses = list(pool.map(lambda p: bot_post(crypto, url, p).status_code, plaintexts))
    assert statuses == [200] * 41
    assert snapshot(db)[0] == 41
    wait_processed(db, 41)  # the worker parses the same payload: no failure there either
    (row,) = fetch(db, "SELECT chat_id, status FROM inbound_event WHERE dedupe_key = 'aibot:m-poison'")
    assert (row.chat_id, row.status) == ("wr\ufffdx\ufffd", "processed")
    assert fetch(db, "SELECT count(*) FROM inbound_event WHERE status != 'processed'")[0][0] == 0


UPDATE_USER = (
    "<xml><ToUserName>{corp}</ToUserName><FromUserName>sys</FromUserName>"
    "<CreateTime>{ts}</CreateTime><MsgType>event</MsgType><Event>change_contact</Event>"
    "<ChangeType>update_user</ChangeType><UserID>zhangsan</UserID>{change}</xml>"
)
CARD = (
    "<xml><ToUserName>{corp}</ToUserName><FromUserName>lisi</FromUserName>"
    "<CreateTime>{ts}</CreateTime><MsgType>event</MsgType><Event>template_card_event</Event>"
    "<EventKey>ack</EventKey><TaskId>{task}</TaskId><AgentID>1000002</AgentID></xml>"
)


def test_same_second_events_without_msgid_are_each_stored_once(db_url: str, live_server_factory: Any) -> None:
    settings = make_settings(db_url)
    client = Client(settings, live_server_factory(create_app(settings, run_worker=False)).url)
    ts = int(time.time())
    events = [
        UPDATE_USER.format(corp=CORP_ID, ts=ts, change=change)
        for change in ("<Mobile>13800000000</Mobile>", "<Department>1,2</Department>")
    ]
    events += [CARD.format(corp=CORP_ID, ts=ts, task=task) for task in ("notice-1", "notice-2")]
    for _ in range(2):  # the deliveries, then WeCom's retries (the same plaintext, re-encrypted)
        for plaintext in events:
            assert client.post(*client.signed(plaintext)).status_code == 200
    rows = fetch(db_url, "SELECT change_type, event FROM inbound_event ORDER BY id")
    assert [tuple(r) for r in rows] == [("update_user", "change_contact")] * 2 + [
        (None, "template_card_event")
    ] * 2
