"""C12 private information: ID cards (GB 11643), bank cards (Luhn), phones; masked, never stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from policies.base import ChatMessage, MessageSource, PolicyContext, Remedy, Verdict
from policies.content.pii import PrivateInfo, find_pii, id_card_ok, luhn_ok, mask

CTX = PolicyContext(now=datetime(2026, 12, 4, 10, tzinfo=UTC), timezone=ZoneInfo("Asia/Shanghai"))
TODAY = date(2026, 12, 4)
ID = "11010519491231002X"  # the GB 11643 standard's own example
ID2 = "110101199003077774"
CARD = "6222021234567890128"  # UnionPay prefix, Luhn-valid, 19 digits
CARD16 = "6228480012345671"
WIDE_ID = "１１０１０５ １９４９ １２３１ ００２Ｘ"  # full-width, spaced
SPACED_ID = " ".join(ID2)
SPACED_CARD = "6222 0212 3456 7890 128"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def with_check(stem: str) -> str:
    """17 digits + their GB 11643 check character: test numbers that fail only where meant to."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return stem + "10X98765432"[sum(int(d) * w for d, w in zip(stem, weights, strict=True)) % 11]


def with_luhn(stem: str) -> str:
    return next(stem + d for d in "0123456789" if luhn_ok(stem + d))


def message(text: str) -> ChatMessage:
    return ChatMessage("m1", "zhangsan", CTX.now, "text", text, MessageSource.ARCHIVE, "chat1")


@pytest.mark.parametrize(
    ("text", "kind", "masked", "matched_text"),
    [
        (f"身份证 {ID} 谢谢", "id_card", "110*************2X", ID),
        (f"身份证号{ID.lower()}", "id_card", "110*************2X", ID.lower()),
        (f"号码 {ID2}", "id_card", "110*************74", ID2),
        (f"身份证{WIDE_ID}", "id_card", "110*************2X", WIDE_ID),
        ("①①⓪①⓪①①⑨⑨⓪⓪③⓪⑦⑦⑦⑦④", "id_card", "110*************74", "①①⓪①⓪①①⑨⑨⓪⓪③⓪⑦⑦⑦⑦④"),
        (f"{SPACED_ID} 是他的", "id_card", "110*************74", SPACED_ID),
        (f"卡号 {CARD}", "bank_card", "622**************28", CARD),
        (f"卡号 {SPACED_CARD} 户名张三", "bank_card", "622**************28", SPACED_CARD),
        (f"转到 {CARD16}。", "bank_card", "622***********71", CARD16),
        (f"卡{CARD16.translate(FULL_WIDTH)}", "bank_card", "622***********71", None),
    ],
)
def test_found_and_masked(text: str, kind: str, masked: str, matched_text: str | None) -> None:
    [decision] = PrivateInfo().evaluate(message(text), CTX)
    assert (decision.policy, decision.rule_id, decision.verdict) == ("private-info", "C12", Verdict.WARN)
    assert decision.remedies == (Remedy.RECORD_STRIKE, Remedy.REMIND_PRIVATELY)
    assert decision.reason.startswith("C12 ") and "请自行撤回该消息" in decision.reason
    assert decision.matched == masked and decision.evidence == ((kind, masked),)
    assert decision.span is not None
    if matched_text is not None:
        assert text[decision.span[0] : decision.span[1]] == matched_text
    number = ID if "2X" in masked and "X" in masked else None
    for field in (decision.reason, decision.matched, repr(decision.evidence)):
        assert number is None or number not in field


@pytest.mark.parametrize(
    "text",
    [
        "订单号 6222021234567890127 已发货",  # UnionPay-like but fails Luhn
        "订单号 1234567890123456789",  # 19 digits, no card issuer prefix
        "快递单 73100248865123 到了",  # 14 digits
        "报价 12,800.00 元，3.5元一个",
        "截止 2026.12.04，版本 v1.2.3",
        "11010519491231002Y",  # wrong check character
        "110105194912310021",  # wrong check digit
        with_check("11010519491331002"),  # month 13 (checksum right, date impossible)
        with_check("11010519000229002"),  # 1900 was not a leap year
        with_check("11010518900101002"),  # 136 years old
        with_check("99010519491231002"),  # no such province
        with_check("11010520301231002"),  # born in 2030: after the message
        "订单号 " + with_luhn("123456789012345678"),  # Luhn-valid, but no card issuer starts with 1
        "会员号 " + with_luhn("700000000000000"),  # 16 digits, Luhn-valid, issuer 7
        "电话 13800138000",  # phones are off by default
        "一一零一零一一九九零零三零七七七七四",  # Chinese numerals are read as words, not digits
        "一一零一零一一九九零零三零七七七七四，单号 1234567890123456",  # … also beside real digits
        "会议号 1101 0519 4912 3100 2X2",  # an ID glued to more digits is not one
    ],
)
def test_benign(text: str) -> None:
    assert PrivateInfo().evaluate(message(text), CTX) == []


def test_id_and_phone_side_by_side() -> None:
    text = f"{ID}，13800138000"
    assert [(h.kind, h.masked) for h in find_pii(text, phones=True, today=TODAY)] == [
        ("id_card", "110*************2X"),
        ("phone", "138******00"),
    ]


def test_phones_when_asked_go_to_review() -> None:
    [decision] = PrivateInfo(phones=True).evaluate(message("张经理电话 +86 138-0013-8000"), CTX)
    assert decision.verdict is Verdict.REVIEW and decision.remedies == (Remedy.REVIEW,)
    assert decision.evidence == (("phone", "138******00"),) and "13800138000" not in decision.reason


def test_options_turn_kinds_off() -> None:
    text = f"{ID} {CARD}"
    assert [h.kind for h in find_pii(text, today=TODAY)] == ["id_card", "bank_card"]
    assert PrivateInfo(id_cards=False, bank_cards=False).evaluate(message(text), CTX) == []
    [decision] = PrivateInfo(id_cards=False).evaluate(message(text), CTX)
    assert decision.evidence == (("bank_card", "622**************28"),)


def test_checks() -> None:
    assert id_card_ok(ID, TODAY) and id_card_ok(ID2, TODAY)
    assert not id_card_ok("11010519491231002", TODAY)
    assert not id_card_ok("110105190002290027", TODAY)  # 1900 was not a leap year
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert mask("110105194912310021") == "110*************21"


def test_born_today_in_local_time_counts() -> None:
    # 01:00 in Shanghai on 4 December is still 3 December in UTC: the local day decides.
    ctx = PolicyContext(now=datetime(2026, 12, 3, 17, tzinfo=UTC), timezone=ZoneInfo("Asia/Shanghai"))
    [decision] = PrivateInfo().evaluate(message(with_check("11010520261204001")), ctx)
    assert decision.evidence[0][0] == "id_card"


def test_the_birth_date_is_judged_against_the_message_day() -> None:
    assert id_card_ok("110105202612040014", date(2026, 12, 4)) == id_card_ok("110105202612040014", TODAY)
    assert not id_card_ok("110105202612040014", date(2026, 12, 3))
