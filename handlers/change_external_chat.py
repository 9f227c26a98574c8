"""change_external_chat (客户群变更): customer groups we can observe and advise on, never act in.

WeCom may lose or reorder these events; the membership work re-fetches groupchat/get.
"""

from __future__ import annotations

from typing import Any

from handlers.base import Fields, handles, wecom_time
from policies.base import MembershipChange, MembershipScope


def _members(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value if v)
    if isinstance(value, dict):  # <MemChangeList><Item>..</Item></MemChangeList> parsed as a dict
        return _members(value.get("Item"))
    return (str(value),) if value else ()


@handles("event", "change_external_chat")
def handle_change_external_chat(fields: Fields) -> MembershipChange:
    change_type = str(fields.get("ChangeType") or "unknown")
    detail_name = fields.get("UpdateDetail")
    detail = {
        k: fields[k]
        for k in ("ChangeType", "JoinScene", "QuitScene", "MemChangeCnt", "LastMemVer", "CurMemVer")
        if fields.get(k) not in (None, "")
    }
    return MembershipChange(
        scope=MembershipScope.EXTERNAL_CHAT,
        change=str(detail_name) if change_type == "update" and detail_name else change_type,
        at=wecom_time(fields.get("CreateTime")) or fields["_received_at"],
        user_ids=_members(fields.get("MemChangeList")),
        chat_id=str(fields.get("ChatId") or "") or None,
        detail=detail,
    )
