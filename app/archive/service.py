"""The archive domain: its notice service, its job kind and its start-up pull."""

from __future__ import annotations

from typing import Any

from app.archive.pull import ARCHIVE_PULL, ArchivePuller
from app.jobs import ClaimedJob
from app.routing import DomainContext
from app.tasks import Domain, DomainDeps, DomainParts
from app.wecom.archive import UnavailableArchive, make_archive_client
from handlers.base import ArchiveNotice


class NoticeService:
    """`msgaudit_notify` (an ArchiveNotice): a pull due now, in the event's own transaction; while
    one is queued, more notices only bring it forward (one pull)."""

    def __init__(self, puller: ArchivePuller) -> None:
        self._puller = puller

    async def handle(self, record: Any, ctx: DomainContext) -> None:
        assert isinstance(record, ArchiveNotice)
        await self._puller.schedule(ctx.session)


async def _skip(job: ClaimedJob) -> None:
    """A pull queued before this process found the SDK missing: nothing to read it with."""


def build(deps: DomainDeps) -> DomainParts:
    client = make_archive_client(deps.settings, deps.wecom)
    if client is None:  # WARDEN_ARCHIVE_SOURCE=off
        return DomainParts()
    if isinstance(client, UnavailableArchive):  # said once at start-up; the service keeps serving
        return DomainParts(jobs={ARCHIVE_PULL: _skip})
    puller = ArchivePuller(
        client,
        deps.sessions,
        clock=deps.clock,
        poll_s=deps.settings.archive_poll_s,
        start=deps.settings.archive_start,
        job_max_attempts=deps.settings.job_max_attempts,
    )
    return DomainParts(
        services=[(ArchiveNotice, NoticeService(puller))],
        jobs={ARCHIVE_PULL: puller.run_job},
        on_start=[puller.on_start],
    )


DOMAIN = Domain(name="archive", build=build)
