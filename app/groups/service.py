"""The groups registry: register, create, change and re-read groups; their policy versions.

Other domains use the module-level functions (`get_group`, `group_for_room`, `members`,
`is_privileged`, `robot_key`, `active_policy`) inside their own transaction; never the repository.

WeCom is read before a transaction opens, never inside one (SQLite takes its write lock at BEGIN:
a slow WeCom answer must not hold every other writer). A refusal from WeCom keeps its errcode in
the answer: 86008 (not this app's chat) → 409, 86003/40050 (no such chat) → 404.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.actions import ActionPlanner
from app.db import session_scope
from app.errors import AppError, Conflict, Invalid, NotFound
from app.groups import repository
from app.groups.policy import PRESETS, preset_document, validate_document
from app.groups.repository import RosterEntry
from app.groups.schemas import (
    GroupIn,
    GroupOut,
    GroupPatch,
    MemberOut,
    PolicyOut,
    PresetOut,
    SyncOut,
)
from app.logs import log_event
from app.models import (
    Action,
    ActionKind,
    ActionStatus,
    Group,
    GroupKind,
    GroupMember,
    MemberKind,
    PolicyVersion,
    table_of,
)
from app.wecom.codes import ErrCode
from app.wecom.reader import WeComError, WeComReader
from policies.base import GroupMode

Clock = Callable[[], datetime]
# Runs one planned action now and returns its status: `Executor.execute`, the only WeCom writer.
Execute = Callable[[int], Awaitable[str]]

SYSTEM_ACTOR = "system"
ROBOT_KEY_MAX = 255
CREATED_CHATID_PREFIX = "wd"  # + 30 hex: WeCom's chatid is ≤ 32 characters of [0-9a-zA-Z]
NO_SUCH_CHAT = frozenset({ErrCode.CHATID_NOT_FOUND, ErrCode.CHATID_NOT_EXIST})
# appchat/create refusals that name a field of the request.
CREATE_FIELD_OF: dict[int, str] = {
    ErrCode.INVALID_CHAT_NAME: "name",
    ErrCode.INVALID_CHAT_OWNER: "owner",
    ErrCode.CHAT_MEMBER_COUNT: "members",
    ErrCode.INVALID_CHAT_MEMBER: "members",
    ErrCode.INVALID_USERID_LIST: "members",
}
ENFORCE_REFUSED = (
    "mode: enforce needs kind app: WeCom cannot remove members of a customer or internal group "
    "(use advise or observe)"
)


class WeComRefused(AppError):
    """WeCom answered an errcode the registry has no better status for."""

    status_code = 502


class WeComBusy(AppError):
    """WeCom was busy or unreachable: nothing was changed; try again."""

    status_code = 503


# -- what other domains use ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A registered group as other domains see it (the robot key stays behind `robot_key`)."""

    chat_id: str
    kind: GroupKind
    mode: GroupMode
    name: str
    owner: str
    admins: tuple[str, ...]  # set through the API and, for customer groups, WeCom's admin_list
    notice_authors: tuple[str, ...]
    exempt: tuple[str, ...]
    robot: bool
    policy_version: int | None
    archive_room_id: str
    registered_at: datetime

    @property
    def privileged(self) -> frozenset[str]:
        """Owner, admins and the exemption list: never struck."""
        return frozenset({self.owner, *self.admins, *self.exempt} - {""})


@dataclass(frozen=True, slots=True)
class MemberInfo:
    userid: str
    kind: MemberKind
    display_name: str | None
    joined_at: datetime | None
    present: bool
    left_at: datetime | None


def _info(group: Group) -> GroupInfo:
    admins = dict.fromkeys([*(group.admins or []), *(group.wecom_admins or [])])
    return GroupInfo(
        chat_id=group.chat_id,
        kind=GroupKind(group.kind),
        mode=GroupMode(group.mode),
        name=group.name,
        owner=group.owner,
        admins=tuple(admins),
        notice_authors=tuple(group.notice_authors or []),
        exempt=tuple(group.exempt or []),
        robot=bool(group.robot_key),
        policy_version=group.policy_version,
        archive_room_id=group.archive_room_id,
        registered_at=group.registered_at,
    )


def info_of(group: Group) -> GroupInfo:
    """A group row as the other domains see it (for their own queries that read the row)."""
    return _info(group)


