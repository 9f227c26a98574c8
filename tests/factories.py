"""Test building blocks: a domain that records what the router hands it."""

from __future__ import annotations

import threading
from typing import Any

from app.models import ActionKind
from app.routing import DomainContext
from app.tasks import Domain, DomainDeps, DomainParts
from handlers.base import ArchiveNotice, UnknownEvent
from policies.base import Acknowledgement, ChatMessage, MembershipChange, MessageRecall

ALL_RECORD_TYPES = (
    ChatMessage,
    MembershipChange,
    Acknowledgement,
    ArchiveNotice,
    UnknownEvent,
    MessageRecall,
)


class Recorder:
    """A domain service that keeps every record it is handed (the live server runs in another
    thread, hence the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Any] = []

    async def handle(self, record: Any, ctx: DomainContext) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[Any]:
        with self._lock:
            return list(self._records)

    def domain(self) -> Domain:
        def build(_: DomainDeps) -> DomainParts:
            return DomainParts(services=[(t, self) for t in ALL_RECORD_TYPES])

        return Domain(name="recorder", build=build)


class WarnEveryMessage:
    """A domain service that plans a private reminder for every group message it is handed:
    the smallest policy-shaped consumer, to drive the real path callback → router → executor."""

    async def handle(self, record: ChatMessage, ctx: DomainContext) -> None:
        await ctx.plan(
            kind=ActionKind.SEND_PRIVATE_MESSAGE,
            params={"touser": [record.sender], "msgtype": "text", "body": {"content": "请回复收到 (A1)"}},
            idempotency_key=f"test-warn:{record.msg_id}",
            reason="A1: test",
        )

    def domain(self) -> Domain:
        def build(_: DomainDeps) -> DomainParts:
            return DomainParts(services=[(ChatMessage, self)])

        return Domain(name="warn-every-message", build=build)
