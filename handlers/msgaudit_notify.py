"""msgaudit_notify (会话内容存档): new archived messages are ready to pull; the event has no content."""

from __future__ import annotations

from handlers.base import ArchiveNotice, Fields, handles, wecom_time


@handles("event", "msgaudit_notify")
def handle_msgaudit_notify(fields: Fields) -> ArchiveNotice:
    agent = fields.get("AgentID")
    return ArchiveNotice(
        at=wecom_time(fields.get("CreateTime")) or fields["_received_at"],
        agent_id=str(agent) if agent else None,
    )
