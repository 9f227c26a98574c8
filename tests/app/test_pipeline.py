"""process_event jobs: one per group commit; a failing event is split off into a job of its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

import handlers
from app import jobs
from app.actions import ActionPlanner
from app.db import make_engine, make_sessionmaker, session_scope
from app.inbox import InboxWriter
from app.models import Action, ActionKind, InboundEvent, Job, JobStatus, utcnow
from app.pipeline import EventProcessor
from app.routing import DomainContext, DomainRouter
from app.worker import Worker
from policies.base import ChatMessage
from tests.callbacks import text_event
from tests.conftest import make_settings


class _NoWeCom:
    """Domain services in these tests read nothing from WeCom."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected WeCom read {name}")


def processor(sessions: Any, *, max_attempts: int, router: DomainRouter | None = None) -> EventProcessor:
    settings = make_settings("sqlite+aiosqlite:///unused.db", job_max_attempts=max_attempts)
    planner = ActionPlanner(job_max_attempts=max_attempts)

    def context(session: Any, event_id: int) -> DomainContext:
        return DomainContext(
            session=session,
            settings=settings,
            clock=utcnow,
            wecom=_NoWeCom(),
            planner=planner,
            event_id=event_id,
        )

    return EventProcessor(
        sessions, router=router or DomainRouter(), context=context, job_max_attempts=max_attempts
    )


