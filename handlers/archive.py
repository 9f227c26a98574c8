"""Chat-archive messages (会话内容存档): the decrypted JSON of GetChatData + DecryptData, as WeCom
documents it (DOC:91774), into one `ChatMessage`, a `MessageRecall`, or nothing.

The quirks (WECOM.md corrections #10): `msgtime` is in milliseconds; `text` has only `content`, and
mentions in it are literal `@name` text (no userid list, so `mentions` stays empty); a quote-reply
embeds the quoted words in its content ("这是一条引用/回复消息：\\n“name：\\nquoted”\\n------\\nreply");
a recall is `action: "recall"`, `msgtype: "revoke"`, `revoke.pre_msgid`; `switch` records have no
msgtype and no from; `markdown` and `news` carry their body under `info`, an online document under
`doc`; each `mixed.item[].content` (and `chatrecord.item[].content`) is a JSON *string*.

Pure and forgiving: authentic but odd JSON never raises (a crash would retry the event until it
went dead); what cannot be read counts as no text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from handlers.base import ARCHIVE, Fields, Record, UnknownEvent, handles
from policies.base import ChatMessage, MessageRecall, MessageSource

# Where each msgtype keeps its body when not under its own name.
_BODY_KEY = {"markdown": "info", "news": "info", "docmsg": "doc", "external_redpacket": "redpacket"}
# Fields a member can read, per type (the file name of a file: what it claims to be).
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "link": ("title", "description"),
    "weapp": ("title", "description", "displayname"),
    "file": ("filename",),
    "voip_doc_share": ("filename",),
    "location": ("title", "address"),
    "docmsg": ("title",),
    "calendar": ("title", "place", "remarks"),
    "meeting": ("topic", "address", "remarks"),
    "collect": ("title",),
    "redpacket": ("wish",),
    "external_redpacket": ("wish",),
    "vote": ("votetitle",),
    "todo": ("title", "content"),
    "sphfeed": ("feed_desc", "sph_name"),
    "markdown": ("content",),
}
_URL_FIELDS = ("link_url", "url")
# chatrecord items name their type "ChatRecordText", "ChatRecordLink", …
_CHATRECORD_PREFIX = "ChatRecord"
_QUOTE_HEAD = r"^(?:这是一条引用/回复消息[：:]|This is a quote/reply:)"
_QUOTE_PATTERNS = (
    # WeCom: 这是一条引用/回复消息：\n“name：\nquoted”\n------\nreply (English clients alike)
    re.compile(
        _QUOTE_HEAD + r"\s*[\"“](?:[^\n]*?[：:]\s*\n)?(?P<quote>.*?)[”\"]\s*\n-{6}\n(?P<reply>.*)$", re.DOTALL
    ),
    # The same header without the quotation marks (seen with an empty quote)
    re.compile(_QUOTE_HEAD + r"(?P<quote>.*?)\n-{6}\n(?P<reply>.*)$", re.DOTALL),
    # WeChat contacts' quote: 「name：quoted」\n- - - … -\nreply
    re.compile(r"^「(?:[^\n」]*?：)?\n?(?P<quote>.*?)」\n-(?: -){14}\n(?P<reply>.*)$", re.DOTALL),
)


def is_message(message: Fields) -> bool:
    """False for records that are not messages: `switch` (a member switched company log)."""
    return message.get("action") != "switch" and bool(message.get("msgtype"))


def archive_time(value: Any) -> datetime | None:
    """msgtime (unix milliseconds) as an aware UTC datetime."""
    if isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def split_quote(content: str) -> tuple[str, str | None]:
    """(the member's own words, the quoted words) of a quote-reply; (content, None) otherwise."""
    for pattern in _QUOTE_PATTERNS:
        match = pattern.match(content)
        if match:
            quote = match.group("quote").strip().strip('"“”').strip()
            return match.group("reply"), quote
    return content, None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_object(value: Any) -> dict[str, Any]:
    """A mixed/chatrecord item's content: a JSON string (an object also accepted)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _body_parts(kind: str, body: Any, *, depth: int = 0) -> tuple[list[str], list[str]]:
    """(texts, links) of one typed body: the message's own, or an item of mixed/chatrecord."""
    if not isinstance(body, dict):
        return [], []
    texts: list[str] = []
    links: list[str] = []
    if kind == "text":
        texts.append(_str(body.get("content")))
    elif kind == "news":
        for item in body.get("item") or []:
            if isinstance(item, dict):
                texts += [_str(item.get("title")), _str(item.get("description"))]
                links += [_str(item.get(f)) for f in _URL_FIELDS]
    elif kind in ("mixed", "chatrecord") and depth < 2:
        if kind == "chatrecord":
            texts.append(_str(body.get("title")))
        for item in body.get("item") or []:
            if not isinstance(item, dict):
                continue
            sub = _str(item.get("type"))
            sub = sub.removeprefix(_CHATRECORD_PREFIX).lower() if sub.startswith(_CHATRECORD_PREFIX) else sub
            t, u = _body_parts(sub, _json_object(item.get("content")), depth=depth + 1)
            texts += t
            links += u
    else:
        texts += [_str(body.get(f)) for f in _TEXT_FIELDS.get(kind, ())]
        if kind == "vote":
            texts += [_str(v) for v in body.get("voteitem") or []]
        links += [_str(body.get(f)) for f in _URL_FIELDS]
    return texts, links


def normalise(message: Fields, *, received_at: datetime | None = None) -> ChatMessage | MessageRecall | None:
    """One archived message → its record; None for a switch record (not a message)."""
    if not is_message(message):
        return None
    kind = _str(message.get("msgtype"))
    at = archive_time(message.get("msgtime")) or received_at or datetime.now(UTC)
    chat_id = _str(message.get("roomid")) or None
    msg_id = str(message.get("msgid") or "")
    sender = _str(message.get("from"))
    if message.get("action") == "recall" or kind == "revoke":
        revoke = message.get("revoke")
        pre = revoke.get("pre_msgid") if isinstance(revoke, dict) else None
        return MessageRecall(
            msg_id=msg_id,
            recalled_msg_id=str(pre or ""),
            sender=sender,
            at=at,
            source=MessageSource.ARCHIVE,
            chat_id=chat_id,
        )
    texts, links = _body_parts(kind, message.get(_BODY_KEY.get(kind, kind)))
    text = "\n".join(t for t in texts if t)
    quoted = None
    if kind == "text":
        text, quoted = split_quote(text)
    return ChatMessage(
        msg_id=msg_id,
        sender=sender,
        sent_at=at,
        msg_type=kind,
        text=text,
        source=MessageSource.ARCHIVE,
        chat_id=chat_id,
        quoted_text=quoted,
        links=tuple(dict.fromkeys(u for u in links if u)),
    )


@handles(ARCHIVE)
def handle_archive(fields: Fields) -> Record:
    record = normalise(fields, received_at=fields.get("_received_at"))
    if record is not None:
        return record
    return UnknownEvent(  # a switch record (the pull does not store them): kept whole
        msg_type=_str(fields.get("action")) or "unknown",
        event=None,
        at=archive_time(fields.get("time")),
        fields={k: v for k, v in fields.items() if not k.startswith("_")},
    )
