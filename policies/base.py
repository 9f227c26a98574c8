"""What policies see and say: normalised subjects in, Decisions out. Imports nothing of ours.

Policies (later issues) are pure: `evaluate(subject, context) -> list[Decision]`. Handlers turn
whatever WeCom delivered into these subjects, so a policy never cares where a message came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class MessageSource(StrEnum):
    ARCHIVE = "archive"  # 会话内容存档, pulled after msgaudit_notify
    AIBOT = "aibot"  # group messages that @ the AI bot
    APP = "app"  # a member's message in single chat with the app


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message a member wrote, from any source."""

    msg_id: str
    sender: str
    sent_at: datetime
    msg_type: str
    text: str
    source: MessageSource
    chat_id: str | None = None  # None: single chat with the app
    mentions: tuple[str, ...] = ()
    quoted_msg_id: str | None = None


class MembershipScope(StrEnum):
    DIRECTORY = "directory"  # 通讯录: change_contact
    EXTERNAL_CHAT = "external_chat"  # 客户群: change_external_chat
    APP_CHAT = "app_chat"  # groups the app created


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """Someone joined, left, was created, changed or deleted (M rules)."""

    scope: MembershipScope
    change: str  # create_user | update_user | delete_user | add_member | del_member | …
    at: datetime
    user_ids: tuple[str, ...] = ()
    chat_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A member pressed a template-card button (A rules: the 收到 button)."""

    user: str
    at: datetime
    task_id: str
    event_key: str
    response_code: str | None = None
    card_type: str | None = None


class Verdict(StrEnum):
    ALLOW = "allow"
    REMIND = "remind"
    WARN = "warn"
    REMOVE = "remove"
    ADVISE = "advise"  # advised groups: tell the owner what to do; we cannot act there


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's finding, kept also when it allows (every check leaves a record)."""

    policy: str  # stable kebab name: ad-keywords, quiet-hours, …
    rule_id: str  # REGULATIONS.md id: C1, M5, A2, …
    verdict: Verdict
    reason: str
    span: tuple[int, int] | None = None
    remedies: tuple[str, ...] = ()
