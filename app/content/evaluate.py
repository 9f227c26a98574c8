"""What would happen to one message, without storing or acting (API.md `POST /api/v1/policies/evaluate`
and `wecom-warden policies evaluate`): the same judge, word lists, ladders and acts as the
content service, read-only.

Without a chat id: the `work-group` preset in a group the app created (enforced), the global word
lists where a database is at hand, and a first offence. With one: that group's document, word
lists and mode and the sender's active strikes and recent messages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.content.judging import PolicyJudge
from app.content.service import ContentService, Preview, load_group_by_chat
from app.errors import NotFound
from policies.base import ChatMessage, MessageSource

MAX_TEXT_CHARS = 10_000  # far above any rule's reach (C6 is 200 by default); longer → 422
UNNAMED_SENDER = "(sender)"  # the target of acts when no sender is given
UNNAMED_GROUP = "(group)"  # the target of group posts when no chat id is given


class EvaluateIn(BaseModel):
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    chat_id: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    sender: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    sent_at: datetime | None = None  # default: now; without an offset: UTC
    msg_type: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")] = "text"


class DecisionOut(BaseModel):
    policy: str
    rule_id: str
    verdict: str
    reason: str
    span: list[int] | None  # indexes `text` (Python string offsets)
    matched: str | None
    offence: int  # which offence in its category this would be (1 = first); 0: not counted
    exempt: bool  # the sender is exempt in the group: recorded, never sanctioned


class ActionOut(BaseModel):
    kind: str  # send_private_message | send_robot_message | send_group_message | remove_member
    target: str  # the userids (comma-separated) or the chat id
    summary: str  # what they would read; a removal: its reason


class EvaluationOut(BaseModel):
    decisions: list[DecisionOut]  # only those that are not `allow`, worst first
    actions: list[ActionOut]


def answer(preview: Preview) -> EvaluationOut:
    return EvaluationOut(
        decisions=[
            DecisionOut(
                policy=o.decision.policy,
                rule_id=o.decision.rule_id,
                verdict=o.decision.verdict.value,
                reason=o.decision.reason,
                span=list(o.decision.span) if o.decision.span else None,
                matched=o.decision.matched,
                offence=o.offence,
                exempt=o.decision.exempt,
            )
            for o in preview.outcomes
        ],
        actions=[ActionOut(kind=a.kind.value, target=a.target, summary=a.text) for a in preview.acts],
    )


class Evaluator:
    """One judge (its compiled vocabularies cached) for every evaluation of a process."""

    def __init__(self, timezone: tzinfo, clock: Callable[[], datetime]) -> None:
        self.service = ContentService(judge=PolicyJudge(), timezone=timezone, clock=clock)

    async def evaluate(self, session: AsyncSession | None, body: EvaluateIn) -> EvaluationOut:
        """Judge one message read-only. Unknown chat id → NotFound. Never commits: callers
        give a session they roll back."""
        group = None
        if body.chat_id is not None:
            if session is not None:
                group = await load_group_by_chat(session, body.chat_id, self.service.cache)
            if group is None:
                raise NotFound(f"no registered group with chat_id {body.chat_id!r}")
        sent_at = body.sent_at or self.service.clock()
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        message = ChatMessage(
            msg_id="evaluate",
            sender=body.sender or UNNAMED_SENDER,
            sent_at=sent_at.astimezone(UTC),
            msg_type=body.msg_type,
            text=body.text,
            source=MessageSource.ARCHIVE,
            chat_id=body.chat_id or UNNAMED_GROUP,
        )
        return answer(await self.service.preview(session, message, group))
