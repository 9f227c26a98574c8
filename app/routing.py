"""The domain router: after a handler normalised an event, its record goes to the domain
services that registered for its type, each with a `DomainContext`.

Handlers stay pure normalisers; domain services load the state their policies may see, run the
policies, store decisions and plan actions, all inside the event's own savepoint. They never
write to WeCom: `ctx.wecom` is the read-only client, and actions go through `ctx.plan`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.actions import ActionPlanner, PlannedAction
from app.models import ActionKind
from app.settings import Settings
from app.wecom.reader import WeComReader
from handlers.base import Record

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class DomainContext:
    """What a domain service gets for one record: the event's open transaction (a savepoint of
    its batch), the settings, the clock, the read-only WeCom client and the action planner."""

    session: AsyncSession
    settings: Settings
    clock: Clock
    wecom: WeComReader
    planner: ActionPlanner
    event_id: int

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    async def plan(
        self,
        *,
        kind: ActionKind,
        params: dict[str, Any],
        idempotency_key: str,
        reason: str,
        due_at: datetime | None = None,
    ) -> PlannedAction:
        """Plan an act on WeCom in this event's transaction: it exists only if the event's
        processing commits."""
        return await self.planner.plan(
            self.session,
            kind=kind,
            params=params,
            idempotency_key=idempotency_key,
            reason=reason,
            requested_by=f"event:{self.event_id}",
            due_at=due_at,
        )


class DomainService(Protocol):
    """A domain's entry for the records it cares about."""

    async def handle(self, record: Any, ctx: DomainContext) -> None: ...


class DomainRouter:
    """Record type → the services that handle it, in registration order."""

    def __init__(self, routes: Iterable[tuple[type[Record], DomainService]] = ()) -> None:
        self._routes: dict[type[Any], list[DomainService]] = defaultdict(list)
        for record_type, service in routes:
            self._routes[record_type].append(service)

    def services_for(self, record: Record) -> Sequence[DomainService]:
        return self._routes.get(type(record), ())

    @property
    def routes(self) -> Mapping[type[Any], Sequence[DomainService]]:
        return self._routes

    async def route(self, record: Record, ctx: DomainContext) -> int:
        """Hand the record to every service registered for its type; return how many."""
        services = self.services_for(record)
        for service in services:
            await service.handle(record, ctx)
        return len(services)
