"""Everything the simulator remembers: the org, tokens, a virtual clock, calls, faults, messages.

The server runs in its own thread (SimulatorServer) while tests read the state from theirs, so
every read-modify-write happens under `lock`.
"""

from __future__ import annotations

import fnmatch
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from app.simulator.org import Org
from app.simulator.sender import CallbackTarget

DAY = 86400.0


@dataclass(slots=True)
class SimConfig:
    """Credentials the simulator accepts and the limits it enforces (WeCom's, by default)."""

    corp_id: str = "wwsimcorp0000001"
    agent_id: int = 1000002
    # Random unless given: a simulator never accepts a guessable secret.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    contacts_secret: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))
    token_ttl_s: int = 7200  # gettoken expires_in (WECOM.md §4.1)
    api_per_min: int = 10_000  # per corp per API (WECOM.md §5.1)
    webhook_per_min: int = 20  # per robot key (WECOM.md §4.5)
    message_per_member_per_min: int = 30  # message/send, excess silently dropped (WECOM.md §4.3)
    appchat_updates_per_hour: int = 1000  # per corp (WECOM.md §4.2)
    recall_window_s: float = DAY  # message/recall only within 24 h (WECOM.md §4.4)
    response_code_ttl_s: float = 3 * DAY  # template card response_code: 72 h, single use
    archive_limit_max: int = 1000  # GetChatData limit (WECOM.md §3.2)
    callback_timeout_s: float = 5.0  # WeCom waits 5 s for the service, then retries (§1.7)
    callback_retries: int = 3
    seed: int | None = None  # for fault `rate` draws; None: unpredictable


@dataclass(slots=True)
class IssuedToken:
    kind: str  # "app" or "contacts"
    expires_at: float  # virtual time


