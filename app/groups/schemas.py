"""What the groups API reads and answers (API.md "Groups", "Policies"). The robot key is a
`SecretStr` on the way in and never on the way out: answers say `robot: true|false`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from app.groups.policy import DEFAULT_PRESET
from app.models import GroupKind, MemberKind
from policies.base import GroupMode

ChatId = Field(default=None, min_length=1, max_length=128)
UserIds = list[str]


class GroupIn(BaseModel):
    """POST /api/v1/groups: adopt an app chat, create one (no chat_id), or register a customer
    or internal group. `mode` defaults to enforce for app groups, advise for the others."""

    model_config = ConfigDict(extra="forbid")

    chat_id: str | None = ChatId
    kind: GroupKind
    mode: GroupMode | None = None
    name: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, min_length=1, max_length=128)
    members: UserIds | None = Field(default=None, max_length=2000, description="appchat/create only")
    purpose: str = Field(default="", max_length=2000)
    preset: str = DEFAULT_PRESET
    admins: UserIds = Field(default_factory=list, max_length=500)
    notice_authors: UserIds = Field(default_factory=list, max_length=500)
    exempt: UserIds = Field(default_factory=list, max_length=500)
    robot_key: SecretStr | None = Field(default=None, description="write-only: never answered")
    archive_room_id: str | None = Field(default=None, min_length=1, max_length=128)


class GroupPatch(BaseModel):
    """PATCH /api/v1/groups/{chat_id}: only the fields given change; `robot_key: null` removes it."""

    model_config = ConfigDict(extra="forbid")

    mode: GroupMode | None = None
    name: str | None = Field(default=None, max_length=200)
    purpose: str | None = Field(default=None, max_length=2000)
    admins: UserIds | None = Field(default=None, max_length=500)
    notice_authors: UserIds | None = Field(default=None, max_length=500)
    exempt: UserIds | None = Field(default=None, max_length=500)
    robot_key: SecretStr | None = None
    archive_room_id: str | None = Field(default=None, min_length=1, max_length=128)


class GroupOut(BaseModel):
    id: int
    chat_id: str
    kind: GroupKind
    mode: GroupMode
    name: str
    purpose: str
    owner: str
    admins: list[str]
    wecom_admins: list[str]  # a customer group's admins as WeCom lists them
    notice_authors: list[str]
    exempt: list[str]
    robot: bool
    policy_version: int | None
    member_count: int  # present members on the roster
    roster_api: bool  # false for internal groups: WeCom has no API that lists their members
    archive_room_id: str
    registered_at: datetime
    registered_by: str
    updated_at: datetime | None
    updated_by: str | None
    roster_synced_at: datetime | None


class MemberOut(BaseModel):
    id: int
    userid: str
    kind: MemberKind
    joined_at: datetime | None
    join_scene: int | None
    invited_by: str | None
    display_name: str | None
    present: bool
    left_at: datetime | None


class SyncOut(BaseModel):
    """POST …/sync: who joined and who left since the last read."""

    group: GroupOut
    joined: list[str]
    left: list[str]


class PolicyOut(BaseModel):
    id: int
    chat_id: str
    version: int
    document: dict[str, Any]
    author: str
    created_at: datetime
    rolled_back_from: int | None
    active: bool = False


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any]


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)


class PresetOut(BaseModel):
    name: str
    document: dict[str, Any]
