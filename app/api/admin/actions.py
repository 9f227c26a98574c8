"""GET /api/v1/actions (the outbox) and POST /api/v1/actions/{id}/resolve (rule on an unknown one)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from app import repository
from app.actions import Resolution
from app.api.deps import Admin, RuntimeDep
from app.api.pagination import MAX_ID, BeforeId, Limit, Page, page_of
from app.db import session_scope
from app.logs import log_event
from app.models import Action, ActionStatus

router = APIRouter()
ActionId = Annotated[int, Path(ge=1, le=MAX_ID)]


class ActionOut(BaseModel):
    id: int
    idempotency_key: str
    kind: str
    status: ActionStatus
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
    wecom_msgids: list[str] | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None


class ResolveIn(BaseModel):
    outcome: Resolution = Field(
        description="done: it happened in WeCom; failed: it did not and "
        "should not; replan: it did not, do it now"
    )
    note: str = Field(default="", max_length=2000, description="what the admin checked")


@router.get("/actions")
async def list_actions(
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    status: ActionStatus | None = None,
) -> Page[ActionOut]:
    """The outbox: every act on WeCom, planned or done, with WeCom's answer; counts by status
    (`unknown` ones wait for an admin's ruling)."""
    async with session_scope(runtime.sessions) as session:
        rows, counts = await repository.recent_rows(
            session, Action, limit=limit + 1, status=status, before_id=before_id
        )
    return page_of(rows, limit, ActionOut, counts=counts)


@router.post("/actions/{action_id}/resolve")
async def resolve_action(
    action_id: ActionId, body: ResolveIn, admin: Admin, runtime: RuntimeDep
) -> ActionOut:
    """Rule on an action whose fate is `unknown` (a send that timed out, a worker that died
    mid-call): mark it done or failed after checking WeCom, or re-plan it to run now. 404 for
    an unknown id, 409 unless the action is `unknown`. The admin's name is recorded."""
    async with session_scope(runtime.sessions) as session:
        status = await runtime.planner.resolve_unknown(
            session, action_id, outcome=body.outcome, actor=admin.name, note=body.note
        )
        action = await session.get(Action, action_id)
        assert action is not None
        out = ActionOut.model_validate(action, from_attributes=True)
    log_event(
        "admin.action_resolved", action=action_id, outcome=body.outcome.value, status=status, admin=admin.name
    )
    if runtime.worker and body.outcome is Resolution.REPLAN:
        runtime.worker.wake()
    return out
