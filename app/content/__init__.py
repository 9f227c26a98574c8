"""The content domain (REGULATIONS.md C1–C14): every group message judged once, whatever its
source, against its group's policy document; violations, strikes and the acts they call for."""

from __future__ import annotations

from app.content.judging import PolicyJudge
from app.content.service import ContentService
from app.tasks import Domain, DomainDeps, DomainParts
from policies.base import ChatMessage


def build(deps: DomainDeps) -> DomainParts:
    service = ContentService(judge=PolicyJudge(), timezone=deps.timezone, clock=deps.clock)
    return DomainParts(services=[(ChatMessage, service)])


DOMAIN = Domain(name="content", build=build)
