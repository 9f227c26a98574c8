"""Advice to an advised group's owner is followed up daily until an admin rules on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.actions import ActionPlanner
from app.content import repository
from app.content.followup import FOLLOW_UP_DAYS, AdviceFollowUp
from app.db import make_engine, make_sessionmaker, session_scope
from app.models import Action, Group, JudgedMessage, Violation, ViolationStatus

NOW = datetime(2030, 3, 1, 2, 0, tzinfo=UTC)
CHAT = "wrOgQhCustomer"


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _advice(sessions: async_sessionmaker[AsyncSession], *, decided: datetime, member: str) -> int:
    async with session_scope(sessions) as s:
        if await s.get(Group, 1) is None:
            s.add(
                Group(
                    chat_id=CHAT, kind="customer", mode="advise", name="客户群", owner="zhangsan",
                    admins=["lisi", "wmExternalAdmin"], archive_room_id=CHAT, registered_at=NOW,
                    registered_by="test",
                )
            )  # fmt: skip
        judged = JudgedMessage(
            source="archive", msg_id=f"m-{member}", chat_id=CHAT, sender=member, sent_at=decided,
            msg_type="text", text_hash="0" * 32, verdict="advise", checks=[], judged_at=decided,
        )  # fmt: skip
        s.add(judged)
        await s.flush()
        violation = Violation(
            judged_message_id=judged.id or 0, message_id=judged.msg_id, chat_id=CHAT, member=member,
            rule_id="C1", policy="ad-keywords", verdict="advise", reason="C1 第2次违规", matched="加V",
            mode="advise", at=decided, decided_at=decided, status=ViolationStatus.OPEN.value,
        )  # fmt: skip
        s.add(violation)
        await s.flush()
        return violation.id or 0


async def _actions(sessions: async_sessionmaker[AsyncSession]) -> list[Action]:
    async with session_scope(sessions) as s:
        return list((await s.scalars(sa.select(Action).order_by(Action.id))).all())  # type: ignore[arg-type]


class TestAdviceFollowUp:
    async def test_open_advice_is_followed_up_once_a_day_until_ruled_on(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        clock = {"now": NOW}
        job = AdviceFollowUp(sessions, ActionPlanner(job_max_attempts=3), lambda: clock["now"])
        open_id = await _advice(sessions, decided=NOW - timedelta(days=1), member="wmCustomer1")
        fresh_id = await _advice(sessions, decided=NOW - timedelta(hours=2), member="wmCustomer2")  # not yet
        await _advice(sessions, decided=NOW - timedelta(days=FOLLOW_UP_DAYS + 1), member="wmOld")  # given up

        await job.run(date(2030, 3, 1))
        await job.run(date(2030, 3, 1))  # a second worker, the same day: nothing more
        [action] = await _actions(sessions)
        assert action.idempotency_key == f"content:{open_id}:followup:2030-03-01"
        params = action.params or {}
        assert params["touser"] == ["zhangsan", "lisi"]  # the owner and the internal admin only
        assert "wmCustomer1" in params["body"]["content"] and "待处理" in params["body"]["content"]

        async with session_scope(sessions) as s:
            await repository.resolve_violation(
                s, open_id, outcome=ViolationStatus.HANDLED, actor="admin", note="removed by hand"
            )
        clock["now"] = NOW + timedelta(days=1)
        await job.run(date(2030, 3, 2))
        # The handled one is not followed up again; yesterday's fresh one now is.
        assert [a.idempotency_key for a in (await _actions(sessions))[1:]] == [
            f"content:{fresh_id}:followup:2030-03-02"
        ]

    async def test_a_group_switched_to_observe_gets_no_more_follow_ups(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """Observe: decide and record, act on nothing. Advice given while the group was advised
        stays open for an admin, but its owner is no longer messaged about it."""
        job = AdviceFollowUp(sessions, ActionPlanner(job_max_attempts=3), lambda: NOW)
        await _advice(sessions, decided=NOW - timedelta(days=1), member="wmCustomer1")
        async with session_scope(sessions) as s:
            await s.execute(sa.update(Group).where(Group.chat_id == CHAT).values(mode="observe"))  # type: ignore[arg-type]
        await job.run(date(2030, 3, 1))
        assert await _actions(sessions) == []
