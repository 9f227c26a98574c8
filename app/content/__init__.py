"""The content domain (REGULATIONS.md C1–C14): every group message judged once, whatever its
source, against its group's policy document; violations, strikes and the acts they call for."""

from __future__ import annotations

from app.content.followup import FOLLOWUP_AT, FOLLOWUP_KIND, AdviceFollowUp
from app.content.judging import PolicyJudge
from app.content.service import ContentService
from app.recurring import RecurringJob
from app.tasks import Domain, DomainDeps, DomainParts
from policies.base import ChatMessage, MessageRecall


def build(deps: DomainDeps) -> DomainParts:
    service = ContentService(judge=PolicyJudge(), timezone=deps.timezone, clock=deps.clock)
    followup = AdviceFollowUp(deps.sessions, deps.planner, deps.clock)
    return DomainParts(
        services=[(ChatMessage, service), (MessageRecall, service)],
        recurring=[RecurringJob(FOLLOWUP_KIND, FOLLOWUP_AT, followup.run)],
    )


DOMAIN = Domain(name="content", build=build)
