"""template_card_event: a member pressed a card button, e.g. the 收到 button of a notice (A1, A3)."""

from __future__ import annotations

from handlers.base import Fields, handles, wecom_time
from policies.base import Acknowledgement


@handles("event", "template_card_event")
def handle_template_card_event(fields: Fields) -> Acknowledgement:
    return Acknowledgement(
        user=str(fields.get("FromUserName") or ""),
        at=wecom_time(fields.get("CreateTime")) or fields["_received_at"],
        task_id=str(fields.get("TaskId") or ""),
        event_key=str(fields.get("EventKey") or ""),
        response_code=str(fields.get("ResponseCode") or "") or None,
        card_type=str(fields.get("CardType") or "") or None,
    )
