"""Every query of the content domain: judged messages, violations, strikes, word lists, templates."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_of, insert_ignoring_conflicts
from app.errors import Conflict, NotFound
from app.models import (
    Group,
    JudgedMessage,
    MessageTemplate,
    Strike,
    StrikeStatus,
    Violation,
    ViolationStatus,
    WordEntry,
    WordEntryKind,
    table_of,
    utcnow,
)

JUDGED = table_of(JudgedMessage)
VIOLATION = table_of(Violation)
STRIKE = table_of(Strike)
WORD = table_of(WordEntry)
TEMPLATE = table_of(MessageTemplate)

# How far apart the archive's copy and the AI bot's copy of one message can be: the bot callback
# carries no send time, so its time is when it arrived.
COPY_WINDOW = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class StrikeCount:
    count: int
    last_at: datetime | None


async def lock_member(session: AsyncSession, member: str) -> None:
    """Judge one member's messages one transaction at a time: their strikes are read before this
    message's strike is written, so two of their messages judged side by side would both be a
    first offence. PostgreSQL: a lock held until the transaction ends (SQLite has one writer)."""
    if dialect_of(session) != "postgresql":
        return
    digest = hashlib.blake2b(f"content-member:{member}".encode(), digest_size=8).digest()
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest, "big", signed=True)}
    )


async def claim_message(session: AsyncSession, row: dict[str, Any]) -> int | None:
    """Insert the judged-message row; None when this source's msgid was judged before."""
    stmt = insert_ignoring_conflicts(dialect_of(session), JUDGED).returning(JUDGED.c.id)
    found = (await session.execute(stmt, row)).first()
    return None if found is None else int(found[0])


@dataclass(frozen=True, slots=True)
class Recent:
    """What the judged messages say about a new one: whether another source's copy of it (the AI
    bot's and the archive's: same member, group and canonical text within COPY_WINDOW) was judged
    already, and the sender's counters in the group's windows."""

    copied: bool
    counts: dict[str, int]


async def recent_activity(
    session: AsyncSession,
    *,
    chat_id: str,
    sender: str,
    text_hash: str,
    source: str,
    now: datetime,
    windows: dict[str, tuple[int, str | None]],
) -> Recent:
    """`Recent` in one statement (one index range scan of the sender's messages in this group),
    for the message sent at `now`. A message counts in a window when
    `now - window < sent_at <= now` (policies.content.flood.count_in_window)."""
    c = JUDGED.c
    copy_from, copy_to = now - COPY_WINDOW, now + COPY_WINDOW
    columns = [
        sa.func.count(
            sa.case(
                (sa.and_(c.text_hash == text_hash, c.source != source, c.sent_at >= copy_from), 1),
                else_=None,
            )
        ).label("_copies")
    ]
    earliest = copy_from
    for name, (window_s, kind) in windows.items():
        since = now - timedelta(seconds=window_s)
        earliest = min(earliest, since)
        cond = [c.sent_at > since, c.sent_at <= now]
        if kind is not None and kind.startswith("hash:"):
            cond.append(c.text_hash == kind[5:])
        elif kind is not None:
            cond.append(c.msg_type == kind)
        columns.append(sa.func.count(sa.case((sa.and_(*cond), 1), else_=None)).label(name))
    row = (
        await session.execute(
            sa.select(*columns).where(
                c.chat_id == chat_id, c.sender == sender, c.sent_at >= earliest, c.sent_at <= copy_to
            )
        )
    ).one()
    return Recent(copied=bool(row[0]), counts={name: int(row[i + 1] or 0) for i, name in enumerate(windows)})


@dataclass(frozen=True, slots=True)
class MessageInputs:
    """Everything a message's judging reads from the database, from one statement."""

    group: Group
    word_versions: dict[str, WordListVersion]  # scope → word_list_versions
    recent: Recent


def _count_where(*conditions: Any) -> Any:
    return sa.select(sa.func.count()).select_from(JUDGED).where(*conditions).scalar_subquery()


