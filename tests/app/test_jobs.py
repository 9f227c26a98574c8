"""The durable job queue on SQLite and PostgreSQL: claim, lease, retry with backoff, dead letters,
a worker killed mid-job, and several workers sharing one queue."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import jobs
from app import worker as worker_module
from app.db import make_engine, make_sessionmaker, session_scope
from app.jobs import ClaimedJob
from app.models import Job, JobStatus, utcnow
from app.worker import Worker
from tests.conftest import ROOT

DEAD_LEASE_S = 4.0  # the killed worker's lease: long enough that a slow machine sees it held


async def _sessions(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    return engine, make_sessionmaker(engine)


async def _new(s: AsyncSession, kind: str, **kw: Any) -> int:
    """Enqueue a job without a key (which always inserts) and return its id."""
    job_id = await jobs.enqueue(s, kind, {}, **kw)
    assert job_id is not None
    return job_id


async def _job(sessions, job_id: int) -> Job:  # type: ignore[no-untyped-def]
    async with session_scope(sessions) as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


class TestQueue:
    async def test_claim_takes_due_jobs_once_in_order(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            a = await jobs.enqueue(s, "k", {"n": 1})
            b = await jobs.enqueue(s, "k", {"n": 2})
            await jobs.enqueue(s, "k", {"n": 3}, due_at=utcnow() + timedelta(hours=1))
        async with session_scope(sessions) as s:
            first = await jobs.claim(s, worker="w1", limit=10, lease_s=30)
        async with session_scope(sessions) as s:
            second = await jobs.claim(s, worker="w2", limit=10, lease_s=30)
        assert [j.id for j in first] == [a, b]
        assert [j.payload["n"] for j in first] == [1, 2]
        assert second == []  # leased, and the third is not due yet
        await engine.dispose()

    async def test_keyed_enqueue_keeps_one_row(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            first = await jobs.enqueue(s, "timer", {}, key="ack-reminder:42")
            again = await jobs.enqueue(s, "timer", {}, key="ack-reminder:42")
            n = await s.scalar(sa.select(sa.func.count()).select_from(Job))
        assert first is not None and again is None and n == 1
        await engine.dispose()

    async def test_expired_lease_is_claimed_again(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            job_id = await _new(s, "k")
        async with session_scope(sessions) as s:
            (first,) = await jobs.claim(s, worker="dead", limit=1, lease_s=30)
        later = utcnow() + timedelta(seconds=31)
        async with session_scope(sessions) as s:
            (again,) = await jobs.claim(s, worker="alive", limit=1, lease_s=30, now=later)
        assert again.id == job_id and again.attempts == 2
        async with session_scope(sessions) as s:
            assert not await jobs.complete(s, first)  # the dead worker lost its claim
            assert await jobs.complete(s, again)
        assert (await _job(sessions, job_id)).status == JobStatus.DONE
        await engine.dispose()

    async def test_failures_back_off_then_go_dead_and_admin_can_retry(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            job_id = await _new(s, "k", max_attempts=2)
        async with session_scope(sessions) as s:
            (j1,) = await jobs.claim(s, worker="w", limit=1, lease_s=30)
            before = utcnow()
            assert await jobs.fail(s, j1, "boom 1") == JobStatus.QUEUED
            after = utcnow()
        job = await _job(sessions, job_id)
        base = timedelta(seconds=jobs.BACKOFF_BASE_S)
        assert before + base / 2 <= job.due_at <= after + base  # jittered within [base/2, base]
        assert job.last_error == "boom 1"
        async with session_scope(sessions) as s:
            assert await jobs.claim(s, worker="w", limit=1, lease_s=30) == []  # backing off
            (j2,) = await jobs.claim(s, worker="w", limit=1, lease_s=30, now=utcnow() + timedelta(seconds=10))
            assert await jobs.fail(s, j2, "boom 2") == JobStatus.DEAD
        assert (await _job(sessions, job_id)).status == JobStatus.DEAD
        async with session_scope(sessions) as s:
            assert await jobs.retry(s, job_id)
            assert not await jobs.retry(s, job_id)  # only dead jobs
        job = await _job(sessions, job_id)
        assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
        await engine.dispose()

    def test_backoff_grows_and_is_capped(self) -> None:
        assert jobs.backoff_s(1) <= jobs.BACKOFF_BASE_S
        assert jobs.backoff_s(4) >= jobs.BACKOFF_BASE_S * 4
        assert jobs.backoff_s(40) <= jobs.BACKOFF_MAX_S

    @pytest.mark.parametrize("attempt", [1, 3, 40])
    def test_backoff_is_jittered_within_half_to_full_ceiling(self, attempt: int) -> None:
        """Jobs that failed together must not retry in lockstep."""
        ceiling = min(jobs.BACKOFF_BASE_S * 2 ** (attempt - 1), jobs.BACKOFF_MAX_S)
        waits = [jobs.backoff_s(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # spread, not one value
        assert min(waits) < ceiling * 0.6 and max(waits) > ceiling * 0.9


class TestWorker:
    async def test_a_job_that_keeps_killing_its_worker_goes_dead_unrun(self, db_url: str) -> None:
        """Claimed more times than its budget (each worker died mid-job): not run again."""
        engine, sessions = await _sessions(db_url)
        ran: list[int] = []

        async def deadly(job: ClaimedJob) -> None:
            ran.append(job.id)

        async with session_scope(sessions) as s:
            job_id = await _new(s, "deadly", max_attempts=2)
            # Two claims whose workers died: attempts at the budget, lease long expired.
            await s.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id)
                .values(status=JobStatus.RUNNING, attempts=2, lease_until=utcnow() - timedelta(seconds=1))
            )
        await Worker(sessions, {"deadly": deadly}).run_until_idle()
        job = await _job(sessions, job_id)
        assert ran == []
        assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
        assert "lease expired too often" in (job.last_error or "")
        await engine.dispose()

    async def test_worker_runs_jobs_and_records_failures(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        seen: list[int] = []

        async def ok(job: ClaimedJob) -> None:
            seen.append(job.payload["n"])

        async def broken(job: ClaimedJob) -> None:
            raise RuntimeError("handler broke")

        async with session_scope(sessions) as s:
            for n in range(5):
                await jobs.enqueue(s, "ok", {"n": n})
            bad = await _new(s, "broken", max_attempts=1)
            unknown = await _new(s, "nobody-handles-this", max_attempts=1)
        worker = Worker(sessions, {"ok": ok, "broken": broken}, concurrency=3)
        await worker.run_until_idle()
        assert sorted(seen) == [0, 1, 2, 3, 4]
        assert bad is not None and unknown is not None
        dead = await _job(sessions, bad)
        assert dead.status == JobStatus.DEAD and "handler broke" in (dead.last_error or "")
        assert "no handler" in ((await _job(sessions, unknown)).last_error or "")
        await engine.dispose()

    async def test_worker_killed_mid_job_loses_nothing(self, db_url: str, tmp_path: Path) -> None:
        """A job claimed by a worker that dies is run again, once, after its lease expires."""
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            job_id = await _new(s, "test.job")
        started = tmp_path / "started.txt"
        proc = subprocess.Popen(  # noqa: ASYNC220 - a test starting its worker
            [
                sys.executable,
                "-m",
                "tests.worker_proc",
                db_url,
                "hang",
                str(started),
                str(DEAD_LEASE_S),
            ],
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 30
            while not (started.exists() and started.read_text()):
                assert time.monotonic() < deadline, "worker never started the job"
                await asyncio.sleep(0.05)
        finally:
            proc.kill()  # SIGKILL: no cleanup, the lease just lapses
            proc.wait()
        lapsed_at = time.monotonic() + DEAD_LEASE_S  # its last heartbeat was before the kill
        assert (await _job(sessions, job_id)).status == JobStatus.RUNNING

        runs: list[int] = []

        async def handler(job: ClaimedJob) -> None:
            runs.append(job.attempts)

        worker = Worker(sessions, {"test.job": handler}, lease_s=2)
        await worker.run_until_idle()
        assert runs == []  # lease still held by the dead worker
        await asyncio.sleep(lapsed_at - time.monotonic() + 0.2)
        await worker.run_until_idle()
        await worker.run_until_idle()
        assert runs == [2]  # run again exactly once, as its second attempt
        assert (await _job(sessions, job_id)).status == JobStatus.DONE
        await engine.dispose()


@pytest.mark.usefixtures("pg_url")
class TestPostgresWorkers:
    def test_two_worker_processes_never_run_the_same_job(self, pg_url: str, tmp_path: Path) -> None:
        async def fill() -> None:
            engine, sessions = await _sessions(pg_url)
            async with session_scope(sessions) as s:
                await s.execute(
                    sa.insert(jobs.JOB_TABLE),
                    [jobs.job_row("test.job", {"n": n}, max_attempts=3) for n in range(300)],
                )
            await engine.dispose()

        asyncio.run(fill())
        outs = [tmp_path / f"w{i}.txt" for i in range(2)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.worker_proc", pg_url, "record", str(out)], cwd=ROOT
            )
            for out in outs
        ]
        for p in procs:
            assert p.wait(timeout=120) == 0
        lines = [line.split() for out in outs for line in out.read_text().splitlines()]
        per_job = Counter(job for job, _ in lines)
        per_worker = Counter(pid for _, pid in lines)
        assert len(per_job) == 300 and set(per_job.values()) == {1}
        assert len(per_worker) == 2  # both really worked

        async def statuses() -> dict[str, int]:
            engine, sessions = await _sessions(pg_url)
            async with session_scope(sessions) as s:
                rows = (
                    await s.execute(
                        sa.select(Job.status, sa.func.count()).group_by(Job.status)  # type: ignore[call-overload]
                    )
                ).all()
            await engine.dispose()
            return {str(a): int(b) for a, b in rows}

        assert asyncio.run(statuses()) == {"done": 300}


class FlakySessions:
    """A session factory whose first `failures` sessions cannot be had (database restarting)."""

    def __init__(self, real: Any, failures: int) -> None:
        self.real, self.failures = real, failures

    def __call__(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        return self.real()


async def _run_through_failures(
    sessions: Any, failures: int, *, within_s: float
) -> tuple[Worker, FlakySessions, bool]:
    """Run a worker whose first `failures` sessions fail until it has run the queued job, then
    stop it. Returns the worker, its sessions, and whether it was still running at that point."""
    done = asyncio.Event()

    async def handler(job: ClaimedJob) -> None:
        done.set()

    flaky = FlakySessions(sessions, failures)
    worker = Worker(cast(Any, flaky), {"test.job": handler}, poll_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(done.wait(), timeout=within_s)
    running = not worker.stopped
    stop.set()
    await task
    return worker, flaky, running


class TestWorkerResilience:
    async def test_database_errors_are_waited_out(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            job_id = await _new(s, "test.job")
        worker, flaky, running = await _run_through_failures(sessions, 3, within_s=10)
        assert flaky.failures == 0 and running  # three failed claims, still running
        assert worker.stopped
        assert (await _job(sessions, job_id)).status == JobStatus.DONE
        await engine.dispose()

    async def test_a_long_outage_does_not_overflow_the_backoff(
        self, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(worker_module, "CLAIM_RETRY_MAX_S", 0.0)  # no real waiting
        engine, sessions = await _sessions(sqlite_url)
        async with session_scope(sessions) as s:
            await _new(s, "test.job")
        _, flaky, running = await _run_through_failures(sessions, 1100, within_s=30)  # 2**1100
        assert flaky.failures == 0 and running
        await engine.dispose()

    async def test_fail_after_the_lease_was_taken_over_changes_nothing(self, db_url: str) -> None:
        engine, sessions = await _sessions(db_url)
        async with session_scope(sessions) as s:
            job_id = await _new(s, "test.job")
            (mine,) = await jobs.claim(s, worker="a", limit=1, lease_s=1)
            (theirs,) = await jobs.claim(
                s, worker="b", limit=1, lease_s=30, now=utcnow() + timedelta(seconds=5)
            )
            assert await jobs.fail(s, mine, "late") == jobs.LEASE_LOST
            assert await jobs.complete(s, theirs)
        job = await _job(sessions, job_id)
        assert (job.status, job.last_error) == (JobStatus.DONE, None)
        await engine.dispose()


class TestHeartbeat:
    async def test_a_long_job_keeps_its_lease(self, sqlite_url: str) -> None:
        """A job running longer than its lease is not taken over while its worker lives."""
        engine, sessions = await _sessions(sqlite_url)
        async with session_scope(sessions) as s:
            job_id = await _new(s, "slow")
        release = asyncio.Event()

        async def slow(job: ClaimedJob) -> None:
            await release.wait()

        worker = Worker(sessions, {"slow": slow}, lease_s=1.2)
        task = asyncio.create_task(worker.run_until_idle())
        await asyncio.sleep(3.0)  # well past the first lease
        async with session_scope(sessions) as s:
            stolen = await jobs.claim(s, worker="other", limit=1, lease_s=1)
        release.set()
        await task
        assert stolen == []
        job = await _job(sessions, job_id)
        assert (job.status, job.attempts) == (JobStatus.DONE, 1)
        await engine.dispose()
