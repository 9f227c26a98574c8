"""Offence ladders (REGULATIONS.md C1–C12): a finding plus the member's record → the final decision.

A detection policy reports a sanctionable finding as `Verdict.WARN` with `Remedy.RECORD_STRIKE`
("this counts as an offence"); `climb` turns it into what happens to *this* member now. The
category is the finding's rule id; strikes count per (member, category) across all groups and
expire (`strike_ttl_s` of the document). `prior` is the member's ACTIVE strikes in the category
before this one (`PolicyContext.strikes[rule_id]`), so this is offence n = prior + 1 and takes
step n of the ladder; past its end the last step repeats (C4 ["remove"] removes every time, C3
["warn"] warns every time).

| step, mode            | verdict            | remedies                                                   |
|-----------------------|--------------------|------------------------------------------------------------|
| warn, enforce/advise  | WARN               | RECORD_STRIKE, REMIND_PRIVATELY, WARN_IN_GROUP             |
| warn_apology, e/a     | WARN               | as warn; the reason asks for an apology（请向当事人道歉）|
| remove, enforce       | REMOVE             | RECORD_STRIKE, REMOVE_MEMBER, REMIND_PRIVATELY, WARN_IN_GROUP |
| remove, advise        | ADVISE             | RECORD_STRIKE, ADVISE_OWNER, REMIND_PRIVATELY              |
| any step, observe     | the step's verdict | () — decided and recorded, nothing acted, no strike       |
| any step, exempt      | the step's verdict | () and `exempt=True` — recorded as found, never struck     |

- Advise: a removal becomes `Verdict.ADVISE` + `ADVISE_OWNER` (the owner and admins are told what
  to do, with the evidence); nothing claims a removal that was not done. The member is still told
  privately (their message was reported to the group owner). Warnings are sent as in an enforced
  group; the service drops WARN_IN_GROUP where the group has no way to post.
- Observe (the group's mode, or the document's `mode_override`): the decision carries the verdict
  that enforcement would have reached and no remedy at all, not even RECORD_STRIKE: a strike is a
  rung towards removal, and a member who was never told must not have climbed. Non-sanctionable
  decisions (reminders, reviews) lose their remedies too, so "no remedies" is the one sign that
  nothing is done.
- Exempt (owner, admins, the exemption list: the service sets `exempt` for all three): the finding
  is kept with its span, evidence and the verdict the member would have got, marked `exempt=True`,
  with no remedies. Reminders (no strike) are not sanctions and pass unchanged.
- The reason says which offence this is: "C1 第2次违规（上次 2026-11-02）：<finding's reason>",
  the previous date from `PolicyContext.last_strike_at[rule_id]` in the organisation's time zone.
- The evidence gains ("offence", "2") and ("ladder_step", "remove") for the executor's templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, tzinfo

from policies.base import Decision, GroupMode, PolicyContext, Remedy, Verdict
from policies.document import LadderStep

R = Remedy
_ENFORCE: dict[LadderStep, tuple[Verdict, tuple[Remedy, ...]]] = {
    LadderStep.WARN: (Verdict.WARN, (R.RECORD_STRIKE, R.REMIND_PRIVATELY, R.WARN_IN_GROUP)),
    LadderStep.WARN_APOLOGY: (Verdict.WARN, (R.RECORD_STRIKE, R.REMIND_PRIVATELY, R.WARN_IN_GROUP)),
    LadderStep.REMOVE: (
        Verdict.REMOVE,
        (R.RECORD_STRIKE, R.REMOVE_MEMBER, R.REMIND_PRIVATELY, R.WARN_IN_GROUP),
    ),
}
_ADVISE: dict[LadderStep, tuple[Verdict, tuple[Remedy, ...]]] = {
    **_ENFORCE,
    LadderStep.REMOVE: (Verdict.ADVISE, (R.RECORD_STRIKE, R.ADVISE_OWNER, R.REMIND_PRIVATELY)),
}
_SUFFIX = {
    LadderStep.WARN: "",
    LadderStep.WARN_APOLOGY: "（请向当事人道歉）",
    LadderStep.REMOVE: "",
}


def is_sanctionable(decision: Decision) -> bool:
    """A finding that counts as an offence: a warning that asks for a strike."""
    return decision.verdict is Verdict.WARN and Remedy.RECORD_STRIKE in decision.remedies


def step_for(ladder: Sequence[LadderStep | str], offence: int) -> LadderStep:
    """The ladder's step for the nth offence (1-based); past the end the last step repeats."""
    if not ladder:
        raise ValueError("an empty ladder")
    if offence < 1:
        raise ValueError(f"offence {offence}: counted from 1")
    return LadderStep(ladder[min(offence, len(ladder)) - 1])


def offence_label(rule_id: str, offence: int, previous: datetime | None, tz: tzinfo | None = None) -> str:
    """ "C1 第2次违规（上次 2026-11-02）" """
    label = f"{rule_id} 第{offence}次违规"
    if previous is not None:
        day = (previous.astimezone(tz) if tz is not None else previous).date().isoformat()
        label += f"（上次 {day}）"
    return label


def climb(
    finding: Decision,
    ladder: Sequence[LadderStep | str],
    *,
    prior: int,
    mode: GroupMode,
    exempt: bool = False,
    previous: datetime | None = None,
    tz: tzinfo | None = None,
) -> Decision:
    """The final decision for one finding (see the table above). Findings that are not
    sanctionable pass unchanged, except in observe mode where every remedy is dropped."""
    if not is_sanctionable(finding):
        if mode is GroupMode.OBSERVE and finding.remedies:
            return replace(finding, remedies=())
        return finding
    if prior < 0:
        raise ValueError(f"prior strikes {prior} < 0")
    offence = prior + 1
    step = step_for(ladder, offence)
    verdict, remedies = (_ADVISE if mode is GroupMode.ADVISE else _ENFORCE)[step]
    # The finding's reason already names its rule ("C1 群内禁止…"): say the id once.
    said = finding.reason.removeprefix(f"{finding.rule_id} ")
    reason = f"{offence_label(finding.rule_id, offence, previous, tz)}：{said}{_SUFFIX[step]}"
    if exempt:
        reason += "（豁免：不计违规）"
    elif mode is GroupMode.OBSERVE:
        reason += "（观察模式：仅记录）"
    acted = not exempt and mode is not GroupMode.OBSERVE
    return replace(
        finding,
        verdict=verdict,
        reason=reason,
        remedies=remedies if acted else (),
        evidence=(*finding.evidence, ("offence", str(offence)), ("ladder_step", step.value)),
        exempt=exempt,
    )


def climb_in(finding: Decision, ladder: Sequence[LadderStep | str], context: PolicyContext) -> Decision:
    """`climb` with the member's record, mode and exemption read from the context."""
    return climb(
        finding,
        ladder,
        prior=context.strikes.get(finding.rule_id, 0),
        mode=context.mode,
        exempt=context.exempt,
        previous=context.last_strike_at.get(finding.rule_id),
        tz=context.timezone,
    )
