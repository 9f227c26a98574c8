"""The models and the migrations describe the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import app.models  # noqa: F401 - every table on the metadata
from app.db import ALEMBIC_DIR, make_engine, run_migrations
from tests.conftest import PG_URL, _pg_admin, _pg_exec


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:

                def compare(sync_conn: Any) -> list[Any]:
                    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                    return list(compare_metadata(context, SQLModel.metadata))

                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


class TestModelsMatchMigrations:
    def test_no_difference(self, db_url: str) -> None:
        assert _diff(db_url) == []


async def _constraint_names(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                        "WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text "
                        "<> 'alembic_version' ORDER BY 1, 2"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return [(str(r[0]), str(r[1])) for r in rows]


async def _old_0001(url: str) -> None:
    """0001 as it ran before the naming convention existed (the database names constraints
    itself: action_pkey, action_idempotency_key_key), stamped 0001."""
    spec = importlib.util.spec_from_file_location("m0001", ALEMBIC_DIR / "versions/0001_initial.py")
    assert spec is not None and spec.loader is not None
    m0001 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0001)

    def run(sync_conn: Any) -> None:
        context = MigrationContext.configure(sync_conn, opts={"target_metadata": sa.MetaData()})
        with Operations.context(context):
            m0001.upgrade()
        context.stamp(ScriptDirectory(str(ALEMBIC_DIR)), "0001")

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


class TestUpgradeFromTheOldFirstRevision:
    def test_constraints_get_the_names_a_new_database_has(self, pg_url: str) -> None:
        """A PostgreSQL database made by 0001 before the convention ends at head with the same
        constraint names as a new one, so later migrations can address them by name."""
        assert PG_URL is not None
        admin_dsn, base = _pg_admin(PG_URL)
        name = f"warden_old_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_exec(admin_dsn, f'CREATE DATABASE "{name}"'))
        try:
            old_url = f"{base}/{name}"
            asyncio.run(_old_0001(old_url))
            assert ("action", "action_pkey") in asyncio.run(_constraint_names(old_url))
            run_migrations(old_url)
            assert asyncio.run(_constraint_names(old_url)) == asyncio.run(_constraint_names(pg_url))
            assert _diff(old_url) == []
        finally:
            asyncio.run(_pg_exec(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
