"""Recurring jobs (daily audits, directory syncs): once a day, once across the whole cluster.

Each occurrence is a job whose unique key names its kind and local date
(`recurring:membership-audit:2026-12-07`), so any number of instances may schedule it and the
queue keeps one; it runs at least once (the job queue's guarantee). After a run the next
occurrence is queued before this one runs (a failing run does not stop the days after it); every
worker also queues the next one when it starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.jobs import ClaimedJob, JobHandler, enqueue
from app.logs import log_event
from app.models import utcnow

ALL_DAYS = frozenset(range(7))  # Monday = 0


@dataclass(frozen=True, slots=True)
class RecurringJob:
    """Run `run(local_date)` daily at local time `at` on `weekdays` (the org's time zone)."""

    kind: str
    at: time
    run: Callable[[date], Awaitable[None]]
    weekdays: frozenset[int] = field(default=ALL_DAYS)

    def next_run(self, after: datetime, tz: tzinfo) -> datetime:
        """The first occurrence strictly after `after`, as an aware UTC datetime."""
        if not self.weekdays:
            raise ValueError(f"{self.kind}: no weekday to run on")
        instant = after.astimezone(UTC)
        day = after.astimezone(tz).date()
        for _ in range(8):
            candidate = datetime.combine(day, self.at, tzinfo=tz)
            # In UTC: aware datetimes sharing a tzinfo compare by wall time, which misorders
            # the repeated hour when the clocks go back.
            if candidate.astimezone(UTC) > instant and day.weekday() in self.weekdays:
                return candidate.astimezone(UTC)
            day += timedelta(days=1)
        raise AssertionError("unreachable: a week always has a weekday in the set")

    def key_for(self, due: datetime, tz: tzinfo) -> str:
        return f"recurring:{self.kind}:{due.astimezone(tz).date().isoformat()}"


async def schedule_next(
    session: AsyncSession, job: RecurringJob, *, tz: tzinfo, after: datetime, max_attempts: int
) -> int | None:
    """Queue the next occurrence after `after`; None if it is queued already (by anyone)."""
    due = job.next_run(after, tz)
    return await enqueue(
        session,
        job.kind,
        {"local_date": due.astimezone(tz).date().isoformat()},
        key=job.key_for(due, tz),
        due_at=due,
        max_attempts=max_attempts,
    )


def recurring_handler(
    job: RecurringJob,
    sessions: async_sessionmaker[AsyncSession],
    *,
    tz: tzinfo,
    max_attempts: int,
    clock: Callable[[], datetime] = utcnow,
) -> JobHandler:
    """The job handler for one occurrence: run it, then queue the next."""

    async def handle(claimed: ClaimedJob) -> None:
        local_date = date.fromisoformat(str(claimed.payload["local_date"]))
        # The next occurrence first: a run that keeps failing (and goes dead) must not stop the
        # days after it. It comes after this occurrence's day, even when this one runs late.
        end_of_day = datetime.combine(local_date, time.max, tzinfo=tz)
        async with session_scope(sessions) as session:
            await schedule_next(
                session, job, tz=tz, after=max(end_of_day, clock()), max_attempts=max_attempts
            )
        await job.run(local_date)

    return handle


async def schedule_all(
    sessions: async_sessionmaker[AsyncSession],
    jobs: list[RecurringJob],
    *,
    tz: tzinfo,
    max_attempts: int,
    now: datetime | None = None,
) -> int:
    """Queue the next occurrence of every recurring job (worker start); return how many new."""
    added = 0
    async with session_scope(sessions) as session:
        for job in jobs:
            if (
                await schedule_next(session, job, tz=tz, after=now or utcnow(), max_attempts=max_attempts)
                is not None
            ):
                added += 1
    if jobs:
        log_event("recurring.scheduled", jobs=len(jobs), added=added)
    return added
