"""The durable job queue: work and timers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import json_field, ts_field


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
    payload: dict[str, Any] | None = json_field()
    # Optional uniqueness for timers ("ack-reminder:42"): enqueueing twice keeps one row.
    key: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default=JobStatus.QUEUED, max_length=16)
    due_at: datetime = ts_field()
    attempts: int = 0
    max_attempts: int = 8
    lease_until: datetime | None = ts_field(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = ts_field()
    finished_at: datetime | None = ts_field(nullable=True)
