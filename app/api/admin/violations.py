"""GET /api/v1/violations (JSON or CSV) and one with its text, POST …/resolve; GET /api/v1/strikes,
DELETE /api/v1/strikes/{id}."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from app.api.deps import Admin, RuntimeDep
from app.api.pagination import MAX_ID, BeforeId, Limit, Page, page_of, split_page
from app.content import repository
from app.db import session_scope
from app.errors import NotFound
from app.logs import log_event
from app.models import Strike, StrikeStatus, Violation, ViolationStatus, utcnow

router = APIRouter()
RuleId = Annotated[str | None, Query(pattern=r"^[MCAD]\d{1,2}$", description="a REGULATIONS.md id: C1, M5…")]


class ViolationOut(BaseModel):
    id: int
    chat_id: str
    member: str
    rule_id: str
    policy: str
    verdict: str
    reason: str
    matched: str | None
    span: list[int] | None = None
    message_id: str
    at: datetime
    decided_at: datetime
    mode: str
    offence: int
    actions: list[int]
    exempt: bool
    evidence: list[Any]
    status: ViolationStatus
    withdrawn_at: datetime | None  # the member withdrew the message
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, row: Any) -> Any:
        if isinstance(row, dict):
            return row
        start, end = row.span_start, row.span_end
        return {
            **{
                name: getattr(row, name) for name in cls.model_fields if hasattr(row, name) and name != "span"
            },
            "span": None if start is None or end is None else [start, end],
            "actions": row.actions or [],
            "evidence": row.evidence or [],
        }


CSV_FIELDS = (
    *("id", "at", "chat_id", "member", "rule_id", "policy", "verdict", "reason"),
    *("matched", "message_id", "mode", "offence", "exempt", "actions"),
)


@router.get("/violations", response_model=Page[ViolationOut])
async def list_violations(
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    chat_id: str | None = None,
    member: str | None = None,
    rule_id: RuleId = None,
    verdict: str | None = None,
    status: ViolationStatus | None = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO 8601 with its offset")] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Every decision that was not an allow, newest first: the rule, the verdict the ladder
    reached, the reason, the matched words, and the actions it planned. `?format=csv` answers
    the same page as CSV (Excel opens it: UTF-8 with a byte-order mark)."""
    async with session_scope(runtime.sessions) as session:
        rows = await repository.violations(
            session,
            limit=limit + 1,
            before_id=before_id,
            chat_id=chat_id,
            member=member,
            rule_id=rule_id,
            verdict=verdict,
            status=status,
            since=since,
        )
    page = page_of(rows, limit, ViolationOut)
    if format == "json":
        return page
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for item in page.items:
        data = item.model_dump(mode="json")
        writer.writerow([" ".join(map(str, data[f])) if f == "actions" else data[f] for f in CSV_FIELDS])
    headers = {"Content-Disposition": 'attachment; filename="violations.csv"'}
    if page.next_before_id is not None:
        headers["X-Next-Before-Id"] = str(page.next_before_id)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


class ViolationDetail(ViolationOut):
    text: str | None  # the message as it was judged: the evidence an admin reviews


@router.get("/violations/{violation_id}")
async def get_violation(
    violation_id: Annotated[int, Path(ge=1, le=MAX_ID)], _: Admin, runtime: RuntimeDep
) -> ViolationDetail:
    """One violation with the message's text (lists leave the text out)."""
    async with session_scope(runtime.sessions) as session:
        row = await session.get(Violation, violation_id)
        if row is None:
            raise NotFound(f"violation {violation_id} does not exist")
        return ViolationDetail.model_validate(row)


class ResolveIn(BaseModel):
    outcome: Literal[ViolationStatus.HANDLED, ViolationStatus.DISMISSED] = Field(
        description="handled: an open one (advice, review) was dealt with; dismissed: it broke no "
        "rule (its strike stops counting)"
    )
    note: str = Field(default="", max_length=2000)


@router.post("/violations/{violation_id}/resolve")
async def resolve_violation(
    violation_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: ResolveIn, admin: Admin, runtime: RuntimeDep
) -> ViolationOut:
    """An admin's ruling on a violation; the follow-up to an advised owner stops once it is
    ruled on. 404 unknown, 409 when already ruled on (or `handled` on one the service acted on)."""
    async with session_scope(runtime.sessions) as session:
        row = await repository.resolve_violation(
            session, violation_id, outcome=body.outcome, actor=admin.name, note=body.note
        )
        out = ViolationOut.model_validate(row)
    log_event(
        "admin.violation_resolved", violation=violation_id, outcome=body.outcome.value, admin=admin.name
    )
    return out


class StrikeOut(BaseModel):
    id: int
    member: str
    category: str
    rule_id: str
    chat_id: str
    at: datetime
    expires_at: datetime
    violation_id: int
    active: bool
    status: StrikeStatus
    revoked_by: str | None
    revoke_reason: str | None


def _strike_out(strike: Strike) -> StrikeOut:
    status = repository.strike_status(strike, utcnow())
    return StrikeOut.model_validate(
        {**strike.model_dump(), "active": status is StrikeStatus.ACTIVE, "status": status}
    )


@router.get("/strikes")
async def list_strikes(
    _: Admin,
    runtime: RuntimeDep,
    limit: Limit = 50,
    before_id: BeforeId = None,
    member: str | None = None,
    category: str | None = None,
) -> Page[StrikeOut]:
    """Strikes per member and category, across all groups; `active` while neither expired nor
    revoked."""
    async with session_scope(runtime.sessions) as session:
        rows = await repository.strikes(
            session, limit=limit + 1, before_id=before_id, member=member, category=category
        )
    page, next_id = split_page(rows, limit)
    return Page(items=[_strike_out(r) for r in page], next_before_id=next_id)


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why it no longer counts")


@router.delete("/strikes/{strike_id}")
async def revoke_strike(
    strike_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    admin: Admin,
    runtime: RuntimeDep,
    body: RevokeIn,
) -> StrikeOut:
    """Revoke a strike: it stays on record (who, when, why) but no longer counts."""
    async with session_scope(runtime.sessions) as session:
        strike = await repository.revoke_strike(session, strike_id, actor=admin.name, reason=body.reason)
        out = _strike_out(strike)
    log_event("admin.strike_revoked", strike=strike_id, admin=admin.name)
    return out
