"""The chat archive's read position: the last seq stored, per seq space (app.archive)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import ts_field


class ArchiveCursor(SQLModel, table=True):
    """Moves only in the transaction that stores the messages up to `seq` as inbound events, so
    a crash between a fetch and its commit neither loses nor repeats a message."""

    __tablename__ = "archive_cursor"

    # "wecom:<corpid>" (the SDK and the bridge read the same archive) or "simulator:<corpid>"
    source: str = Field(primary_key=True, max_length=128)
    seq: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    messages: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))  # stored so far
    # WARDEN_ARCHIVE_START=latest: messages sent before the first start are passed over, not stored.
    skip_before: datetime | None = ts_field(nullable=True)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
