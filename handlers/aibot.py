"""AI-bot messages: group messages that @ the bot (text, mixed, quote), JSON not XML."""

from __future__ import annotations

import re
from typing import Any

from handlers.base import AIBOT, Fields, handles
from policies.base import ChatMessage, MessageSource

_MENTION = re.compile(r"@(\S+)")


def _text_of(part: Any, *, in_mixed: bool = False) -> str:
    """The text of a text/mixed/quote part; non-text items count as nothing.

    Authentic but odd JSON is tolerated, never a crash that retries the event until it goes dead:
    a `msg_item` that is not a list counts as no items, items that are not objects (or a mixed
    inside a mixed) as nothing.
    """
    if not isinstance(part, dict):
        return ""
    kind = part.get("msgtype")
    if kind == "text":
        text = part.get("text")
        content = text.get("content", "") if isinstance(text, dict) else ""
        return content if isinstance(content, str) else ""
    if kind == "mixed" and not in_mixed:
        mixed = part.get("mixed")
        items = mixed.get("msg_item") if isinstance(mixed, dict) else None
        if not isinstance(items, list):
            return ""
        return "".join(_text_of(item, in_mixed=True) for item in items)
    return ""


@handles(AIBOT)
def handle_aibot(fields: Fields) -> ChatMessage:
    sender = fields.get("from")
    text = _text_of(dict(fields))
    quote = fields.get("quote")
    return ChatMessage(
        msg_id=str(fields.get("msgid") or ""),
        sender=str(sender.get("userid", "")) if isinstance(sender, dict) else "",
        sent_at=fields["_received_at"],  # the AI-bot callback carries no send time
        msg_type=str(fields.get("msgtype") or "unknown"),
        text=text,
        source=MessageSource.AIBOT,
        chat_id=str(fields.get("chatid") or "") or None,
        mentions=tuple(_MENTION.findall(text)),
        quoted_msg_id=(str(quote.get("msgid")) if isinstance(quote, dict) and quote.get("msgid") else None),
    )
