"""C8 flooding (刷屏): more than `max_messages` messages in `window_s` seconds from one member in one
group, or the same canonical text `same_text_count` times within `same_text_window_s` → a warning
that counts as an offence (ladder C8: warning, repeat: removal).

Counts come from the context (`PolicyContext.recent`), loaded by the service before the policy
runs, for this sender in this group, NOT counting the message being judged:

- `recent.messages`: messages with `now - window_s < sent_at <= now` (`count_in_window`);
- `recent.same_text`: messages whose canonical text has the same `text_key` within
  `same_text_window_s` (the canonical form is policies.normalize's; the key is a hash of it).

One burst is one offence: the flood fires when the count reaches the limit + 1 (the 7th message
within 30 s) and again at each further multiple (14th, 21st…), not on every message after it;
the same text fires at the 3rd repetition, the 6th… Both at once make one decision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict


def text_key(canonical: str) -> str:
    """The key the service stores per message to count "the same text" (hex, 32 characters)."""
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def count_in_window(times: Iterable[datetime], now: datetime, window_s: int) -> int:
    """How many of `times` fall in the window that ends at `now`: `now - window_s < t <= now`.
    A message exactly `window_s` old is outside; one later than `now` (out of order) is not
    counted. The caller leaves out the message being judged."""
    start = now - timedelta(seconds=window_s)
    return sum(1 for t in times if start < t <= now)


def every(nth: int, count: int) -> bool:
    """True at the nth, 2nth, 3nth… (count includes the message being judged)."""
    return count >= nth and count % nth == 0


def duration_zh(seconds: int) -> str:
    """30 → "30 秒", 600 → "10 分钟", 7200 → "2 小时"."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} 小时"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60} 分钟"
    return f"{seconds} 秒"


class FloodPolicy:
    """C8: no flooding, by rate and by repetition."""

    name = "flooding"
    rule_id = "C8"

    def __init__(
        self,
        *,
        max_messages: int = 6,
        window_s: int = 30,
        same_text_count: int = 3,
        same_text_window_s: int = 600,
    ) -> None:
        if max_messages < 1 or window_s < 1 or same_text_count < 2 or same_text_window_s < 1:
            raise ValueError("C8: limits must be ≥ 1 (same_text_count ≥ 2)")
        self.max_messages = max_messages
        self.window_s = window_s
        self.same_text_count = same_text_count
        self.same_text_window_s = same_text_window_s

    def evaluate(self, message: ChatMessage, context: PolicyContext) -> list[Decision]:
        if message.chat_id is None:
            return []
        recent = context.recent
        messages = recent.messages + 1
        same = recent.same_text + 1
        reasons: list[str] = []
        evidence: list[tuple[str, str]] = []
        if every(self.max_messages + 1, messages):
            reasons.append(
                f"{duration_zh(self.window_s)}内发了 {messages} 条消息（群规不超过 {self.max_messages} 条）"
            )
            evidence.append(("messages_in_window", f"{messages}/{self.window_s}s"))
        if every(self.same_text_count, same):
            reasons.append(f"{duration_zh(self.same_text_window_s)}内重复发送同一内容 {same} 次")
            evidence.append(("same_text_in_window", f"{same}/{self.same_text_window_s}s"))
        if not reasons:
            return []
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.WARN,
                f"C8 刷屏：{'，'.join(reasons)}。请合并成一条消息发送。",
                evidence=tuple(evidence),
                remedies=(Remedy.RECORD_STRIKE,),
            )
        ]
