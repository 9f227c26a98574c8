"""The simulated organisation: departments, members and groups, loaded from a YAML file.

YAML shape (see default_org.yaml):
  departments: [{id, name, parentid}]
  users: [{userid, name, department: [ids], status: 1|2|4|5, position?}]
  app_chats: [{chatid, name, owner, members: [userids], created_by_app: bool, robot_key?}]
  customer_groups: [{chat_id, name, owner, admins: [userids], notice?,
                     members: [{userid, type: 1|2, name?, join_scene?, invitor?, nickname?}]}]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

DEFAULT_ORG_PATH = Path(__file__).with_name("default_org.yaml")


class UserStatus(IntEnum):
    """user/get `status` (WECOM.md §4.6)."""

    ACTIVE = 1
    DISABLED = 2
    NOT_ACTIVATED = 4
    QUIT = 5


class MemberType(IntEnum):
    """Customer-group member_list `type` (WECOM.md §4.7)."""

    INTERNAL = 1
    EXTERNAL = 2


@dataclass(slots=True)
class Department:
    id: int
    name: str
    parentid: int
    order: int = 0


@dataclass(slots=True)
class User:
    userid: str
    name: str
    department: list[int]
    status: UserStatus = UserStatus.ACTIVE
    position: str = ""


@dataclass(slots=True)
class AppChat:
    """A group chat. `created_by_app` False: made by a person, so appchat/* answers 86008."""

    chatid: str
    name: str
    owner: str
    members: list[str]
    created_by_app: bool = True
    robot_key: str | None = None


@dataclass(slots=True)
class GroupMember:
    userid: str
    type: MemberType
    name: str = ""
    join_time: int = 0
    join_scene: int = 1  # 1 invited directly, 2 invite link, 3 QR code
    invitor: str | None = None
    nickname: str = ""  # 群昵称: only customer groups have one WeCom reports (group_nickname)


@dataclass(slots=True)
class CustomerGroup:
    chat_id: str
    name: str
    owner: str
    members: list[GroupMember]
    admins: list[str] = field(default_factory=list)
    notice: str = ""
    create_time: int = 0


@dataclass(slots=True)
class Org:
    departments: dict[int, Department] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    app_chats: dict[str, AppChat] = field(default_factory=dict)
    customer_groups: dict[str, CustomerGroup] = field(default_factory=dict)

    def robot_chat(self, key: str) -> AppChat | None:
        """The group whose robot has this webhook key."""
        return next((c for c in self.app_chats.values() if c.robot_key == key), None)


class OrgError(ValueError):
    """The org file is inconsistent (unknown user, duplicate id, …)."""


def _list(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OrgError(f"{name} must be a list of mappings")
    return value


def _known(org: Org, userids: list[str], where: str) -> list[str]:
    unknown = [u for u in userids if u not in org.users]
    if unknown:
        raise OrgError(f"{where}: unknown users {unknown}")
    return list(userids)


def parse_org(data: dict[str, Any], *, now: int | None = None) -> Org:
    """Build an Org from parsed YAML, checking that every reference resolves."""
    created = now if now is not None else int(time.time()) - 30 * 86400
    org = Org()
    for d in _list(data, "departments"):
        dept = Department(int(d["id"]), str(d["name"]), int(d.get("parentid", 0)), int(d.get("order", 0)))
        org.departments[dept.id] = dept
    for u in _list(data, "users"):
        user = User(
            str(u["userid"]),
            str(u["name"]),
            [int(x) for x in u.get("department", [1])],
            UserStatus(int(u.get("status", 1))),
            str(u.get("position", "")),
        )
        bad = [d for d in user.department if d not in org.departments]
        if bad:
            raise OrgError(f"user {user.userid}: unknown departments {bad}")
        org.users[user.userid] = user
    for c in _list(data, "app_chats"):
        chatid = str(c["chatid"])
        members = _known(org, [str(m) for m in c.get("members", [])], f"app chat {chatid}")
        owner = str(c["owner"])
        if owner not in members:
            raise OrgError(f"app chat {chatid}: owner {owner} is not a member")
        org.app_chats[chatid] = AppChat(
            chatid, str(c["name"]), owner, members, bool(c.get("created_by_app", True)), c.get("robot_key")
        )
    for g in _list(data, "customer_groups"):
        chat_id = str(g["chat_id"])
        group_members = [
            GroupMember(
                str(m["userid"]),
                MemberType(int(m.get("type", 1))),
                str(m.get("name", "")),
                int(m.get("join_time", created)),
                int(m.get("join_scene", 1)),
                m.get("invitor"),
                str(m.get("nickname", "")),
            )
            for m in _list(g, "members")
        ]
        _known(
            org,
            [m.userid for m in group_members if m.type is MemberType.INTERNAL],
            f"customer group {chat_id}",
        )
        owner = str(g["owner"])
        _known(org, [owner, *[str(a) for a in g.get("admins", [])]], f"customer group {chat_id}")
        org.customer_groups[chat_id] = CustomerGroup(
            chat_id,
            str(g["name"]),
            owner,
            group_members,
            [str(a) for a in g.get("admins", [])],
            str(g.get("notice", "")),
            int(g.get("create_time", created)),
        )
    return org


def load_org(path: Path | None = None) -> Org:
    """Load an org YAML file (the shipped default_org.yaml when `path` is None)."""
    source = path or DEFAULT_ORG_PATH
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise OrgError(f"{source}: the top level must be a mapping")
    return parse_org(data)
