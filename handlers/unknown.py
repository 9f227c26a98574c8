"""Everything without a handler of its own: kept whole so nothing WeCom sends is lost."""

from __future__ import annotations

from handlers.base import Fields, UnknownEvent, wecom_time


def handle_unknown(fields: Fields) -> UnknownEvent:
    return UnknownEvent(
        msg_type=str(fields.get("MsgType") or fields.get("msgtype") or "unknown"),
        event=str(fields.get("Event")) if fields.get("Event") else None,
        at=wecom_time(fields.get("CreateTime")),
        fields={k: v for k, v in fields.items() if not k.startswith("_")},
    )
