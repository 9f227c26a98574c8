"""Durable job queue in the database: enqueue with a due time, claim with a lease, retry, dead-letter.

Delivery is at least once: a worker that dies mid-job loses its lease and the job is claimed again
once the lease has expired. Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several worker
processes share the queue without taking the same job; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import dialect_of, insert_ignoring_conflicts, session_scope
from app.logs import log_event
from app.models import Job, JobStatus, utcnow

JOB_TABLE: sa.Table = Job.__table__  # type: ignore[attr-defined]

BACKOFF_BASE_S = 2.0
LEASE_LOST = "lease_lost"
CLAIM_RETRY_MAX_S = 30.0  # the worker's wait between failed claims (database down) grows to this
BACKOFF_MAX_S = 15 * 60.0


class JobKind:
    """Stable job kind names stored in the database."""

    PROCESS_EVENT = "process_event"
    EXECUTE_ACTION = "execute_action"


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    claim: str  # this claim's token: completing requires still holding it


JobHandler = Callable[[ClaimedJob], Awaitable[None]]


def backoff_s(attempt: int) -> float:
    """Exponential backoff, capped, jittered in [ceiling/2, ceiling] (attempt counts from 1)."""
    ceiling = min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto


def job_row(
    kind: str,
    payload: dict[str, Any],
    *,
    max_attempts: int,
    due_at: datetime | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "kind": kind,
        "payload": payload,
        "key": key,
        "status": JobStatus.QUEUED,
        "due_at": due_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
    }


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    max_attempts: int = 8,
    due_at: datetime | None = None,
    key: str | None = None,
) -> int | None:
    """Add a job; with `key`, a second enqueue of the same key is ignored (returns None)."""
    stmt = insert_ignoring_conflicts(dialect_of(session), JOB_TABLE).returning(JOB_TABLE.c.id)
    row = (
        await session.execute(
            stmt, job_row(kind, payload, max_attempts=max_attempts, due_at=due_at, key=key)
        )
    ).first()
    return int(row[0]) if row else None


async def claim(
    session: AsyncSession, *, worker: str, limit: int, lease_s: float, now: datetime | None = None
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs (and jobs whose lease expired) for `lease_s` seconds."""
    now = now or utcnow()
    c = JOB_TABLE.c
    due = sa.or_(
        sa.and_(c.status == JobStatus.QUEUED, c.due_at <= now),
        sa.and_(c.status == JobStatus.RUNNING, c.lease_until < now),
    )
    ids = (
        sa.select(c.id)
        .where(due)
        .order_by(c.due_at, c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it (single writer)
        .scalar_subquery()
    )
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    stmt = (
        sa.update(JOB_TABLE)
        .where(c.id.in_(ids))
        .values(
            status=JobStatus.RUNNING,
            lease_until=now + timedelta(seconds=lease_s),
            claimed_by=token,
            attempts=c.attempts + 1,
        )
        .returning(c.id, c.kind, c.payload, c.attempts, c.max_attempts)
    )
    rows = (await session.execute(stmt)).all()
    return [
        ClaimedJob(id=r.id, kind=r.kind, payload=r.payload or {}, attempts=r.attempts,
                   max_attempts=r.max_attempts, claim=token)
        for r in sorted(rows, key=lambda r: r.id)
    ]


async def complete(session: AsyncSession, job: ClaimedJob) -> bool:
    """Mark done; False if the lease was lost (another worker took the job over)."""
    c = JOB_TABLE.c
    result = await session.execute(
        sa.update(JOB_TABLE)
        .where(c.id == job.id, c.claimed_by == job.claim, c.status == JobStatus.RUNNING)
        .values(status=JobStatus.DONE, finished_at=utcnow(), lease_until=None, last_error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def extend_lease(session: AsyncSession, job: ClaimedJob, *, lease_s: float) -> bool:
    """Keep a long job's lease (heartbeat); False if the claim was lost."""
    c = JOB_TABLE.c
    result = await session.execute(
        sa.update(JOB_TABLE)
        .where(c.id == job.id, c.claimed_by == job.claim, c.status == JobStatus.RUNNING)
        .values(lease_until=utcnow() + timedelta(seconds=lease_s))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def fail(session: AsyncSession, job: ClaimedJob, error: str) -> str:
    """Schedule a retry with backoff, or move to DEAD after max_attempts. Returns the new status
    (LEASE_LOST if the job is no longer ours)."""
    c = JOB_TABLE.c
    now = utcnow()
    if job.attempts >= job.max_attempts:
        values: dict[str, Any] = {"status": JobStatus.DEAD, "finished_at": now}
    else:
        due = now + timedelta(seconds=backoff_s(job.attempts))
        values = {"status": JobStatus.QUEUED, "due_at": due}
    result = await session.execute(
        sa.update(JOB_TABLE)
        .where(c.id == job.id, c.claimed_by == job.claim)
        .values(lease_until=None, last_error=error[:2000], **values)
    )
    # Another worker took over after our lease lapsed: its outcome stands, not ours.
    return str(values["status"]) if result.rowcount else LEASE_LOST  # type: ignore[attr-defined]


async def retry(session: AsyncSession, job_id: int) -> bool:
    """An admin's retry of a dead job: queue it now with a fresh attempt budget."""
    c = JOB_TABLE.c
    result = await session.execute(
        sa.update(JOB_TABLE)
        .where(c.id == job_id, c.status == JobStatus.DEAD)
        .values(status=JobStatus.QUEUED, due_at=utcnow(), attempts=0, finished_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class Worker:
    """Claims due jobs and runs them, `concurrency` at a time, until `stop` is set."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        handlers: Mapping[str, JobHandler],
        *,
        concurrency: int = 4,
        lease_s: float = 60.0,
        poll_s: float = 1.0,
        name: str | None = None,
        on_start: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._handlers = handlers
        self._concurrency = concurrency
        self._lease_s = lease_s
        self._poll_s = poll_s
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self._on_start = on_start  # e.g. queue the recurring jobs' next runs
        self._wakeup = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self.stopped = False  # set when run() ends, however it ends: /readyz reports it

    def wake(self) -> None:
        """New work was committed in this process: claim now instead of at the next poll."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a database that fails (restart, lock timeout) is waited out, not fatal."""
        log_event("worker.started", worker=self.name, concurrency=self._concurrency)
        await self.start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    claimed = await self._claim_some()
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - keep the worker; /readyz shows the DB
                    failures += 1
                    claimed = 0
                    log_event("worker.claim_failed", level=logging.WARNING, worker=self.name,
                              error=type(exc).__name__, failures=failures)
                if claimed:
                    continue
                wait_s = (min(self._poll_s * 2 ** min(failures, 16), CLAIM_RETRY_MAX_S)
                          if failures else self._poll_s)
                self._wakeup.clear()
                waiters = [asyncio.ensure_future(self._wakeup.wait()),
                           asyncio.ensure_future(stop.wait())]
                running = [] if failures else list(self._running)
                await asyncio.wait([*waiters, *running], timeout=wait_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
        finally:
            self.stopped = True
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            log_event("worker.stopped", worker=self.name)

    async def start(self) -> None:
        """The start-up hook; a failure is logged, not fatal (the next start heals it)."""
        if self._on_start is None:
            return
        try:
            await self._on_start()
        except Exception as exc:  # noqa: BLE001 - the worker still serves the queue
            log_event("worker.start_hook_failed", level=logging.WARNING, worker=self.name,
                      error=type(exc).__name__)

    async def run_until_idle(self, *, timeout_s: float = 30.0) -> None:
        """Run until no job is due (tests, the demo). Jobs due later are left for later."""
        async with asyncio.timeout(timeout_s):
            while await self._claim_some() or self._running:
                if self._running:
                    await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)

    async def _claim_some(self) -> int:
        free = self._concurrency - len(self._running)
        if free <= 0:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            return 1
        async with session_scope(self._sessions) as session:
            jobs = await claim(session, worker=self.name, limit=free, lease_s=self._lease_s)
        for job in jobs:
            task = asyncio.create_task(self._run_one(job))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return len(jobs)

    async def _heartbeat(self, job: ClaimedJob) -> None:
        """Renew the lease while the job runs (a job may wait out a WeCom ban of 60 s); a worker
        that dies stops renewing, and its jobs are taken over once the lease lapses."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                async with session_scope(self._sessions) as session:
                    if not await extend_lease(session, job, lease_s=self._lease_s):
                        return
            except Exception as exc:  # noqa: BLE001 - try again next beat; the lease has slack
                log_event("job.heartbeat_failed", level=logging.WARNING, job=job.id,
                          error=type(exc).__name__)

    async def _run_one(self, job: ClaimedJob) -> None:
        handler = self._handlers.get(job.kind)
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                if job.attempts > job.max_attempts:
                    raise RuntimeError("lease expired too often (worker died mid-job?)")
                await handler(job)
            finally:
                heartbeat.cancel()
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the job, never lost
            error = f"{type(exc).__name__}: {exc}"
            await self._record(job, lambda s: fail(s, job, error), "failed", type(exc).__name__)
        else:
            await self._record(job, lambda s: complete(s, job), "done", None)

    async def _record(self, job: ClaimedJob, write: Callable[[AsyncSession], Awaitable[Any]],
                      outcome: str, error: str | None) -> None:
        """Write a job's outcome. If the database refuses, the job stays claimed and runs again
        when its lease lapses (handlers are idempotent), so nothing is lost."""
        try:
            async with session_scope(self._sessions) as session:
                result = await write(session)
        except Exception as exc:  # noqa: BLE001 - see above
            log_event("job.record_failed", level=logging.WARNING, job=job.id, kind=job.kind,
                      outcome=outcome, error=type(exc).__name__)
            return
        if result is False or result == LEASE_LOST:
            log_event("job.lease_lost", job=job.id, kind=job.kind, outcome=outcome)
        elif outcome == "failed":
            log_event("job.failed", job=job.id, kind=job.kind, attempt=job.attempts,
                      status=result, error=error)
