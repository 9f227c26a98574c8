"""Admin API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import ts_field


class AdminToken(SQLModel, table=True):
    """Bearer tokens for the admin API, stored only as SHA-256 hashes."""

    __tablename__ = "admin_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = ts_field()
    last_used_at: datetime | None = ts_field(nullable=True)
    revoked_at: datetime | None = ts_field(nullable=True)
