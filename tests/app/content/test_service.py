"""ContentService against a real database (SQLite and PostgreSQL), one message at a time: the
event-transaction rules the live tests cannot pin down (two messages of one member judged in two
transactions at once)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.actions import ActionPlanner
from app.content.judging import PolicyJudge
from app.content.service import ContentService
from app.db import make_engine, make_sessionmaker, session_scope
from app.models import Action, Group, PolicyVersion, Strike, Violation
from app.routing import DomainContext
from app.wecom.reader import WeComReader
from policies.base import ChatMessage, MessageSource
from tests.conftest import make_settings

NOW = datetime(2030, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai: no quiet hours
CHAT = "wrsales2024"
WAITING = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
AD = "加 薇 信 ab12345 领取优惠"  # a C1 ad: warning, then removal


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _register(sessions: async_sessionmaker[AsyncSession], **fields: Any) -> None:
    values: dict[str, Any] = {
        "chat_id": CHAT, "kind": "app", "mode": "enforce", "name": "销售群", "owner": "zhangsan",
        "archive_room_id": CHAT, "registered_at": NOW - timedelta(days=1), "registered_by": "test",
    }  # fmt: skip
    values.update(fields)
    async with session_scope(sessions) as s:
        s.add(Group(**values))


def _service() -> ContentService:
    return ContentService(judge=PolicyJudge(), timezone=ZoneInfo("Asia/Shanghai"), clock=lambda: NOW)


def _ctx(session: AsyncSession, db_url: str, event_id: int = 1) -> DomainContext:
    return DomainContext(
        session=session,
        settings=make_settings(db_url),
        clock=lambda: NOW,
        wecom=cast(WeComReader, None),  # content never reads WeCom
        planner=ActionPlanner(job_max_attempts=3),
        event_id=event_id,
    )


def _message(
    msg_id: str,
    text: str = AD,
    *,
    sender: str = "lisi",
    at: datetime = NOW,
    source: MessageSource = MessageSource.ARCHIVE,
    chat_id: str = CHAT,
) -> ChatMessage:
    return ChatMessage(
        msg_id=msg_id, sender=sender, sent_at=at, msg_type="text", text=text, source=source, chat_id=chat_id
    )


async def _violations(sessions: async_sessionmaker[AsyncSession]) -> list[Violation]:
    async with session_scope(sessions) as s:
        return list((await s.scalars(sa.select(Violation).order_by(Violation.id))).all())  # type: ignore[arg-type]


@pytest.fixture
async def pg_sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(pg_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


class TestOneMemberTwoTransactions:
    """PostgreSQL only: SQLite has one writer, its transactions never overlap."""

    async def test_the_second_of_two_messages_judged_at_once_climbs_the_ladder(
        self, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """Two batches (two archive pages, a split-off event and the next batch) run side by side
        on PostgreSQL's workers: the member's second ad is their second offence, whichever
        transaction commits first; never two first warnings."""
        db_url, sessions = pg_url, pg_sessions
        await _register(sessions)
        service = _service()
        first = sessions()
        await first.begin()
        try:
            await service.handle(_message("m1", at=NOW), _ctx(first, db_url, 1))

            async def second() -> None:
                async with session_scope(sessions) as s:
                    await service.handle(_message("m2", at=NOW + timedelta(seconds=5)), _ctx(s, db_url, 2))

            task = asyncio.create_task(second())
            # The second transaction has either finished (judged without the first's strike) or
            # waits for the member's lock: only then commit the first.
            engine = make_engine(db_url)
            try:
                while not task.done():
                    async with engine.connect() as conn:
                        waiting = await conn.scalar(WAITING)
                    if waiting:
                        break
                    await asyncio.sleep(0.01)
            finally:
                await engine.dispose()
            await first.commit()
        finally:
            await first.close()
        await task
        found = await _violations(sessions)
        steps = [(v.message_id, v.verdict, v.offence) for v in found if v.rule_id == "C1"]
        assert sorted(steps) == [("m1", "warn", 1), ("m2", "remove", 2)]


class TestWhichGroup:
    async def test_the_bot_names_a_group_by_its_chat_id_the_archive_by_its_room(
        self, db_url: str, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """A group whose archive room id is not its chat id (API.md: `archive_room_id`): the AI
        bot's callback carries the chat id, the archive the room id; both are judged in it."""
        await _register(sessions, archive_room_id="wrArchiveRoom01")
        service = _service()
        async with session_scope(sessions) as s:
            bot = _message("0123456789abcdef0123456789abcdef", source=MessageSource.AIBOT)
            await service.handle(bot, _ctx(s, db_url))
        async with session_scope(sessions) as s:
            later = NOW + timedelta(hours=1)
            await service.handle(_message("m2", chat_id="wrArchiveRoom01", at=later), _ctx(s, db_url, 2))
        rows = await _violations(sessions)
        found = [(v.message_id, v.chat_id, v.offence) for v in rows if v.rule_id == "C1"]
        assert found == [("0123456789abcdef0123456789abcdef", CHAT, 1), ("m2", CHAT, 2)]


class TestObserve:
    async def test_a_document_that_observes_records_the_mode_it_was_judged_in(
        self, db_url: str, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """An enforced group whose document says `mode_override: observe`: the ad is recorded
        (no strike, no act) and the violation says it was observed, as its reason does."""
        await _register(sessions, policy_version=1)
        async with session_scope(sessions) as s:
            document = {"mode_override": "observe"}
            s.add(PolicyVersion(chat_id=CHAT, version=1, document=document, author="test", created_at=NOW))
        async with session_scope(sessions) as s:
            await _service().handle(_message("m1"), _ctx(s, db_url))
        [found] = [v for v in await _violations(sessions) if v.rule_id == "C1"]
        assert "观察模式" in found.reason and found.actions == []
        assert found.mode == "observe"
        async with session_scope(sessions) as s:
            assert (await s.scalars(sa.select(Strike))).all() == []
            assert (await s.scalars(sa.select(Action))).all() == []