@dataclass(slots=True)
class CallRecord:
    """One qyapi request: credentials masked, errcode filled in when answered."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    errcode: int | None = None
    http_status: int = 200
    fault: bool = False  # answered by an injected fault


@dataclass(slots=True)
class FaultRule:
    """Make matching calls slow or fail. `path` is a glob ("/cgi-bin/appchat/*")."""

    path: str = "*"
    latency_ms: int = 0
    http_status: int | None = None
    errcode: int | None = None
    errmsg: str | None = None  # with errcode: the errmsg to answer (default: WeCom-like text)
    rate: float = 1.0  # probability that a matching call is affected
    count: int | None = None  # affect at most this many calls; None: no limit
    id: int = 0
    fired: int = 0


@dataclass(slots=True)
class FaultOutcome:
    latency_ms: int = 0
    http_status: int | None = None
    errcode: int | None = None
    errmsg: str | None = None


@dataclass(slots=True)
class SentMessage:
    """A message the app (or a robot) sent: message/send, appchat/send or webhook/send."""

    kind: str  # "message" | "appchat" | "webhook"
    msgtype: str
    payload: dict[str, Any]
    time: float
    msgid: str | None = None  # message/send only: the id to recall
    touser: list[str] = field(default_factory=list)
    chatid: str | None = None
    response_code: str | None = None
    dropped: list[str] = field(default_factory=list)  # over the per-member limit: never delivered


@dataclass(slots=True)
class ResponseCode:
    userids: list[str]
    expires_at: float
    used: bool = False


def new_id(nbytes: int = 18) -> str:
    return secrets.token_urlsafe(nbytes)


class SimState:
    def __init__(self, org: Org, config: SimConfig | None = None) -> None:
        self.org = org
        self.config = config or SimConfig()
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.tokens: dict[str, IssuedToken] = {}
        self.calls: list[CallRecord] = []
        self.faults: list[FaultRule] = []
        self.messages: list[SentMessage] = []
        self.recalled: dict[str, float] = {}
        # message/send's duplicate check: request digest → (virtual time, the first answer)
        self.duplicates: dict[str, tuple[float, dict[str, Any]]] = {}
        self.response_codes: dict[str, ResponseCode] = {}
        self.card_updates: list[dict[str, Any]] = []
        self.archive: list[dict[str, Any]] = []  # {"seq", "msgid", "publickey_ver", "message"}
        self.deliveries: list[dict[str, Any]] = []  # callbacks sent to the service
        self.callback_target: CallbackTarget | None = None
        self._windows: dict[str, deque[float]] = {}
        self._fault_ids = 0
        # Seedable on purpose (reproducible fault runs); never used for anything secret.
        self._rng = random.Random(self.config.seed)  # noqa: S311

    # -- virtual clock -------------------------------------------------------------------------

    def now(self) -> float:
        """Virtual unix time: real time plus every /_sim/clock/advance so far."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.clock_offset += seconds
            return self.now()

    # -- tokens and limits ---------------------------------------------------------------------

    def issue_token(self, kind: str) -> tuple[str, int]:
        """Like WeCom: the same token while it is valid, a new one once it has expired."""
        with self.lock:
            now = self.now()
            for value, issued in self.tokens.items():
                if issued.kind == kind and issued.expires_at > now:
                    return value, int(issued.expires_at - now)
            value = new_id(nbytes=96)
            self.tokens[value] = IssuedToken(kind, now + self.config.token_ttl_s)
            return value, self.config.token_ttl_s

    def hit(self, key: str, limit: int, window_s: float) -> bool:
        """Count one call against a sliding window; False (and not counted) when over `limit`."""
        with self.lock:
            now = self.now()
            hits = self._windows.setdefault(key, deque())
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    # -- faults --------------------------------------------------------------------------------

    def add_faults(self, rules: list[FaultRule]) -> list[FaultRule]:
        with self.lock:
            for rule in rules:
                self._fault_ids += 1
                rule.id = self._fault_ids
                self.faults.append(rule)
            return list(self.faults)

    def draw_faults(self, path: str) -> FaultOutcome:
        """Apply the rules matching `path`: latencies add up, the first status/errcode wins."""
        out = FaultOutcome()
        with self.lock:
            for rule in self.faults:
                if not fnmatch.fnmatchcase(path, rule.path):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                out.latency_ms += rule.latency_ms
                if out.http_status is None and out.errcode is None:
                    out.http_status = rule.http_status
                    if rule.http_status is None:
                        out.errcode, out.errmsg = rule.errcode, rule.errmsg
        return out

    # -- records -------------------------------------------------------------------------------

    def record_call(self, record: CallRecord) -> None:
        with self.lock:
            self.calls.append(record)

    def calls_snapshot(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(c) for c in self.calls if path is None or c.path == path]

    def snapshot(self) -> dict[str, Any]:
        """Groups and members now, sent messages, recalls: what GET /_sim/state returns."""
        with self.lock:
            org = self.org
            return {
                "now": self.now(),
                "corp_id": self.config.corp_id,
                "agent_id": self.config.agent_id,
                "users": {
                    u.userid: {"name": u.name, "department": u.department, "status": int(u.status)}
                    for u in org.users.values()
                },
                "app_chats": {
                    c.chatid: {
                        "name": c.name,
                        "owner": c.owner,
                        "members": list(c.members),
                        "created_by_app": c.created_by_app,
                        "has_robot": c.robot_key is not None,
                    }
                    for c in org.app_chats.values()
                },
                "customer_groups": {
                    g.chat_id: {
                        "name": g.name,
                        "owner": g.owner,
                        "admins": list(g.admins),
                        "members": [{"userid": m.userid, "type": int(m.type)} for m in g.members],
                    }
                    for g in org.customer_groups.values()
                },
                "messages": [asdict(m) for m in self.messages],
                "recalled": list(self.recalled),
                "card_updates": list(self.card_updates),
                "archive_seq": len(self.archive),
                "callbacks": list(self.deliveries),
            }
