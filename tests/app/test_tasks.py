"""Domains register their own job kinds, services and recurring jobs; the worker runs them."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from app import jobs
from app.db import make_engine, make_sessionmaker, session_scope
from app.jobs import ClaimedJob
from app.models import Job
from app.recurring import RecurringJob
from app.runtime import make_executor, make_wecom_client, make_worker
from app.tasks import Domain, DomainDeps, DomainParts, collect, installed_domains
from tests.conftest import make_settings


def _domain(name: str, ran: list[str], *, kind: str = "sync-roster") -> Domain:
    async def sync(job: ClaimedJob) -> None:
        ran.append(f"{name}:{job.payload['chat']}")

    async def audit(_: date) -> None:
        ran.append(f"{name}:audit")

    def build(_: DomainDeps) -> DomainParts:
        return DomainParts(jobs={kind: sync}, recurring=[RecurringJob(f"{name}-audit", time(9), audit)])

    return Domain(name=name, build=build)


class TestRegistry:
    def test_a_job_kind_claimed_twice_is_refused(self) -> None:
        unused: Any = None  # building the registry touches none of these
        deps = DomainDeps(
            settings=make_settings("sqlite+aiosqlite:///x.db"),
            sessions=unused,
            wecom=unused,
            planner=unused,
            clock=unused,
        )
        with pytest.raises(ValueError, match="'sync-roster' of domain b is taken"):
            collect([_domain("a", []), _domain("b", [])], deps)
        with pytest.raises(ValueError, match="'process_event'"):
            collect([_domain("a", [], kind="process_event")], deps)

    def test_a_package_without_a_domain_is_refused(self) -> None:
        with pytest.raises(TypeError, match="no DOMAIN"):
            installed_domains(["app.errors"])

    async def test_the_worker_runs_a_domains_jobs_and_schedules_its_recurring_ones(
        self, sqlite_url: str
    ) -> None:
        settings = make_settings(sqlite_url)
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        wecom = make_wecom_client(settings)
        ran: list[str] = []
        worker = make_worker(
            settings,
            sessions,
            make_executor(settings, sessions, wecom),
            wecom,
            domains=[_domain("groups", ran)],
        )
        async with session_scope(sessions) as s:
            await jobs.enqueue(s, "sync-roster", {"chat": "wrsales2024"})
        await worker.start()  # what run() does first: queue the recurring jobs' next runs
        await worker.run_until_idle()
        async with session_scope(sessions) as s:
            keys = list(
                (await s.execute(sa.select(col(Job.key)).where(col(Job.kind) == "groups-audit"))).scalars()
            )
        assert ran == ["groups:wrsales2024"]
        assert len(keys) == 1 and keys[0].startswith("recurring:groups-audit:")  # type: ignore[union-attr]
        await wecom.aclose()
        await engine.dispose()