async def message_inputs(
    session: AsyncSession,
    *,
    room_id: str,
    global_scope: str,
    sender: str,
    text_hash: str,
    source: str,
    now: datetime,
    windows: dict[str, tuple[int, str | None]],
    by_chat: bool = False,
) -> MessageInputs | None:
    """The registered group of an archive room (or a chat), the versions of the global and the
    group's word lists, and `recent_activity` over `windows` (the group's counting windows, as
    the caller expects them to be: it checks the group's document and asks again if not), in one
    round trip to the database instead of four. None when no group has this room."""
    g, w, j = Group.__table__.c, WORD.c, JUDGED.c  # type: ignore[attr-defined]
    mine = [j.chat_id == g.chat_id, j.sender == sender]
    columns: list[Any] = [
        sa.select(sa.func.max(w.id)).where(w.scope == global_scope).scalar_subquery(),
        sa.select(sa.func.count()).select_from(WORD).where(w.scope == global_scope).scalar_subquery(),
        sa.select(sa.func.max(w.added_at)).where(w.scope == global_scope).scalar_subquery(),
        sa.select(sa.func.max(w.id)).where(w.scope == g.chat_id).scalar_subquery(),
        sa.select(sa.func.count()).select_from(WORD).where(w.scope == g.chat_id).scalar_subquery(),
        sa.select(sa.func.max(w.added_at)).where(w.scope == g.chat_id).scalar_subquery(),
        _count_where(
            *mine,
            j.text_hash == text_hash,
            j.source != source,
            j.sent_at.between(now - COPY_WINDOW, now + COPY_WINDOW),
        ),
    ]
    for window_s, kind in windows.values():
        where = [*mine, j.sent_at > now - timedelta(seconds=window_s), j.sent_at <= now]
        if kind is not None and kind.startswith("hash:"):
            where.append(j.text_hash == kind[5:])
        elif kind is not None:
            where.append(j.msg_type == kind)
        columns.append(_count_where(*where))
    # The archive names a group by its room id; the AI bot and the app by its chat id.
    query = sa.select(Group, *columns)
    if by_chat:
        query = query.where(sa.or_(g.chat_id == room_id, g.archive_room_id == room_id)).order_by(
            sa.case((g.chat_id == room_id, 0), else_=1)
        )
    else:
        query = query.where(g.archive_room_id == room_id)
    row = (await session.execute(query.limit(1))).first()
    if row is None:
        return None
    group, gmax, gcount, gat, cmax, ccount, cat, copies, *counts = row
    return MessageInputs(
        group=group,
        # The same (max id, count, latest change) as word_list_versions.
        word_versions={
            global_scope: (int(gmax or 0), int(gcount or 0), str(gat or "")),
            group.chat_id: (int(cmax or 0), int(ccount or 0), str(cat or "")),
        },
        recent=Recent(
            copied=bool(copies), counts={n: int(c or 0) for n, c in zip(windows, counts, strict=True)}
        ),
    )


