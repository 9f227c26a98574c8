"""Shared fixtures: real databases (a SQLite file; PostgreSQL when WARDEN_TEST_POSTGRES_URL is set),
settings with generated secrets, and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.db import run_migrations
from app.devtools.serverthread import ThreadedServer
from app.settings import Settings
from app.wecom.crypto import generate_aes_key

# e.g. postgresql+asyncpg://warden:warden@127.0.0.1:5432/postgres (CI sets it)
ROOT = Path(__file__).resolve().parents[1]  # the project root: tests run commands from it
PG_URL = os.environ.get("WARDEN_TEST_POSTGRES_URL")
CORP_ID = "wwtestcorp0001"


def new_aes_key() -> str:
    return generate_aes_key()


def _pg_admin(url: str) -> tuple[str, str]:
    """(asyncpg DSN of the server's admin database, prefix for new database URLs)."""
    base = url.rsplit("/", 1)[0]
    return base.replace("postgresql+asyncpg", "postgresql") + "/postgres", base


async def _pg_exec(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _skip_without_postgres() -> None:
    if not PG_URL:
        if os.environ.get("WARDEN_REQUIRE_POSTGRES"):
            pytest.fail("WARDEN_REQUIRE_POSTGRES is set but WARDEN_TEST_POSTGRES_URL is not")
        pytest.skip("PostgreSQL tests need WARDEN_TEST_POSTGRES_URL (CI sets it)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head per test session; each test gets a copy (migrating
    every test's database would grow the suite with every revision)."""
    path = tmp_path_factory.mktemp("template") / "warden.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One PostgreSQL database migrated to head per test session, the template of each test's."""
    _skip_without_postgres()
    assert PG_URL is not None
    admin_dsn, base = _pg_admin(PG_URL)
    name = f"warden_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        run_migrations(f"{base}/{name}")
        yield name
    finally:
        asyncio.run(_pg_exec(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def migrated_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of `kind` ('sqlite' or 'postgres') at the migrations' head, this test's own;
    dropped afterwards."""
    if kind == "sqlite":
        path = tmp_path / "warden.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    _skip_without_postgres()
    template = request.getfixturevalue("pg_template")
    assert PG_URL is not None
    admin_dsn, base = _pg_admin(PG_URL)
    name = f"warden_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg_exec(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    with migrated_database(request.param, tmp_path, request) as url:
        yield url


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite file, for tests whose subject is not the database."""
    with migrated_database("sqlite", tmp_path, request) as url:
        yield url


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with migrated_database("postgres", tmp_path, request) as url:
        yield url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "corp_id": CORP_ID,
        "agent_id": 1000002,
        "secret": "app-secret-" + secrets.token_hex(8),
        "token": "tok" + secrets.token_hex(8),
        "aes_key": new_aes_key(),
        "database_url": database_url,
        "wecom_base_url": "http://127.0.0.1:9",  # nothing listens: tests that call WeCom override
        "admin_token": "admintoken-" + secrets.token_hex(12),
        "worker_concurrency": 2,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def live_server_factory() -> Iterator[Any]:
    """Start the app on a real uvicorn server on 127.0.0.1; stopped after the test."""
    servers: list[ThreadedServer] = []

    def start(app: FastAPI) -> ThreadedServer:
        server = ThreadedServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
