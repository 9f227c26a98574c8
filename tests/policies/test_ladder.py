"""Offence ladders: every default ladder across strikes 0, 1, 2, 5, in each mode, and exempt."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from policies.base import Decision, GroupMode, PolicyContext, Remedy, Verdict
from policies.document import SANCTIONED, LadderStep, parse_document
from policies.ladder import climb, climb_in, is_sanctionable, step_for

R = Remedy
SHANGHAI = ZoneInfo("Asia/Shanghai")
WARN_REMEDIES = (R.RECORD_STRIKE, R.REMIND_PRIVATELY, R.WARN_IN_GROUP)
REMOVE_REMEDIES = (R.RECORD_STRIKE, R.REMOVE_MEMBER, R.REMIND_PRIVATELY, R.WARN_IN_GROUP)
ADVISE_REMEDIES = (R.RECORD_STRIKE, R.ADVISE_OWNER, R.REMIND_PRIVATELY)


def finding(rule_id: str = "C1") -> Decision:
    return Decision(
        "ad-keywords",
        rule_id,
        Verdict.WARN,
        "广告：加微信",
        span=(0, 3),
        matched="加微信",
        evidence=(("keyword", "加微信"),),
        remedies=(R.RECORD_STRIKE,),
    )


# The step every default ladder gives at prior strikes 0, 1, 2 and 5 (REGULATIONS.md).
W, WA, RM = "warn", "warn_apology", "remove"
EXPECTED_STEPS = {
    "C1": (W, RM, RM, RM),
    "C2": (W, RM, RM, RM),
    "C3": (W, W, W, W),
    "C4": (RM, RM, RM, RM),
    "C5": (W, WA, RM, RM),
    "C8": (W, RM, RM, RM),
    "C10": (W, W, W, W),
    "C11": (W, RM, RM, RM),
    "C12": (W, W, W, W),
}
PRIORS = (0, 1, 2, 5)
ENFORCE = {
    W: (Verdict.WARN, WARN_REMEDIES),
    WA: (Verdict.WARN, WARN_REMEDIES),
    RM: (Verdict.REMOVE, REMOVE_REMEDIES),
}
ADVISE = {**ENFORCE, RM: (Verdict.ADVISE, ADVISE_REMEDIES)}
CASES = [
    (rule_id, prior, EXPECTED_STEPS[rule_id][i])
    for rule_id in EXPECTED_STEPS
    for i, prior in enumerate(PRIORS)
]


def test_the_table_covers_every_sanctioning_rule() -> None:
    assert set(EXPECTED_STEPS) == set(SANCTIONED)


@pytest.mark.parametrize(("rule_id", "prior", "step"), CASES)
@pytest.mark.parametrize("mode", list(GroupMode))
@pytest.mark.parametrize("exempt", [False, True])
def test_default_ladders(rule_id: str, prior: int, step: str, mode: GroupMode, exempt: bool) -> None:
    ladder = parse_document({}).ladder(rule_id)
    assert ladder is not None
    out = climb(finding(rule_id), ladder, prior=prior, mode=mode, exempt=exempt)
    verdict, remedies = (ADVISE if mode is GroupMode.ADVISE else ENFORCE)[step]
    assert out.verdict is verdict  # observe and exempt still show what was found and where it led
    if exempt or mode is GroupMode.OBSERVE:
        assert out.remedies == ()
    else:
        assert out.remedies == remedies
    assert out.exempt is exempt
    assert ("offence", str(prior + 1)) in out.evidence and ("ladder_step", step) in out.evidence
    assert out.reason.startswith(f"{rule_id} 第{prior + 1}次违规：广告：加微信")
    assert out.span == (0, 3) and out.matched == "加微信" and ("keyword", "加微信") in out.evidence
    if mode is GroupMode.ADVISE:
        assert R.REMOVE_MEMBER not in out.remedies and out.verdict is not Verdict.REMOVE


@pytest.mark.parametrize(
    ("exempt", "mode", "tail"),
    [
        (True, GroupMode.ENFORCE, "（豁免：不计违规）"),
        (False, GroupMode.OBSERVE, "（观察模式：仅记录）"),
        (False, GroupMode.ENFORCE, "广告：加微信"),
    ],
)
def test_reason_says_why_nothing_was_done(exempt: bool, mode: GroupMode, tail: str) -> None:
    out = climb(finding(), ["warn"], prior=0, mode=mode, exempt=exempt)
    assert out.reason.endswith(tail)


def test_the_apology_step_asks_for_an_apology() -> None:
    out = climb(finding("C5"), ["warn", "warn_apology", "remove"], prior=1, mode=GroupMode.ENFORCE)
    assert out.reason == "C5 第2次违规：广告：加微信（请向当事人道歉）"


def test_previous_offence_date_in_local_time() -> None:
    ctx = PolicyContext(
        now=datetime(2026, 12, 4, 2, 0, tzinfo=UTC),
        timezone=SHANGHAI,
        mode=GroupMode.ENFORCE,
        strikes={"C1": 1},
        last_strike_at={"C1": datetime(2026, 11, 1, 17, 0, tzinfo=UTC)},  # 2026-11-02 01:00 in Shanghai
    )
    out = climb_in(finding(), ["warn", "remove"], ctx)
    assert out.reason.startswith("C1 第2次违规（上次 2026-11-02）：")
    assert out.verdict is Verdict.REMOVE


def test_climb_in_reads_strikes_of_the_category_only() -> None:
    ctx = PolicyContext(
        now=datetime(2026, 12, 4, tzinfo=UTC), timezone=SHANGHAI, mode=GroupMode.ENFORCE, strikes={"C5": 3}
    )
    assert climb_in(finding("C1"), ["warn", "remove"], ctx).verdict is Verdict.WARN


def test_climb_in_reads_exemption_and_mode() -> None:
    ctx = PolicyContext(
        now=datetime(2026, 12, 4, tzinfo=UTC), timezone=SHANGHAI, mode=GroupMode.ADVISE, exempt=True
    )
    out = climb_in(finding("C4"), ["remove"], ctx)
    assert out.verdict is Verdict.ADVISE and out.remedies == () and out.exempt


@pytest.mark.parametrize("mode", list(GroupMode))
def test_a_reminder_is_not_an_offence(mode: GroupMode) -> None:
    remind = Decision("long-posts", "C6", Verdict.REMIND, "C6 过长", remedies=(R.REMIND_PRIVATELY,))
    assert not is_sanctionable(remind)
    out = climb(remind, ["warn", "remove"], prior=4, mode=mode, exempt=True)
    assert out.verdict is Verdict.REMIND and out.reason == "C6 过长" and not out.exempt
    assert out.remedies == (() if mode is GroupMode.OBSERVE else (R.REMIND_PRIVATELY,))


def test_a_warn_without_a_strike_is_not_an_offence() -> None:
    plain = Decision("x", "C3", Verdict.WARN, "r", remedies=(R.REMIND_PRIVATELY,))
    assert climb(plain, ["remove"], prior=0, mode=GroupMode.ENFORCE) == plain


@pytest.mark.parametrize(("offence", "step"), [(1, "warn"), (2, "warn"), (3, "remove"), (9, "remove")])
def test_step_for(offence: int, step: str) -> None:
    assert step_for(["warn", "warn", "remove"], offence) is LadderStep(step)


@pytest.mark.parametrize(("ladder", "offence"), [([], 1), (["warn"], 0)])
def test_step_for_refuses(ladder: list[str], offence: int) -> None:
    with pytest.raises(ValueError):
        step_for(ladder, offence)


def test_negative_prior_is_refused() -> None:
    with pytest.raises(ValueError, match="prior"):
        climb(finding(), ["warn"], prior=-1, mode=GroupMode.ENFORCE)