async def judged_between(
    session: AsyncSession,
    *,
    chat_ids: Sequence[str],
    senders: Sequence[str],
    since: datetime,
    until: datetime,
) -> list[tuple[str, str, datetime, str, str, str]]:
    """(chat_id, sender, sent_at, text_hash, msg_type, source) of these senders' judged messages in
    these groups with `since <= sent_at <= until` (what a batch's counters are computed from)."""
    c = JUDGED.c
    rows = await session.execute(
        sa.select(c.chat_id, c.sender, c.sent_at, c.text_hash, c.msg_type, c.source).where(
            c.chat_id.in_(list(chat_ids)),
            c.sender.in_(list(senders)),
            c.sent_at >= since,
            c.sent_at <= until,
        )
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def judged_msgids(session: AsyncSession, source: str, msg_ids: Sequence[str]) -> set[str]:
    """Which of these msgids of this source were judged before."""
    c = JUDGED.c
    rows = await session.execute(sa.select(c.msg_id).where(c.source == source, c.msg_id.in_(list(msg_ids))))
    return {str(r[0]) for r in rows}


async def add_judged(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Judged-message rows nothing refers to (no finding), in one statement."""
    if rows:
        await session.execute(insert_ignoring_conflicts(dialect_of(session), JUDGED), rows)


async def active_strikes(session: AsyncSession, member: str, now: datetime) -> dict[str, StrikeCount]:
    """The member's strikes that still count, per category, across all groups."""
    c = STRIKE.c
    rows = (
        await session.execute(
            sa.select(c.category, sa.func.count(), sa.func.max(c.at))
            .where(c.member == member, c.revoked_at.is_(None), c.expires_at > now)
            .group_by(c.category)
        )
    ).all()
    return {str(cat): StrikeCount(int(n), last) for cat, n, last in rows}


async def add_violation(session: AsyncSession, row: dict[str, Any]) -> int:
    stmt = sa.insert(VIOLATION).returning(VIOLATION.c.id)
    return int((await session.execute(stmt, row)).scalar_one())


async def mark_withdrawn(session: AsyncSession, *, chat_id: str, msg_id: str, at: datetime) -> int:
    """The member withdrew a message: its violations say so (the first withdrawal counts)."""
    c = VIOLATION.c
    result = await session.execute(
        sa.update(VIOLATION)
        .where(c.chat_id == chat_id, c.message_id == msg_id, c.withdrawn_at.is_(None))
        .values(withdrawn_at=at)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def set_violation_actions(session: AsyncSession, violation_id: int, action_ids: list[int]) -> None:
    await session.execute(
        sa.update(VIOLATION).where(VIOLATION.c.id == violation_id).values(actions=action_ids)
    )


async def add_strike(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert_ignoring_conflicts(dialect_of(session), STRIKE), row)


def strike_status(strike: Strike, now: datetime) -> StrikeStatus:
    if strike.revoked_at is not None:
        return StrikeStatus.REVOKED
    return StrikeStatus.ACTIVE if strike.expires_at > now else StrikeStatus.EXPIRED


async def violations(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    chat_id: str | None = None,
    member: str | None = None,
    rule_id: str | None = None,
    verdict: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> Sequence[Violation]:
    c = VIOLATION.c
    query = sa.select(Violation).order_by(c.id.desc()).limit(limit)
    for column, value in (
        (c.chat_id, chat_id),
        (c.member, member),
        (c.rule_id, rule_id),
        (c.verdict, verdict),
        (c.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(c.at >= since)
    if before_id is not None:
        query = query.where(c.id < before_id)
    return (await session.scalars(query)).all()


async def strikes(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None = None,
    member: str | None = None,
    category: str | None = None,
) -> Sequence[Strike]:
    c = STRIKE.c
    query = sa.select(Strike).order_by(c.id.desc()).limit(limit)
    if member is not None:
        query = query.where(c.member == member)
    if category is not None:
        query = query.where(c.category == category)
    if before_id is not None:
        query = query.where(c.id < before_id)
    return (await session.scalars(query)).all()


async def revoke_strike(session: AsyncSession, strike_id: int, *, actor: str, reason: str) -> Strike:
    """Revoke a strike (an upheld appeal, an admin's ruling). Revoking twice keeps the first."""
    strike = await session.get(Strike, strike_id)
    if strike is None:
        raise NotFound(f"strike {strike_id} does not exist")
    if strike.revoked_at is None:
        strike.revoked_at = utcnow()
        strike.revoked_by = actor
        strike.revoke_reason = reason[:2000]
        await session.flush()
    return strike


async def resolve_violation(
    session: AsyncSession, violation_id: int, *, outcome: ViolationStatus, actor: str, note: str
) -> Violation:
    """An admin's ruling: `handled` (an open one was dealt with) or `dismissed` (it broke no
    rule: its strike stops counting). A ruled violation is not ruled on again."""
    violation = await session.get(Violation, violation_id)
    if violation is None:
        raise NotFound(f"violation {violation_id} does not exist")
    allowed_from = {
        ViolationStatus.HANDLED: {ViolationStatus.OPEN},
        ViolationStatus.DISMISSED: {ViolationStatus.OPEN, ViolationStatus.ACTED},
    }[outcome]
    if violation.status not in allowed_from:
        raise Conflict(f"violation {violation_id} is {violation.status}: it cannot become {outcome.value}")
    now = utcnow()
    violation.status = outcome.value
    violation.resolved_by = actor
    violation.resolved_at = now
    violation.resolution_note = note[:2000]
    if outcome is ViolationStatus.DISMISSED:
        c = STRIKE.c
        await session.execute(
            sa.update(STRIKE)
            .where(c.violation_id == violation_id, c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=actor, revoke_reason=f"violation dismissed: {note}"[:2000])
        )
    await session.flush()
    return violation


async def open_advice(
    session: AsyncSession, *, decided_before: datetime, decided_after: datetime
) -> Sequence[Violation]:
    """Advice to owners of advised groups that nobody has ruled on, decided in this window."""
    c = VIOLATION.c
    query = (
        sa.select(Violation)
        .where(
            c.verdict == "advise",
            c.status == ViolationStatus.OPEN.value,
            c.decided_at < decided_before,
            c.decided_at > decided_after,
        )
        .order_by(c.id)
    )
    return (await session.scalars(query)).all()


# -- word lists ------------------------------------------------------------------------------


async def word_entries(session: AsyncSession, *, scopes: Sequence[str]) -> Sequence[WordEntry]:
    c = WORD.c
    query = sa.select(WordEntry).where(c.scope.in_(scopes)).order_by(c.rule_id, c.word)
    return (await session.scalars(query)).all()


WordListVersion = tuple[int, int, str]


async def word_list_versions(session: AsyncSession, scopes: Sequence[str]) -> dict[str, WordListVersion]:
    """Each scope's version of its word lists, in one statement: (max id, count, latest change),
    (0, 0, "") for an empty one. A cache built for one version is stale at the next. The time is
    needed: SQLite hands a deleted highest id out again, so dropping the newest word and adding
    another (or turning it from `add` into `remove`) keeps the count and the max id."""
    c = WORD.c
    rows = (
        await session.execute(
            sa.select(c.scope, sa.func.max(c.id), sa.func.count(), sa.func.max(c.added_at))
            .where(c.scope.in_(scopes))
            .group_by(c.scope)
        )
    ).all()
    found = {str(scope): (int(top or 0), int(n or 0), str(at or "")) for scope, top, n, at in rows}
    return {scope: found.get(scope, (0, 0, "")) for scope in scopes}


async def put_words(
    session: AsyncSession,
    *,
    rule_id: str,
    scope: str,
    words: Sequence[str],
    kind: WordEntryKind,
    actor: str,
    replace: bool = False,
) -> None:
    """Add words of one kind to a rule's list in a scope; `replace` first drops that kind's
    entries there (a PUT)."""
    c = WORD.c
    if replace:
        await session.execute(
            sa.delete(WORD).where(c.rule_id == rule_id, c.scope == scope, c.kind == kind.value)
        )
    if words:
        # A word added again changes kind (removed → added) rather than being refused.
        await session.execute(
            sa.delete(WORD).where(c.rule_id == rule_id, c.scope == scope, c.word.in_(list(words)))
        )
        now = utcnow()
        await session.execute(
            sa.insert(WORD),
            [
                {
                    "rule_id": rule_id,
                    "scope": scope,
                    "word": w,
                    "kind": kind.value,
                    "added_by": actor,
                    "added_at": now,
                }
                for w in words
            ],
        )


async def drop_words(session: AsyncSession, *, rule_id: str, scope: str, words: Sequence[str]) -> None:
    """Forget these words' entries (of either kind) in a scope."""
    if words:
        c = WORD.c
        await session.execute(
            sa.delete(WORD).where(c.rule_id == rule_id, c.scope == scope, c.word.in_(list(words)))
        )


async def word_counts(session: AsyncSession) -> dict[tuple[str, str, str], int]:
    """(rule_id, scope, kind) → entries."""
    c = WORD.c
    rows = (
        await session.execute(
            sa.select(c.rule_id, c.scope, c.kind, sa.func.count()).group_by(c.rule_id, c.scope, c.kind)
        )
    ).all()
    return {(str(r), str(s), str(k)): int(n) for r, s, k, n in rows}


# -- templates -------------------------------------------------------------------------------


async def template_overrides(session: AsyncSession) -> dict[str, str]:
    rows = (await session.execute(sa.select(TEMPLATE.c.name, TEMPLATE.c.body))).all()
    return {str(name): str(body) for name, body in rows}


async def set_template(session: AsyncSession, *, name: str, body: str, actor: str) -> None:
    await session.execute(sa.delete(TEMPLATE).where(TEMPLATE.c.name == name))
    await session.execute(
        sa.insert(TEMPLATE).values(name=name, body=body, updated_by=actor, updated_at=utcnow())
    )


async def delete_template(session: AsyncSession, *, name: str) -> None:
    await session.execute(sa.delete(TEMPLATE).where(TEMPLATE.c.name == name))
