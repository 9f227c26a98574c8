"""Every query of the groups registry. Functions take the caller's session (its transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.models import Group, GroupMember, MemberKind, PolicyVersion, RosterChange, table_of
from app.models.groups import RosterChangeKind


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One member as WeCom lists them (None where WeCom does not say)."""

    userid: str
    kind: MemberKind = MemberKind.INTERNAL
    joined_at: datetime | None = None
    join_scene: int | None = None
    invited_by: str | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class RosterDiff:
    joined: list[str]
    left: list[str]


async def get_group(session: AsyncSession, chat_id: str, *, for_update: bool = False) -> Group | None:
    stmt = select(Group).where(col(Group.chat_id) == chat_id)
    if for_update:  # PostgreSQL: serialise writers of one group (SQLite has one writer anyway)
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def group_for_room(session: AsyncSession, roomid: str) -> Group | None:
    stmt = select(Group).where(col(Group.archive_room_id) == roomid)
    return (await session.execute(stmt)).scalars().first()


async def list_groups(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    kind: str | None = None,
    mode: str | None = None,
) -> Sequence[Group]:
    stmt = select(Group).order_by(col(Group.id).desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(col(Group.id) < before_id)
    if kind is not None:
        stmt = stmt.where(col(Group.kind) == kind)
    if mode is not None:
        stmt = stmt.where(col(Group.mode) == mode)
    return (await session.execute(stmt)).scalars().all()


async def all_chat_ids(session: AsyncSession, *, kinds: Sequence[str]) -> list[str]:
    stmt = select(Group.chat_id).where(col(Group.kind).in_(kinds)).order_by(col(Group.id))
    return list((await session.execute(stmt)).scalars().all())


async def counts_by_mode(session: AsyncSession) -> dict[str, int]:
    mode = table_of(Group).c.mode
    rows = (await session.execute(sa.select(mode, sa.func.count()).group_by(mode))).all()
    return {str(mode): int(n) for mode, n in rows}


async def member_counts(session: AsyncSession, chat_ids: Sequence[str]) -> dict[str, int]:
    """Present members per chat."""
    if not chat_ids:
        return {}
    c = table_of(GroupMember).c
    stmt = (
        sa.select(c.chat_id, sa.func.count())
        .where(c.chat_id.in_(chat_ids), c.present.is_(True))
        .group_by(c.chat_id)
    )
    return {str(chat): int(n) for chat, n in (await session.execute(stmt)).all()}


async def list_members(
    session: AsyncSession,
    chat_id: str,
    *,
    limit: int | None = None,
    before_id: int | None = None,
    present: bool | None = None,
) -> Sequence[GroupMember]:
    stmt = select(GroupMember).where(col(GroupMember.chat_id) == chat_id).order_by(col(GroupMember.id).desc())
    if present is not None:
        stmt = stmt.where(col(GroupMember.present).is_(present))
    if before_id is not None:
        stmt = stmt.where(col(GroupMember.id) < before_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def apply_roster(
    session: AsyncSession,
    chat_id: str,
    roster: Sequence[RosterEntry],
    *,
    now: datetime,
    source: str,
    actor: str,
    first_read: bool,
) -> RosterDiff:
    """Make the stored roster what WeCom listed: add or update those listed, mark the others as
    gone (present = false, left_at), and record each join and leave. On the first read, members
    WeCom gives no join time for have none (they were there before we looked)."""
    rows = {m.userid: m for m in await list_members(session, chat_id)}
    joined: list[str] = []
    seen: set[str] = set()
    for entry in roster:
        if entry.userid in seen:
            continue
        seen.add(entry.userid)
        row = rows.get(entry.userid)
        if row is None:
            row = GroupMember(chat_id=chat_id, userid=entry.userid)
            session.add(row)
        if row.id is None or not row.present:
            joined.append(entry.userid)
            row.present, row.left_at = True, None
            row.joined_at = entry.joined_at or (None if first_read else now)
        elif entry.joined_at is not None:
            row.joined_at = entry.joined_at
        row.kind = entry.kind
        row.join_scene = entry.join_scene if entry.join_scene is not None else row.join_scene
        row.invited_by = entry.invited_by if entry.invited_by is not None else row.invited_by
        row.display_name = entry.display_name or row.display_name
    left = [userid for userid, row in rows.items() if row.present and userid not in seen]
    for userid in left:
        rows[userid].present, rows[userid].left_at = False, now
    for change, userids in ((RosterChangeKind.JOINED, joined), (RosterChangeKind.LEFT, left)):
        for userid in userids:
            session.add(
                RosterChange(
                    chat_id=chat_id, userid=userid, change=change, at=now, source=source, actor=actor
                )
            )
    await session.flush()
    return RosterDiff(joined=joined, left=left)


# -- policy versions ------------------------------------------------------------------------------


async def policy_version(session: AsyncSession, chat_id: str, version: int) -> PolicyVersion | None:
    stmt = select(PolicyVersion).where(
        col(PolicyVersion.chat_id) == chat_id, col(PolicyVersion.version) == version
    )
    return (await session.execute(stmt)).scalars().first()


async def latest_version_number(session: AsyncSession, chat_id: str) -> int:
    stmt = sa.select(sa.func.max(PolicyVersion.version)).where(col(PolicyVersion.chat_id) == chat_id)
    return int(await session.scalar(stmt) or 0)


async def list_policy_versions(
    session: AsyncSession, chat_id: str, *, limit: int, before_id: int | None = None
) -> Sequence[PolicyVersion]:
    stmt = (
        select(PolicyVersion)
        .where(col(PolicyVersion.chat_id) == chat_id)
        .order_by(col(PolicyVersion.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(col(PolicyVersion.id) < before_id)
    return (await session.execute(stmt)).scalars().all()
