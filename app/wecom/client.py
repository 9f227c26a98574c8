"""The async WeCom API client: the only code that speaks HTTP to qyapi.

- One access token per secret (app, contacts), cached until shortly before it expires; an
  `asyncio.Lock` per secret so concurrent callers fetch it once.
- errcode ≠ 0 raises `WeComError`, even on HTTP 200 (WeCom always answers 200).
- 40014/42001: drop the token, fetch a new one, retry once (WeCom may revoke tokens early).
- -1, 6000, 45009, 45033, timeouts, connection errors, HTTP 5xx: retry with exponential backoff
  and jitter, up to `max_attempts`; 45009 waits at least `FREQ_LIMIT_BACKOFF_FLOOR_S`.
  Any other errcode raises at once. Writes in NOT_REPEATABLE are not retried after a timeout
  or 5xx (WeCom may have done them): only when WeCom's answer or the transport proves it did not.
- Client-side rate limits (ratelimit.py) keep the service below WeCom's limits.
- Never logs or raises with the access token, a secret or a webhook key in the text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any

import httpx

from app.wecom.codes import Endpoint, ErrCode
from app.wecom.ratelimit import (
    HOUR,
    MINUTE,
    ClientLimits,
    Clock,
    Sleep,
    SlidingWindowLimiter,
)

log = logging.getLogger("warden.wecom")

# Refresh this long before WeCom's `expires_in` runs out, so a token never expires in flight.
TOKEN_SAFETY_MARGIN_S = 300.0
# WECOM.md §5.1: exceeding a minute limit (45009) bans the API for 60 s; retrying sooner only
# extends the ban, so the backoff after 45009 is never shorter than this.
FREQ_LIMIT_BACKOFF_FLOOR_S = 60.0
FREQ_LIMIT_JITTER_S = 5.0  # spread the callers that were banned together
# A timeout, connection error or HTTP 5xx carries this errcode: WeCom's "system busy" means the
# same to callers (transient, try again later); the class WeComTransportError tells them apart.
TRANSPORT_ERRCODE = ErrCode.SYSTEM_BUSY
MASK = "***"
DUPLICATE_CHECK_INTERVAL_S = 1800  # message/send duplicate_check_interval (WECOM.md §4.3, max 4 h)
# Writes that WeCom would carry out twice if sent twice, with no duplicate check to stop it. After
# an answer that leaves their fate unknown they are not retried here: the caller decides (the
# executor marks the action `unknown`). message/send is not among them: it asks WeCom's
# duplicate check, so its retries (seconds apart) are delivered once.
NOT_REPEATABLE = frozenset(
    {Endpoint.APPCHAT_CREATE, Endpoint.APPCHAT_SEND, Endpoint.WEBHOOK_SEND, Endpoint.UPDATE_TEMPLATE_CARD}
)
# Failures that prove the request never reached WeCom in full.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)

_jitter = secrets.SystemRandom()
# Query parameters that carry credentials, in any URL that reaches a log line.
_SECRET_QUERY = re.compile(r"(access_token|corpsecret|key)=[^&\s\"'>]+")


def redact_query(text: str) -> str:
    """Mask the values of access_token, corpsecret and key query parameters in `text`."""
    return _SECRET_QUERY.sub(rf"\1={MASK}", text)


def fingerprint(value: str) -> str:
    """A short stable id for a secret (which robot key, which secret), safe to log."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


class _RedactUrlFilter(logging.Filter):
    """httpx logs every request URL at INFO, access_token and webhook key included: mask them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_query(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _install_httpx_redaction() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactUrlFilter) for f in logger.filters):
            logger.addFilter(_RedactUrlFilter())


class SecretKind(StrEnum):
    """Which secret a call needs: each has its own token (WECOM.md §4.1)."""

    APP = "app"  # the self-built app: messages, appchat, externalcontact (as 可调用应用)
    CONTACTS = "contacts"  # 通讯录同步: user/list_id


class WeComError(Exception):
    """WeCom answered errcode ≠ 0. `str()` never contains a token, secret or webhook key."""

    def __init__(self, errcode: int, errmsg: str = "", endpoint: str = "") -> None:
        super().__init__(int(errcode), errmsg, endpoint)
        self.errcode = int(errcode)
        self.errmsg = errmsg
        self.endpoint = endpoint

    def __str__(self) -> str:
        return f"WeCom {self.endpoint or '?'} errcode={self.errcode}: {self.errmsg}"

    @property
    def transient(self) -> bool:
        """Worth trying again later (busy, rate-limited); any other errcode is WeCom's answer."""
        return self.errcode in ErrCode.RETRYABLE


