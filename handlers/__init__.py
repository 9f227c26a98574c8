"""Handlers: normalise what WeCom delivers into domain records. `dispatch` picks one by type."""

from __future__ import annotations

from handlers import (  # noqa: F401 - importing registers each handler
    aibot,
    archive,
    change_contact,
    change_external_chat,
    msgaudit_notify,
    template_card_event,
    text,
)
from handlers.base import AIBOT, ARCHIVE, Fields, Record, handler_for
from handlers.unknown import handle_unknown


def dispatch(fields: Fields, *, source: str) -> Record:
    """The record for one event: its registered handler's, else an UnknownEvent."""
    if source in (AIBOT, ARCHIVE):
        handler = handler_for(source, None)
    else:
        msg_type = str(fields.get("MsgType") or "")
        # Only events are told apart by Event: a message that carries a stray <Event> (seen in a
        # real text message, tests/fixtures/wecom) is still that message.
        event = str(fields.get("Event") or "") or None if msg_type == "event" else None
        handler = handler_for(msg_type, event)
    return (handler or handle_unknown)(fields)
