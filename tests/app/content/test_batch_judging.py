"""Archive batches through the real pipeline and content service, on SQLite (where a batch reads
its groups, word lists and recent messages once: ContentService.prepare_batch) and PostgreSQL
(one read per message): counters include the batch's own messages, strikes written earlier in the
batch count, and a policy PUT, a word added or a strike revoked take effect for the next batch."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.actions import ActionPlanner
from app.archive.pull import inbox_record
from app.content import repository
from app.content.judging import PolicyJudge, text_hash
from app.content.service import ContentService
from app.db import make_engine, make_sessionmaker, session_scope
from app.groups.service import GroupsService
from app.inbox import store_events
from app.models import Group, WordEntryKind, utcnow
from app.pipeline import EventProcessor
from app.routing import DomainContext, DomainRouter
from app.wecom.archive import ArchiveItem
from app.worker import Worker
from policies.base import ChatMessage
from tests.conftest import make_settings

CHAT = "wrbatch01"
TZ = ZoneInfo("Asia/Shanghai")
AD = "加 薇 信 ab12345 领取优惠"
WORK = "明天上午9点开周会，请准时参加"


class _NoWeCom:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected WeCom read {name}")


class Harness:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.seq = 0
        settings = make_settings(url)
        planner = ActionPlanner(job_max_attempts=3)

        def context(session: Any, event_id: int) -> DomainContext:
            return DomainContext(
                session=session,
                settings=settings,
                clock=utcnow,
                wecom=_NoWeCom(),
                planner=planner,
                event_id=event_id,
            )

        service = ContentService(judge=PolicyJudge(), timezone=TZ, clock=utcnow)
        router = DomainRouter([(ChatMessage, service)])
        self.worker = Worker(
            self.sessions,
            {
                "process_event": EventProcessor(
                    self.sessions, router=router, context=context, job_max_attempts=3
                )
            },
        )
        self.groups = GroupsService(self.sessions, _NoWeCom(), clock=utcnow)
        self.start = datetime.now(TZ).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)

    async def register(self) -> None:
        async with session_scope(self.sessions) as s:
            s.add(
                Group(
                    chat_id=CHAT,
                    kind="app",
                    mode="enforce",
                    name="批处理测试群",
                    owner="boss",
                    archive_room_id=CHAT,
                    registered_at=utcnow(),
                    registered_by="test",
                )
            )

    async def batch(self, *messages: tuple[str, str, int]) -> list[str]:
        """(sender, text, seconds after the start) as one archive page (one job); its msgids."""
        items = []
        for sender, text, offset in messages:
            self.seq += 1
            at = int((self.start + timedelta(seconds=offset)).timestamp() * 1000)
            message = {
                "msgid": f"m{self.seq}",
                "action": "send",
                "from": sender,
                "tolist": ["boss"],
                "roomid": CHAT,
                "msgtime": at,
                "msgtype": "text",
                "text": {"content": text},
            }
            items.append(inbox_record(ArchiveItem(self.seq, f"m{self.seq}", message)))
        async with session_scope(self.sessions) as s:
            conn = await s.connection()
            await conn.run_sync(store_events, items, job_max_attempts=3)
        await self.worker.run_until_idle()
        return [f"m{self.seq - len(messages) + i + 1}" for i in range(len(messages))]

    async def rules(self, msgid: str) -> list[tuple[str, str]]:
        async with session_scope(self.sessions) as s:
            rows = await s.execute(
                sa.select(repository.VIOLATION.c.rule_id, repository.VIOLATION.c.verdict)
                .where(repository.VIOLATION.c.message_id == msgid)
                .order_by(repository.VIOLATION.c.rule_id)
            )
            return [(str(r), str(v)) for r, v in rows]

    async def judged(self) -> int:
        async with session_scope(self.sessions) as s:
            return int(await s.scalar(sa.select(sa.func.count()).select_from(repository.JUDGED)) or 0)


async def _harness(url: str) -> Harness:
    h = Harness(url)
    await h.register()
    return h


class TestOneBatch:
    async def test_a_flood_inside_one_batch_counts_the_batchs_own_messages(self, db_url: str) -> None:
        h = await _harness(db_url)
        ids = await h.batch(*[("lisi", f"第{i}条：{WORK}", i * 2) for i in range(8)])
        flagged = [(i, await h.rules(m)) for i, m in enumerate(ids)]
        assert [(i, [r for r, _ in rules]) for i, rules in flagged if rules] == [
            (6, ["C8"])
        ]  # more than 6 in 30 s: the 7th (once)
        assert await h.judged() == 8
        await h.engine.dispose()

    async def test_a_second_ad_in_the_same_batch_climbs_the_ladder(self, db_url: str) -> None:
        h = await _harness(db_url)
        first, second = await h.batch(("lisi", AD, 0), ("lisi", AD + "！", 120))
        assert ("C1", "warn") in await h.rules(first)
        assert ("C1", "remove") in await h.rules(second)
        await h.engine.dispose()

    async def test_a_bot_copy_is_skipped_only_within_three_minutes(self, db_url: str) -> None:
        h = await _harness(db_url)
        async with session_scope(h.sessions) as s:  # the AI bot's copy of lisi's words, judged
            await repository.claim_message(
                s,
                {
                    "source": "aibot",
                    "msg_id": "bot1",
                    "chat_id": CHAT,
                    "sender": "lisi",
                    "sent_at": h.start,
                    "msg_type": "text",
                    "text_hash": text_hash(WORK),
                    "chars": len(WORK),
                    "verdict": "allow",
                    "checks": [],
                    "sanctionable": True,
                    "judged_at": utcnow(),
                },
            )
        await h.batch(("lisi", WORK, 300), ("lisi", WORK, 120))  # 5 minutes after; 2 minutes after
        async with session_scope(h.sessions) as s:
            judged = (await s.execute(sa.select(repository.JUDGED.c.msg_id))).scalars().all()
        assert sorted(judged) == ["bot1", "m1"]  # m2 is the bot's copy, m1 a new message
        await h.engine.dispose()


class TestChangesTakeEffectForTheNextBatch:
    """The next batch's message is sent within the time the previous batch read (an archive page
    can hold older messages than the last one): nothing of the previous batch may be reused."""

    async def test_a_policy_put_changes_the_counting_windows(self, db_url: str) -> None:
        h = await _harness(db_url)
        [quiet] = await h.batch(("lisi", WORK, 0))
        assert await h.rules(quiet) == []
        await h.groups.put_policy(CHAT, {"C8": {"max_messages": 2, "window_s": 3600}}, "admin")
        ids = await h.batch(*[("lisi", f"{WORK}（{i}）", 60 * (i + 1)) for i in range(2)])
        assert await h.rules(ids[0]) == []
        assert [r for r, _ in await h.rules(ids[1])] == ["C8"]  # 3 in an hour, the first included
        await h.engine.dispose()

    async def test_a_policy_put_changes_what_is_judged(self, db_url: str) -> None:
        h = await _harness(db_url)
        long_post = "本周工作安排如下，请大家按计划推进。" * 14  # 252 characters: C6 at 200
        _, before = await h.batch(("wangwu", WORK, 0), ("lisi", long_post, 200))
        assert [r for r, _ in await h.rules(before)] == ["C6"]
        await h.groups.put_policy(CHAT, {"C6": {"max_chars": 500}}, "admin")
        [after] = await h.batch(("lisi", long_post + "。", 100))
        assert await h.rules(after) == []
        await h.engine.dispose()

    async def test_a_word_added_to_the_global_list_is_found_in_the_next_batch(self, db_url: str) -> None:
        h = await _harness(db_url)
        text = "周末来尝尝紫晶果冻饮品"
        _, before = await h.batch(("wangwu", WORK, 0), ("lisi", text, 200))
        assert await h.rules(before) == []
        async with session_scope(h.sessions) as s:
            await repository.put_words(
                s, rule_id="C1", scope="global", words=["紫晶果冻"], kind=WordEntryKind.ADD, actor="admin"
            )
        [after] = await h.batch(("zhouba", text, 100))
        assert "C1" in [r for r, _ in await h.rules(after)]
        await h.engine.dispose()

    async def test_a_revoked_strike_no_longer_counts(self, db_url: str) -> None:
        h = await _harness(db_url)
        _, first = await h.batch(("wangwu", WORK, 0), ("lisi", AD, 200))
        assert ("C1", "warn") in await h.rules(first)
        async with session_scope(h.sessions) as s:
            strike_id = await s.scalar(sa.select(repository.STRIKE.c.id))
            assert strike_id is not None
            await repository.revoke_strike(s, int(strike_id), actor="admin", reason="appeal upheld")
        [second] = await h.batch(("lisi", AD + "！", 100))
        assert ("C1", "warn") in await h.rules(second)  # a first offence again, not a removal
        await h.engine.dispose()
