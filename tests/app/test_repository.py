"""An admin token's last use is written at most once a minute, not on every request."""

from __future__ import annotations

from datetime import timedelta

from app.models import AdminToken, utcnow
from app.repository import LAST_USED_EVERY, touch_admin_token


class TestTouch:
    async def test_written_when_stale_and_left_when_fresh(self) -> None:
        now = utcnow()
        fresh = AdminToken(
            name="a", token_hash="a" * 64, created_at=now, last_used_at=now - timedelta(seconds=10)
        )
        stale = AdminToken(
            name="b",
            token_hash="b" * 64,
            created_at=now,
            last_used_at=now - LAST_USED_EVERY - timedelta(seconds=1),
        )
        before = (fresh.last_used_at, stale.last_used_at)
        for token in (fresh, stale):
            await touch_admin_token(None, token)  # type: ignore[arg-type]
        assert fresh.last_used_at == before[0]
        assert stale.last_used_at is not None and stale.last_used_at >= now