async def get_group(session: AsyncSession, chat_id: str) -> GroupInfo | None:
    group = await repository.get_group(session, chat_id)
    return _info(group) if group else None


async def group_for_room(session: AsyncSession, roomid: str) -> GroupInfo | None:
    """The group whose chat-archive room id is `roomid` (by default its chat id)."""
    group = await repository.group_for_room(session, roomid)
    return _info(group) if group else None


async def members(session: AsyncSession, chat_id: str, *, present_only: bool = True) -> list[MemberInfo]:
    rows = await repository.list_members(session, chat_id, present=True if present_only else None)
    return [
        MemberInfo(m.userid, MemberKind(m.kind), m.display_name, m.joined_at, m.present, m.left_at)
        for m in rows
    ]


async def is_privileged(session: AsyncSession, chat_id: str, userid: str) -> bool:
    """The group's owner, an admin (ours or WeCom's) or on its exemption list."""
    group = await get_group(session, chat_id)
    return group is not None and userid in group.privileged


async def robot_key(session: AsyncSession, chat_id: str) -> str | None:
    """The group robot's webhook key, for the executor alone. Never log or answer it."""
    group = await repository.get_group(session, chat_id)
    return group.robot_key if group else None


async def active_policy(session: AsyncSession, chat_id: str) -> dict[str, Any] | None:
    """The document of the group's active policy version."""
    group = await repository.get_group(session, chat_id)
    if group is None or group.policy_version is None:
        return None
    row = await repository.policy_version(session, chat_id, group.policy_version)
    return dict(row.document or {}) if row else None


# -- reading rosters from WeCom ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Roster:
    name: str
    owner: str
    admins: list[str]
    entries: list[RosterEntry]


def _refusal(exc: WeComError, endpoint: str, chat_id: str) -> AppError:
    code, said = exc.errcode, f"WeCom {endpoint} errcode {exc.errcode}"
    if code == ErrCode.NOT_OWN_CHAT:
        return Conflict(
            f"{said}: chat {chat_id} was not created by this app, so the app can neither read its roster "
            "nor remove anyone; register it as kind internal (advise or observe)"
        )
    if code in NO_SUCH_CHAT:
        return NotFound(f"{said}: chat {chat_id} does not exist")
    if exc.transient:
        return WeComBusy(f"{said}: {exc.errmsg[:200]}; nothing was changed, try again")
    return WeComRefused(f"{said}: {exc.errmsg[:200]}")


def _when(unix: Any) -> datetime | None:
    return datetime.fromtimestamp(int(unix), UTC) if unix else None


async def read_roster(wecom: WeComReader, kind: GroupKind, chat_id: str) -> Roster:
    """Owner, admins and members as WeCom lists them now (app and customer groups)."""
    if kind is GroupKind.APP:
        try:
            info = await wecom.appchat_get(chat_id)
        except WeComError as exc:
            raise _refusal(exc, "appchat/get", chat_id) from exc
        userids = [str(u) for u in info.get("userlist") or []]
        name, owner = str(info.get("name") or ""), str(info.get("owner") or "")
        return Roster(name, owner, [], [RosterEntry(u) for u in userids])
    if kind is GroupKind.CUSTOMER:
        try:
            chat = await wecom.groupchat_get(chat_id)
        except WeComError as exc:
            raise _refusal(exc, "externalcontact/groupchat/get", chat_id) from exc
        entries = [
            RosterEntry(
                userid=str(m["userid"]),
                kind=MemberKind.EXTERNAL if int(m.get("type") or 1) == 2 else MemberKind.INTERNAL,
                joined_at=_when(m.get("join_time")),
                join_scene=int(m["join_scene"]) if m.get("join_scene") is not None else None,
                invited_by=str((m.get("invitor") or {}).get("userid") or "") or None,
                display_name=str(m.get("group_nickname") or "") or None,
            )
            for m in chat.get("member_list") or []
        ]
        admins = [str(a["userid"]) for a in chat.get("admin_list") or []]
        return Roster(str(chat.get("name") or ""), str(chat.get("owner") or ""), admins, entries)
    raise Conflict(
        f"chat {chat_id} is an internal group: WeCom has no API that lists its members "
        "(they are learned from the chat archive)"
    )


# -- the registry ---------------------------------------------------------------------------------------


