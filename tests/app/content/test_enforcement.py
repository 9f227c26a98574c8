"""The table of acts (unit level): what one final decision calls for in each kind of group."""

from __future__ import annotations

from datetime import UTC, datetime

from app.content.enforcement import GroupFacts, Outcome, decide_acts
from app.models import ActionKind
from policies.base import ChatMessage, Decision, GroupMode, MessageSource, Remedy, Verdict

AT = datetime(2030, 3, 1, 2, 0, tzinfo=UTC)
ADVISED = GroupFacts(
    chat_id="wrpeople",
    name="午饭搭子",
    mode=GroupMode.ADVISE,
    owner="zhaoliu",
    admins=("sunqi",),
    robot=False,
)
ENFORCED = GroupFacts(
    chat_id="wrsales", name="销售部工作群", mode=GroupMode.ENFORCE, owner="zhangsan", admins=(), robot=True
)
R = Remedy


def _message(sender: str) -> ChatMessage:
    return ChatMessage("m1", sender, AT, "text", "加V：ab12345", MessageSource.ARCHIVE, chat_id="wrpeople")


def _outcome(verdict: Verdict, remedies: tuple[Remedy, ...], step: str) -> Outcome:
    decision = Decision(
        "ad-keywords", "C1", verdict, "C1 第2次违规：含联系方式", (0, 10), "加V：ab12345", remedies=remedies
    )
    return Outcome(decision, step, acts=True, offence=2)


class TestDecideActs:
    def test_advice_tells_the_owner_and_admins_and_warns_the_member(self) -> None:
        outcome = _outcome(Verdict.ADVISE, (R.RECORD_STRIKE, R.ADVISE_OWNER, R.REMIND_PRIVATELY), "remove")
        acts = decide_acts(group=ADVISED, message=_message("lisi"), outcome=outcome, templates={})
        assert [(a.kind, a.target, a.suffix) for a in acts] == [
            (ActionKind.SEND_PRIVATE_MESSAGE, "zhaoliu,sunqi", "advise"),
            (ActionKind.SEND_PRIVATE_MESSAGE, "lisi", "warn"),
        ]
        assert "将该成员移出群聊" in acts[0].text and "请自行撤回" in acts[1].text

    def test_an_external_member_is_never_sent_an_app_message(self) -> None:
        outcome = _outcome(Verdict.ADVISE, (R.RECORD_STRIKE, R.ADVISE_OWNER, R.REMIND_PRIVATELY), "remove")
        acts = decide_acts(group=ADVISED, message=_message("wmCustomer1"), outcome=outcome, templates={})
        assert [a.target for a in acts] == ["zhaoliu,sunqi"]

    def test_a_removal_in_an_enforced_group(self) -> None:
        remedies = (R.RECORD_STRIKE, R.REMOVE_MEMBER, R.REMIND_PRIVATELY, R.WARN_IN_GROUP)
        acts = decide_acts(
            group=ENFORCED,
            message=_message("lisi"),
            outcome=_outcome(Verdict.REMOVE, remedies, "remove"),
            templates={},
        )
        assert [(a.kind, a.group_post) for a in acts] == [
            (ActionKind.REMOVE_MEMBER, False),
            (ActionKind.SEND_GROUP_MESSAGE, True),
            (ActionKind.SEND_PRIVATE_MESSAGE, False),
        ]
        assert "申诉" in acts[2].text

    def test_nothing_when_nothing_may_act(self) -> None:
        """Observe mode or an exempt member: the ladder left no remedy, the outcome acts on nothing."""
        outcome = Outcome(_outcome(Verdict.WARN, (R.RECORD_STRIKE,), "warn").decision, "warn", acts=False)
        assert decide_acts(group=ENFORCED, message=_message("lisi"), outcome=outcome, templates={}) == []
