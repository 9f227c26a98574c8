"""What the worker runs: the core job kinds, and whatever each installed domain registers.

A domain (groups, content, membership, acks, …) is a package with a module-level `DOMAIN`
(a `Domain`): the record types its services handle, its job kinds and its recurring jobs, all
built from `DomainDeps`. This module only lists which domain packages are installed; it knows
nothing of their kinds or timers.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.actions import ActionPlanner
from app.jobs import JobHandler, JobKind
from app.recurring import RecurringJob, recurring_handler
from app.routing import Clock, DomainRouter, DomainService
from app.settings import Settings
from app.wecom.reader import WeComReader
from handlers.base import Record

# Domain packages, in the order their services see a record. Each has `DOMAIN: Domain`.
INSTALLED_DOMAINS: tuple[str, ...] = ("app.archive", "app.groups", "app.content")


@dataclass(frozen=True, slots=True)
class DomainDeps:
    """What a domain may build its services and job handlers from (never the WeCom writer)."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    wecom: WeComReader
    planner: ActionPlanner
    clock: Clock

    @property
    def timezone(self) -> tzinfo:
        return ZoneInfo(self.settings.timezone)


@dataclass(frozen=True, slots=True)
class DomainParts:
    services: Sequence[tuple[type[Record], DomainService]] = ()
    jobs: Mapping[str, JobHandler] = field(default_factory=dict)
    recurring: Sequence[RecurringJob] = ()
    # Run when a worker starts (after the recurring jobs are queued): e.g. queue a poll.
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    build: Callable[[DomainDeps], DomainParts]


@dataclass(frozen=True, slots=True)
class Registry:
    """Everything the installed domains registered, collected once per runtime."""

    router: DomainRouter
    jobs: Mapping[str, JobHandler]
    recurring: Sequence[RecurringJob]
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()


def installed_domains(names: Sequence[str] = INSTALLED_DOMAINS) -> list[Domain]:
    domains: list[Domain] = []
    for name in names:
        domain: Any = getattr(importlib.import_module(name), "DOMAIN", None)
        if not isinstance(domain, Domain):
            raise TypeError(f"{name} has no DOMAIN of type app.tasks.Domain")
        domains.append(domain)
    return domains


def collect(domains: Sequence[Domain], deps: DomainDeps) -> Registry:
    """Build every domain; a job kind claimed twice (or a core kind) is a programming error."""
    routes: list[tuple[type[Record], DomainService]] = []
    jobs: dict[str, JobHandler] = {}
    recurring: list[RecurringJob] = []
    on_start: list[Callable[[], Awaitable[None]]] = []
    reserved = {JobKind.PROCESS_EVENT, JobKind.EXECUTE_ACTION}
    for domain in domains:
        parts = domain.build(deps)
        routes.extend(parts.services)
        kinds = [*parts.jobs, *(r.kind for r in parts.recurring)]
        for kind in kinds:
            if kind in jobs or kind in reserved:
                raise ValueError(f"job kind {kind!r} of domain {domain.name} is taken")
            reserved.add(kind)
        jobs.update(parts.jobs)
        on_start.extend(parts.on_start)
        for job in parts.recurring:
            jobs[job.kind] = recurring_handler(
                job,
                deps.sessions,
                tz=deps.timezone,
                max_attempts=deps.settings.job_max_attempts,
                clock=deps.clock,
            )
            recurring.append(job)
    return Registry(router=DomainRouter(routes), jobs=jobs, recurring=recurring, on_start=on_start)
