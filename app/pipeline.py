"""The `process_event` job: a stored callback → its handler → a domain record on the event row.

Policies (later issues) hang here: the record goes to the group's policies, their Decisions are
stored, and actions are planned through `app.executor.plan_action`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handlers
from app.db import session_scope
from app.inbox import parse_aibot_payload
from app.jobs import ClaimedJob
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
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, job: ClaimedJob) -> None:
        event_id = int(job.payload["event_id"])
        async with session_scope(self._sessions) as session:
            event = await session.get(InboundEvent, event_id)
            if event is None:
                raise LookupError(f"inbound event {event_id} does not exist")
            if event.status == EventStatus.PROCESSED:
                return  # a re-run after a lost lease: already done
            source = AIBOT if event.source == EventSource.AIBOT else "app"
            record = handlers.dispatch(event_fields(event), source=source)
            event.record_kind = type(record).__name__
            event.record = record_json(record)
            event.status = EventStatus.PROCESSED
            event.processed_at = utcnow()
        log_event("event.processed", event=event_id, record=type(record).__name__)
