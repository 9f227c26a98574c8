"""What policies see and say: normalised subjects in, Decisions out. Imports nothing of ours.

Policies (later issues) are pure: `evaluate(subject, context) -> list[Decision]`. Handlers turn
whatever WeCom delivered into these subjects, so a policy never cares where a message came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable


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
    mentions: tuple[str, ...] = ()  # userids where the source gives them (AI bot)
    quoted_msg_id: str | None = None
    quoted_text: str | None = None  # archive quote-replies embed the quoted words (WECOM.md #10)
    # URLs the message carries outside its text: link and weapp cards, news/markdown items (C2).
    links: tuple[str, ...] = ()
    # The chat archive's own words for what is not text: "image", "voice", "file", "revoke"…
    # `text` holds what a member can read (card titles, file names) so every policy sees it.


@dataclass(frozen=True, slots=True)
class MessageRecall:
    """A member withdrew a message they wrote (the chat archive's `revoke`): e.g. the message a
    warning asked them to withdraw."""

    msg_id: str  # the recall's own msgid
    recalled_msg_id: str  # revoke.pre_msgid: the message withdrawn
    sender: str
    at: datetime
    source: MessageSource
    chat_id: str | None = None


def is_external(userid: str) -> bool:
    """An external contact's id (客户: `wm…`, `wo…`) rather than a member of the organisation.
    The app cannot send them private messages (message/send reaches members only)."""
    return userid.startswith(("wm", "wo"))


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
    REVIEW = "review"  # weak evidence: a human decides; never a sanction


class Remedy(StrEnum):
    """What a decision asks the domain service to plan. The service turns remedies into actions
    within what WeCom allows for the group (an enforced group removes, an advised one advises)."""

    REMIND_PRIVATELY = "remind_privately"  # message/send to the member
    WARN_IN_GROUP = "warn_in_group"  # appchat/send or the group robot, quoting the rule
    REMOVE_MEMBER = "remove_member"  # appchat/update del_user_list (enforced groups only)
    ADVISE_OWNER = "advise_owner"  # tell the owner/admins what to do, with the evidence
    RECORD_STRIKE = "record_strike"  # an append-only strike row for the member's ladder
    REVIEW = "review"  # queue for a human


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's finding, kept also when it allows (every check leaves a record)."""

    policy: str  # stable kebab name: ad-keywords, quiet-hours, …
    rule_id: str  # REGULATIONS.md id: C1, M5, A2, …
    verdict: Verdict
    reason: str  # a sentence a member can read, in Chinese: 广告: 第2次, 第1次 2026-11-02
    span: tuple[int, int] | None = None  # indexes the original text (Python string offsets)
    matched: str | None = None  # the original text at `span`
    evidence: tuple[tuple[str, str], ...] = ()  # (kind, value): ("url", "http://…"), ("phone", …)
    remedies: tuple[Remedy, ...] = ()
    # The member is exempt (owner, admin, exemption list): recorded as found, never struck or sanctioned.
    exempt: bool = False

    def __post_init__(self) -> None:
        if self.verdict is Verdict.ALLOW and self.remedies:
            raise ValueError(f"{self.policy}: an allow carries no remedy")
        if self.span is not None and not 0 <= self.span[0] <= self.span[1]:
            raise ValueError(f"{self.policy}: bad span {self.span}")


class GroupMode(StrEnum):
    ENFORCE = "enforce"  # the app created the group: it removes members itself
    ADVISE = "advise"  # customer or people's groups: it tells the owner what to do
    OBSERVE = "observe"  # decide and record, never act


@dataclass(frozen=True, slots=True)
class RecentActivity:
    """The sender's recent activity in this group, counted by the service before this message,
    in the windows of the group's document (the message being judged is not counted).

    A row counts when `now - window < sent_at <= now` (policies.content.flood.count_in_window):
    a message exactly `window_s` old is outside.
    """

    messages: int = 0  # C8: the sender's messages in the last C8.window_s seconds
    same_text: int = 0  # C8: the sender's messages with the same canonical text in C8.same_text_window_s
    images: int = 0  # C9: the sender's images in the last C9.window_s seconds


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """Everything a policy may see, loaded by the domain service before any policy runs.

    Policies do no I/O: what they need is here or it does not exist for them. Counts are
    what the database held when the event's savepoint began; counting rows are append-only,
    so two events judged side by side never lose each other's strike (see DESIGN.md).
    """

    now: datetime  # the event's own time (CreateTime / msgtime), not the clock at processing
    timezone: tzinfo  # WARDEN_TIMEZONE: quiet hours and daily rules are in local time
    options: Mapping[str, Any] = field(default_factory=dict)  # this rule's entry of the document
    mode: GroupMode = GroupMode.OBSERVE
    chat_id: str | None = None
    exempt: bool = False  # the member is on the group's exemption list
    strikes: Mapping[str, int] = field(default_factory=dict)  # active strikes per category
    recent_messages: int = 0  # the sender's messages in the rule's window, before this one
    directory_status: str | None = None  # active | disabled | inactive | departed | None
    recent: RecentActivity = field(default_factory=RecentActivity)  # C8, C9 counters
    last_strike_at: Mapping[str, datetime] = field(default_factory=dict)  # latest active strike per category

    def local(self, moment: datetime | None = None) -> datetime:
        """A moment (default: now) in the organisation's time zone."""
        return (moment or self.now).astimezone(self.timezone)


S_contra = TypeVar("S_contra", contravariant=True)


@runtime_checkable
class Policy(Protocol[S_contra]):
    """One rule of REGULATIONS.md, configured from the group's policy document: a class whose
    docstring states the rule and its id, pure, no I/O."""

    name: str  # stable kebab name stored with every decision
    rule_id: str

    def evaluate(self, subject: S_contra, context: PolicyContext) -> list[Decision]: ...


def evaluate_all(
    policies: Sequence[Policy[S_contra]], subject: S_contra, context: PolicyContext
) -> list[Decision]:
    """Every policy's decisions, with an explicit allow from each policy that found nothing,
    so the stored record shows every check that ran (also the ones that passed)."""
    decisions: list[Decision] = []
    for policy in policies:
        found = policy.evaluate(subject, context)
        decisions.extend(found or [Decision(policy.name, policy.rule_id, Verdict.ALLOW, "")])
    return decisions
