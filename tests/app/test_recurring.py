"""Recurring jobs: daily at a local time, once across any number of instances, next one queued."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col

from app.db import make_engine, make_sessionmaker, session_scope
from app.models import Job
from app.recurring import RecurringJob, recurring_handler, schedule_all
from app.worker import Worker

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
WORKDAYS = frozenset(range(5))


async def _nothing(_: date) -> None:
    return None


class TestNextRun:
    def test_local_nine_oclock_is_one_utc(self) -> None:
        job = RecurringJob("audit", time(9, 0), _nothing)
        after = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
        assert job.next_run(after, SHANGHAI) == datetime(2026, 12, 4, 1, 0, tzinfo=UTC)

    def test_after_the_time_it_is_tomorrow(self) -> None:
        job = RecurringJob("audit", time(9, 0), _nothing)
        after = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # exactly 09:00: strictly after
        assert job.next_run(after, SHANGHAI) == datetime(2026, 12, 5, 1, 0, tzinfo=UTC)

    def test_weekends_are_skipped_for_workday_jobs(self) -> None:
        job = RecurringJob("audit", time(9, 0), _nothing, weekdays=WORKDAYS)
        friday_noon = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)  # Friday 12:00 in Shanghai
        monday = job.next_run(friday_noon, SHANGHAI)
        assert monday.astimezone(SHANGHAI).date() == date(2026, 12, 7)

    def test_strictly_after_in_the_repeated_hour(self) -> None:
        """New York falls back on 2026-11-01: 01:00-02:00 happens twice. At 01:15 of the second
        pass (06:15 UTC) today's 01:30 (05:30 UTC, the first pass) is already over. Aware
        datetimes of one tzinfo compare by wall time, which would call 01:30 later."""
        job = RecurringJob("audit", time(1, 30), _nothing)
        after = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
        assert job.next_run(after, NEW_YORK) > after
        assert job.next_run(after.astimezone(NEW_YORK), NEW_YORK) > after

    def test_the_key_is_the_local_date(self) -> None:
        job = RecurringJob("audit", time(7, 0), _nothing)
        due = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)  # 07:00 on the 5th in Shanghai
        assert job.key_for(due, SHANGHAI) == "recurring:audit:2026-12-05"


class TestOnceAcrossInstances:
    async def test_many_instances_schedule_one_job_and_a_run_queues_the_next(self, db_url: str) -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        ran: list[date] = []

        async def audit(day: date) -> None:
            ran.append(day)

        job = RecurringJob("audit", time(9, 0), audit)
        morning = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
        added = [
            await schedule_all(sessions, [job], tz=SHANGHAI, max_attempts=3, now=morning) for _ in range(3)
        ]  # three instances start
        assert added == [1, 0, 0]
        async with session_scope(sessions) as s:
            (queued,) = (await s.execute(sa.select(col(Job.key), col(Job.due_at)))).all()
            # make it due now (the test does not wait for 09:00)
            await s.execute(sa.update(Job).values(due_at=datetime.now(UTC)))
        assert tuple(queued) == ("recurring:audit:2026-12-04", datetime(2026, 12, 4, 1, 0, tzinfo=UTC))

        handler = recurring_handler(job, sessions, tz=SHANGHAI, max_attempts=3, clock=lambda: morning)
        await Worker(sessions, {"audit": handler}).run_until_idle()
        assert ran == [date(2026, 12, 4)]
        async with session_scope(sessions) as s:
            keys = (await s.execute(sa.select(col(Job.key), col(Job.status)).order_by(col(Job.id)))).all()
        assert [tuple(k) for k in keys] == [
            ("recurring:audit:2026-12-04", "done"),
            ("recurring:audit:2026-12-05", "queued"),
        ]
        await engine.dispose()

    async def test_a_failing_run_does_not_stop_the_next_days(self, sqlite_url: str) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)

        async def broken(_: date) -> None:
            raise RuntimeError("audit bug")

        job = RecurringJob("audit", time(9, 0), broken)
        morning = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
        await schedule_all(sessions, [job], tz=SHANGHAI, max_attempts=1, now=morning)
        async with session_scope(sessions) as s:
            await s.execute(sa.update(Job).values(due_at=datetime.now(UTC)))
        handler = recurring_handler(job, sessions, tz=SHANGHAI, max_attempts=1, clock=lambda: morning)
        await Worker(sessions, {"audit": handler}).run_until_idle()
        async with session_scope(sessions) as s:
            rows = (await s.execute(sa.select(col(Job.key), col(Job.status)).order_by(col(Job.id)))).all()
        assert [tuple(r) for r in rows] == [
            ("recurring:audit:2026-12-04", "dead"),
            ("recurring:audit:2026-12-05", "queued"),
        ]
        await engine.dispose()
