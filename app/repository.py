"""Queries for the admin API and tokens. Keyword-only functions; the caller owns the transaction."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.models import Action, AdminToken, InboundEvent, Job, table_of, utcnow

EVENT_TABLE = table_of(InboundEvent)
JOB_TABLE = table_of(Job)
ACTION_TABLE = table_of(Action)
LAST_USED_EVERY = timedelta(minutes=1)  # a token's last use is written at most this often
M = TypeVar("M", Job, Action)
TOKEN_PREFIX = "ww_"  # noqa: S105 - makes leaked tokens easy to spot by secret scanners
BOOTSTRAP_NAME = "bootstrap (WARDEN_ADMIN_TOKEN)"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def add_admin_token(session: AsyncSession, *, name: str, token: str) -> bool:
    """Store a token's hash; False if that token is already stored."""
    digest = hash_token(token)
    exists = await session.scalar(select(AdminToken.id).where(AdminToken.token_hash == digest))
    if exists:
        return False
    session.add(AdminToken(name=name, token_hash=digest, created_at=utcnow()))
    return True


async def revoke_admin_tokens(session: AsyncSession, *, name: str, keep: str | None = None) -> int:
    """Revoke the live tokens called `name` (all but the token `keep`); return how many."""
    stmt = (
        sa.update(AdminToken)
        .where(col(AdminToken.name) == name, col(AdminToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if keep is not None:
        stmt = stmt.where(col(AdminToken.token_hash) != hash_token(keep))
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def set_bootstrap_token(session: AsyncSession, *, token: str) -> tuple[bool, int, bool]:
    """Store WARDEN_ADMIN_TOKEN. A value seen for the first time replaces the earlier bootstrap
    tokens (they are revoked); a known value changes nothing, and a revoked one stays revoked
    (an instance still started with an old value must not undo a rotation or a revocation).
    Returns (added, how many were revoked, whether the token is live)."""
    added = await add_admin_token(session, name=BOOTSTRAP_NAME, token=token)
    if not added:
        return False, 0, await find_admin_token(session, token=token) is not None
    return True, await revoke_admin_tokens(session, name=BOOTSTRAP_NAME, keep=token), True


async def find_admin_token(session: AsyncSession, *, token: str) -> AdminToken | None:
    found = await session.scalar(
        select(AdminToken).where(
            AdminToken.token_hash == hash_token(token), col(AdminToken.revoked_at).is_(None)
        )
    )
    return found


async def touch_admin_token(session: AsyncSession, token: AdminToken) -> None:
    """Record a use (at most once a minute per token, not a write per request)."""
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        token.last_used_at = now


async def recent_events(
    session: AsyncSession, *, limit: int, before_id: int | None = None, status: str | None = None
) -> Sequence[Any]:
    """Newest first; only metadata columns, never the decrypted payload or record."""
    c = EVENT_TABLE.c
    stmt = (
        sa.select(
            c.id,
            c.dedupe_key,
            c.source,
            c.msg_type,
            c.event,
            c.received_at,
            c.processed_at,
            c.status,
            c.record_kind,
        )
        .order_by(c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(c.id < before_id)
    if status is not None:
        stmt = stmt.where(c.status == status)
    return (await session.execute(stmt)).all()


async def recent_rows(
    session: AsyncSession,
    model: type[M],
    *,
    limit: int,
    status: str | None = None,
    before_id: int | None = None,
) -> tuple[Sequence[M], dict[str, int]]:
    """Jobs or actions, newest first, optionally of one status and before an id (paging), and
    how many there are in each status."""
    stmt = select(model).order_by(col(model.id).desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(col(model.status) == status)
    if before_id is not None:
        stmt = stmt.where(col(model.id) < before_id)
    rows = (await session.execute(stmt)).scalars().all()
    return rows, await counts_by_status(session, table=table_of(model))


async def counts_by_status(session: AsyncSession, *, table: sa.Table) -> dict[str, int]:
    rows = (await session.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status))).all()
    return {str(status): int(n) for status, n in rows}
