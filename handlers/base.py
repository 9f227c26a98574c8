"""The handler registry: one module per WeCom message type / event, each a pure normaliser."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from policies.base import Acknowledgement, ChatMessage, MembershipChange, MessageRecall


@dataclass(frozen=True, slots=True)
class ArchiveNotice:
    """msgaudit_notify: the chat archive has new messages to pull (no content in the event)."""

    at: datetime
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Anything we do not model yet: kept whole, never dropped."""

    msg_type: str
    event: str | None
    at: datetime | None
    fields: dict[str, Any] = field(default_factory=dict)


Record = ChatMessage | MembershipChange | Acknowledgement | ArchiveNotice | UnknownEvent | MessageRecall
Fields = Mapping[str, Any]
Handler = Callable[[Fields], Record]

AIBOT = "aibot"  # the registry key for every AI-bot JSON message
ARCHIVE = "archive"  # the registry key for every chat-archive message (JSON, pulled)

_REGISTRY: dict[tuple[str, str | None], Handler] = {}


def handles(msg_type: str, event: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for a MsgType (and Event, for MsgType=event)."""

    def register(fn: Handler) -> Handler:
        key = (msg_type, event)
        if key in _REGISTRY:
            raise ValueError(f"two handlers for {key}")
        _REGISTRY[key] = fn
        return fn

    return register


def handler_for(msg_type: str, event: str | None) -> Handler | None:
    return _REGISTRY.get((msg_type, event))


def wecom_time(value: Any) -> datetime | None:
    """CreateTime (unix seconds) as an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def record_json(record: Record) -> dict[str, Any]:
    """A record as JSON-ready data (datetimes as ISO text, enums as values)."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    assert is_dataclass(record)
    return {k: convert(v) for k, v in asdict(record).items()}
