"""Alembic environment: runs migrations through the app's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import app.models  # noqa: F401  - registers every table on SQLModel.metadata
from alembic import context
from app.db import make_engine
from app.settings import DEFAULT_DATABASE_URL, check_database_url

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("WARDEN_DATABASE_URL")
    return check_database_url(str(url or DEFAULT_DATABASE_URL))  # postgres:// too, as for the app


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
