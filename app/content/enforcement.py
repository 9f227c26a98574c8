"""A judged message's outcome → the acts on WeCom it calls for (outbox rows), within what WeCom
allows in its group (WECOM.md): an enforced group removes, an advised one advises its owner.

| verdict (ladder step) | enforced group (kind app)                          | advised group              |
|-----------------------|----------------------------------------------------|----------------------------|
| remind                | private reminder                                   | private reminder           |
| warn / warn_apology   | private warning; robot message (masked) if a key   | same                       |
| remove                | remove now; group notice (M8); private DM + appeal | —                          |
| advise                | —                                                  | owner + admins told; the   |
|                       |                                                    | member warned if reachable |
| review                | nothing: admins see it in /violations              | same                       |

Observe mode, exempt members and messages sent before the group was registered act on
nothing. Group posts wait for the end of quiet hours (C7); a removal itself does not wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.content.templates import NEXT_STEP, RECOMMENDED, RULES, mask, render
from app.models import ActionKind
from app.routing import DomainContext
from policies.base import ChatMessage, Decision, GroupMode, Remedy, Verdict, is_external


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What enforcement needs of a group (the groups registry supplies it)."""

    chat_id: str
    name: str
    mode: GroupMode
    owner: str | None
    admins: tuple[str, ...]
    robot: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """One final decision (after the offence ladder) about one message."""

    decision: Decision
    step: str  # the ladder step reached: warn | warn_apology | remove | "" (no ladder)
    acts: bool  # False: observe mode, or an exempt member
    offence: int = 0  # which offence in its category this is (1 = first); 0 when nothing counts


@dataclass(frozen=True, slots=True)
class Act:
    """One act an outcome calls for, decided once: `plan_actions` plans it as an outbox row,
    `POST /api/v1/policies/evaluate` and the CLI describe it."""

    kind: ActionKind
    target: str  # who or where: the userids (comma-separated) or the chat id
    text: str  # what the member(s) or the group would read; a removal: its reason
    params: dict[str, object]  # the outbox row's params
    suffix: str  # its idempotency key within the violation: remind, warn, robot, remove…
    reason: str  # the outbox row's reason
    group_post: bool = False  # posted in the group: waits for the end of quiet hours (C7)


def decide_acts(
    *, group: GroupFacts, message: ChatMessage, outcome: Outcome, templates: Mapping[str, str]
) -> list[Act]:
    """The acts one final decision calls for in its group (the table above); none when nothing
    may act. The only place that table is written down."""
    d = outcome.decision
    if not outcome.acts or d.verdict in (Verdict.ALLOW, Verdict.REVIEW):
        return []
    values = {
        "group": group.name or group.chat_id,
        "member": message.sender,
        "rule_id": d.rule_id,
        "rule": RULES.get(d.rule_id, ""),
        "reason": d.reason,
        "matched": d.matched or "",
        "masked": mask(d.matched or ""),
        "next_step": NEXT_STEP.get("remove" if outcome.step.startswith("warn") else "", ""),
        "recommended": RECOMMENDED.get(outcome.step or d.verdict.value, RECOMMENDED["warn"]),
    }
    acts: list[Act] = []

    def dm(touser: list[str], template: str, suffix: str) -> None:
        touser = [u for u in touser if not is_external(u)]  # message/send reaches members only
        if not touser:
            return
        text = render(template, values, templates)
        acts.append(
            Act(
                kind=ActionKind.SEND_PRIVATE_MESSAGE,
                target=",".join(touser),
                text=text,
                params={"touser": touser, "msgtype": "text", "body": {"content": text}},
                suffix=suffix,
                reason=f"{d.rule_id} {d.policy}: {template}",
            )
        )

    def post(kind: ActionKind, text: str, params: dict[str, object], suffix: str) -> None:
        acts.append(
            Act(
                kind=kind,
                target=group.chat_id,
                text=text,
                params=params,
                suffix=suffix,
                reason=f"{d.rule_id} {d.policy}: {suffix}",
                group_post=True,
            )
        )

    if d.verdict is Verdict.REMIND:
        dm([message.sender], "reminder", "remind")
    elif d.verdict is Verdict.WARN:
        dm([message.sender], "warning_apology" if outcome.step == "warn_apology" else "warning", "warn")
        if group.robot and Remedy.WARN_IN_GROUP in d.remedies:
            text = render("group_warning", values, templates)
            post(
                ActionKind.SEND_ROBOT_MESSAGE,
                text,
                {"chatid": group.chat_id, "payload": {"msgtype": "text", "text": {"content": text}}},
                "robot",
            )
    elif d.verdict is Verdict.REMOVE and group.mode is GroupMode.ENFORCE:
        acts.append(
            Act(
                kind=ActionKind.REMOVE_MEMBER,
                target=message.sender,
                text=d.reason,
                params={"chatid": group.chat_id, "userids": [message.sender]},
                suffix="remove",
                reason=f"{d.rule_id} {d.policy}: {d.reason}",
            )
        )
        notice = render("removal_notice", values, templates)
        post(
            ActionKind.SEND_GROUP_MESSAGE,
            notice,
            {"chatid": group.chat_id, "msgtype": "text", "body": {"content": notice}},
            "notice",
        )
        dm([message.sender], "removal_dm", "removal-dm")
    elif d.verdict in (Verdict.ADVISE, Verdict.REMOVE):
        # An advised group: we cannot remove anyone there, so the owner and admins decide.
        people = [p for p in dict.fromkeys([group.owner or "", *group.admins]) if p]
        if people:
            dm(people, "advise_owner", "advise")
        if Remedy.REMIND_PRIVATELY in d.remedies:
            dm([message.sender], "warning", "warn")  # a member of the organisation is told too
    return acts


async def plan_actions(
    ctx: DomainContext,
    *,
    group: GroupFacts,
    message: ChatMessage,
    outcome: Outcome,
    violation_id: int,
    templates: Mapping[str, str],
    group_post_at: datetime | None = None,
) -> list[int]:
    """Plan the acts `decide_acts` finds for one violation; return the action ids (none when
    nothing may act)."""
    planned: list[int] = []
    for act in decide_acts(group=group, message=message, outcome=outcome, templates=templates):
        action = await ctx.plan(
            kind=act.kind,
            params=dict(act.params),
            idempotency_key=f"content:{violation_id}:{act.suffix}",
            reason=act.reason,
            due_at=group_post_at if act.group_post else None,
        )
        planned.append(action.id)
    return planned
