"""The `process_event` job: a stored callback → its handler → a domain record on the event row.

Policies (later issues) hang here: the record goes to the group's policies, their Decisions are
stored, and actions are planned through `app.executor.plan_action`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

import handlers
from app import jobs
from app.db import session_scope
from app.inbox import parse_aibot_payload
from app.jobs import ClaimedJob, JobKind
from app.logs import log_event
from app.models import EventSource, EventStatus, InboundEvent, utcnow
from app.wecom.crypto import parse_xml, xml_fields
from handlers.base import AIBOT, record_json


def event_fields(event: InboundEvent) -> dict[str, Any]:
    """Parse the stored plaintext again (it was validated at ingest)."""
    if event.source == EventSource.AIBOT:
        fields = parse_aibot_payload(event.payload)
    else:
        fields = xml_fields(parse_xml(event.payload))
    fields["_received_at"] = event.received_at
    return fields


class EventProcessor:
    """Runs `process_event` jobs: {"event_ids": [...]} from a group commit, or {"event_id": n}.

    A batch is handled in one transaction. An event whose handler fails is split off into a job
    of its own (keyed, so once), which then retries with backoff and can go dead by itself;
    the rest of the batch is not held back by it.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, job_max_attempts: int = 8
                 ) -> None:
        self._sessions = sessions
        self._job_max_attempts = job_max_attempts

    async def __call__(self, job: ClaimedJob) -> None:
        single = "event_id" in job.payload
        ids = [int(job.payload["event_id"])] if single else [int(i) for i in job.payload["event_ids"]]
        failed: list[tuple[InboundEvent, Exception]] = []
        async with session_scope(self._sessions) as session:
            events = {e.id: e for e in (await session.execute(
                select(InboundEvent).where(col(InboundEvent.id).in_(ids)))).scalars()}
            for event_id in ids:
                event = events.get(event_id)
                if event is None:
                    raise LookupError(f"inbound event {event_id} does not exist")
                try:
                    # The handler is pure and the row changes only after it succeeded,
                    # so a failure leaves nothing half-done in this transaction.
                    self._process(event)
                except Exception as exc:  # noqa: BLE001 - recorded; retried on its own job
                    failed.append((event, exc))
            for event, error in failed:
                event.error = f"{type(error).__name__}: {error}"[:2000]
                if not single:
                    await jobs.enqueue(session, JobKind.PROCESS_EVENT, {"event_id": event.id},
                                       key=f"process-event:{event.id}",
                                       max_attempts=self._job_max_attempts)
                    log_event("event.split_off", event=event.id, error=type(error).__name__)
                elif job.attempts >= job.max_attempts:  # its job goes dead now: admins see it
                    event.status = EventStatus.FAILED
                    log_event("event.failed", event=event.id, error=type(error).__name__)
        if single and failed:
            raise failed[0][1]  # after the commit above: the job retries, or goes dead

    def _process(self, event: InboundEvent) -> None:
        if event.status == EventStatus.PROCESSED:
            return  # a re-run after a lost lease: already done
        source = AIBOT if event.source == EventSource.AIBOT else "app"
        record = handlers.dispatch(event_fields(event), source=source)
        event.record_kind = type(record).__name__
        event.record = record_json(record)
        event.status = EventStatus.PROCESSED
        event.processed_at = utcnow()
        event.error = None
        log_event("event.processed", level=10, event=event.id, record=event.record_kind)
