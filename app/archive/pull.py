"""The pull: archive messages after the cursor's seq → inbound events, cursor moved in the same commit.

One job kind, `archive_pull`, serves both triggers. The queued pull holds the job key
`archive-pull`, so a `msgaudit_notify` that finds one queued only brings it forward (several
notices → one pull), and any number of workers starting keep one. A pull gives the key up when it
starts (a notice during the run queues the next pull) and queues the next poll
(WARDEN_ARCHIVE_POLL_S) before it fetches, so the chain survives a pull that fails.

Each page (≤ 1000 messages) is one transaction: the cursor moves from the seq it was read at to the
page's last seq (compare-and-set: a pull racing another on a second worker finds the cursor moved,
rolls back and reads on from the new seq), and every message becomes an `inbound_event` keyed
`archive:{msgid}` plus the `process_event` job that normalises them (handlers/archive.py). A crash
before the commit leaves neither events nor cursor (the next pull fetches the same page again); a
crash after it finds the cursor moved (nothing is fetched twice), and a msgid WeCom hands out twice
is still one event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import jobs
from app.db import dialect_of, insert_ignoring_conflicts, session_scope
from app.inbox import InboxRecord, store_events
from app.jobs import ClaimedJob
from app.logs import log_event
from app.models import ArchiveCursor, EventSource, JobStatus, table_of
from app.wecom.archive import MAX_LIMIT, UNDECRYPTABLE, ArchiveClient, ArchiveItem
from handlers.archive import archive_time, is_message

ARCHIVE_PULL = "archive_pull"  # the job kind
PULL_KEY = "archive-pull"  # held by the one queued pull
MAX_PAGES_PER_RUN = 20  # then the rest is a new pull, queued at once (other jobs get a turn)

CURSOR = table_of(ArchiveCursor)
JOB = jobs.JOB_TABLE


class CursorMoved(Exception):
    """Another pull stored this page first (its commit moved the cursor): read on from there."""


@dataclass(slots=True)
class PullResult:
    fetched: int = 0
    stored: int = 0  # new inbound events
    skipped: int = 0  # switch records, messages before the first start (latest), msgids seen
    pages: int = 0
    seq: int = 0
    more: bool = False  # stopped at MAX_PAGES_PER_RUN with messages left


async def request_pull(session: AsyncSession, *, due_at: datetime, max_attempts: int) -> None:
    """A pull due at `due_at`, in the caller's transaction: a new one, or the queued one brought
    forward (never pushed back)."""
    c = JOB.c
    # A key left on a finished pull (its release failed with it) would block every later pull.
    await session.execute(
        sa.update(JOB)
        .where(c.key == PULL_KEY, c.status.in_([JobStatus.DONE, JobStatus.DEAD]))
        .values(key=None)
    )
    if await jobs.enqueue(session, ARCHIVE_PULL, {}, key=PULL_KEY, due_at=due_at, max_attempts=max_attempts):
        return
    await session.execute(
        sa.update(JOB)
        .where(c.key == PULL_KEY, c.status == JobStatus.QUEUED, c.due_at > due_at)
        .values(due_at=due_at)
    )


def _start_seq(start: str) -> int:
    return int(start) if start.isdigit() else 0


def inbox_record(item: ArchiveItem) -> InboxRecord:
    """An archive message as the inbox stores it: JSON, keyed by its msgid."""
    message = item.message
    payload = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, repaired when the worker reads it
        payload = json.dumps(message, separators=(",", ":"))
    msgtime = archive_time(message.get("msgtime"))
    sender, room = message.get("from"), message.get("roomid")
    return InboxRecord(
        dedupe_key=f"archive:{item.msgid}"[:255],
        source=EventSource.ARCHIVE,
        msg_type=str(message.get("msgtype") or message.get("action") or "unknown")[:64],
        from_user=sender[:128] if isinstance(sender, str) and sender else None,
        chat_id=room[:128] if isinstance(room, str) and room else None,
        create_time=int(msgtime.timestamp()) if msgtime else None,
        payload=payload,
    )


class ArchivePuller:
    """Reads the archive from the cursor on, one page per transaction (see the module doc)."""

    def __init__(
        self,
        client: ArchiveClient,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        poll_s: float,
        start: str = "latest",
        job_max_attempts: int = 8,
        limit: int = MAX_LIMIT,
        max_pages: int = MAX_PAGES_PER_RUN,
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._clock = clock
        self._poll = timedelta(seconds=poll_s)
        self._start = start
        self._max_attempts = job_max_attempts
        self._limit = min(limit, MAX_LIMIT)
        self._max_pages = max_pages
        self._lock = asyncio.Lock()  # one pull at a time in this process (others: the cursor's CAS)

    @property
    def source(self) -> str:
        return self._client.cursor_name

    async def schedule(self, session: AsyncSession, *, delay_s: float = 0.0) -> None:
        await request_pull(
            session, due_at=self._clock() + timedelta(seconds=delay_s), max_attempts=self._max_attempts
        )

    async def on_start(self) -> None:
        """Worker start: a pull now (keyed: one, however many workers start)."""
        async with session_scope(self._sessions) as session:
            await self.schedule(session)

    async def run_job(self, job: ClaimedJob) -> None:
        async with session_scope(self._sessions) as session:
            c = JOB.c
            await session.execute(
                sa.update(JOB).where(c.id == job.id, c.claimed_by == job.claim).values(key=None)
            )
            await self.schedule(session, delay_s=self._poll.total_seconds())
        result = await self.pull()
        if result.more:
            async with session_scope(self._sessions) as session:
                await self.schedule(session)

    async def pull(self) -> PullResult:
        """Fetch and store pages until a short one (or `max_pages`)."""
        async with self._lock:
            result = PullResult()
            seq, skip_before = await self._cursor()
            while True:
                if result.pages >= self._max_pages:
                    result.more = True
                    break
                items = await self._client.fetch(seq=seq, limit=self._limit)
                result.pages += 1
                result.fetched += len(items)
                if not items:
                    break
                try:
                    stored, skipped = await self._store(seq, items, skip_before)
                except CursorMoved:
                    seq, skip_before = await self._cursor()
                    continue
                result.stored += stored
                result.skipped += skipped
                seq = items[-1].seq
                if len(items) < self._limit:
                    break
            result.seq = seq
        log_event(
            "archive.pulled",
            level=logging.INFO if result.fetched else logging.DEBUG,
            source=self.source,
            fetched=result.fetched,
            stored=result.stored,
            skipped=result.skipped,
            seq=result.seq,
            more=result.more,
        )
        return result

    async def _cursor(self) -> tuple[int, datetime | None]:
        """(seq, skip_before) of this source's cursor, made on the first start."""
        c = CURSOR.c
        async with session_scope(self._sessions) as session:
            row = (
                await session.execute(sa.select(c.seq, c.skip_before).where(c.source == self.source))
            ).first()
            if row is not None:
                return int(row.seq), row.skip_before
            now = self._clock()
            values: dict[str, Any] = {
                "source": self.source,
                "seq": _start_seq(self._start),
                "messages": 0,
                # msgtime has milliseconds: a message of this very millisecond is not passed over
                "skip_before": now.replace(microsecond=now.microsecond // 1000 * 1000)
                if self._start == "latest"
                else None,
                "created_at": now,
                "updated_at": now,
            }
            await session.execute(insert_ignoring_conflicts(dialect_of(session), CURSOR), values)
            log_event("archive.cursor_created", source=self.source, start=self._start)
        return await self._cursor()

    async def _store(
        self, seq: int, items: list[ArchiveItem], skip_before: datetime | None
    ) -> tuple[int, int]:
        """One page in one transaction: the cursor from `seq` to the page's end, and its events."""
        records = []
        for item in items:
            if item.message.get("action") == UNDECRYPTABLE:
                records.append(inbox_record(item))  # kept encrypted, with the reason (never judged)
                continue
            if not is_message(item.message):
                continue
            at = archive_time(item.message.get("msgtime"))
            if skip_before is not None and (at is None or at < skip_before):
                continue
            records.append(inbox_record(item))
        c = CURSOR.c
        async with session_scope(self._sessions) as session:
            moved = await session.execute(
                sa.update(CURSOR)
                .where(c.source == self.source, c.seq == seq)
                .values(seq=items[-1].seq, updated_at=self._clock())
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise CursorMoved
            new: set[str] = set()
            if records:
                conn = await session.connection()
                new = await conn.run_sync(store_events, records, job_max_attempts=self._max_attempts)
            if new:
                await session.execute(
                    sa.update(CURSOR).where(c.source == self.source).values(messages=c.messages + len(new))
                )
        return len(new), len(items) - len(new)
