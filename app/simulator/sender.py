"""Deliver encrypted callbacks to the service exactly as WeCom does (WECOM.md §1).

- POST `{url}?msg_signature=..&timestamp=..&nonce=..` with the XML envelope (app) or the JSON
  envelope (AI bot, receiveid ""), encrypted and signed with app.wecom.crypto.
- WeCom waits 5 s, then retries, 3 times in all; any answer but HTTP 200 also counts as a
  failure. A retry is the identical request (same query, same body).
- `verify_url` is the GET URL check: the service must answer the plaintext echostr.

The plaintext builders produce the message and event XML (and the AI-bot JSON) WeCom sends.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from app.wecom.crypto import CallbackCrypto

# WECOM.md §1.7: "五秒内收不到响应会断掉连接，并且重新发起请求，总共重试三次".
WECOM_CALLBACK_TIMEOUT_S = 5.0
WECOM_CALLBACK_RETRIES = 3
# WECOM.md §1.2: the URL check must be answered within 1 s.
WECOM_URL_CHECK_TIMEOUT_S = 1.0
MAX_RESPONSE_KEPT = 500  # characters of the target's answer kept in the delivery record


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """Where and how the simulated WeCom delivers callbacks: one app's console settings."""

    url: str  # the app callback URL, e.g. http://127.0.0.1:8080/wecom/callback
    token: str
    encoding_aes_key: str
    corp_id: str
    agent_id: int
    aibot_url: str | None = None  # the AI-bot callback URL, e.g. http://127.0.0.1:8080/wecom/aibot
    aibot_token: str | None = None  # default: `token`
    aibot_aes_key: str | None = None  # default: `encoding_aes_key`

    def app_crypto(self) -> CallbackCrypto:
        return CallbackCrypto(self.token, self.encoding_aes_key, self.corp_id)

    def aibot_crypto(self) -> CallbackCrypto:
        return CallbackCrypto(self.aibot_token or self.token, self.aibot_aes_key or self.encoding_aes_key, "")


@dataclass(slots=True)
class Attempt:
    status: int | None  # HTTP status; None when there was no answer
    error: str | None  # "timeout", "ConnectError", … when there was no answer
    elapsed_s: float
    response: str = ""


@dataclass(slots=True)
class Delivery:
    """One callback and every attempt to deliver it."""

    url: str
    params: dict[str, str]  # msg_signature, timestamp, nonce (the same on every attempt)
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return any(a.status == 200 for a in self.attempts)

    @property
    def statuses(self) -> list[int | None]:
        return [a.status for a in self.attempts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "params": dict(self.params),
            "body": self.body.decode(errors="replace"),
            "delivered": self.delivered,
            "attempts": [
                {
                    "status": a.status,
                    "error": a.error,
                    "elapsed_s": round(a.elapsed_s, 3),
                    "response": a.response,
                }
                for a in self.attempts
            ],
        }


@dataclass(frozen=True, slots=True)
class UrlCheck:
    """The GET URL check: passed when the answer is 200 and exactly the plaintext echostr."""

    status: int | None
    answer: str
    expected: str
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == 200 and self.answer == self.expected


def _now_text() -> str:
    return str(int(time.time()))


def _nonce() -> str:
    return str(secrets.randbelow(10**10))  # WeCom's nonces are decimal digits


