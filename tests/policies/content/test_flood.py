"""C8 flooding and C9 image floods: thresholds, one offence per burst, window edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from policies.base import ChatMessage, MessageSource, PolicyContext, RecentActivity, Remedy, Verdict
from policies.content.flood import FloodPolicy, count_in_window, duration_zh, every, text_key
from policies.content.images import ImagesPolicy

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def msg(msg_type: str = "text", chat_id: str | None = "wrsales") -> ChatMessage:
    return ChatMessage("m1", "lisi", NOW, msg_type, "好", MessageSource.ARCHIVE, chat_id=chat_id)


def ctx(messages: int = 0, same_text: int = 0, images: int = 0) -> PolicyContext:
    recent = RecentActivity(messages=messages, same_text=same_text, images=images)
    return PolicyContext(now=NOW, timezone=SHANGHAI, recent=recent)


# (messages before this one in 30 s, same text before this one in 10 min) → fires?
FLOOD = [
    (0, 0, False),
    (5, 0, False),  # the 6th message: allowed ("more than 6")
    (6, 0, True),  # the 7th fires
    (7, 0, False),  # the 8th: the same burst, no second strike
    (12, 0, False),
    (13, 0, True),  # the 14th: another burst's worth
    (0, 1, False),  # the same text twice
    (0, 2, True),  # three times fires
    (0, 3, False),
    (0, 5, True),  # six times
    (6, 2, True),  # both at once: one decision
]


@pytest.mark.parametrize(("messages", "same", "fires"), FLOOD)
def test_flood_thresholds(messages: int, same: int, fires: bool) -> None:
    out = FloodPolicy().evaluate(msg(), ctx(messages=messages, same_text=same))
    if not fires:
        assert out == []
        return
    [d] = out
    assert d.rule_id == "C8" and d.policy == "flooding"
    assert d.verdict is Verdict.WARN and d.remedies == (Remedy.RECORD_STRIKE,)  # the ladder decides the rest
    assert d.reason.startswith("C8 刷屏：")


def test_flood_reasons_and_evidence() -> None:
    [d] = FloodPolicy().evaluate(msg(), ctx(messages=6, same_text=2))
    assert d.reason == (
        "C8 刷屏：30 秒内发了 7 条消息（群规不超过 6 条），10 分钟内重复发送同一内容 3 次。"
        "请合并成一条消息发送。"
    )
    assert d.evidence == (("messages_in_window", "7/30s"), ("same_text_in_window", "3/600s"))


def test_flood_options() -> None:
    policy = FloodPolicy(max_messages=4, window_s=10, same_text_count=2, same_text_window_s=60)
    assert policy.evaluate(msg(), ctx(messages=3)) == []
    assert policy.evaluate(msg(), ctx(messages=4))
    assert policy.evaluate(msg(), ctx(same_text=1))


def test_flood_ignores_single_chat() -> None:
    assert FloodPolicy().evaluate(msg(chat_id=None), ctx(messages=6)) == []


@pytest.mark.parametrize("bad", [{"max_messages": 0}, {"window_s": 0}, {"same_text_count": 1}])
def test_flood_refuses_bad_options(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        FloodPolicy(**bad)


# count_in_window: the window ends at `now` and is open at its start.
WINDOW = [
    (timedelta(seconds=0), True),  # at now
    (timedelta(seconds=29, microseconds=999999), True),
    (timedelta(seconds=30), False),  # exactly window_s old: out
    (timedelta(seconds=31), False),
    (timedelta(seconds=-1), False),  # later than now (out of order): not before this one
]


@pytest.mark.parametrize(("age", "counted"), WINDOW)
def test_count_in_window_edges(age: timedelta, counted: bool) -> None:
    assert count_in_window([NOW - age], NOW, 30) == int(counted)


def test_seven_messages_in_thirty_seconds_fire_and_spread_ones_do_not() -> None:
    burst = [NOW - timedelta(seconds=s) for s in (1, 5, 10, 15, 20, 29)]
    spread = [NOW - timedelta(seconds=s) for s in (1, 5, 10, 15, 20, 30)]
    assert FloodPolicy().evaluate(msg(), ctx(messages=count_in_window(burst, NOW, 30)))
    assert FloodPolicy().evaluate(msg(), ctx(messages=count_in_window(spread, NOW, 30))) == []


@pytest.mark.parametrize(
    ("nth", "count", "hit"), [(7, 6, False), (7, 7, True), (7, 8, False), (7, 14, True), (3, 0, False)]
)
def test_every(nth: int, count: int, hit: bool) -> None:
    assert every(nth, count) is hit


@pytest.mark.parametrize(
    ("s", "text"), [(30, "30 秒"), (90, "90 秒"), (600, "10 分钟"), (7200, "2 小时"), (60, "1 分钟")]
)
def test_duration_zh(s: int, text: str) -> None:
    assert duration_zh(s) == text


def test_text_key_is_stable_and_short() -> None:
    assert text_key("加微信abc") == text_key("加微信abc") != text_key("加微信abd")
    assert len(text_key("x")) == 32


# C9 -------------------------------------------------------------------------------------------

IMAGES = [
    ("image", 0, False),
    ("image", 4, False),  # the 5th image
    ("image", 5, True),  # the 6th: more than 5
    ("image", 6, False),  # one reminder per burst
    ("image", 11, True),
    ("text", 5, False),  # only images count
    ("voice", 5, False),
]


@pytest.mark.parametrize(("msg_type", "before", "fires"), IMAGES)
def test_image_thresholds(msg_type: str, before: int, fires: bool) -> None:
    out = ImagesPolicy().evaluate(msg(msg_type), ctx(images=before))
    if not fires:
        assert out == []
        return
    [d] = out
    assert (d.policy, d.rule_id, d.verdict) == ("image-flood", "C9", Verdict.REMIND)
    assert d.remedies == (Remedy.REMIND_PRIVATELY,)
    assert d.reason.startswith(f"C9 图片过多：5 分钟内发了 {before + 1} 张图片（群规不超过 5 张）")


def test_image_options() -> None:
    assert (
        ImagesPolicy(max_images=2, window_s=60)
        .evaluate(msg("image"), ctx(images=2))[0]
        .reason.startswith("C9 图片过多：1 分钟内发了 3 张图片")
    )