class WeComTransportError(WeComError):
    """No usable answer: timeout, connection error, HTTP 5xx (after retries) or a non-JSON reply.

    errcode is always TRANSPORT_ERRCODE (-1, "system busy"); `http_status` is set when WeCom (or
    a proxy) answered with an HTTP error. `maybe_performed`: the request may have reached WeCom
    and been carried out (a timeout waiting for the answer, a 5xx from a gateway), as opposed to
    never sent (connection refused) or refused (4xx).
    """

    def __init__(
        self,
        errmsg: str,
        endpoint: str,
        *,
        http_status: int | None = None,
        retryable: bool = True,
        maybe_performed: bool = True,
    ) -> None:
        super().__init__(TRANSPORT_ERRCODE, errmsg, endpoint)
        self.http_status = http_status
        self.retryable = retryable
        self.maybe_performed = maybe_performed

    @property
    def transient(self) -> bool:
        return self.retryable


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float  # on the client's clock


class WeComClient:
    def __init__(
        self,
        *,
        base_url: str,
        corp_id: str,
        agent_id: int,
        secret: str,
        contacts_secret: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        limits: ClientLimits | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be ≥ 1")
        self._base_url = base_url.rstrip("/")
        self._corp_id = corp_id
        self._agent_id = agent_id
        self._secrets: dict[SecretKind, str] = {SecretKind.APP: secret}
        if contacts_secret:
            self._secrets[SecretKind.CONTACTS] = contacts_secret
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep
        self._clock = clock
        # Keyed by (corp_id, secret fingerprint): a token belongs to one app of one corp.
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._token_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._sensitive: set[str] = set(self._secrets.values())
        lim = limits or ClientLimits()

        def limiter(limit: int, window: float, name: str) -> SlidingWindowLimiter:
            return SlidingWindowLimiter(limit, window, name=name, clock=clock, sleep=sleep)

        self._api_limit = limiter(lim.api_per_min, MINUTE, "api_per_corp")
        self._member_min_limit = limiter(lim.message_per_member_per_min, MINUTE, "member_min")
        self._member_hour_limit = limiter(lim.message_per_member_per_hour, HOUR, "member_hour")
        self._webhook_limit = limiter(lim.webhook_per_key_per_min, MINUTE, "webhook_key")
        self._appchat_update_limit = limiter(lim.appchat_updates_per_hour, HOUR, "appchat_update")
        _install_httpx_redaction()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> WeComClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- tokens --------------------------------------------------------------------------------

    def _token_key(self, kind: SecretKind) -> tuple[str, str]:
        secret = self._secrets.get(kind)
        if secret is None:
            raise WeComError(
                ErrCode.API_UNAUTHORIZED, f"no {kind.value} secret configured", Endpoint.GETTOKEN.value
            )
        return self._corp_id, fingerprint(secret)

    async def access_token(self, secret_kind: SecretKind = SecretKind.APP) -> str:
        """A valid token for `secret_kind`, from the cache or from gettoken (fetched once)."""
        key = self._token_key(secret_kind)
        cached = self._tokens.get(key)
        if cached and cached.expires_at > self._clock():
            return cached.value
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)  # another caller may have fetched it meanwhile
            if cached and cached.expires_at > self._clock():
                return cached.value
            data = await self._request(
                "GET",
                Endpoint.GETTOKEN,
                secret_kind=None,
                params={"corpid": self._corp_id, "corpsecret": self._secrets[secret_kind]},
            )
            value = str(data["access_token"])
            expires_in = float(data.get("expires_in", 7200))
            self._sensitive.add(value)
            self._tokens[key] = _Token(value, self._clock() + expires_in - TOKEN_SAFETY_MARGIN_S)
            log.info("wecom.token.fetched kind=%s expires_in=%d", secret_kind.value, expires_in)
            return value

    def _drop_token(self, kind: SecretKind, stale: str) -> None:
        """Forget `stale` unless a concurrent caller already replaced it."""
        key = self._token_key(kind)
        cached = self._tokens.get(key)
        if cached and cached.value == stale:
            del self._tokens[key]

    # -- the request loop -----------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for value in self._sensitive:
            if value:
                text = text.replace(value, MASK)
        return redact_query(text)

    def _backoff(self, attempt: int, errcode: int) -> float:
        """Exponential with 'equal jitter' (half fixed, half random); 45009 waits out the ban."""
        step = min(self._backoff_max, self._backoff_base * 2.0 ** (attempt - 1))
        delay = step / 2 + _jitter.uniform(0, step / 2)
        if errcode == ErrCode.API_FREQ_OUT_OF_LIMIT:
            delay = max(delay, FREQ_LIMIT_BACKOFF_FLOOR_S + _jitter.uniform(0, FREQ_LIMIT_JITTER_S))
        return delay

    async def _request(
        self,
        method: str,
        endpoint: Endpoint,
        *,
        secret_kind: SecretKind | None = SecretKind.APP,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call `endpoint`, refreshing the token once and retrying transient failures.

        secret_kind None: no access_token (gettoken itself, webhook/send).
        """
        refreshed = False
        attempt = 1
        while True:
            token = await self.access_token(secret_kind) if secret_kind else None
            if endpoint is not Endpoint.WEBHOOK_SEND:  # robots have their own per-key limit
                await self._api_limit.acquire(endpoint.value)
            try:
                return await self._attempt(method, endpoint, token, params, json, attempt)
            except WeComError as exc:
                if secret_kind and token and exc.errcode in ErrCode.TOKEN_INVALID and not refreshed:
                    refreshed = True
                    self._drop_token(secret_kind, token)
                    log.info("wecom.token.refresh endpoint=%s errcode=%d", endpoint.value, exc.errcode)
                    continue
                unsure = isinstance(exc, WeComTransportError) and exc.maybe_performed
                if (
                    not exc.transient
                    or attempt >= self._max_attempts
                    or (unsure and endpoint in NOT_REPEATABLE)
                ):
                    log.warning(
                        "wecom.failed endpoint=%s errcode=%d attempts=%d error=%s",
                        endpoint.value,
                        exc.errcode,
                        attempt,
                        type(exc).__name__,
                    )
                    raise
                delay = self._backoff(attempt, exc.errcode)
                log.warning(
                    "wecom.retry endpoint=%s errcode=%d attempt=%d delay_s=%.2f",
                    endpoint.value,
                    exc.errcode,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                attempt += 1

    async def _attempt(
        self,
        method: str,
        endpoint: Endpoint,
        token: str | None,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        attempt: int,
    ) -> dict[str, Any]:
        query = dict(params or {})
        if token:
            query["access_token"] = token
        path = endpoint.value
        started = time.perf_counter()
        try:
            resp = await self._http.request(method, self._base_url + path, params=query, json=json)
        except _NOT_SENT as exc:
            # `from None`: httpx exceptions may carry the URL, and with it the token or key.
            raise WeComTransportError(
                f"not sent: {type(exc).__name__}", path, maybe_performed=False
            ) from None
        except httpx.TimeoutException:
            raise WeComTransportError("timeout", path) from None
        except httpx.TransportError as exc:
            raise WeComTransportError(f"transport error {type(exc).__name__}", path) from None
        ms = (time.perf_counter() - started) * 1000
        status = resp.status_code
        if status >= 500 or status == 429:
            log.debug("wecom.call endpoint=%s status=%d attempt=%d ms=%.0f", path, status, attempt, ms)
            raise WeComTransportError(
                f"HTTP {status}", path, http_status=status, maybe_performed=status != 429
            )
        if status != 200:
            raise WeComTransportError(
                f"HTTP {status}", path, http_status=status, retryable=False, maybe_performed=False
            )
        try:
            data = resp.json()
        except ValueError:
            raise WeComTransportError("answer is not JSON", path, http_status=status) from None
        if not isinstance(data, dict):
            raise WeComTransportError("answer is not a JSON object", path, http_status=status)
        errcode = int(data.get("errcode") or 0)
        log.debug(
            "wecom.call endpoint=%s status=%d errcode=%d attempt=%d ms=%.0f",
            path,
            status,
            errcode,
            attempt,
            ms,
        )
        if errcode != ErrCode.OK:
            raise WeComError(errcode, self._redact(str(data.get("errmsg", ""))), path)
        return data

    # -- contacts -------------------------------------------------------------------------------

    async def user_get(self, userid: str) -> dict[str, Any]:
        """The member's fields (userid, name, department, status 1/2/4/5, …); 60111 if unknown."""
        return await self._request("GET", Endpoint.USER_GET, params={"userid": userid})

    async def user_list_id(self, *, cursor: str = "", limit: int = 10000) -> dict[str, Any]:
        """One page of `dept_user` [{userid, department}] and `next_cursor` (contacts secret)."""
        return await self._request(
            "POST",
            Endpoint.USER_LIST_ID,
            secret_kind=SecretKind.CONTACTS,
            json={"cursor": cursor, "limit": limit},
        )

    async def department_list(self, department_id: int | None = None) -> list[dict[str, Any]]:
        """The department and its sub-departments (all of them without an id)."""
        params = {"id": department_id} if department_id is not None else None
        data = await self._request("GET", Endpoint.DEPARTMENT_LIST, params=params)
        departments: list[dict[str, Any]] = data.get("department", [])
        return departments

    # -- app chats (groups this app created) ----------------------------------------------------

    async def appchat_create(
        self, *, name: str, owner: str, userlist: list[str], chatid: str | None = None
    ) -> str:
        """Create a group; return its chatid."""
        body: dict[str, Any] = {"name": name, "owner": owner, "userlist": userlist}
        if chatid:
            body["chatid"] = chatid
        data = await self._request("POST", Endpoint.APPCHAT_CREATE, json=body)
        return str(data["chatid"])

    async def appchat_get(self, chatid: str) -> dict[str, Any]:
        """`chat_info`: chatid, name, owner, userlist. 86008 for a group another app made."""
        data = await self._request("GET", Endpoint.APPCHAT_GET, params={"chatid": chatid})
        info: dict[str, Any] = data["chat_info"]
        return info

    async def appchat_update(
        self,
        chatid: str,
        *,
        name: str | None = None,
        owner: str | None = None,
        add_user_list: list[str] | None = None,
        del_user_list: list[str] | None = None,
    ) -> None:
        """Rename, change owner, add or remove members (≤ 1,000 changes per corp per hour)."""
        body: dict[str, Any] = {"chatid": chatid}
        for field, value in (
            ("name", name),
            ("owner", owner),
            ("add_user_list", add_user_list),
            ("del_user_list", del_user_list),
        ):
            if value is not None:
                body[field] = value
        await self._appchat_update_limit.acquire()
        await self._request("POST", Endpoint.APPCHAT_UPDATE, json=body)

    async def appchat_send(self, chatid: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        """Post to an app-created group. WeCom returns no msgid: it cannot be recalled."""
        payload = {"chatid": chatid, "msgtype": msgtype, msgtype: body, "safe": 0}
        return await self._request("POST", Endpoint.APPCHAT_SEND, json=payload)

    # -- app messages ---------------------------------------------------------------------------

    async def message_send(self, touser: list[str], msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        """A private app message; the answer has `msgid` (for recall), `invaliduser` and, for
        interactive template cards, `response_code`."""
        for userid in touser:
            if userid != "@all":
                await self._member_min_limit.acquire(userid)
                await self._member_hour_limit.acquire(userid)
        # WeCom's duplicate check makes a retry after a timeout (the first may have arrived)
        # deliver once: identical content to the same member within the interval is dropped.
        payload = {
            "touser": "|".join(touser),
            "msgtype": msgtype,
            "agentid": self._agent_id,
            msgtype: body,
            "safe": 0,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_INTERVAL_S,
        }
        return await self._request("POST", Endpoint.MESSAGE_SEND, json=payload)

    async def message_recall(self, msgid: str) -> None:
        """Recall the app's own message/send message, within 24 h of sending."""
        await self._request("POST", Endpoint.MESSAGE_RECALL, json={"msgid": msgid})

    async def update_template_card(
        self, *, userids: list[str], response_code: str, card: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace an interactive card (`card` is the new `template_card` object); the
        response_code is single use."""
        payload = {
            "userids": userids,
            "agentid": self._agent_id,
            "response_code": response_code,
            "template_card": card,
        }
        return await self._request("POST", Endpoint.UPDATE_TEMPLATE_CARD, json=payload)

    # -- group robot ----------------------------------------------------------------------------

    async def webhook_send(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Post through a group robot (the only way to @-mention in a group). The key is the
        robot's only credential: it is masked in logs and errors."""
        self._sensitive.add(key)
        await self._webhook_limit.acquire(fingerprint(key))
        return await self._request(
            "POST", Endpoint.WEBHOOK_SEND, secret_kind=None, params={"key": key}, json=payload
        )

    # -- customer groups (observe only) ---------------------------------------------------------

    async def groupchat_get(self, chat_id: str) -> dict[str, Any]:
        """`group_chat`: name, owner, member_list (type 1 member, 2 external), admin_list, …"""
        data = await self._request("POST", Endpoint.GROUPCHAT_GET, json={"chat_id": chat_id, "need_name": 1})
        group: dict[str, Any] = data["group_chat"]
        return group

    async def groupchat_list(
        self, *, cursor: str = "", limit: int = 1000, owner_userids: list[str] | None = None
    ) -> dict[str, Any]:
        """One page of `group_chat_list` [{chat_id, status}] and `next_cursor`."""
        body: dict[str, Any] = {"status_filter": 0, "cursor": cursor, "limit": limit}
        if owner_userids:
            body["owner_filter"] = {"userid_list": owner_userids}
        return await self._request("POST", Endpoint.GROUPCHAT_LIST, json=body)

    # -- chat archive (simulator only) ----------------------------------------------------------

    async def archive_pull(self, *, seq: int, limit: int = 1000) -> dict[str, Any]:
        """SIMULATOR ONLY stand-in for the Finance SDK's GetChatData: `chatdata` after `seq`."""
        return await self._request("POST", Endpoint.ARCHIVE_PULL, json={"seq": seq, "limit": limit})
