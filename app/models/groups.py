"""The groups registry: which WeCom chats the service watches, how, their rosters and policy versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import json_field, ts_field


class GroupKind(StrEnum):
    APP = "app"  # created by this app (appchat/create): the service can remove members
    CUSTOMER = "customer"  # 客户群 (externalcontact/groupchat): advise or observe only
    INTERNAL = "internal"  # created by people, seen in the chat archive: no roster API


class MemberKind(StrEnum):
    INTERNAL = "internal"  # a WeCom userid of the company
    EXTERNAL = "external"  # an external contact (wm…/wo…)


class RosterChangeKind(StrEnum):
    JOINED = "joined"
    LEFT = "left"


class Group(SQLModel, table=True):
    """A registered group. (`group` is an SQL keyword, hence the table name.)"""

    __tablename__ = "chat_group"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=16)
    mode: str = Field(max_length=16)
    name: str = Field(default="", max_length=200)
    purpose: str = Field(default="", max_length=2000)
    owner: str = Field(default="", max_length=128)
    admins: list[str] | None = json_field()  # set by admins through the API
    wecom_admins: list[str] | None = json_field()  # a customer group's admin_list as WeCom has it
    notice_authors: list[str] | None = json_field()
    exempt: list[str] | None = json_field()
    # The group robot's webhook key: a secret, written through the API, never answered or logged.
    robot_key: str | None = Field(default=None, max_length=255)
    # The room id the chat archive uses for this group (default: the chat id).
    archive_room_id: str = Field(max_length=128, unique=True)
    policy_version: int | None = None
    registered_at: datetime = ts_field()
    registered_by: str = Field(max_length=128)
    updated_at: datetime | None = ts_field(nullable=True)
    updated_by: str | None = Field(default=None, max_length=128)
    roster_synced_at: datetime | None = ts_field(nullable=True)


class GroupMember(SQLModel, table=True):
    """One person on a group's roster, present or gone (kept, with when they left)."""

    __tablename__ = "group_member"
    __table_args__ = (sa.UniqueConstraint("chat_id", "userid"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=128)
    userid: str = Field(max_length=128)
    kind: str = Field(default=MemberKind.INTERNAL, max_length=16)
    joined_at: datetime | None = ts_field(nullable=True)  # WeCom's join_time, else when first seen
    join_scene: int | None = None  # customer groups: 1 invited directly, 2 invite link, 3 QR code
    invited_by: str | None = Field(default=None, max_length=128)
    display_name: str | None = Field(default=None, max_length=200)  # customer-group nickname
    present: bool = True
    left_at: datetime | None = ts_field(nullable=True)


class RosterChange(SQLModel, table=True):
    """Each join or leave a roster read found: append-only."""

    __tablename__ = "roster_change"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=128, index=True)
    userid: str = Field(max_length=128)
    change: str = Field(max_length=16)
    at: datetime = ts_field()
    source: str = Field(max_length=32)  # register | sync | daily
    actor: str = Field(max_length=128)


class PolicyVersion(SQLModel, table=True):
    """A group's policy document, one row per version (the group points at the active one)."""

    __tablename__ = "policy_version"
    __table_args__ = (sa.UniqueConstraint("chat_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=128)
    version: int
    document: dict[str, Any] | None = json_field()
    author: str = Field(max_length=128)
    created_at: datetime = ts_field()
    rolled_back_from: int | None = None  # the version this one copies (a rollback)
