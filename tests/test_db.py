"""Transactions and savepoints behave the same on SQLite as on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from app.db import make_engine, make_sessionmaker, session_scope
from app.models import AdminToken, utcnow


class _Rollback(Exception):
    pass


async def _tokens(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT count(*) FROM admin_token"))).scalar_one())
    finally:
        await engine.dispose()


class TestTransactions:
    def test_released_savepoint_is_undone_by_the_outer_rollback(self, db_url: str) -> None:
        async def run() -> None:
            engine = make_engine(db_url)
            sessions = make_sessionmaker(engine)
            try:
                with pytest.raises(_Rollback):
                    async with session_scope(sessions) as session:
                        async with session.begin_nested():
                            session.add(AdminToken(name="inner", token_hash="a" * 64,
                                                   created_at=utcnow()))
                        raise _Rollback
            finally:
                await engine.dispose()

        asyncio.run(run())
        assert asyncio.run(_tokens(db_url)) == 0

    def test_concurrent_read_then_write_transactions_both_commit(self, db_url: str) -> None:
        """Two jobs that each read, pause, then write: on SQLite a deferred BEGIN makes the
        second writer fail at once (SQLITE_BUSY, no waiting on a lock upgrade); both must commit."""

        async def job(name: str) -> None:
            engine = make_engine(db_url)
            try:
                async with session_scope(make_sessionmaker(engine)) as session:
                    await session.execute(sa.text("SELECT count(*) FROM admin_token"))
                    await asyncio.sleep(0.2)
                    session.add(AdminToken(name=name, token_hash=name * 64, created_at=utcnow()))
            finally:
                await engine.dispose()

        async def both() -> None:
            await asyncio.gather(job("a"), job("b"))

        asyncio.run(both())
        assert asyncio.run(_tokens(db_url)) == 2
