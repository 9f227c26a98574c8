"""The worker's start hook (the recurring jobs' next runs) runs when it starts, and a failing
hook does not stop it."""

from __future__ import annotations

import asyncio

from app.db import make_engine, make_sessionmaker
from app.worker import Worker


class TestStartHook:
    async def test_run_calls_the_hook_and_survives_its_failure(self, sqlite_url: str) -> None:
        engine = make_engine(sqlite_url)
        sessions = make_sessionmaker(engine)
        calls: list[str] = []

        async def hook() -> None:
            calls.append("start")
            raise RuntimeError("database restarting")

        stop = asyncio.Event()
        stop.set()  # one pass: start, then stop
        worker = Worker(sessions, {}, on_start=hook)
        await worker.run(stop)
        assert calls == ["start"] and worker.stopped
        await engine.dispose()
