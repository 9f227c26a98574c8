"""GET /api/v1/jobs and POST /api/v1/jobs/{id}/retry: the queue, dead jobs included."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from app import jobs, repository
from app.api.deps import Admin, RuntimeDep
from app.api.pagination import MAX_ID, BeforeId, Limit, Page, page_of
from app.db import session_scope
from app.errors import Conflict, NotFound
from app.logs import log_event
from app.models import Job, JobStatus

router = APIRouter()
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]


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


@router.get("/jobs")
async def list_jobs(
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    status: JobStatus | None = None,
) -> Page[JobOut]:
    """Jobs and timers, including dead ones (`status=dead`)."""
    async with session_scope(runtime.sessions) as session:
        rows, counts = await repository.recent_rows(
            session, Job, limit=limit + 1, status=status, before_id=before_id
        )
    return page_of(rows, limit, JobOut, counts=counts)


@router.post("/jobs/{job_id}/retry")
async def retry_job(job_id: JobId, admin: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    """Queue a dead job again with a fresh attempt budget (404 unknown, 409 not dead)."""
    async with session_scope(runtime.sessions) as session:
        if not await jobs.retry(session, job_id):
            current = await session.get(Job, job_id)
            if current is None:
                raise NotFound(f"job {job_id} does not exist")
            raise Conflict(f"job {job_id} is {current.status}, not dead: nothing to retry")
    log_event("admin.job_retried", job=job_id, admin=admin.name)
    if runtime.worker:
        runtime.worker.wake()
    return {"id": job_id, "status": JobStatus.QUEUED.value}
