"""Transactions and savepoints behave the same on SQLite as on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db import make_engine, make_sessionmaker, make_sync_sqlite_engine, run_migrations, session_scope
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
                            session.add(AdminToken(name="inner", token_hash="a" * 64, created_at=utcnow()))
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


class TestSqliteFile:
    def test_a_new_database_file_is_private_to_its_owner(self, tmp_path: Path) -> None:
        path = tmp_path / "new.db"
        run_migrations(f"sqlite+aiosqlite:///{path}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for extra in tmp_path.glob("new.db-*"):  # -wal / -shm, if still there
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra

    def test_an_existing_file_keeps_its_permissions(self, tmp_path: Path) -> None:
        path = tmp_path / "old.db"
        path.touch(mode=0o640)
        os.chmod(path, 0o640)
        run_migrations(f"sqlite+aiosqlite:///{path}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640


class TestTheInboxWritersEngine:
    def test_a_read_runs_inside_the_transaction(self, sqlite_url: str) -> None:
        """The plain-sqlite3 engine of the group commit gets the same BEGIN as the async one:
        a SELECT before the inserts is inside the transaction (legacy pysqlite begins only
        before DML)."""
        engine = make_sync_sqlite_engine(sqlite_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("SELECT count(*) FROM inbound_event"))
                assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        finally:
            engine.dispose()
