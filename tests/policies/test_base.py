"""The policy contract: decisions that explain themselves, an allow from every check that ran."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from policies.base import (
    ChatMessage,
    Decision,
    MessageSource,
    Policy,
    PolicyContext,
    Remedy,
    Verdict,
    evaluate_all,
)

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
MSG = ChatMessage(
    msg_id="m1",
    sender="lisi",
    sent_at=NOW,
    msg_type="text",
    text="加我微信 abc123",
    source=MessageSource.ARCHIVE,
    chat_id="wrsales2024",
)


class TooLong:
    """C6: posts under `max_chars` characters."""

    name = "max-length"
    rule_id = "C6"

    def evaluate(self, subject: ChatMessage, context: PolicyContext) -> list[Decision]:
        limit = int(context.options.get("max_chars", 200))
        if len(subject.text) <= limit:
            return []
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.REMIND,
                f"超过{limit}字",
                span=(limit, len(subject.text)),
                remedies=(Remedy.REMIND_PRIVATELY,),
            )
        ]


class QuietHours:
    """C7: no chatting 22:00–07:30 local time."""

    name = "quiet-hours"
    rule_id = "C7"

    def evaluate(self, subject: ChatMessage, context: PolicyContext) -> list[Decision]:
        hour = context.local(subject.sent_at).hour
        if 7 <= hour < 22:
            return []
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.REMIND,
                "22:00后请勿发言",
                remedies=(Remedy.REMIND_PRIVATELY,),
            )
        ]


class TestContract:
    def test_policies_satisfy_the_protocol(self) -> None:
        assert isinstance(TooLong(), Policy) and isinstance(QuietHours(), Policy)

    def test_every_check_leaves_a_decision_and_local_time_is_used(self) -> None:
        ctx = PolicyContext(now=NOW, timezone=ZoneInfo("Asia/Shanghai"), options={"max_chars": 200})
        decisions = evaluate_all([TooLong(), QuietHours()], MSG, ctx)
        assert [(d.policy, d.verdict) for d in decisions] == [
            ("max-length", Verdict.ALLOW),
            ("quiet-hours", Verdict.REMIND),
        ]
        utc = PolicyContext(now=NOW, timezone=UTC)
        assert [d.verdict for d in evaluate_all([QuietHours()], MSG, utc)] == [Verdict.ALLOW]

    def test_an_allow_carries_no_remedy_and_spans_are_ordered(self) -> None:
        with pytest.raises(ValueError, match="allow carries no remedy"):
            Decision("x", "C1", Verdict.ALLOW, "", remedies=(Remedy.REMOVE_MEMBER,))
        with pytest.raises(ValueError, match="bad span"):
            Decision("x", "C1", Verdict.WARN, "广告", span=(5, 2))
