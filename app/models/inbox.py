"""Verified callbacks as they arrived (the inbox)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import ts_field


class EventSource(StrEnum):
    APP = "app"  # self-built app XML callback
    AIBOT = "aibot"  # AI bot JSON callback
    ARCHIVE = "archive"  # a chat-archive message, pulled (app.archive)


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
    received_at: datetime = ts_field(index=True)
    processed_at: datetime | None = ts_field(nullable=True)
    status: str = Field(default=EventStatus.RECEIVED, max_length=16, index=True)
    # The decrypted plaintext, needed by the worker; never returned by the admin API.
    payload: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    record_kind: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=2000)