def _robot_key(secret: SecretStr | None) -> str | None:
    if secret is None:
        return None
    key = secret.get_secret_value().strip()
    if not key or len(key) > ROBOT_KEY_MAX:  # never echo the value
        raise Invalid(f"robot_key: must be 1 to {ROBOT_KEY_MAX} characters")
    return key


def _userids(values: Sequence[str], field: str) -> list[str]:
    cleaned = list(dict.fromkeys(v.strip() for v in values))
    if any(not v or len(v) > 128 for v in cleaned):
        raise Invalid(f"{field}: every id must be 1 to 128 characters")
    return cleaned


class GroupsService:
    """The registry's writes and reads for the API and the daily roster job."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        wecom: WeComReader,
        *,
        clock: Clock,
        planner: ActionPlanner | None = None,
        execute: Execute | None = None,
    ) -> None:
        self._sessions = sessions
        self._wecom = wecom
        self._clock = clock
        self._planner = planner
        self._execute = execute

    # -- register -------------------------------------------------------------------------------

    async def register(self, body: GroupIn, actor: str) -> GroupOut:
        kind = body.kind
        mode = body.mode or (GroupMode.ENFORCE if kind is GroupKind.APP else GroupMode.ADVISE)
        if mode is GroupMode.ENFORCE and kind is not GroupKind.APP:
            raise Invalid(ENFORCE_REFUSED)
        document = preset_document(body.preset)
        key = _robot_key(body.robot_key)
        admins = _userids(body.admins, "admins")
        notice_authors = _userids(body.notice_authors, "notice_authors")
        exempt = _userids(body.exempt, "exempt")
        if body.chat_id is None:
            if kind is not GroupKind.APP:
                raise Invalid("chat_id: required; only app groups can be created (appchat/create)")
        elif body.members is not None:
            raise Invalid("members: only when creating a group (no chat_id); a roster comes from WeCom")
        if kind is GroupKind.INTERNAL and not body.owner:
            raise Invalid("owner: required for an internal group (WeCom has no API that reads it)")
        if body.chat_id is not None:
            await self._refuse_taken(body.chat_id, body.archive_room_id or body.chat_id)
            chat_id, created = body.chat_id, False
        else:
            if body.archive_room_id:
                await self._refuse_taken(None, body.archive_room_id)
            chat_id, created = await self._create_app_chat(body, actor), True
        roster = None if kind is GroupKind.INTERNAL else await read_roster(self._wecom, kind, chat_id)
        now = self._clock()
        group = Group(
            chat_id=chat_id,
            kind=kind,
            mode=mode,
            name=body.name or (roster.name if roster else ""),
            purpose=body.purpose,
            owner=roster.owner if roster else str(body.owner),
            admins=admins,
            wecom_admins=roster.admins if roster else [],
            notice_authors=notice_authors,
            exempt=exempt,
            robot_key=key,
            archive_room_id=body.archive_room_id or chat_id,
            policy_version=1,
            registered_at=now,
            registered_by=actor,
            roster_synced_at=now if roster else None,
        )
        try:
            async with session_scope(self._sessions) as session:
                session.add(group)
                session.add(
                    PolicyVersion(chat_id=chat_id, version=1, document=document, author=actor, created_at=now)
                )
                await session.flush()
                if roster:
                    await repository.apply_roster(
                        session,
                        chat_id,
                        roster.entries,
                        now=now,
                        source="register",
                        actor=actor,
                        first_read=not created,
                    )
                out = await self._out(session, group)
        except sa.exc.IntegrityError:
            raise Conflict(f"chat {chat_id} (or its archive room) is already registered") from None
        log_event(
            "groups.registered",
            chat=chat_id,
            kind=kind.value,
            mode=mode.value,
            created=created,
            members=out.member_count,
            robot=out.robot,
            preset=body.preset,
            admin=actor,
        )
        return out

    async def _refuse_taken(self, chat_id: str | None, room: str) -> None:
        async with session_scope(self._sessions) as session:
            if chat_id is not None and await repository.get_group(session, chat_id):
                raise Conflict(f"chat {chat_id} is already registered")
            other = await repository.group_for_room(session, room)
        if other is not None:
            raise Conflict(f"archive_room_id: room {room} is already the room of group {other.chat_id}")

    async def _create_app_chat(self, body: GroupIn, actor: str) -> str:
        """appchat/create (M10), through the executor and the outbox.

        The design lets only the executor write to WeCom, from a queued action. Creating a group
        is the one write API.md wants answered in the request (201 with the new group), so the
        request plans the action without queueing it and runs it with `Executor.execute` itself:
        the executor still makes the call and records it (done or failed with WeCom's answer,
        dry_run, or unknown after a timeout), and nothing else calls WeCom's writer. The chat id
        is ours (WeCom accepts one), so an `unknown` outcome names the chat an admin can check."""
        if self._planner is None or self._execute is None:
            raise RuntimeError("creating a group needs the planner and the executor")
        for field in ("name", "owner", "members"):
            if not getattr(body, field):
                raise Invalid(f"{field}: required to create a group (appchat/create)")
        assert body.owner is not None and body.members is not None
        userlist = _userids([body.owner, *body.members], "members")
        if len(userlist) < 2:
            raise Invalid("members: a group needs at least 2 members, the owner included")
        chatid = CREATED_CHATID_PREFIX + secrets.token_hex(15)
        async with session_scope(self._sessions) as session:
            planned = await self._planner.plan(
                session,
                kind=ActionKind.CREATE_GROUP,
                params={"name": body.name, "owner": body.owner, "userlist": userlist, "chatid": chatid},
                idempotency_key=f"appchat-create:{chatid}",
                reason="M10: group created through POST /api/v1/groups",
                requested_by=actor,
                queue=False,
            )
        try:
            status = await self._execute(planned.id)
        except WeComError as exc:  # busy or a stale token: the executor put it back to planned
            await self._abandon(planned.id, exc)
            raise WeComBusy(
                f"WeCom appchat/create errcode {exc.errcode}: busy; no group was created, try again"
            ) from exc
        async with session_scope(self._sessions) as session:
            action = await session.get(Action, planned.id)
        assert action is not None
        if status == ActionStatus.DONE:
            return str((action.result or {}).get("chatid") or chatid)
        if status == ActionStatus.FAILED:
            code = int(action.wecom_errcode or 0)
            errmsg = (action.wecom_errmsg or "")[:200]
            said = f"WeCom appchat/create errcode {code}: {errmsg} (action {action.id})"
            named = CREATE_FIELD_OF.get(code)
            if named:
                raise Invalid(f"{named}: {said}")
            raise WeComRefused(said)
        if status == ActionStatus.DRY_RUN:
            raise Conflict(
                f"WARDEN_DRY_RUN is on: appchat/create was recorded as action {action.id}, not called; "
                "no group was created"
            )
        raise WeComRefused(
            f"appchat/create may or may not have created chat {chatid} (action {action.id} is {status}): "
            f'check WeCom, adopt it with {{"chat_id": "{chatid}", "kind": "app"}} and rule on the action'
        )

    async def _abandon(self, action_id: int, exc: WeComError) -> None:
        """The request answers now and nothing will retry: the action must not wait as `planned`."""
        c = table_of(Action).c
        async with session_scope(self._sessions) as session:
            await session.execute(
                sa.update(table_of(Action))
                .where(c.id == action_id, c.status == ActionStatus.PLANNED)
                .values(
                    status=ActionStatus.FAILED,
                    finished_at=self._clock(),
                    wecom_errcode=exc.errcode,
                    wecom_errmsg=f"{exc.errmsg[:1800]}: not retried; the request answered 503",
                )
            )

    # -- read and change ---------------------------------------------------------------------

    async def _out(self, session: AsyncSession, group: Group) -> GroupOut:
        counts = await repository.member_counts(session, [group.chat_id])
        return self._as_out(group, counts.get(group.chat_id, 0))

    @staticmethod
    def _as_out(group: Group, member_count: int) -> GroupOut:
        assert group.id is not None
        return GroupOut(
            id=group.id,
            chat_id=group.chat_id,
            kind=GroupKind(group.kind),
            mode=GroupMode(group.mode),
            name=group.name,
            purpose=group.purpose,
            owner=group.owner,
            admins=list(group.admins or []),
            wecom_admins=list(group.wecom_admins or []),
            notice_authors=list(group.notice_authors or []),
            exempt=list(group.exempt or []),
            robot=bool(group.robot_key),
            policy_version=group.policy_version,
            member_count=member_count,
            roster_api=group.kind != GroupKind.INTERNAL,
            archive_room_id=group.archive_room_id,
            registered_at=group.registered_at,
            registered_by=group.registered_by,
            updated_at=group.updated_at,
            updated_by=group.updated_by,
            roster_synced_at=group.roster_synced_at,
        )

    async def page(
        self, *, limit: int, before_id: int | None, kind: GroupKind | None, mode: GroupMode | None
    ) -> tuple[list[GroupOut], int | None, dict[str, int]]:
        """A page newest first (fetching one more row than shown), next_before_id, counts by mode."""
        async with session_scope(self._sessions) as session:
            rows = await repository.list_groups(
                session, limit=limit + 1, before_id=before_id, kind=kind, mode=mode
            )
            page = list(rows[:limit])
            counts = await repository.member_counts(session, [g.chat_id for g in page])
            by_mode = await repository.counts_by_mode(session)
        next_id = page[-1].id if len(rows) > limit and page else None
        return [self._as_out(g, counts.get(g.chat_id, 0)) for g in page], next_id, by_mode

    async def _group(self, session: AsyncSession, chat_id: str, *, for_update: bool = False) -> Group:
        group = await repository.get_group(session, chat_id, for_update=for_update)
        if group is None:
            raise NotFound(f"group {chat_id} is not registered")
        return group

    async def get(self, chat_id: str) -> GroupOut:
        async with session_scope(self._sessions) as session:
            return await self._out(session, await self._group(session, chat_id))

    async def update(self, chat_id: str, patch: GroupPatch, actor: str) -> GroupOut:
        given = patch.model_fields_set
        for field in ("mode", "name", "purpose", "archive_room_id"):
            if field in given and getattr(patch, field) is None:
                raise Invalid(f"{field}: cannot be null")
        key = _robot_key(patch.robot_key) if "robot_key" in given else None
        try:
            async with session_scope(self._sessions) as session:
                group = await self._group(session, chat_id, for_update=True)
                if patch.mode is not None:
                    if patch.mode is GroupMode.ENFORCE and group.kind != GroupKind.APP:
                        raise Invalid(ENFORCE_REFUSED)
                    group.mode = patch.mode
                for field in ("admins", "notice_authors", "exempt"):
                    if field in given:
                        setattr(group, field, _userids(getattr(patch, field) or [], field))
                if patch.name is not None:
                    group.name = patch.name
                if patch.purpose is not None:
                    group.purpose = patch.purpose
                if "robot_key" in given:
                    group.robot_key = key
                if patch.archive_room_id is not None and patch.archive_room_id != group.archive_room_id:
                    other = await repository.group_for_room(session, patch.archive_room_id)
                    if other is not None:
                        raise Conflict(
                            f"archive_room_id: room {patch.archive_room_id} is already the room of group "
                            f"{other.chat_id}"
                        )
                    group.archive_room_id = patch.archive_room_id
                group.updated_at, group.updated_by = self._clock(), actor
                await session.flush()
                out = await self._out(session, group)
        except sa.exc.IntegrityError:
            raise Conflict("archive_room_id: that room is already another group's") from None
        log_event("groups.updated", chat=chat_id, fields=",".join(sorted(given)), admin=actor)
        return out

    async def members_page(
        self, chat_id: str, *, limit: int, before_id: int | None, present: bool | None
    ) -> tuple[list[MemberOut], int | None, dict[str, int]]:
        async with session_scope(self._sessions) as session:
            await self._group(session, chat_id)
            rows = await repository.list_members(
                session, chat_id, limit=limit + 1, before_id=before_id, present=present
            )
            everyone = await repository.list_members(session, chat_id)
        page: list[GroupMember] = list(rows[:limit])
        next_id = page[-1].id if len(rows) > limit and page else None
        here = sum(1 for m in everyone if m.present)
        counts = {"present": here, "left": len(everyone) - here}
        return [MemberOut.model_validate(m, from_attributes=True) for m in page], next_id, counts

    # -- rosters ---------------------------------------------------------------------------------

    async def sync(self, chat_id: str, actor: str, *, source: str = "sync") -> SyncOut:
        """Re-read the roster from WeCom now: who joined, who left (present = false, left_at)."""
        async with session_scope(self._sessions) as session:
            kind = GroupKind((await self._group(session, chat_id)).kind)
        roster = await read_roster(self._wecom, kind, chat_id)  # before the transaction
        now = self._clock()
        async with session_scope(self._sessions) as session:
            group = await self._group(session, chat_id, for_update=True)
            diff = await repository.apply_roster(
                session,
                chat_id,
                roster.entries,
                now=now,
                source=source,
                actor=actor,
                first_read=group.roster_synced_at is None,
            )
            group.owner, group.wecom_admins, group.roster_synced_at = roster.owner, roster.admins, now
            await session.flush()
            out = await self._out(session, group)
        log_event(
            "groups.roster_synced",
            chat=chat_id,
            source=source,
            joined=len(diff.joined),
            left=len(diff.left),
            members=out.member_count,
            admin=actor,
        )
        return SyncOut(group=out, joined=diff.joined, left=diff.left)

    async def sync_all(self, local_date: date) -> None:
        """The daily roster job: every app and customer group. One group's failure does not stop
        the others; a busy WeCom fails the run at the end, so the job retries it (re-reading a
        roster twice changes nothing)."""
        async with session_scope(self._sessions) as session:
            chat_ids = await repository.all_chat_ids(session, kinds=[GroupKind.APP, GroupKind.CUSTOMER])
        busy = 0
        for chat_id in chat_ids:
            try:
                await self.sync(chat_id, SYSTEM_ACTOR, source="daily")
            except AppError as exc:
                busy += isinstance(exc, WeComBusy)
                log_event(
                    "groups.roster_sync_failed", chat=chat_id, status=exc.status_code, detail=exc.detail
                )
        log_event("groups.daily_sync", day=local_date.isoformat(), groups=len(chat_ids), busy=busy)
        if busy:
            raise RuntimeError(f"{busy} of {len(chat_ids)} rosters not read: WeCom was busy")

    # -- policy versions ------------------------------------------------------------------------

    @staticmethod
    def _policy_out(row: PolicyVersion, active: int | None) -> PolicyOut:
        assert row.id is not None
        return PolicyOut(
            id=row.id,
            chat_id=row.chat_id,
            version=row.version,
            document=dict(row.document or {}),
            author=row.author,
            created_at=row.created_at,
            rolled_back_from=row.rolled_back_from,
            active=row.version == active,
        )

    async def policy(self, chat_id: str) -> PolicyOut:
        async with session_scope(self._sessions) as session:
            group = await self._group(session, chat_id)
            row = (
                await repository.policy_version(session, chat_id, group.policy_version)
                if group.policy_version is not None
                else None
            )
            if row is None:
                raise NotFound(f"group {chat_id} has no policy")
            return self._policy_out(row, group.policy_version)

    async def _add_version(
        self, chat_id: str, actor: str, document: dict[str, Any] | None, *, rollback_to: int | None = None
    ) -> PolicyOut:
        async with session_scope(self._sessions) as session:
            group = await self._group(session, chat_id, for_update=True)
            if rollback_to is not None:
                old = await repository.policy_version(session, chat_id, rollback_to)
                if old is None:
                    raise NotFound(f"group {chat_id} has no policy version {rollback_to}")
                document = dict(old.document or {})
            version = await repository.latest_version_number(session, chat_id) + 1
            row = PolicyVersion(
                chat_id=chat_id,
                version=version,
                document=document,
                author=actor,
                created_at=self._clock(),
                rolled_back_from=rollback_to,
            )
            session.add(row)
            group.policy_version = version
            await session.flush()
            out = self._policy_out(row, version)
        log_event(
            "groups.policy_version", chat=chat_id, version=version, rollback_to=rollback_to, admin=actor
        )
        return out

    async def put_policy(self, chat_id: str, document: dict[str, Any], actor: str) -> PolicyOut:
        """A new version from a validated document (an invalid one changes nothing: 422)."""
        return await self._add_version(chat_id, actor, validate_document(document))

    async def rollback(self, chat_id: str, version: int, actor: str) -> PolicyOut:
        """A new version equal to `version` (history is never rewritten)."""
        return await self._add_version(chat_id, actor, None, rollback_to=version)

    async def policy_versions(
        self, chat_id: str, *, limit: int, before_id: int | None
    ) -> tuple[list[PolicyOut], int | None]:
        async with session_scope(self._sessions) as session:
            group = await self._group(session, chat_id)
            rows = await repository.list_policy_versions(
                session, chat_id, limit=limit + 1, before_id=before_id
            )
        page = list(rows[:limit])
        next_id = page[-1].id if len(rows) > limit and page else None
        return [self._policy_out(r, group.policy_version) for r in page], next_id


def presets() -> list[PresetOut]:
    return [PresetOut(name=name, document=preset_document(name)) for name in PRESETS]
