"""SQLModel tables. Every row that records an act keeps who, when, why and WeCom's answer."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use app.models.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))


class EventSource(StrEnum):
    APP = "app"  # self-built app XML callback
    AIBOT = "aibot"  # AI bot JSON callback


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class InboundEvent(SQLModel, table=True):
    """One verified, decrypted callback; `dedupe_key` makes WeCom's retries land once."""

    __tablename__ = "inbound_event"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)
    source: str = Field(max_length=16)
    msg_type: str = Field(max_length=64)
    event: str | None = Field(default=None, max_length=64)
    change_type: str | None = Field(default=None, max_length=64)
    from_user: str | None = Field(default=None, max_length=128)
    chat_id: str | None = Field(default=None, max_length=128)
    create_time: int | None = None  # WeCom's CreateTime (unix seconds)
    received_at: datetime = _ts(index=True)
    processed_at: datetime | None = _ts(nullable=True)
    status: str = Field(default=EventStatus.RECEIVED, max_length=16, index=True)
    # The decrypted plaintext, needed by the worker; never returned by the admin API.
    payload: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    record_kind: str | None = Field(default=None, max_length=64)
    record: dict[str, Any] | None = _json()
    error: str | None = Field(default=None, max_length=2000)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"  # gave up after max_attempts; admins can see and retry it


class Job(SQLModel, table=True):
    """A durable unit of work or a timer: runs at or after `due_at`, at least once."""

    __tablename__ = "job"
    __table_args__ = (sa.Index("ix_job_claim", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    payload: dict[str, Any] | None = _json()
    # Optional uniqueness for timers ("ack-reminder:42"): enqueueing twice keeps one row.
    key: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default=JobStatus.QUEUED, max_length=16)
    due_at: datetime = _ts()
    attempts: int = 0
    max_attempts: int = 8
    lease_until: datetime | None = _ts(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)


class ActionKind(StrEnum):
    REMOVE_MEMBER = "remove_member"  # appchat/update del_user_list
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
    params: dict[str, Any] | None = _json()
    reason: str = Field(default="", max_length=2000)
    requested_by: str = Field(default="system", max_length=128)
    status: str = Field(default=ActionStatus.PLANNED, max_length=16, index=True)
    attempts: int = 0
    created_at: datetime = _ts()
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    wecom_endpoint: str | None = Field(default=None, max_length=128)
    wecom_errcode: int | None = None
    wecom_errmsg: str | None = Field(default=None, max_length=2000)
    wecom_msgid: str | None = Field(default=None, max_length=255)
    result: dict[str, Any] | None = _json()


class AdminToken(SQLModel, table=True):
    """Bearer tokens for the admin API, stored only as SHA-256 hashes."""

    __tablename__ = "admin_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
