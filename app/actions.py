"""Planning acts on WeCom (outbox rows), and an admin's ruling on one whose fate is unknown.

Planning records what should happen, once per idempotency key, and queues its execution; only
`app.executor` performs it. Every caller plans through here with the service's settings, so
`WARDEN_JOB_MAX_ATTEMPTS` reaches action jobs too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_of, insert_ignoring_conflicts
from app.errors import Conflict, Invalid, NotFound
from app.jobs import JobKind, enqueue
from app.models import Action, ActionKind, ActionStatus, table_of, utcnow

ACTION_TABLE = table_of(Action)

# Params each kind needs (checked when planned, so a bad action never reaches the queue).
REQUIRED_PARAMS: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.REMOVE_MEMBER: ("chatid", "userids"),
    ActionKind.CREATE_GROUP: ("name", "owner", "userlist", "chatid"),
    ActionKind.SEND_GROUP_MESSAGE: ("chatid", "msgtype", "body"),
    ActionKind.SEND_ROBOT_MESSAGE: ("chatid", "payload"),
    ActionKind.SEND_PRIVATE_MESSAGE: ("touser", "msgtype", "body"),
    ActionKind.RECALL_MESSAGE: (),  # one of ONE_OF_PARAMS
    ActionKind.UPDATE_TEMPLATE_CARD: ("userids", "response_code", "card"),
}


# Kinds that need one of these: a recall names a msgid, or the action whose messages to recall
# (every msgid it delivered).
ONE_OF_PARAMS: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.RECALL_MESSAGE: ("msgid", "action_id"),
}


class ActionRejected(Invalid):
    """An action that cannot be planned as given (missing params)."""


class Resolution(StrEnum):
    DONE = "done"  # the admin saw it happen in WeCom
    FAILED = "failed"  # it did not happen and should not
    REPLAN = "replan"  # it did not happen: do it now


@dataclass(frozen=True, slots=True)
class PlannedAction:
    id: int
    new: bool  # False: the key was planned before; nothing was added


@dataclass(frozen=True, slots=True)
class ActionPlanner:
    """Plans actions with the service's job settings (one per runtime)."""

    job_max_attempts: int

    async def plan(
        self,
        session: AsyncSession,
        *,
        kind: ActionKind,
        params: dict[str, Any],
        idempotency_key: str,
        reason: str,
        requested_by: str = "system",
        due_at: datetime | None = None,
        queue: bool = True,
    ) -> PlannedAction:
        """Record an action and queue its execution, in the caller's transaction. `queue=False`:
        the caller runs it itself with `Executor.execute` (a request that needs WeCom's answer)."""
        missing = [p for p in REQUIRED_PARAMS[kind] if p not in params]
        if missing:
            raise ActionRejected(f"{kind.value} needs {', '.join(missing)}")
        one_of = ONE_OF_PARAMS.get(kind, ())
        if one_of and not any(p in params for p in one_of):
            raise ActionRejected(f"{kind.value} needs one of {', '.join(one_of)}")
        stmt = insert_ignoring_conflicts(dialect_of(session), ACTION_TABLE).returning(ACTION_TABLE.c.id)
        row = (
            await session.execute(
                stmt,
                {
                    "idempotency_key": idempotency_key,
                    "kind": kind.value,
                    "params": params,
                    "reason": reason,
                    "requested_by": requested_by,
                    "status": ActionStatus.PLANNED.value,
                    "attempts": 0,
                    "created_at": utcnow(),
                },
            )
        ).first()
        if row is None:
            existing = await session.scalar(
                sa.select(ACTION_TABLE.c.id).where(ACTION_TABLE.c.idempotency_key == idempotency_key)
            )
            return PlannedAction(int(existing or 0), False)
        action_id = int(row[0])
        if queue:
            await self._queue(session, action_id, due_at=due_at)
        return PlannedAction(action_id, True)

    async def _queue(self, session: AsyncSession, action_id: int, *, due_at: datetime | None = None) -> None:
        await enqueue(
            session,
            JobKind.EXECUTE_ACTION,
            {"action_id": action_id},
            max_attempts=self.job_max_attempts,
            due_at=due_at,
        )

    async def resolve_unknown(
        self, session: AsyncSession, action_id: int, *, outcome: Resolution, actor: str, note: str
    ) -> str:
        """An admin's ruling on an `unknown` action: it was done, it failed, or plan it again
        (queued now). Only an unknown action can be ruled on. Returns the new status."""
        c = ACTION_TABLE.c
        status = {
            Resolution.DONE: ActionStatus.DONE,
            Resolution.FAILED: ActionStatus.FAILED,
            Resolution.REPLAN: ActionStatus.PLANNED,
        }[outcome]
        now = utcnow()
        values: dict[str, Any] = {
            "status": status,
            "resolved_by": actor,
            "resolved_at": now,
            "resolution_note": note[:2000],
        }
        values["finished_at"] = None if outcome is Resolution.REPLAN else now
        result = await session.execute(
            sa.update(ACTION_TABLE)
            .where(c.id == action_id, c.status == ActionStatus.UNKNOWN)
            .values(**values)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            current = await session.scalar(sa.select(c.status).where(c.id == action_id))
            if current is None:
                raise NotFound(f"action {action_id} does not exist")
            raise Conflict(f"action {action_id} is {current}, not unknown: nothing to resolve")
        if outcome is Resolution.REPLAN:
            await self._queue(session, action_id)
        return status.value
