"""The worker: claims due jobs and runs them, a few at a time, renewing their leases.

Delivery is at least once (see app.jobs): a worker that dies mid-job stops renewing its lease and
the job is claimed again once the lease has lapsed; handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.jobs import (
    LEASE_LOST,
    ClaimedJob,
    JobHandler,
    claim,
    complete,
    extend_lease,
    fail,
)
from app.logs import log_event

CLAIM_RETRY_MAX_S = 30.0  # the wait between failed claims (database down) grows to this


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
                    log_event(
                        "worker.claim_failed",
                        level=logging.WARNING,
                        worker=self.name,
                        error=type(exc).__name__,
                        failures=failures,
                    )
                if claimed:
                    continue
                wait_s = (
                    min(self._poll_s * 2 ** min(failures, 16), CLAIM_RETRY_MAX_S)
                    if failures
                    else self._poll_s
                )
                self._wakeup.clear()
                waiters = [asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stop.wait())]
                running = [] if failures else list(self._running)
                await asyncio.wait([*waiters, *running], timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
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
            log_event(
                "worker.start_hook_failed", level=logging.WARNING, worker=self.name, error=type(exc).__name__
            )

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
                log_event("job.heartbeat_failed", level=logging.WARNING, job=job.id, error=type(exc).__name__)

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

    async def _record(
        self,
        job: ClaimedJob,
        write: Callable[[AsyncSession], Awaitable[Any]],
        outcome: str,
        error: str | None,
    ) -> None:
        """Write a job's outcome. If the database refuses, the job stays claimed and runs again
        when its lease lapses (handlers are idempotent), so nothing is lost."""
        try:
            async with session_scope(self._sessions) as session:
                result = await write(session)
        except Exception as exc:  # noqa: BLE001 - see above
            log_event(
                "job.record_failed",
                level=logging.WARNING,
                job=job.id,
                kind=job.kind,
                outcome=outcome,
                error=type(exc).__name__,
            )
            return
        if result is False or result == LEASE_LOST:
            log_event("job.lease_lost", job=job.id, kind=job.kind, outcome=outcome)
        elif outcome == "failed":
            log_event(
                "job.failed", job=job.id, kind=job.kind, attempt=job.attempts, status=result, error=error
            )
