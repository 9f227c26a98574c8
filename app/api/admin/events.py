"""GET /api/v1/events: what arrived (metadata only; the decrypted text is never returned)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from app import repository
from app.api.deps import Admin, RuntimeDep
from app.api.pagination import BeforeId, Limit, Page, split_page
from app.db import session_scope
from app.models import EventStatus

router = APIRouter()


class EventOut(BaseModel):
    """An inbound callback's metadata. The decrypted message text is never returned."""

    id: int
    dedupe_key: str
    source: str
    type: str
    received_at: datetime
    processed_at: datetime | None
    status: EventStatus
    record_kind: str | None


@router.get("/events")
async def list_events(
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    status: EventStatus | None = None,
) -> Page[EventOut]:
    """Recent inbound events (id, dedupe key, type, received/processed times, status)."""
    async with session_scope(runtime.sessions) as session:
        rows = await repository.recent_events(session, limit=limit + 1, before_id=before_id, status=status)
        counts = await repository.counts_by_status(session, table=repository.EVENT_TABLE)
    page, next_id = split_page(rows, limit)
    items = [
        EventOut(
            id=r.id,
            dedupe_key=r.dedupe_key,
            source=r.source,
            type=f"{r.msg_type}/{r.event}" if r.event else r.msg_type,
            received_at=r.received_at,
            processed_at=r.processed_at,
            status=EventStatus(r.status),
            record_kind=r.record_kind,
        )
        for r in page
    ]
    return Page(items=items, next_before_id=next_id, counts=counts)
