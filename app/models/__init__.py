"""SQLModel tables, one module per domain. Importing this package registers every table on
SQLModel.metadata (alembic's target). Every row that records an act keeps who, when, why and
WeCom's answer."""

from app.models.archive import ArchiveCursor
from app.models.auth import AdminToken
from app.models.base import UTCDateTime, table_of, utcnow
from app.models.inbox import EventSource, EventStatus, InboundEvent
from app.models.jobs import Job, JobStatus
from app.models.outbox import Action, ActionKind, ActionStatus

__all__ = [
    "Action",
    "ActionKind",
    "ActionStatus",
    "AdminToken",
    "ArchiveCursor",
    "EventSource",
    "EventStatus",
    "InboundEvent",
    "Job",
    "JobStatus",
    "UTCDateTime",
    "table_of",
    "utcnow",
]
