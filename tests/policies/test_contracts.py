"""Decision spans start at 0 or later; PolicyContext.local converts the moment it is given."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from policies.base import Decision, PolicyContext, Verdict


class TestContracts:
    def test_a_span_before_the_text_is_refused(self) -> None:
        with pytest.raises(ValueError, match="bad span"):
            Decision("ad-keywords", "C1", Verdict.WARN, "广告", span=(-1, 2))

    def test_local_converts_the_given_moment_not_now(self) -> None:
        ctx = PolicyContext(now=datetime(2026, 12, 4, 0, 0, tzinfo=UTC), timezone=ZoneInfo("Asia/Shanghai"))
        moment = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
        assert ctx.local(moment) == moment
        assert ctx.local(moment).isoformat() == "2026-12-06T00:30:00+08:00"
