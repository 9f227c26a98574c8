"""App single-chat text: a member writing to the app (收到 replies, 申诉, 举报)."""

from __future__ import annotations

from handlers.base import Fields, handles, wecom_time
from policies.base import ChatMessage, MessageSource


@handles("text")
def handle_text(fields: Fields) -> ChatMessage:
    return ChatMessage(
        msg_id=str(fields.get("MsgId") or ""),
        sender=str(fields.get("FromUserName") or ""),
        sent_at=wecom_time(fields.get("CreateTime")) or fields["_received_at"],
        msg_type="text",
        text=str(fields.get("Content") or ""),
        source=MessageSource.APP,
    )
