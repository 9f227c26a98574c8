"""What `collect` wires into a domain's recurring job: the org's time zone, the settings' attempt
budget and the runtime clock; and a kind a domain claims twice itself is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import make_engine, make_sessionmaker, session_scope
from app.jobs import ClaimedJob
from app.models import Job
from app.recurring import RecurringJob
from app.tasks import Domain, DomainDeps, DomainParts, collect
from tests.conftest import make_settings


def _deps(settings: Any, sessions: Any = None, clock: Any = None) -> DomainDeps:
    unused: Any = None  # collecting recurring jobs reads neither
    return DomainDeps(settings=settings, sessions=sessions, wecom=unused, planner=unused, clock=clock)


class TestCollectWiresRecurringJobs:
    async def test_zone_attempts_and_clock_reach_the_next_occurrence(self, sqlite_url: str) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        ran: list[date] = []

        async def audit(day: date) -> None:
            ran.append(day)

        domain = Domain(
            "groups", lambda _: DomainParts(recurring=[RecurringJob("groups-audit", time(7, 0), audit)])
        )
        late = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai: the run was days late
        settings = make_settings(sqlite_url, timezone="Asia/Shanghai", job_max_attempts=5)
        registry = collect([domain], _deps(settings, sessions, clock=lambda: late))
        await registry.jobs["groups-audit"](
            ClaimedJob(
                id=1,
                kind="groups-audit",
                payload={"local_date": "2029-12-20"},
                attempts=1,
                max_attempts=5,
                claim="test",
            )
        )
        async with session_scope(sessions) as s:
            job = (await s.execute(sa.select(Job))).scalar_one()
        assert ran == [date(2029, 12, 20)]
        # 07:00 in Shanghai on 2 January is 23:00 UTC on the 1st; the local date names it
        assert (job.key, job.payload, job.due_at, job.max_attempts) == (
            "recurring:groups-audit:2030-01-02",
            {"local_date": "2030-01-02"},
            datetime(2030, 1, 1, 23, 0, tzinfo=UTC),
            5,
        )
        await engine.dispose()

    def test_a_domain_using_one_kind_for_a_job_and_a_timer_is_refused(self) -> None:
        async def handler(_: ClaimedJob) -> None: ...

        async def audit(_: date) -> None: ...

        domain = Domain(
            "groups",
            lambda _: DomainParts(
                jobs={"groups-audit": handler}, recurring=[RecurringJob("groups-audit", time(7), audit)]
            ),
        )
        with pytest.raises(ValueError, match="'groups-audit' of domain groups is taken"):
            collect([domain], _deps(make_settings("sqlite+aiosqlite:///x.db")))
