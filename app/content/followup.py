"""Advised groups: advice nobody has ruled on is followed up. Each day the owner and admins of
an advised group are reminded of every open piece of advice (a violation with verdict `advise`
and status `open`), for up to FOLLOW_UP_DAYS days, until an admin resolves it
(`POST /api/v1/violations/{id}/resolve`). One reminder per violation per day, however many
workers run the job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.actions import ActionPlanner
from app.content import repository
from app.content.templates import RECOMMENDED, RULES, render
from app.db import session_scope
from app.groups import service as groups
from app.logs import log_event
from app.models import ActionKind
from policies.base import GroupMode, is_external
from policies.document import effective_mode, parse_document

FOLLOWUP_KIND = "content-advice-followup"
FOLLOWUP_AT = time(10, 0)  # local time: after the morning's audits, during working hours
FOLLOW_UP_DAYS = 7  # then the advice stays open in the API, without more messages
FIRST_AFTER = timedelta(hours=20)  # the advice itself went out less than a day ago: no reminder yet


class AdviceFollowUp:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        planner: ActionPlanner,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._planner = planner
        self._clock = clock

    async def run(self, local_date: date) -> None:
        now = self._clock()
        planned = 0
        async with session_scope(self._sessions) as session:
            overrides = await repository.template_overrides(session)
            for v in await repository.open_advice(
                session, decided_before=now - FIRST_AFTER, decided_after=now - timedelta(days=FOLLOW_UP_DAYS)
            ):
                group = await groups.get_group(session, v.chat_id)
                people = (
                    [p for p in dict.fromkeys([group.owner, *group.admins]) if p and not is_external(p)]
                    if group
                    else []
                )
                if not group or not people or await self._observed(session, group):
                    continue
                text = render(
                    "advise_followup",
                    {
                        "group": group.name or group.chat_id,
                        "member": v.member,
                        "rule_id": v.rule_id,
                        "rule": RULES.get(v.rule_id, ""),
                        "reason": v.reason,
                        "matched": v.matched or "",
                        "recommended": RECOMMENDED["remove"],
                    },
                    overrides,
                )
                action = await self._planner.plan(
                    session,
                    kind=ActionKind.SEND_PRIVATE_MESSAGE,
                    params={"touser": people, "msgtype": "text", "body": {"content": text}},
                    idempotency_key=f"content:{v.id}:followup:{local_date.isoformat()}",
                    reason=f"{v.rule_id}: advice {v.id} still open",
                    requested_by=f"job:{FOLLOWUP_KIND}",
                )
                planned += action.new
        log_event("content.advice_followup", day=local_date.isoformat(), planned=planned)

    @staticmethod
    async def _observed(session: AsyncSession, group: groups.GroupInfo) -> bool:
        """Observe mode (the group's, or its document's `mode_override`) acts on nothing: advice
        given before the switch stays open for an admin, its owner is not messaged again."""
        document = parse_document(await groups.active_policy(session, group.chat_id) or {})
        return effective_mode(document, group.mode) is GroupMode.OBSERVE