class CallbackSender:
    """Sends callbacks for one target. `timeout` and `retries` default to WeCom's 5 s and 3."""

    def __init__(
        self,
        target: CallbackTarget,
        *,
        timeout: float = WECOM_CALLBACK_TIMEOUT_S,
        retries: int = WECOM_CALLBACK_RETRIES,
        retry_delay: float = 0.0,  # WeCom documents no interval; the timeout spaces timeouts
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], str] = _now_text,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self._http = http
        self._clock = clock
        self._app_crypto = target.app_crypto()
        self._aibot_crypto = target.aibot_crypto()

    async def send_xml(
        self, plaintext: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> Delivery:
        """Encrypt an app message/event XML and deliver it to the app callback URL."""
        ts, nc = timestamp or self._clock(), nonce or _nonce()
        body, sig = self._app_crypto.envelope_xml(
            plaintext, timestamp=ts, nonce=nc, agent_id=str(self.target.agent_id)
        )
        params = {"msg_signature": sig, "timestamp": ts, "nonce": nc}
        return await self._deliver(self.target.url, params, body, "text/xml; charset=utf-8")

    async def send_aibot(
        self, plaintext: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> Delivery:
        """Encrypt an AI-bot JSON message (receiveid "") and deliver it to the AI-bot URL."""
        if not self.target.aibot_url:
            raise ValueError("the callback target has no aibot_url")
        ts, nc = timestamp or self._clock(), nonce or _nonce()
        body, sig = self._aibot_crypto.envelope_json(plaintext, timestamp=ts, nonce=nc)
        params = {"msg_signature": sig, "timestamp": ts, "nonce": nc}
        return await self._deliver(self.target.aibot_url, params, body, "application/json")

    async def verify_url(self, echostr_plain: str | None = None, *, aibot: bool = False) -> UrlCheck:
        """GET `{url}?msg_signature&timestamp&nonce&echostr`, as when IT saves the URL in the
        console; the service must answer the plaintext within 1 s."""
        plain = echostr_plain or str(secrets.randbelow(10**19))
        crypto = self._aibot_crypto if aibot else self._app_crypto
        url = self.target.aibot_url if aibot else self.target.url
        if not url:
            raise ValueError("the callback target has no aibot_url")
        ts, nc = self._clock(), _nonce()
        echostr, sig = crypto.encrypt(plain, timestamp=ts, nonce=nc)
        params = {"msg_signature": sig, "timestamp": ts, "nonce": nc, "echostr": echostr}
        async with self._client(WECOM_URL_CHECK_TIMEOUT_S) as http:
            try:
                resp = await http.get(url, params=params)
            except httpx.HTTPError as exc:
                return UrlCheck(None, "", plain, error=_error_name(exc))
        return UrlCheck(resp.status_code, resp.text, plain)

    @asynccontextmanager
    async def _client(self, limit_s: float) -> AsyncIterator[httpx.AsyncClient]:
        """The injected client (left open), or a fresh one that ignores proxy settings."""
        if self._http is not None:
            yield self._http
            return
        async with httpx.AsyncClient(timeout=limit_s, trust_env=False) as http:
            yield http

    async def _deliver(self, url: str, params: dict[str, str], body: bytes, content_type: str) -> Delivery:
        delivery = Delivery(url, params, body)
        headers = {"Content-Type": content_type, "User-Agent": "Mozilla/5.0 (WeCom simulator)"}
        async with self._client(self.timeout) as http:
            for number in range(1 + self.retries):
                if number and self.retry_delay:
                    await asyncio.sleep(self.retry_delay)
                started = time.perf_counter()
                try:
                    resp = await http.post(
                        url, params=params, content=body, headers=headers, timeout=self.timeout
                    )
                except httpx.HTTPError as exc:
                    delivery.attempts.append(Attempt(None, _error_name(exc), time.perf_counter() - started))
                    continue
                delivery.attempts.append(
                    Attempt(
                        resp.status_code, None, time.perf_counter() - started, resp.text[:MAX_RESPONSE_KEPT]
                    )
                )
                if resp.status_code == 200:
                    break
        return delivery


def _error_name(exc: httpx.HTTPError) -> str:
    return "timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__


async def verify_url(
    target: CallbackTarget, echostr_plain: str | None = None, *, aibot: bool = False
) -> UrlCheck:
    """The GET URL check against `target` (see CallbackSender.verify_url)."""
    return await CallbackSender(target).verify_url(echostr_plain, aibot=aibot)


# -- plaintext builders -------------------------------------------------------------------------


class ContactChange(StrEnum):
    CREATE_USER = "create_user"
    UPDATE_USER = "update_user"
    DELETE_USER = "delete_user"


class ExternalChatChange(StrEnum):
    ADD_MEMBER = "add_member"
    DEL_MEMBER = "del_member"


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


Fields = list[tuple[str, str | int]]


def _elements(fields: Fields) -> str:
    """String fields as CDATA and numbers bare, like WeCom's samples."""
    return "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{_cdata(v)}</{k}>" for k, v in fields)


def _xml(fields: Fields) -> str:
    return f"<xml>{_elements(fields)}</xml>"


def _event_head(corp_id: str, from_user: str, create_time: int | None, event: str) -> Fields:
    return [
        ("ToUserName", corp_id),
        ("FromUserName", from_user),
        ("CreateTime", create_time if create_time is not None else int(time.time())),
        ("MsgType", "event"),
        ("Event", event),
    ]


def app_text_xml(
    *,
    corp_id: str,
    agent_id: int,
    from_user: str,
    content: str,
    msg_id: int | None = None,
    create_time: int | None = None,
) -> str:
    """A member's text message to the app (single chat)."""
    return _xml(
        [
            ("ToUserName", corp_id),
            ("FromUserName", from_user),
            ("CreateTime", create_time if create_time is not None else int(time.time())),
            ("MsgType", "text"),
            ("Content", content),
            ("MsgId", msg_id if msg_id is not None else secrets.randbelow(10**18)),
            ("AgentID", agent_id),
        ]
    )


def change_contact_xml(
    *,
    corp_id: str,
    change_type: ContactChange,
    userid: str,
    department: list[int] | None = None,
    create_time: int | None = None,
) -> str:
    """通讯录变更 for a member. Since 2022-08-15 only UserID and Department are sent (§4.6)."""
    fields = _event_head(corp_id, "sys", create_time, "change_contact")
    fields += [("ChangeType", change_type.value), ("UserID", userid)]
    if department is not None and change_type is not ContactChange.DELETE_USER:
        fields.append(("Department", ",".join(str(d) for d in department)))
    return _xml(fields)


def change_external_chat_xml(
    *,
    corp_id: str,
    chat_id: str,
    update_detail: ExternalChatChange,
    members: list[str],
    join_scene: int = 0,
    quit_scene: int = 0,
    create_time: int | None = None,
    last_mem_ver: str = "",
    cur_mem_ver: str = "",
) -> str:
    """客户群变更 (update): members joined or left. WeCom may lose or reorder these (§3.4)."""
    fields = _event_head(corp_id, "sys", create_time, "change_external_chat")
    fields += [("ChatId", chat_id), ("ChangeType", "update"), ("UpdateDetail", update_detail.value)]
    if update_detail is ExternalChatChange.ADD_MEMBER:
        fields.append(("JoinScene", join_scene))
    else:
        fields.append(("QuitScene", quit_scene))
    fields.append(("MemChangeCnt", len(members)))
    items = "".join(f"<Item>{_cdata(m)}</Item>" for m in members)
    versions: Fields = [
        ("LastMemVer", last_mem_ver or secrets.token_hex(16)),
        ("CurMemVer", cur_mem_ver or secrets.token_hex(16)),
    ]
    return f"<xml>{_elements(fields)}<MemChangeList>{items}</MemChangeList>{_elements(versions)}</xml>"


def msgaudit_notify_xml(*, corp_id: str, agent_id: int, create_time: int | None = None) -> str:
    """会话存档 has new messages: pull them (the event itself carries none)."""
    fields = _event_head(corp_id, "sys", create_time, "msgaudit_notify")
    return _xml([*fields[:4], ("AgentID", agent_id), fields[4]])


def template_card_event_xml(
    *,
    corp_id: str,
    agent_id: int,
    from_user: str,
    event_key: str,
    task_id: str,
    response_code: str,
    card_type: str = "button_interaction",
    create_time: int | None = None,
) -> str:
    """A member pressed a button on an interactive template card."""
    fields = _event_head(corp_id, from_user, create_time, "template_card_event")
    fields += [
        ("EventKey", event_key),
        ("TaskId", task_id),
        ("CardType", card_type),
        ("ResponseCode", response_code),
        ("AgentID", agent_id),
    ]
    return _xml(fields)


def aibot_text_json(
    *,
    aibotid: str,
    chatid: str,
    from_user: str,
    content: str = "@bot 收到",
    msgid: str | None = None,
    chattype: str = "group",
    response_url: str | None = None,
) -> str:
    """An AI-bot text message: a member @-mentioned the bot in a group (DOC:100719)."""
    return json.dumps(
        {
            "msgid": msgid or secrets.token_hex(16),
            "aibotid": aibotid,
            "chatid": chatid,
            "chattype": chattype,
            "from": {"userid": from_user},
            "response_url": response_url
            or f"https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code={secrets.token_hex(16)}",
            "msgtype": "text",
            "text": {"content": content},
        },
        ensure_ascii=False,
    )
