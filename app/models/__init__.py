"""SQLModel tables, one module per domain. Importing this package registers every table on
SQLModel.metadata (alembic's target). Every row that records an act keeps who, when, why and
WeCom's answer."""

from app.models.archive import ArchiveCursor
from app.models.auth import AdminToken
from app.models.base import UTCDateTime, table_of, utcnow
from app.models.content import (
    JudgedMessage,
    MessageTemplate,
    Strike,
    StrikeStatus,
    Violation,
    ViolationStatus,
    WordEntry,
    WordEntryKind,
)
from app.models.groups import (
    Group,
    GroupKind,
    GroupMember,
    MemberKind,
    PolicyVersion,
    RosterChange,
)
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
    "Group",
    "GroupKind",
    "GroupMember",
    "InboundEvent",
    "Job",
    "JobStatus",
    "JudgedMessage",
    "MemberKind",
    "MessageTemplate",
    "PolicyVersion",
    "RosterChange",
    "Strike",
    "StrikeStatus",
    "UTCDateTime",
    "Violation",
    "ViolationStatus",
    "WordEntry",
    "WordEntryKind",
    "table_of",
    "utcnow",
]
