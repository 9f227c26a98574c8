"""EventProcessor details a review's mutants showed untested: a re-run skips what is done, a long
error does not fail the batch, every registered service sees the record."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlmodel import col

from app.db import make_engine, make_sessionmaker, session_scope
from app.inbox import InboxWriter
from app.models import InboundEvent
from app.routing import DomainContext, DomainRouter
from policies.base import ChatMessage
from tests.app.test_pipeline import processor
from tests.callbacks import text_event


class Recorder:
    def __init__(self, name: str, seen: list[str], *, fail_on: str | None = None) -> None:
        self._name = name
        self._seen = seen
        self._fail_on = fail_on

    async def handle(self, record: ChatMessage, ctx: DomainContext) -> None:
        self._seen.append(f"{self._name}:{record.text}")
        if record.text == self._fail_on:
            raise RuntimeError("x" * 5000)  # longer than the event's error column


async def _stored(engine: object, n: int) -> None:
    inbox = InboxWriter(engine, job_max_attempts=3)  # type: ignore[arg-type]
    inbox.start()
    assert await asyncio.gather(*(inbox.put(text_event(i)) for i in range(1, n + 1))) == [True] * n
    await inbox.stop()


class TestEventProcessor:
    async def test_every_service_of_a_type_runs_in_order_and_a_rerun_skips_processed_events(
        self, sqlite_url: str
    ) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        await _stored(engine, 1)
        seen: list[str] = []
        router = DomainRouter(
            [(ChatMessage, Recorder("content", seen)), (ChatMessage, Recorder("acks", seen))]
        )
        events = processor(sessions, max_attempts=3, router=router)
        await events.run_batch([1])
        await events.run_batch([1])  # the same batch again (its lease lapsed mid-run)
        assert seen == ["content:第1条", "acks:第1条"]
        await engine.dispose()

    async def test_an_error_longer_than_its_column_fails_only_its_event(self, db_url: str) -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        await _stored(engine, 3)
        router = DomainRouter([(ChatMessage, Recorder("content", [], fail_on="第2条"))])
        await processor(sessions, max_attempts=3, router=router).run_batch([1, 2, 3])
        async with session_scope(sessions) as s:
            rows = dict((await s.execute(sa.select(col(InboundEvent.id), col(InboundEvent.status)))).all())
            error = (await s.get(InboundEvent, 2)).error  # type: ignore[union-attr]
        assert rows == {1: "processed", 2: "received", 3: "processed"}
        assert error is not None and error.startswith("RuntimeError: xxx") and len(error) == 2000
        await engine.dispose()
