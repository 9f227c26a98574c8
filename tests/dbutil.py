"""Synchronous peeks into a test database (tests that drive a live server are synchronous)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from app.db import make_engine


async def _fetch(url: str, sql: str, params: dict[str, Any]) -> list[sa.Row[Any]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.text(sql), params)).all())
    finally:
        await engine.dispose()


def fetch(url: str, sql: str, **params: Any) -> list[sa.Row[Any]]:
    return asyncio.run(_fetch(url, sql, params))


def count(url: str, table: str) -> int:
    return int(fetch(url, f"SELECT count(*) FROM {table}")[0][0])


def snapshot(url: str) -> tuple[int, int, int]:
    """Row counts of the tables a callback could touch."""
    return count(url, "inbound_event"), count(url, "job"), count(url, "action")
