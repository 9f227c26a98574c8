"""Content judgments: every group message judged once, its violations, and the strikes they
leave on a member's record (REGULATIONS.md C1–C14; strikes expire, default 30 days)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.base import json_field, ts_field


class JudgedMessage(SQLModel, table=True):
    """One group message as judged: which checks ran and the worst verdict. The text itself is
    not kept for messages that broke no rule (only its canonical hash, for C8's same-text count)."""

    __tablename__ = "judged_message"
    __table_args__ = (
        sa.UniqueConstraint("source", "msg_id", name="uq_judged_message_source_msg_id"),
        sa.Index("ix_judged_message_recent", "chat_id", "sender", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)  # archive | aibot | app
    msg_id: str = Field(max_length=255)
    chat_id: str = Field(max_length=128)
    sender: str = Field(max_length=128)
    sent_at: datetime = ts_field()
    msg_type: str = Field(max_length=32)
    text_hash: str = Field(max_length=32, index=True)  # canonical text: a bot copy is the same message
    chars: int = 0
    verdict: str = Field(max_length=16)  # the worst verdict of its decisions (allow when none)
    checks: list[str] | None = json_field()  # every policy that ran, the passing ones included
    sanctionable: bool = True  # False: sent before its group was registered, or a copy judged elsewhere
    judged_at: datetime = ts_field()


class ViolationStatus(StrEnum):
    ACTED = "acted"  # the service decided and acted (or, in observe mode, recorded) on its own
    OPEN = "open"  # waits for a human: advice to an owner, or weak evidence for review
    HANDLED = "handled"  # an admin says it was dealt with
    DISMISSED = "dismissed"  # an admin says it broke no rule: its strike no longer counts


class Violation(SQLModel, table=True):
    """A decision that was not an allow, with its evidence and the actions it caused."""

    __tablename__ = "violation"
    __table_args__ = (
        sa.UniqueConstraint("judged_message_id", "policy", name="uq_violation_judged_message_id"),
        sa.Index("ix_violation_member", "member", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    judged_message_id: int = Field(foreign_key="judged_message.id")
    message_id: str = Field(max_length=255)  # WeCom's msgid
    chat_id: str = Field(max_length=128, index=True)
    member: str = Field(max_length=128)
    rule_id: str = Field(max_length=8, index=True)
    policy: str = Field(max_length=64)
    verdict: str = Field(max_length=16)
    reason: str = Field(max_length=2000)
    matched: str | None = Field(default=None, max_length=2000)
    span_start: int | None = None
    span_end: int | None = None
    evidence: list[Any] | None = json_field()
    text: str | None = Field(default=None, max_length=8000)  # the message, kept as evidence
    mode: str = Field(max_length=16)  # the group's mode when decided: enforce | advise | observe
    exempt: bool = False  # the member was the owner, an admin or on the exemption list
    offence: int = 0  # which offence in its category this was (1 = first); 0 when nothing counts
    actions: list[int] | None = json_field()  # the outbox rows it planned
    at: datetime = ts_field()  # when the message was sent
    decided_at: datetime = ts_field()
    status: str = Field(default=ViolationStatus.ACTED, max_length=16, index=True)
    # The member withdrew the message (what a warning asks: WeCom does not let us recall it).
    withdrawn_at: datetime | None = ts_field(nullable=True)
    resolved_by: str | None = Field(default=None, max_length=128)
    resolved_at: datetime | None = ts_field(nullable=True)
    resolution_note: str | None = Field(default=None, max_length=2000)


class StrikeStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Strike(SQLModel, table=True):
    """One offence on a member's record, per category (a rule id), across all groups.

    Append-only: revoking sets `revoked_at`, nothing is deleted; a strike counts while it is not
    revoked and `expires_at` is in the future."""

    __tablename__ = "strike"
    __table_args__ = (sa.Index("ix_strike_member_category", "member", "category", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    violation_id: int = Field(foreign_key="violation.id", unique=True)
    member: str = Field(max_length=128)
    category: str = Field(max_length=8)
    rule_id: str = Field(max_length=8)
    chat_id: str = Field(max_length=128)
    at: datetime = ts_field()
    expires_at: datetime = ts_field()
    revoked_at: datetime | None = ts_field(nullable=True)
    revoked_by: str | None = Field(default=None, max_length=128)
    revoke_reason: str | None = Field(default=None, max_length=2000)


class WordEntryKind(StrEnum):
    ADD = "add"  # matched in this scope besides the defaults
    REMOVE = "remove"  # a default (or global) word that this scope does not match


class WordEntry(SQLModel, table=True):
    """An admin's change to a rule's vocabulary, globally or for one group."""

    __tablename__ = "word_entry"
    __table_args__ = (sa.UniqueConstraint("rule_id", "scope", "word", name="uq_word_entry_rule_id"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(max_length=8)
    scope: str = Field(max_length=128)  # "global" or a chat id
    word: str = Field(max_length=200)
    kind: str = Field(max_length=8)
    added_by: str = Field(max_length=128)
    added_at: datetime = ts_field()


class MessageTemplate(SQLModel, table=True):
    """An admin's wording of a member-facing text (the defaults live in app.content.templates)."""

    __tablename__ = "message_template"

    name: str = Field(primary_key=True, max_length=64)
    body: str = Field(max_length=4000)
    updated_by: str = Field(max_length=128)
    updated_at: datetime = ts_field()
