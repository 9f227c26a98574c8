"""Durable job queue in the database: enqueue with a due time, claim with a lease, retry, dead-letter.

Delivery is at least once: a worker that dies mid-job loses its lease and the job is claimed again
once the lease has expired. Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several worker
processes share the queue without taking the same job; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_of, insert_ignoring_conflicts
from app.models import Job, JobStatus, utcnow

JOB_TABLE: sa.Table = Job.__table__  # type: ignore[attr-defined]

BACKOFF_BASE_S = 2.0
LEASE_LOST = "lease_lost"
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
        await session.execute(stmt, job_row(kind, payload, max_attempts=max_attempts, due_at=due_at, key=key))
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
        ClaimedJob(
            id=r.id,
            kind=r.kind,
            payload=r.payload or {},
            attempts=r.attempts,
            max_attempts=r.max_attempts,
            claim=token,
        )
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
