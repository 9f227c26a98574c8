"""The inbox: verified callbacks become `inbound_event` rows (unique dedupe key) plus a job.

Requests hand their event to one `InboxWriter`, which commits everything that arrived while the
previous commit ran in one transaction (group commit), then answers each request. A request is
answered 200 only after its row is durable; a WeCom retry of a stored event finds the key taken
and is answered 200 without a second row or job. A row the database refuses fails only its own
request: the batch is then retried one record at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
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

# The key of events without a MsgId before it became the plaintext's digest (see xml_dedupe_key).
_EVENT_KEY_FIELDS = (
    "FromUserName",
    "CreateTime",
    "Event",
    "ChangeType",
    "UpdateDetail",
    "ChatId",
    "UserID",
    "TaskId",
    "EventKey",
)
# Appended only when present, so the keys of other events stay as they were. CurMemVer: two
# member changes of one customer group in the same second are two events (a retry repeats it).
_OPTIONAL_KEY_FIELDS = ("CurMemVer",)


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[:200] + "#" + hashlib.sha256(key.encode()).hexdigest()[:40]


def xml_dedupe_key(fields: Mapping[str, Any], plaintext: str) -> str:
    """MsgId when there is one; else the digest of the decrypted plaintext.

    WeCom's retries repeat the plaintext exactly, so its digest finds them, while two different
    events always differ somewhere in it: two `update_user` changes of one person in one second,
    two 收到 presses on two notices (TaskId/EventKey). A list of identifying fields never covered
    every kind of event (the department change was dropped as a retry).
    """
    msg_id = fields.get("MsgId")
    if msg_id:
        return _bounded(f"msg:{msg_id}")
    return "xml-body:" + hashlib.sha256(plaintext.encode()).hexdigest()[:32]


def legacy_xml_dedupe_key(fields: Mapping[str, Any]) -> str | None:
    """The key earlier versions stored for an event without a MsgId (None when it has one).

    Transition only: a WeCom retry straddling the upgrade (the first delivery stored by the old
    version, the retry computing the digest key) must still be one event, so `store_events` drops
    a record whose old-format key is already stored. WeCom retries within seconds, so this can go
    one release later. It costs one indexed lookup per group commit holding such events (directory
    and chat changes, not messages), and never merges two events that both arrive after the
    upgrade: those are stored under digest keys, so their shared old-format key is in no row. (An
    event sharing the old-format key of one stored just before the upgrade, in the same second,
    is dropped as the old version would have dropped it.)
    """
    if fields.get("MsgId"):
        return None
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
    legacy_key: str | None = None  # see legacy_xml_dedupe_key; not stored

    @classmethod
    def from_xml_fields(cls, fields: Mapping[str, Any], payload: str) -> InboxRecord:
        return cls(
            dedupe_key=xml_dedupe_key(fields, payload),
            legacy_key=legacy_xml_dedupe_key(fields),
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


# JSON escapes can spell what no database stores: a lone surrogate ("\ud800": neither SQLite nor
# PostgreSQL encodes it) or NUL ("\u0000": PostgreSQL's text and jsonb refuse it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _repaired(value: Any) -> Any:
    """`value` with every unstorable character in its strings (keys too) made U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    return value


def parse_aibot_payload(text: str) -> dict[str, Any]:
    """The AI bot's decrypted JSON, its strings repaired (both at ingest and in the worker).

    Repaired, not refused: a member must not slip a message past the rules by adding a broken
    character, and the payload stays as WeCom sent it. Raw text from the strict UTF-8 decode
    cannot hold these characters; only escapes can, so text without a `\\u` skips the walk.
    """
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("AI-bot payload is not a JSON object")
    if "\\u" in text:
        repaired: dict[str, Any] = _repaired(value)
        return repaired
    return value


def store_events(conn: Connection, records: list[InboxRecord], *, job_max_attempts: int) -> set[str]:
    """Insert new events and one job that processes them all; return the new dedupe keys.

    One job per commit, not per event: the worker then handles the batch in one transaction
    (an event that fails gets a job of its own; see app.pipeline). Synchronous Core: the writer
    runs it on its own thread for SQLite, through `run_sync` on PostgreSQL.
    """
    legacy = [r.legacy_key for r in records if r.legacy_key]
    if legacy:  # transition: the first delivery may be stored under its old-format key
        taken = set(
            conn.execute(
                sa.select(EVENT_TABLE.c.dedupe_key).where(EVENT_TABLE.c.dedupe_key.in_(legacy))
            ).scalars()
        )
        records = [r for r in records if r.legacy_key not in taken]
        if not records:
            return set()
    stmt = insert_ignoring_conflicts(conn.dialect.name, EVENT_TABLE).returning(
        EVENT_TABLE.c.id, EVENT_TABLE.c.dedupe_key
    )
    inserted = conn.execute(stmt, [r.row() for r in records]).all()
    if inserted:
        ids = sorted(row.id for row in inserted)
        conn.execute(
            sa.insert(JOB_TABLE),
            job_row(JobKind.PROCESS_EVENT, {"event_ids": ids}, max_attempts=job_max_attempts),
        )
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
            return await conn.run_sync(store_events, records, job_max_attempts=self._job_max_attempts)

    async def _store_one_by_one(
        self, records: list[InboxRecord]
    ) -> tuple[set[str], dict[str, BaseException]]:
        """After a failed group commit: each record alone, so a bad row fails only itself.

        Stops trying once a failure is the database's (then all the rest fail with it)."""
        new_keys: set[str] = set()
        failed: dict[str, BaseException] = {}
        for i, record in enumerate(records):
            try:
                new_keys |= await self._store([record])
            except Exception as exc:  # noqa: BLE001 - this request gets the failure (503)
                log_event(
                    "inbox.record_failed",
                    source=record.source.value,
                    msg_type=record.msg_type,
                    error=type(exc).__name__,
                )
                failed[record.dedupe_key] = exc
                if not _may_be_the_rows_fault(exc):
                    failed.update((r.dedupe_key, exc) for r in records[i + 1 :])
                    break
        return new_keys, failed

    async def _commit(self, batch: list[tuple[InboxRecord, asyncio.Future[bool]]]) -> None:
        unique: dict[str, InboxRecord] = {}
        for record, _ in batch:
            unique.setdefault(record.dedupe_key, record)
        records = list(unique.values())
        failed: dict[str, BaseException] = {}
        try:
            new_keys = await self._store(records)
        except Exception as exc:  # noqa: BLE001 - the requests get the failure (503)
            log_event("inbox.commit_failed", batch=len(batch), error=type(exc).__name__)
            if len(records) > 1 and _may_be_the_rows_fault(exc):
                new_keys, failed = await self._store_one_by_one(records)
            else:
                new_keys, failed = set(), {r.dedupe_key: exc for r in records}
        for record, future in batch:
            if future.done():
                continue
            if record.dedupe_key in failed:
                future.set_exception(failed[record.dedupe_key])
                continue
            is_new = record.dedupe_key in new_keys and unique[record.dedupe_key] is record
            future.set_result(is_new)
        if new_keys and self._on_commit:
            self._on_commit()


def _may_be_the_rows_fault(exc: BaseException) -> bool:
    """False when the database itself failed (connection, lock, missing table): retrying each
    record alone would only fail each of them again, slowly."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, OSError, TimeoutError)):
        return False
    return not getattr(exc, "connection_invalidated", False)