class TestBatches:
    async def test_one_job_per_commit_and_a_bad_event_goes_its_own_way(
        self, db_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        inbox = InboxWriter(engine, job_max_attempts=3)
        inbox.start()

        assert await asyncio.gather(*(inbox.put(text_event(n)) for n in (1, 2, 3))) == [True] * 3
        await inbox.stop()
        async with session_scope(sessions) as s:
            (job,) = (await s.execute(sa.select(Job))).scalars().all()
        assert sorted(job.payload["event_ids"]) == [1, 2, 3]  # type: ignore[index]

        real = handlers.dispatch

        def flaky(fields: Any, *, source: str) -> Any:
            if fields.get("MsgId") == "2":
                raise ValueError("handler bug")
            return real(fields, source=source)

        monkeypatch.setattr(handlers, "dispatch", flaky)
        worker = Worker(sessions, {"process_event": processor(sessions, max_attempts=3)})
        await worker.run_until_idle()
        async with session_scope(sessions) as s:
            rows = await s.execute(sa.select(col(InboundEvent.id), col(InboundEvent.status)))
            status = {event_id: state for event_id, state in rows.all()}
            split = (await s.execute(sa.select(Job).where(col(Job.key) == "process-event:2"))).scalar_one()
        assert status == {1: "processed", 2: "received", 3: "processed"}
        assert split.payload == {"event_id": 2}
        assert (split.status, split.attempts) == (JobStatus.QUEUED, 1)  # failed once, backing off
        assert "handler bug" in (split.last_error or "")

        monkeypatch.setattr(handlers, "dispatch", real)  # the bug is fixed
        async with session_scope(sessions) as s:
            await s.execute(sa.update(Job).where(col(Job.id) == split.id).values(due_at=split.created_at))
        await worker.run_until_idle()
        async with session_scope(sessions) as s:
            event = await s.get(InboundEvent, 2)
            assert event is not None and event.status == "processed"
            assert event.record_kind == "ChatMessage"
        await engine.dispose()

    async def test_an_event_whose_job_goes_dead_shows_as_failed(
        self, db_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        inbox = InboxWriter(engine, job_max_attempts=2)
        inbox.start()
        assert await inbox.put(text_event(7))
        await inbox.stop()
        real = handlers.dispatch

        def broken(fields: Any, *, source: str) -> Any:
            raise ValueError("handler bug")

        monkeypatch.setattr(handlers, "dispatch", broken)
        worker = Worker(sessions, {"process_event": processor(sessions, max_attempts=2)})

        async def event_and_job(key: str | None) -> tuple[InboundEvent, Job]:
            async with session_scope(sessions) as s:
                event = await s.get(InboundEvent, 1)
                job = (
                    (await s.execute(sa.select(Job).where(col(Job.key) == key).order_by(col(Job.id).desc())))
                    .scalars()
                    .first()
                )
                assert event is not None and job is not None
                return event, job

        await worker.run_until_idle()  # the batch job: split off, with the error noted
        event, split = await event_and_job("process-event:1")
        assert (event.status, event.error) == ("received", "ValueError: handler bug")
        for _ in range(2):  # its own job: fails, backs off, fails again and goes dead
            async with session_scope(sessions) as s:
                await s.execute(sa.update(Job).where(col(Job.id) == split.id).values(due_at=split.created_at))
            await worker.run_until_idle()
        event, split = await event_and_job("process-event:1")
        assert split.status == JobStatus.DEAD
        assert (event.status, event.error) == ("failed", "ValueError: handler bug")

        monkeypatch.setattr(handlers, "dispatch", real)  # fixed; an admin retries the dead job
        async with session_scope(sessions) as s:
            assert await jobs.retry(s, split.id or 0)
        await worker.run_until_idle()
        event, _ = await event_and_job("process-event:1")
        assert (event.status, event.error) == ("processed", None)
        await engine.dispose()


class WarnsThenFails:
    """A domain service that plans a warning for every message, then fails on "第2条" after its
    write: the event's savepoint must take the planned action away with it."""

    async def handle(self, record: ChatMessage, ctx: DomainContext) -> None:
        await ctx.plan(
            kind=ActionKind.SEND_PRIVATE_MESSAGE,
            params={"touser": [record.sender], "msgtype": "text", "body": {"content": "C1"}},
            idempotency_key=f"warn:{record.msg_id}",
            reason="C1: test",
        )
        if record.text == "第2条":
            raise RuntimeError("policy bug after a write")


class TestOneSavepointPerEvent:
    async def test_a_failing_policy_leaves_none_of_its_rows_and_its_batch_mates_commit(
        self, db_url: str
    ) -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        inbox = InboxWriter(engine, job_max_attempts=3)
        inbox.start()
        assert await asyncio.gather(*(inbox.put(text_event(n)) for n in (1, 2, 3))) == [True] * 3
        await inbox.stop()
        router = DomainRouter([(ChatMessage, WarnsThenFails())])
        worker = Worker(sessions, {"process_event": processor(sessions, max_attempts=3, router=router)})
        await worker.run_until_idle()
        async with session_scope(sessions) as s:
            keys = set((await s.execute(sa.select(col(Action.idempotency_key)))).scalars())
            status = dict((await s.execute(sa.select(col(InboundEvent.id), col(InboundEvent.status)))).all())
            requested = set((await s.execute(sa.select(col(Action.requested_by)))).scalars())
            error = (await s.get(InboundEvent, 2)).error  # type: ignore[union-attr]
        assert keys == {"warn:1", "warn:3"}
        assert status == {1: "processed", 2: "received", 3: "processed"}
        assert requested == {"event:1", "event:3"}
        assert error == "RuntimeError: policy bug after a write"
        await engine.dispose()

    async def test_planned_actions_get_the_configured_attempts(self, sqlite_url: str) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        inbox = InboxWriter(engine, job_max_attempts=3)
        inbox.start()
        assert await inbox.put(text_event(1))
        await inbox.stop()
        router = DomainRouter([(ChatMessage, WarnsThenFails())])
        worker = Worker(sessions, {"process_event": processor(sessions, max_attempts=5, router=router)})
        await worker.run_until_idle()
        async with session_scope(sessions) as s:
            job = (await s.execute(sa.select(Job).where(col(Job.kind) == "execute_action"))).scalar_one()
        assert job.max_attempts == 5
        await engine.dispose()
