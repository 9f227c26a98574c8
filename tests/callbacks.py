"""Sending callbacks to a live service as WeCom does, and waiting for what follows."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from app.inbox import InboxRecord
from app.models import EventSource
from app.settings import Settings
from app.simulator.sender import CallbackTarget
from app.wecom.crypto import CallbackCrypto, signature
from tests.conftest import CORP_ID
from tests.dbutil import fetch

AGENT = 1000002

TEXT = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[zhangsan]]>"
    "</FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[{content}]]></Content><MsgId>{msgid}</MsgId>"
    "<AgentID>1000002</AgentID></xml>"
)


def text_message(msgid: int, content: str = "收到") -> str:
    """An app text message from zhangsan, sent now."""
    return TEXT.format(corp=CORP_ID, ts=int(time.time()), msgid=msgid, content=content)


class Client:
    """Signs and posts app callbacks like WeCom, with knobs to break each part."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self.crypto = CallbackCrypto(
            settings.token.get_secret_value(), settings.aes_key.get_secret_value(), settings.corp_id
        )

    def signed(
        self, plaintext: str, *, ts: int | None = None, crypto: CallbackCrypto | None = None
    ) -> tuple[dict[str, str], bytes]:
        ts_text = str(ts if ts is not None else int(time.time()))
        nonce = secrets.token_hex(5)
        body, sig = (crypto or self.crypto).envelope_xml(
            plaintext, timestamp=ts_text, nonce=nonce, agent_id=str(AGENT)
        )
        return {"msg_signature": sig, "timestamp": ts_text, "nonce": nonce}, body

    def post(self, params: dict[str, str], body: bytes, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/wecom/callback", params=params, content=body, **kw)

    def raw_signed(self, encrypt: str, *, ts: int | None = None) -> tuple[dict[str, str], bytes]:
        """An envelope around an arbitrary Encrypt string, correctly signed."""
        ts_text = str(ts or int(time.time()))
        sig = signature(self.settings.token.get_secret_value(), ts_text, "n1", encrypt)
        body = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
        return {"msg_signature": sig, "timestamp": ts_text, "nonce": "n1"}, body.encode()

    def send_text(self, msgid: int, content: str = "收到") -> httpx.Response:
        params, body = self.signed(text_message(msgid, content))
        return self.post(params, body)


def post_text(settings: Settings, url: str, msgid: int, content: str) -> None:
    """One app text message, which must be accepted."""
    assert Client(settings, url).send_text(msgid, content).status_code == 200


def aibot_message(msgid: str, text: str = "@warden 收到") -> str:
    """An AI-bot group message from zhaoliu."""
    return json.dumps(
        {
            "msgid": msgid,
            "aibotid": "aib-1",
            "chatid": "wrkSFfCgAAAA",
            "chattype": "group",
            "from": {"userid": "zhaoliu"},
            "response_url": "https://example.invalid/once",
            "msgtype": "text",
            "text": {"content": text},
        },
        ensure_ascii=False,
    )


def post_aibot(
    crypto: CallbackCrypto, url: str, plaintext: str, *, ts: int | None = None, sig: str | None = None
) -> httpx.Response:
    ts_text = str(ts or int(time.time()))
    nonce = secrets.token_hex(4)
    body, signed = crypto.envelope_json(plaintext, timestamp=ts_text, nonce=nonce)
    return httpx.post(
        f"{url}/wecom/aibot",
        content=body,
        params={"msg_signature": sig or signed, "timestamp": ts_text, "nonce": nonce},
    )


def sender_target(settings: Settings, url: str) -> CallbackTarget:
    """Where the simulator's CallbackSender delivers for this service."""
    return CallbackTarget(
        url=f"{url}/wecom/callback",
        aibot_url=f"{url}/wecom/aibot",
        token=settings.token.get_secret_value(),
        encoding_aes_key=settings.aes_key.get_secret_value(),
        corp_id=CORP_ID,
        agent_id=AGENT,
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll until `predicate` holds (a live server's worker runs in another thread)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def wait_processed(db: str, n: int) -> None:
    wait_for(lambda: fetch(db, "SELECT count(*) FROM inbound_event WHERE status = 'processed'")[0][0] >= n)


def text_event(msg_id: int) -> InboxRecord:
    """An inbox record of an app text message, for tests that feed the inbox directly."""
    xml = (
        f"<xml><ToUserName>wwcorp</ToUserName><FromUserName>lisi</FromUserName>"
        f"<CreateTime>1763712000</CreateTime><MsgType>text</MsgType>"
        f"<Content>第{msg_id}条</Content><MsgId>{msg_id}</MsgId></xml>"
    )
    return InboxRecord(dedupe_key=f"msg:{msg_id}", source=EventSource.APP, msg_type="text", payload=xml)
