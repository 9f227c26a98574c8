"""The groups domain: the registry every capability uses (API.md "Groups"), its rosters re-read
daily, and each group's policy versions. Other domains call `app.groups.service`."""

from __future__ import annotations

from datetime import time

from app.groups.service import GroupsService
from app.recurring import RecurringJob
from app.tasks import Domain, DomainDeps, DomainParts

ROSTER_SYNC_KIND = "groups-roster-sync"
ROSTER_SYNC_AT = time(6, 0)  # local time (WARDEN_TIMEZONE): before the working day


def build(deps: DomainDeps) -> DomainParts:
    service = GroupsService(deps.sessions, deps.wecom, clock=deps.clock)
    return DomainParts(recurring=[RecurringJob(ROSTER_SYNC_KIND, ROSTER_SYNC_AT, service.sync_all)])


DOMAIN = Domain(name="groups", build=build)
