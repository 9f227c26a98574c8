"""The inbox: verified callbacks become `inbound_event` rows (unique dedupe key) plus a job.

Requests hand their event to one `InboxWriter`, which commits everything that arrived while the
previous commit ran in one transaction (group commit), then answers each request. A request is
answered 200 only after its row is durable; a WeCom retry of a stored event finds the key taken
and is answered 200 without a second row or job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import insert_ignoring_conflicts, make_sync_sqlite_engine
from app.jobs import JOB_TABLE, JobKind, job_row
from app.logs import log_event
from app.models import EventSource, EventStatus, InboundEvent, utcnow

EVENT_TABLE: sa.Table = InboundEvent.__table__  # type: ignore[attr-defined]
MAX_KEY = 255

# Fields that tell apart two events without a MsgId (WeCom: FromUserName+CreateTime, and for `sys`
# events the event, change type and the chat/user they are about).
_EVENT_KEY_FIELDS = ("FromUserName", "CreateTime", "Event", "ChangeType", "UpdateDetail",
                     "ChatId", "UserID", "TaskId", "EventKey")
# Appended only when present, so the keys of other events stay as they were. CurMemVer: two
# member changes of one customer group in the same second are two events (a retry repeats it).
_OPTIONAL_KEY_FIELDS = ("CurMemVer",)


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[:200] + "#" + hashlib.sha256(key.encode()).hexdigest()[:40]


def xml_dedupe_key(fields: Mapping[str, Any]) -> str:
    """MsgId when there is one; else the identifying fields of the event."""
    msg_id = fields.get("MsgId")
    if msg_id:
        return _bounded(f"msg:{msg_id}")
    parts = [str(fields.get(name) or "") for name in _EVENT_KEY_FIELDS]
    parts += [f"{name}={fields[name]}" for name in _OPTIONAL_KEY_FIELDS if fields.get(name)]
    return _bounded("evt:" + "|".join(parts))


def aibot_dedupe_key(message: Mapping[str, Any], body_digest: str) -> str:
    msg_id = message.get("msgid")
    return _bounded(f"aibot:{msg_id}" if msg_id else f"aibot-body:{body_digest}")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class InboxRecord:
    dedupe_key: str
    source: EventSource
    msg_type: str
    payload: str
    event: str | None = None
    change_type: str | None = None
    from_user: str | None = None
    chat_id: str | None = None
    create_time: int | None = None
    received_at: datetime = field(default_factory=utcnow)

    @classmethod
    def from_xml_fields(cls, fields: Mapping[str, Any], payload: str) -> InboxRecord:
        return cls(
            dedupe_key=xml_dedupe_key(fields),
            source=EventSource.APP,
            msg_type=str(fields.get("MsgType") or "unknown")[:64],
            event=(str(fields["Event"])[:64] if fields.get("Event") else None),
            change_type=(str(fields["ChangeType"])[:64] if fields.get("ChangeType") else None),
            from_user=(str(fields["FromUserName"])[:128] if fields.get("FromUserName") else None),
            chat_id=(str(fields["ChatId"])[:128] if fields.get("ChatId") else None),
            create_time=_int_or_none(fields.get("CreateTime")),
            payload=payload,
        )

    @classmethod
    def from_aibot_json(cls, message: Mapping[str, Any], payload: str) -> InboxRecord:
        sender = message.get("from")
        user = sender.get("userid") if isinstance(sender, dict) else None
        digest = hashlib.sha256(payload.encode()).hexdigest()[:32]
        return cls(
            dedupe_key=aibot_dedupe_key(message, digest),
            source=EventSource.AIBOT,
            msg_type=str(message.get("msgtype") or "unknown")[:64],
            from_user=str(user)[:128] if user else None,
            chat_id=str(message["chatid"])[:128] if message.get("chatid") else None,
            payload=payload,
        )

    def row(self) -> dict[str, Any]:
        return {
            "dedupe_key": self.dedupe_key,
            "source": self.source.value,
            "msg_type": self.msg_type,
            "event": self.event,
            "change_type": self.change_type,
            "from_user": self.from_user,
            "chat_id": self.chat_id,
            "create_time": self.create_time,
            "received_at": self.received_at,
            "status": EventStatus.RECEIVED.value,
            "payload": self.payload,
        }


def parse_aibot_payload(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("AI-bot payload is not a JSON object")
    return value


def store_events(conn: Connection, records: list[InboxRecord], *, job_max_attempts: int
                 ) -> set[str]:
    """Insert new events and one job that processes them all; return the new dedupe keys.

    One job per commit, not per event: the worker then handles the batch in one transaction
    (an event that fails gets a job of its own; see app.pipeline). Synchronous Core: the writer
    runs it on its own thread for SQLite, through `run_sync` on PostgreSQL.
    """
    stmt = insert_ignoring_conflicts(conn.dialect.name, EVENT_TABLE).returning(
        EVENT_TABLE.c.id, EVENT_TABLE.c.dedupe_key
    )
    inserted = conn.execute(stmt, [r.row() for r in records]).all()
    if inserted:
        ids = sorted(row.id for row in inserted)
        conn.execute(sa.insert(JOB_TABLE), job_row(
            JobKind.PROCESS_EVENT, {"event_ids": ids}, max_attempts=job_max_attempts))
    return {row.dedupe_key for row in inserted}


class InboxWriter:
    """Group commit: one transaction for all events that arrived while the last one committed."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        job_max_attempts: int,
        max_batch: int = 512,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._job_max_attempts = job_max_attempts
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._pending: list[tuple[InboxRecord, asyncio.Future[bool]]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # SQLite: a plain-sqlite3 engine on one dedicated thread (see make_sync_sqlite_engine).
        self._sqlite: sa.Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = make_sync_sqlite_engine(engine.url.render_as_string(hide_password=False))
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-sqlite")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="inbox-writer")

    async def stop(self) -> None:
        """Flush what is pending, then stop."""
        self._closing = True
        self._ready.set()
        if self._task:
            await self._task
        if self._thread:
            self._thread.shutdown(wait=True)
        if self._sqlite:
            self._sqlite.dispose()

    async def put(self, record: InboxRecord) -> bool:
        """Store durably; True if new, False if the dedupe key was already stored."""
        if self._closing or self._task is None:
            raise RuntimeError("inbox is not accepting events")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        self._ready.set()
        return await future

    async def _loop(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)
            if self._closing:
                return

    def _store_sqlite(self, records: list[InboxRecord]) -> set[str]:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            return store_events(conn, records, job_max_attempts=self._job_max_attempts)

    async def _store(self, records: list[InboxRecord]) -> set[str]:
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._store_sqlite, records)
        async with self._engine.begin() as conn:
            return await conn.run_sync(store_events, records,
                                       job_max_attempts=self._job_max_attempts)

    async def _commit(self, batch: list[tuple[InboxRecord, asyncio.Future[bool]]]) -> None:
        unique: dict[str, InboxRecord] = {}
        for record, _ in batch:
            unique.setdefault(record.dedupe_key, record)
        try:
            new_keys = await self._store(list(unique.values()))
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure (503)
            log_event("inbox.commit_failed", batch=len(batch), error=type(exc).__name__)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for record, future in batch:
            if future.done():
                continue
            is_new = record.dedupe_key in new_keys and unique[record.dedupe_key] is record
            future.set_result(is_new)
        if new_keys and self._on_commit:
            self._on_commit()
