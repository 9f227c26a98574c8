"""ActionPlanner details the API tests do not reach: a planned time, and what a ruling writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from app.actions import ActionPlanner, Resolution
from app.db import make_engine, make_sessionmaker, session_scope
from app.models import Action, ActionKind, ActionStatus, Job

PARAMS = {"touser": ["lisi"], "msgtype": "text", "body": {"content": "C1"}}


class TestPlanner:
    async def test_an_action_planned_for_later_is_not_executed_before(self, sqlite_url: str) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=8)
        async with session_scope(sessions) as s:
            planned = await ActionPlanner(job_max_attempts=4).plan(
                s,
                kind=ActionKind.SEND_PRIVATE_MESSAGE,
                params=PARAMS,
                idempotency_key="k1",
                reason="C1: test",
                due_at=later,
            )
        async with session_scope(sessions) as s:
            job = (await s.execute(sa.select(Job))).scalar_one()
        assert planned.new and job.payload == {"action_id": planned.id}
        assert (job.due_at, job.max_attempts) == (later, 4)
        await engine.dispose()

    async def test_a_replanned_action_is_not_finished_and_a_ruled_one_is(self, sqlite_url: str) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        planner = ActionPlanner(job_max_attempts=4)
        async with session_scope(sessions) as s:
            ids = [
                (
                    await planner.plan(
                        s,
                        kind=ActionKind.SEND_PRIVATE_MESSAGE,
                        params=PARAMS,
                        idempotency_key=f"k{n}",
                        reason="C1: test",
                    )
                ).id
                for n in (1, 2)
            ]
            await s.execute(
                sa.update(Action).values(status=ActionStatus.UNKNOWN, finished_at=datetime.now(UTC))
            )
        async with session_scope(sessions) as s:
            await planner.resolve_unknown(s, ids[0], outcome=Resolution.REPLAN, actor="admin", note="")
            await planner.resolve_unknown(
                s, ids[1], outcome=Resolution.DONE, actor="admin", note="seen in the chat"
            )
        async with session_scope(sessions) as s:
            rows = dict((await s.execute(sa.select(col(Action.id), col(Action.finished_at)))).all())
        assert rows[ids[0]] is None and rows[ids[1]] is not None
        await engine.dispose()
