"""The `process_event` job: a stored callback → its handler → the domain services (router).

A group commit queues one job for its events (`{"event_ids": [...]}`); an event that fails is
split off into a job of its own (`{"event_id": n}`), which retries with backoff and can go dead
by itself. A batch first runs without savepoints (the common case: nothing fails, two statements
per event saved); if an event fails, that attempt is rolled back whole and the batch runs again
with each event in its own savepoint: whatever a failing event's domain services wrote (decisions,
strikes, planned actions) is undone, while its batch-mates commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handlers
from app import jobs
from app.db import session_scope
from app.inbox import parse_aibot_payload
from app.jobs import ClaimedJob, JobKind
from app.logs import log_event
from app.models import EventSource, EventStatus, InboundEvent, table_of, utcnow
from app.routing import DomainContext, DomainRouter
from app.wecom.crypto import parse_xml, xml_fields
from handlers.base import AIBOT, ARCHIVE, Record

EVENT_TABLE = table_of(InboundEvent)
ContextFactory = Callable[[AsyncSession, int], DomainContext]
_HANDLER_SOURCE = {EventSource.AIBOT: AIBOT, EventSource.ARCHIVE: ARCHIVE}  # else app XML
# One executemany for a batch's processed events.
_MARK_PROCESSED = (
    sa.update(EVENT_TABLE)
    .where(EVENT_TABLE.c.id == sa.bindparam("event_id"))
    .values(
        record_kind=sa.bindparam("kind"),
        processed_at=sa.bindparam("at"),
        status=EventStatus.PROCESSED,
        error=None,
    )
)


class _RouteFailed(Exception):
    """An event failed in a batch run without savepoints: roll back, run it with them."""


def event_fields(source: str, payload: str, received_at: Any) -> dict[str, Any]:
    """Parse the stored plaintext again (it was validated at ingest)."""
    if source in (EventSource.AIBOT, EventSource.ARCHIVE):  # JSON (the archive's as pulled)
        fields = parse_aibot_payload(payload)
    else:
        fields = xml_fields(parse_xml(payload))
    fields["_received_at"] = received_at
    return fields


class EventProcessor:
    """Runs `process_event` jobs: a batch from a group commit, or one split-off event."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        router: DomainRouter,
        context: ContextFactory,
        job_max_attempts: int,
    ) -> None:
        self._sessions = sessions
        self._router = router
        self._context = context
        self._job_max_attempts = job_max_attempts

    async def __call__(self, job: ClaimedJob) -> None:
        if "event_id" in job.payload:
            await self.run_single(job, int(job.payload["event_id"]))
        else:
            await self.run_batch([int(i) for i in job.payload["event_ids"]])

    async def run_batch(self, ids: list[int]) -> None:
        """Every event of a group commit in one transaction (each in its own savepoint once one
        has failed); the ones that fail get a job of their own (keyed, so once) and hold nobody
        back."""
        records = await self._normalise(ids)
        if not any(isinstance(r, Exception) for r in records.values()):
            # The common case first: nothing fails, so no event needs a savepoint of its own (two
            # statements per event saved). A failure rolls the whole attempt back, and the batch
            # runs again below with one savepoint per event.
            try:
                async with session_scope(self._sessions) as session:
                    service = await self._prepare(session, records)
                    await self._route_all(session, records, isolate=False)
                    await self._finish(session, service)
                return
            except _RouteFailed:
                log_event("event.batch_isolated", level=10, events=len(records))
        async with session_scope(self._sessions) as session:
            failed = await self._route_all(session, records)
            for event_id, error in failed.items():
                await self._record_error(session, event_id, error)
                await jobs.enqueue(
                    session,
                    JobKind.PROCESS_EVENT,
                    {"event_id": event_id},
                    key=f"process-event:{event_id}",
                    max_attempts=self._job_max_attempts,
                )
                log_event("event.split_off", event=event_id, error=type(error).__name__)

    async def run_single(self, job: ClaimedJob, event_id: int) -> None:
        """One event that failed in its batch; its error is kept, and it is marked failed when
        this was its job's last attempt (admins see it, and can retry the job)."""
        records = await self._normalise([event_id])
        async with session_scope(self._sessions) as session:
            error = (await self._route_all(session, records)).get(event_id)
            if error is not None:
                dead = job.attempts >= job.max_attempts
                await self._record_error(session, event_id, error, failed=dead)
                if dead:
                    log_event("event.failed", event=event_id, error=type(error).__name__)
        if error is not None:
            raise error  # after the commit above: the job retries, or goes dead

    async def _normalise(self, ids: list[int]) -> dict[int, Record | Exception]:
        """Each unprocessed event's record (or its handler's error). The handlers are pure, so
        this runs outside the writing transaction: on SQLite that transaction holds the write
        lock, and callbacks waiting to be stored should not wait for XML parsing."""
        c = EVENT_TABLE.c
        async with session_scope(self._sessions) as session:
            rows = (
                await session.execute(
                    sa.select(c.id, c.source, c.payload, c.status, c.received_at).where(c.id.in_(ids))
                )
            ).all()
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise LookupError(f"inbound events {missing} do not exist")
        records: dict[int, Record | Exception] = {}
        for row in rows:
            if row.status == EventStatus.PROCESSED:
                continue  # a re-run after a lost lease: already done
            try:
                source = _HANDLER_SOURCE.get(row.source, "app")
                records[row.id] = handlers.dispatch(
                    event_fields(row.source, row.payload, row.received_at), source=source
                )
            except Exception as exc:  # noqa: BLE001 - kept on the event; retried on its own job
                records[row.id] = exc
        return records

    async def _prepare(self, session: AsyncSession, records: dict[int, Record | Exception]) -> object:
        """When every record of the batch goes to one service alone (an archive page: messages
        for the content domain), let it read what the whole batch needs at once
        (`prepare_batch(session, records)`) and write what it deferred at the end
        (`finish_batch(session)`); it keeps that state for this transaction only. Returns the
        service (None: no batch hooks)."""
        service: object = None
        batch: list[Record] = []
        for record in records.values():
            if isinstance(record, Exception):
                return None
            services = self._router.services_for(record)
            if not services:
                continue
            if len(services) != 1 or (service is not None and services[0] is not service):
                return None
            service = services[0]
            batch.append(record)
        prepare = getattr(service, "prepare_batch", None)
        if prepare is None or not batch:
            return None
        try:
            await prepare(session, batch)
        except Exception as exc:
            raise _RouteFailed from exc
        return service

    @staticmethod
    async def _finish(session: AsyncSession, service: object) -> None:
        finish = getattr(service, "finish_batch", None)
        if finish is not None:
            try:
                await finish(session)
            except Exception as exc:
                raise _RouteFailed from exc

    async def _route_all(
        self, session: AsyncSession, records: dict[int, Record | Exception], *, isolate: bool = True
    ) -> dict[int, Exception]:
        """Route each record in its own savepoint; mark the ones that went through processed
        (one statement for all). Returns the events that failed, with their errors. Without
        `isolate`, no savepoints: any failure raises _RouteFailed (the caller rolls back)."""
        failed: dict[int, Exception] = {}
        done: list[dict[str, Any]] = []
        now = utcnow()
        for event_id, record in sorted(records.items()):
            if isinstance(record, Exception):
                failed[event_id] = record
                continue
            if not isolate:
                if self._router.services_for(record):
                    try:
                        await self._router.route(record, self._context(session, event_id))
                    except Exception as exc:
                        raise _RouteFailed from exc
            elif self._router.services_for(record):
                try:
                    async with session.begin_nested():
                        await self._router.route(record, self._context(session, event_id))
                except Exception as exc:  # noqa: BLE001 - its writes are undone; retried alone
                    failed[event_id] = exc
                    continue
            done.append({"event_id": event_id, "kind": type(record).__name__, "at": now})
            log_event("event.processed", level=10, event=event_id, record=type(record).__name__)
        if done:
            await session.execute(_MARK_PROCESSED, done)
        return failed

    @staticmethod
    async def _record_error(
        session: AsyncSession, event_id: int, error: Exception, *, failed: bool = False
    ) -> None:
        values: dict[str, Any] = {"error": f"{type(error).__name__}: {error}"[:2000]}
        if failed:
            values["status"] = EventStatus.FAILED
        await session.execute(sa.update(EVENT_TABLE).where(EVENT_TABLE.c.id == event_id).values(**values))
