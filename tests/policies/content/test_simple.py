"""C6 long posts and C14 voice messages; every simple policy takes its document options."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policies.base import ChatMessage, MessageSource, Policy, PolicyContext, Remedy, Verdict, evaluate_all
from policies.content.flood import FloodPolicy
from policies.content.images import ImagesPolicy
from policies.content.length import LengthPolicy
from policies.content.quiet_hours import QuietHoursPolicy
from policies.content.voice import VoicePolicy
from policies.document import load_preset, parse_document

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
CTX = PolicyContext(now=NOW, timezone=ZoneInfo("Asia/Shanghai"))


def msg(text: str = "好", msg_type: str = "text", chat_id: str | None = "wrsales") -> ChatMessage:
    return ChatMessage("m1", "lisi", NOW, msg_type, text, MessageSource.ARCHIVE, chat_id=chat_id)


@pytest.mark.parametrize(
    ("text", "msg_type", "max_chars", "fires"),
    [
        ("字" * 200, "text", 200, False),  # exactly the limit
        ("字" * 201, "text", 200, True),
        ("a" * 201, "markdown", 200, True),
        ("字" * 201, "link", 200, False),  # a link card is what C6 asks for
        ("字" * 201, "file", 200, False),
        ("字" * 11, "text", 10, True),
        ("👍" * 10, "text", 10, False),  # characters, not bytes
    ],
)
def test_length(text: str, msg_type: str, max_chars: int, fires: bool) -> None:
    out = LengthPolicy(max_chars=max_chars).evaluate(msg(text, msg_type), CTX)
    if not fires:
        assert out == []
        return
    [d] = out
    assert (d.policy, d.rule_id, d.verdict) == ("long-posts", "C6", Verdict.REMIND)
    assert d.remedies == (Remedy.REMIND_PRIVATELY,)  # no strike
    assert d.reason == (
        f"C6 消息过长：本条 {len(text)} 字，群规每条不超过 {max_chars} 字。请改用链接或在线文档分享长内容。"
    )


def test_length_default_and_single_chat() -> None:
    assert LengthPolicy().evaluate(msg("字" * 201), CTX)
    assert LengthPolicy().evaluate(msg("字" * 201, chat_id=None), CTX) == []
    with pytest.raises(ValueError):
        LengthPolicy(max_chars=0)


@pytest.mark.parametrize(("msg_type", "fires"), [("voice", True), ("text", False), ("image", False)])
def test_voice(msg_type: str, fires: bool) -> None:
    out = VoicePolicy().evaluate(msg("", msg_type), CTX)
    assert len(out) == int(fires)
    if fires:
        assert (out[0].policy, out[0].rule_id, out[0].verdict) == ("voice-messages", "C14", Verdict.REMIND)
        assert out[0].remedies == (Remedy.REMIND_PRIVATELY,)
        assert out[0].reason.startswith("C14 ")


POLICIES: list[tuple[str, type[Any]]] = [
    ("C6", LengthPolicy),
    ("C7", QuietHoursPolicy),
    ("C8", FloodPolicy),
    ("C9", ImagesPolicy),
    ("C14", VoicePolicy),
]


@pytest.mark.parametrize("preset", ["work-group", "strict", "observe-only"])
@pytest.mark.parametrize(("rule_id", "cls"), POLICIES)
def test_built_from_document_options(preset: str, rule_id: str, cls: type[Any]) -> None:
    policy = cls(**load_preset(preset).options(rule_id))
    assert isinstance(policy, Policy)
    assert policy.rule_id == rule_id
    assert policy.name in {"long-posts", "quiet-hours", "flooding", "image-flood", "voice-messages"}


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        LengthPolicy(150)  # type: ignore[call-arg]


def test_quiet_hours_off_from_the_document() -> None:
    policy = QuietHoursPolicy(**parse_document({"C7": {"quiet_hours": None}}).options("C7"))
    assert policy.quiet_hours is None


def test_evaluate_all_records_an_allow_from_each() -> None:
    policies = [cls(**parse_document({}).options(r)) for r, cls in POLICIES]
    out = evaluate_all(policies, msg("字" * 201), CTX)
    assert [(d.rule_id, d.verdict) for d in out] == [
        ("C6", Verdict.REMIND),
        ("C7", Verdict.ALLOW),
        ("C8", Verdict.ALLOW),
        ("C9", Verdict.ALLOW),
        ("C14", Verdict.ALLOW),
    ]
