"""Admin REST API, v1: what arrived, what is queued, what was done. Bearer token required."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from app import jobs, repository
from app.api.auth import Admin
from app.db import session_scope
from app.logs import log_event
from app.models import Action, EventStatus, Job, JobStatus
from app.runtime import Runtime, get_runtime

router = APIRouter(prefix="/api/v1", tags=["admin"])
T = TypeVar("T")
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Limit = Annotated[int, Query(ge=1, le=500, description="at most this many rows, newest first")]
BeforeId = Annotated[int | None, Query(ge=1, description="rows with a smaller id (next page)")]


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


class JobOut(BaseModel):
    id: int
    kind: str
    status: JobStatus
    attempts: int
    max_attempts: int
    due_at: datetime
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None
    payload: dict[str, Any] | None


class ActionOut(BaseModel):
    id: int
    idempotency_key: str
    kind: str
    status: str
    reason: str
    requested_by: str
    params: dict[str, Any] | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    wecom_endpoint: str | None
    wecom_errcode: int | None
    wecom_errmsg: str | None
    wecom_msgid: str | None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_before_id: int | None  # pass as before_id for the next page; null at the end
    counts: dict[str, int] | None = None


def _next(items: list[Any], limit: int) -> int | None:
    return items[-1].id if len(items) == limit else None


@router.get("/events")
async def list_events(
    _: Admin, runtime: RuntimeDep, limit: Limit = 50, before_id: BeforeId = None,
    status: EventStatus | None = None,
) -> Page[EventOut]:
    """Recent inbound events (id, dedupe key, type, received/processed times, status)."""
    async with session_scope(runtime.sessions) as session:
        rows = await repository.recent_events(session, limit=limit, before_id=before_id,
                                              status=status)
        counts = await repository.counts_by_status(session, table=repository.EVENT_TABLE)
    items = [
        EventOut(id=r.id, dedupe_key=r.dedupe_key, source=r.source,
                 type=f"{r.msg_type}/{r.event}" if r.event else r.msg_type,
                 received_at=r.received_at, processed_at=r.processed_at,
                 status=EventStatus(r.status), record_kind=r.record_kind)
        for r in rows
    ]
    return Page(items=items, next_before_id=_next(items, limit), counts=counts)


@router.get("/jobs")
async def list_jobs(
    _: Admin, runtime: RuntimeDep, limit: Limit = 50, before_id: BeforeId = None,
    status: JobStatus | None = None,
) -> Page[JobOut]:
    """Jobs and timers, including dead ones (`status=dead`)."""
    async with session_scope(runtime.sessions) as session:
        rows = await repository.recent_rows(session, Job, limit=limit, status=status,
                                            before_id=before_id)
        counts = await repository.counts_by_status(session, table=repository.JOB_TABLE)
    items = [JobOut.model_validate(j, from_attributes=True) for j in rows]
    return Page(items=items, next_before_id=_next(items, limit), counts=counts)


@router.post("/jobs/{job_id}/retry")
async def retry_job(job_id: int, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    """Queue a dead job again with a fresh attempt budget."""
    async with session_scope(runtime.sessions) as session:
        ok = await jobs.retry(session, job_id)
    if not ok:
        raise HTTPException(status_code=409, detail=f"job {job_id} is not dead (or does not exist)")
    log_event("admin.job_retried", job=job_id, admin=admin.name)
    if runtime.worker:
        runtime.worker.wake()
    return {"id": job_id, "status": JobStatus.QUEUED.value}


@router.get("/actions")
async def list_actions(
    _: Admin, runtime: RuntimeDep, limit: Limit = 50, before_id: BeforeId = None,
    status: str | None = None,
) -> Page[ActionOut]:
    """The outbox: every act on WeCom, planned or done, with WeCom's answer."""
    async with session_scope(runtime.sessions) as session:
        rows = await repository.recent_rows(session, Action, limit=limit, status=status,
                                            before_id=before_id)
    items = [ActionOut.model_validate(a, from_attributes=True) for a in rows]
    return Page(items=items, next_before_id=_next(items, limit))
