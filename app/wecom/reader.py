"""The read-only face of the WeCom client: what domain services may call while they decide.

Only `app.executor` writes to WeCom (sends, removals, recalls). Domain services get the client
typed as `WeComReader`, and import-linter forbids them `app.wecom.client` itself.
"""

from __future__ import annotations

from typing import Any, Protocol

# What a read raises (errcode ≠ 0, or WeCom unreachable): part of this interface, so callers can
# tell WeCom's answers apart without importing the client (and its write methods) themselves.
from app.wecom.client import WeComError, WeComTransportError

__all__ = ["WeComError", "WeComReader", "WeComTransportError"]


class WeComReader(Protocol):
    async def user_get(self, userid: str) -> dict[str, Any]: ...

    async def user_list_id(self, *, cursor: str = "", limit: int = 10000) -> dict[str, Any]: ...

    async def department_list(self, department_id: int | None = None) -> list[dict[str, Any]]: ...

    async def appchat_get(self, chatid: str) -> dict[str, Any]: ...

    async def groupchat_get(self, chat_id: str) -> dict[str, Any]: ...

    async def groupchat_list(
        self, *, cursor: str = "", limit: int = 1000, owner_userids: list[str] | None = None
    ) -> dict[str, Any]: ...

    async def archive_pull(self, *, seq: int, limit: int = 1000) -> dict[str, Any]: ...
