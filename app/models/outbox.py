"""The outbox: every act on WeCom, planned or done, with WeCom's answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.base import json_field, ts_field


class ActionKind(StrEnum):
    REMOVE_MEMBER = "remove_member"  # appchat/update del_user_list
    CREATE_GROUP = "create_group"  # appchat/create (POST /api/v1/groups, run in the request)
    SEND_GROUP_MESSAGE = "send_group_message"  # appchat/send
    SEND_ROBOT_MESSAGE = "send_robot_message"  # webhook/send?key=
    SEND_PRIVATE_MESSAGE = "send_private_message"  # message/send
    RECALL_MESSAGE = "recall_message"  # message/recall (our own messages only)
    UPDATE_TEMPLATE_CARD = "update_template_card"  # message/update_template_card


class ActionStatus(StrEnum):
    PLANNED = "planned"
    EXECUTING = "executing"
    DONE = "done"
    FAILED = "failed"  # WeCom refused it (errcode recorded); not retried
    DRY_RUN = "dry_run"  # recorded what it would have done, called nothing
    UNKNOWN = "unknown"  # a non-idempotent call may or may not have reached WeCom: needs a human


class Action(SQLModel, table=True):
    """Outbox row: one act on WeCom, performed at most once per idempotency key."""

    __tablename__ = "action"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=64)
    params: dict[str, Any] | None = json_field()
    reason: str = Field(default="", max_length=2000)
    requested_by: str = Field(default="system", max_length=128)
    status: str = Field(default=ActionStatus.PLANNED, max_length=16, index=True)
    attempts: int = 0
    created_at: datetime = ts_field()
    started_at: datetime | None = ts_field(nullable=True)
    finished_at: datetime | None = ts_field(nullable=True)
    wecom_endpoint: str | None = Field(default=None, max_length=128)
    wecom_errcode: int | None = None
    wecom_errmsg: str | None = Field(default=None, max_length=2000)
    wecom_msgid: str | None = Field(default=None, max_length=255)
    # Every msgid this action delivered, oldest first (a re-planned send can deliver twice):
    # a recall of the action recalls them all.
    wecom_msgids: list[str] | None = json_field()
    result: dict[str, Any] | None = json_field()
    # An admin's ruling on an `unknown` action (done, failed or re-planned), and who made it.
    resolved_by: str | None = Field(default=None, max_length=128)
    resolved_at: datetime | None = ts_field(nullable=True)
    resolution_note: str | None = Field(default=None, max_length=2000)
