"""The archive pull against the real simulator and real databases (SQLite, PostgreSQL): messages
become inbound events once, the cursor moves in the same commit, a crash between fetch and commit
loses and repeats nothing, notices coalesce into one pull, concurrent pulls store each message once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.inbox
from app.archive import ARCHIVE_PULL, ArchivePuller, request_pull
from app.archive.pull import PULL_KEY
from app.db import make_engine, make_sessionmaker, session_scope
from app.jobs import JOB_TABLE, ClaimedJob, JobKind
from app.models import ArchiveCursor, InboundEvent, JobStatus, table_of, utcnow
from app.simulator.runner import SimulatorServer
from app.simulator.state import SimConfig
from app.wecom.archive import UNDECRYPTABLE, SimulatorArchive
from app.wecom.client import WeComClient
from tests.conftest import CORP_ID

EVENTS = table_of(InboundEvent)
CURSOR = table_of(ArchiveCursor)
SOURCE = f"simulator:{CORP_ID}"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimConfig(corp_id=CORP_ID)) as server:
        yield server


def add_messages(sim: SimulatorServer, *texts: str, roomid: str = "", notify: bool = False) -> list[int]:
    body = {
        "messages": [{"from": "zhangsan", "roomid": roomid, "content": t} for t in texts],
        "notify": notify,
    }
    return post_archive(sim, body)


def post_archive(sim: SimulatorServer, body: dict[str, Any]) -> list[int]:
    """The simulator's control API (a short local call; the tests' event loop may wait for it)."""
    response = httpx.post(f"{sim.base_url}/_sim/archive/messages", json=body)
    assert response.status_code == 200, response.text
    seqs: list[int] = response.json()["seqs"]
    return seqs


@dataclass
class Env:
    sim: SimulatorServer
    sessions: async_sessionmaker[AsyncSession]
    client: WeComClient

    def puller(self, **kw: Any) -> ArchivePuller:
        options: dict[str, Any] = {"clock": utcnow, "poll_s": 60, "start": "earliest", **kw}
        return ArchivePuller(SimulatorArchive(self.client, corp_id=CORP_ID), self.sessions, **options)

    async def scalar(self, query: Any) -> Any:
        async with session_scope(self.sessions) as session:
            return (await session.execute(query)).scalar()

    async def events(self) -> list[Any]:
        async with session_scope(self.sessions) as session:
            c = EVENTS.c
            return list(
                (await session.execute(sa.select(c.dedupe_key, c.source, c.msg_type, c.chat_id))).all()
            )

    async def cursor(self) -> int | None:
        value = await self.scalar(sa.select(CURSOR.c.seq).where(CURSOR.c.source == SOURCE))
        return None if value is None else int(value)

    async def jobs(self, kind: str) -> list[Any]:
        async with session_scope(self.sessions) as session:
            c = JOB_TABLE.c
            query = sa.select(c.id, c.key, c.status, c.due_at, c.payload).where(c.kind == kind).order_by(c.id)
            return list((await session.execute(query)).all())


@pytest.fixture
async def env(db_url: str, sim: SimulatorServer) -> AsyncIterator[Env]:
    engine = make_engine(db_url)
    client = WeComClient(
        base_url=sim.base_url,
        corp_id=sim.config.corp_id,
        agent_id=sim.config.agent_id,
        secret=sim.config.secret,
    )
    try:
        yield Env(sim, make_sessionmaker(engine), client)
    finally:
        await client.aclose()
        await engine.dispose()


class TestPull:
    async def test_messages_become_inbound_events_once_and_the_cursor_follows(self, env: Env) -> None:
        add_messages(env.sim, "早上好", "今天开会", roomid="wrRoomA")
        result = await env.puller().pull()
        assert (result.fetched, result.stored, result.seq) == (2, 2, 2)
        events = await env.events()
        assert {(e.source, e.msg_type, e.chat_id) for e in events} == {("archive", "text", "wrRoomA")}
        assert all(e.dedupe_key.startswith("archive:") for e in events) and len(events) == 2
        assert await env.cursor() == 2
        # one process_event job for the page's events, like a group commit of callbacks
        (job,) = await env.jobs(JobKind.PROCESS_EVENT)
        assert len(job.payload["event_ids"]) == 2
        again = await env.puller().pull()
        assert (again.fetched, again.stored) == (0, 0) and len(await env.events()) == 2

    async def test_pages_of_the_limit_until_a_short_page(self, env: Env) -> None:
        add_messages(env.sim, *[f"消息{i}" for i in range(7)])
        result = await env.puller(limit=3).pull()
        assert (result.pages, result.stored, result.seq) == (3, 7, 7)  # 3 + 3 + 1

    async def test_a_run_is_bounded_and_asks_for_the_rest(self, env: Env) -> None:
        add_messages(env.sim, *[f"消息{i}" for i in range(7)])
        result = await env.puller(limit=2, max_pages=2).pull()
        assert (result.stored, result.seq, result.more) == (4, 4, True)
        rest = await env.puller(limit=2, max_pages=2).pull()
        assert (rest.stored, rest.seq, rest.more) == (3, 7, False)

    async def test_switch_records_move_the_cursor_and_store_nothing(self, env: Env) -> None:
        env.sim.state.archive.append(
            {"seq": 1, "msgid": "sw1", "publickey_ver": 1, "message": {"msgid": "sw1", "action": "switch"}}
        )
        add_messages(env.sim, "hello")
        result = await env.puller().pull()
        assert (result.fetched, result.stored, result.seq) == (2, 1, 2)

    async def test_an_undecryptable_stand_in_is_stored_and_the_cursor_moves_on(self, env: Env) -> None:
        """SdkArchive hands over an item it could not decrypt as a stand-in (its ciphertext and
        the reason): stored as an event (never judged), so the page is not retried for ever."""
        stand_in = {"msgid": "bad1", "action": UNDECRYPTABLE, "error": "errcode 10007", "encrypted": {}}
        env.sim.state.archive.append({"seq": 1, "msgid": "bad1", "publickey_ver": 9, "message": stand_in})
        add_messages(env.sim, "hello")
        result = await env.puller().pull()
        assert (result.fetched, result.stored, result.seq) == (2, 2, 2)
        assert ("archive:bad1", UNDECRYPTABLE) in {(e.dedupe_key, e.msg_type) for e in await env.events()}

    async def test_a_msgid_handed_out_twice_is_one_event(self, env: Env) -> None:
        add_messages(env.sim, "一次")
        first = env.sim.state.archive[0]
        env.sim.state.archive.append({**first, "seq": 2})
        result = await env.puller().pull()
        assert (result.fetched, result.stored, result.seq) == (2, 1, 2)


class TestCrashSafety:
    async def test_a_fault_between_fetch_and_commit_loses_and_repeats_nothing(
        self, env: Env, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        add_messages(env.sim, "一", "二", "三")
        real_store = app.inbox.store_events

        def store_then_crash(*args: Any, **kw: Any) -> Any:
            real_store(*args, **kw)  # the events are written in the open transaction…
            raise RuntimeError("crash before commit")  # …which never commits

        monkeypatch.setattr("app.archive.pull.store_events", store_then_crash)
        with pytest.raises(RuntimeError, match="crash before commit"):
            await env.puller().pull()
        assert await env.events() == []
        assert await env.cursor() == 0  # made on the first start, not moved
        assert await env.jobs(JobKind.PROCESS_EVENT) == []

        monkeypatch.setattr("app.archive.pull.store_events", real_store)
        result = await env.puller().pull()  # the next pull fetches the same page again
        assert (result.stored, result.seq) == (3, 3)
        # a crash after the commit (the job runs again): the cursor has moved, nothing repeats
        again = await env.puller().pull()
        assert (again.fetched, again.stored) == (0, 0)
        assert len(await env.events()) == 3 and await env.cursor() == 3

    async def test_two_pulls_racing_store_each_message_once(self, env: Env) -> None:
        import asyncio

        add_messages(env.sim, *[f"消息{i}" for i in range(10)])
        first, second = env.puller(limit=3), env.puller(limit=3)  # two workers: two locks
        await first.pull()  # the cursor exists before the race
        add_messages(env.sim, *[f"新{i}" for i in range(10)])
        results = await asyncio.gather(first.pull(), second.pull())
        assert sum(r.stored for r in results) == 10
        assert len(await env.events()) == 20 and await env.cursor() == 20


class TestFirstStart:
    async def test_latest_passes_over_what_the_archive_already_holds(self, env: Env) -> None:
        old = (utcnow() - timedelta(minutes=5)).timestamp()
        body = {"messages": [{"from": "lisi", "content": "旧消息", "msgtime": int(old * 1000)}] * 2}
        post_archive(env.sim, body)
        result = await env.puller(start="latest").pull()
        assert (result.fetched, result.stored, result.seq) == (2, 0, 2)
        add_messages(env.sim, "新消息")
        result = await env.puller(start="latest").pull()
        assert (result.stored, result.seq) == (1, 3)

    async def test_a_number_begins_after_that_seq(self, env: Env) -> None:
        add_messages(env.sim, "一", "二", "三")
        result = await env.puller(start="2").pull()
        assert (result.stored, result.seq) == (1, 3)

    async def test_the_start_setting_counts_only_before_a_cursor_exists(self, env: Env) -> None:
        add_messages(env.sim, "一")
        await env.puller(start="earliest").pull()
        add_messages(env.sim, "二")
        result = await env.puller(start="latest").pull()  # a changed setting moves nothing back
        assert (result.stored, result.seq) == (1, 2)


class TestCoalescing:
    async def _claim(self, env: Env) -> ClaimedJob:
        from app import jobs

        async with session_scope(env.sessions) as session:
            (job,) = await jobs.claim(session, worker="w", limit=1, lease_s=60)
        return job

    async def test_several_notices_while_one_is_queued_are_one_pull(self, env: Env) -> None:
        for _ in range(3):
            async with session_scope(env.sessions) as session:
                await request_pull(session, due_at=utcnow(), max_attempts=8)
        (job,) = await env.jobs(ARCHIVE_PULL)
        assert (job.key, job.status) == (PULL_KEY, JobStatus.QUEUED)

    async def test_a_notice_brings_the_queued_poll_forward(self, env: Env) -> None:
        later = utcnow() + timedelta(seconds=60)
        async with session_scope(env.sessions) as session:
            await request_pull(session, due_at=later, max_attempts=8)
        now = utcnow()
        async with session_scope(env.sessions) as session:
            await request_pull(session, due_at=now, max_attempts=8)
            await request_pull(session, due_at=later, max_attempts=8)  # a poll never pushes it back
        (job,) = await env.jobs(ARCHIVE_PULL)
        assert job.due_at <= now + timedelta(seconds=1)

    async def test_a_running_pull_gives_up_the_key_and_queues_the_next_poll(self, env: Env) -> None:
        puller = env.puller(poll_s=60)
        await puller.on_start()
        add_messages(env.sim, "一")
        job = await self._claim(env)
        await puller.run_job(job)
        jobs_now = await env.jobs(ARCHIVE_PULL)
        assert [(j.id == job.id, j.key) for j in jobs_now] == [(True, None), (False, PULL_KEY)]
        assert jobs_now[1].due_at > utcnow() + timedelta(seconds=50)  # the next poll
        assert len(await env.events()) == 1

    async def test_a_key_left_on_a_finished_pull_does_not_block_the_next(self, env: Env) -> None:
        async with session_scope(env.sessions) as session:
            await request_pull(session, due_at=utcnow(), max_attempts=8)
            await session.execute(sa.update(JOB_TABLE).values(status=JobStatus.DEAD))
        async with session_scope(env.sessions) as session:
            await request_pull(session, due_at=utcnow(), max_attempts=8)
        assert [(j.key, j.status) for j in await env.jobs(ARCHIVE_PULL)] == [
            (None, JobStatus.DEAD),
            (PULL_KEY, JobStatus.QUEUED),
        ]
