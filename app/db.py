"""Async engine and session scope. SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.logs import log_event

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"
T = TypeVar("T")


class DatabaseNotReady(Exception):
    """The database is unreachable or not migrated to the code's revision."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; NORMAL is durable across process crashes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    # pysqlite's legacy mode begins a transaction only before DML, so SELECTs ran outside any
    # transaction and SAVEPOINT/RELEASE committed for real. Turn its own BEGIN off and emit ours
    # (SQLAlchemy's documented recipe for pysqlite and aiosqlite).
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
    # cannot wait for the lock (SQLite answers SQLITE_BUSY at once to avoid a deadlock), which
    # would fail read-then-write jobs running side by side. SQLite has one writer anyway.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_transactions(engine: sa.Engine) -> None:
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)


def create_private_sqlite_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only (0600) before SQLite would create
    it world-readable (0644 under the usual umask): it holds decrypted messages. SQLite gives its
    -wal and -shm files the database file's permissions. An existing file is left as it is."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_transactions(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


def make_sync_sqlite_engine(url: str) -> sa.Engine:
    """The same SQLite file through the plain sqlite3 driver, for a dedicated writer thread:
    one thread hop per transaction instead of aiosqlite's one per statement."""
    engine = sa.create_engine(
        url.replace("sqlite+aiosqlite://", "sqlite://", 1),
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    _sqlite_transactions(engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit at the boundary, roll back on error."""
    async with factory() as session, session.begin():
        yield session


async def in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on a short-lived engine, after checking the schema is
    current (commands and the demo, outside a running service)."""
    engine = make_engine(url)
    try:
        await check_migrated(engine)
        async with session_scope(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:
        raise DatabaseNotReady("no migrations found")
    return head


async def check_migrated(engine: AsyncEngine) -> None:
    """Raise DatabaseNotReady unless the schema is at the migrations' head."""
    try:
        async with engine.connect() as conn:
            exists = await conn.run_sync(lambda c: sa.inspect(c).has_table("alembic_version"))
            current = (
                (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
                if exists
                else None
            )
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise DatabaseNotReady(f"database unreachable: {type(exc).__name__}") from exc
    head = head_revision()
    if current != head:
        raise DatabaseNotReady(
            f"database schema is at {current or 'nothing'}, code needs {head}: "
            "run `wecom-warden migrate` first"
        )


async def check_reachable(url: str) -> None:
    """Raise DatabaseNotReady, one line, if no connection can be opened (a closed port, a wrong
    password, a directory that does not exist), so commands do not answer with a traceback."""
    engine = make_engine(url)
    try:
        async with engine.connect():
            pass
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        cause = getattr(exc, "orig", None) or exc
        name, detail = type(cause).__name__, (str(cause).strip().splitlines() or [""])[0]
        reason = f"{name} ({detail})" if detail and name != "Error" else detail or name
        raise DatabaseNotReady(f"database unreachable: {reason}") from exc
    finally:
        await engine.dispose()


def run_migrations(url: str) -> None:
    """Upgrade the database at `url` to head (synchronous; alembic's env runs the async engine)."""
    import asyncio

    from alembic.config import Config

    from alembic import command

    asyncio.run(check_reachable(url))
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.attributes["database_url"] = url
    command.upgrade(cfg, "head")
    log_event("db.migrated", revision=head_revision())


def insert_ignoring_conflicts(dialect: str, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for a dialect name (sqlite or postgresql)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
