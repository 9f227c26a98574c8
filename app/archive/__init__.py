"""The chat archive (会话内容存档) as a message source: `msgaudit_notify` and a poll pull archived
messages into the inbox, where the pipeline normalises each into a ChatMessage (handlers/archive.py)
and routes it like any callback. See app.archive.pull for how a crash stays safe, and
app.wecom.archive for the sources (WARDEN_ARCHIVE_SOURCE)."""

from __future__ import annotations

from app.archive.pull import ARCHIVE_PULL, ArchivePuller, request_pull
from app.archive.service import DOMAIN, NoticeService, build

__all__ = ["ARCHIVE_PULL", "DOMAIN", "ArchivePuller", "NoticeService", "build", "request_pull"]
