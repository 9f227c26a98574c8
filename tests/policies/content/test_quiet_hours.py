"""C7 quiet hours: across midnight, two time zones, the window's edges, DST, deferral."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest

from policies.base import ChatMessage, MessageSource, PolicyContext, Remedy, Verdict
from policies.content.quiet_hours import QuietHoursPolicy, in_quiet_hours, next_allowed, parse_window
from policies.document import QuietHours

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
DEFAULT = {"start": "22:00", "end": "07:30"}


def msg(at: datetime, chat_id: str | None = "wrsales") -> ChatMessage:
    return ChatMessage("m1", "lisi", at, "text", "在吗", MessageSource.ARCHIVE, chat_id=chat_id)


def ctx(tz: tzinfo, at: datetime) -> PolicyContext:
    return PolicyContext(now=at, timezone=tz)


# (local wall time in the org's zone, quiet?) for the default 22:00–07:30 window.
EDGES = [
    ((21, 59, 59), False),
    ((22, 0, 0), True),  # start is in
    ((23, 59, 59), True),
    ((0, 0, 0), True),  # across midnight
    ((3, 0, 0), True),
    ((7, 29, 59), True),
    ((7, 30, 0), False),  # end is out
    ((12, 0, 0), False),
]


@pytest.mark.parametrize("tz", [SHANGHAI, NEW_YORK], ids=["shanghai", "new-york"])
@pytest.mark.parametrize(("hms", "quiet"), EDGES)
def test_window_edges_in_two_time_zones(tz: ZoneInfo, hms: tuple[int, int, int], quiet: bool) -> None:
    at = datetime(2026, 12, 4, *hms, tzinfo=tz).astimezone(UTC)  # stored in UTC, judged in local time
    out = QuietHoursPolicy(quiet_hours=DEFAULT).evaluate(msg(at), ctx(tz, at))
    if quiet:
        [d] = out
        assert d.verdict is Verdict.REMIND and d.remedies == (Remedy.REMIND_PRIVATELY,)
        assert d.reason.startswith("C7 休息时间（22:00–07:30）")
        assert Remedy.RECORD_STRIKE not in d.remedies
    else:
        assert out == []
    assert in_quiet_hours(at, DEFAULT, tz) is quiet


def test_the_same_instant_differs_by_time_zone() -> None:
    at = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai, 09:30 in New York
    assert in_quiet_hours(at, DEFAULT, SHANGHAI)
    assert not in_quiet_hours(at, DEFAULT, NEW_YORK)


@pytest.mark.parametrize(
    ("window", "hm", "quiet"),
    [
        ({"start": "12:00", "end": "14:00"}, (11, 59), False),  # a window within one day
        ({"start": "12:00", "end": "14:00"}, (12, 0), True),
        ({"start": "12:00", "end": "14:00"}, (14, 0), False),
        ({"start": "12:00", "end": "14:00"}, (23, 0), False),
        ({"start": "23:30", "end": "07:30"}, (23, 0), False),
        ({"start": "23:30", "end": "07:30"}, (23, 30), True),
        ({"start": "00:00", "end": "06:00"}, (0, 0), True),
        ({"start": "00:00", "end": "06:00"}, (23, 59), False),
    ],
)
def test_other_windows(window: dict[str, str], hm: tuple[int, int], quiet: bool) -> None:
    at = datetime(2026, 12, 4, *hm, tzinfo=SHANGHAI)
    assert in_quiet_hours(at, window, SHANGHAI) is quiet


def test_null_means_no_quiet_hours() -> None:
    at = datetime(2026, 12, 4, 23, 0, tzinfo=SHANGHAI)
    assert QuietHoursPolicy(quiet_hours=None).evaluate(msg(at), ctx(SHANGHAI, at)) == []
    assert not in_quiet_hours(at, None, SHANGHAI)
    assert next_allowed(at, None, SHANGHAI) == at


def test_default_is_regulations_window_and_accepts_the_model() -> None:
    at = datetime(2026, 12, 4, 22, 0, tzinfo=SHANGHAI)
    assert QuietHoursPolicy().evaluate(msg(at), ctx(SHANGHAI, at))
    model = QuietHours(start="22:00", end="07:30")
    assert parse_window(model) == parse_window(DEFAULT)


def test_single_chat_with_the_app_is_not_a_group() -> None:
    at = datetime(2026, 12, 4, 23, 0, tzinfo=SHANGHAI)
    assert QuietHoursPolicy().evaluate(msg(at, chat_id=None), ctx(SHANGHAI, at)) == []


def test_a_bad_window_is_refused() -> None:
    with pytest.raises(ValueError):
        QuietHoursPolicy(quiet_hours={"start": "25:00", "end": "07:30"})


# next_allowed: (window, zone, local moment (y, m, d, h, mi, fold), expected local end or None: unchanged)
NEXT = [
    (DEFAULT, SHANGHAI, (2026, 12, 4, 23, 0, 0), (2026, 12, 5, 7, 30)),  # evening → tomorrow morning
    (DEFAULT, SHANGHAI, (2026, 12, 5, 3, 0, 0), (2026, 12, 5, 7, 30)),  # after midnight → this morning
    (DEFAULT, SHANGHAI, (2026, 12, 4, 22, 0, 0), (2026, 12, 5, 7, 30)),  # the start edge
    (DEFAULT, SHANGHAI, (2026, 12, 5, 7, 30, 0), None),  # the end edge: already allowed
    (DEFAULT, SHANGHAI, (2026, 12, 5, 12, 0, 0), None),
    (DEFAULT, SHANGHAI, (2026, 12, 31, 23, 59, 0), (2027, 1, 1, 7, 30)),  # across the year
    ({"start": "12:00", "end": "14:00"}, SHANGHAI, (2026, 12, 4, 13, 0, 0), (2026, 12, 4, 14, 0)),
    # 23:00 in New York is already tomorrow in UTC: the end is found on the local date.
    ({"start": "22:00", "end": "23:30"}, NEW_YORK, (2026, 12, 4, 23, 0, 0), (2026, 12, 4, 23, 30)),
    # New York springs forward on 2026-03-08 (02:00 → 03:00) and falls back on 2026-11-01 (02:00 → 01:00).
    (DEFAULT, NEW_YORK, (2026, 3, 7, 23, 0, 0), (2026, 3, 8, 7, 30)),  # a 23-hour night: still 07:30
    (DEFAULT, NEW_YORK, (2026, 10, 31, 23, 0, 0), (2026, 11, 1, 7, 30)),  # a 25-hour night
    # 02:30 is skipped: the window ends at the jump; 01:30 is repeated: it ends at the first.
    ({"start": "22:00", "end": "02:30"}, NEW_YORK, (2026, 3, 8, 1, 0, 0), (2026, 3, 8, 3, 0)),
    ({"start": "22:00", "end": "01:30"}, NEW_YORK, (2026, 11, 1, 0, 30, 0), (2026, 11, 1, 1, 30)),
]


@pytest.mark.parametrize(("window", "tz", "local", "expected"), NEXT)
def test_next_allowed(
    window: dict[str, str],
    tz: ZoneInfo,
    local: tuple[int, int, int, int, int, int],
    expected: tuple[int, int, int, int, int] | None,
) -> None:
    y, mo, d, h, mi, fold = local
    moment = datetime(y, mo, d, h, mi, tzinfo=tz, fold=fold).astimezone(UTC)
    out = next_allowed(moment, window, tz)
    if expected is None:
        assert out == moment
        return
    end = datetime(*expected, tzinfo=tz)
    assert out.astimezone(tz).replace(tzinfo=None) == end.replace(tzinfo=None)
    assert out > moment and not in_quiet_hours(out, window, tz)
    assert out.utcoffset() == end.utcoffset()


def test_next_allowed_in_the_repeated_hour_is_the_second_end() -> None:
    window = {"start": "22:00", "end": "01:30"}
    moment = datetime(2026, 11, 1, 1, 10, tzinfo=NEW_YORK, fold=1)  # after the first 01:30, inside again
    assert in_quiet_hours(moment, window, NEW_YORK)
    out = next_allowed(moment, window, NEW_YORK)
    assert out.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, not EDT
    assert out > moment


def test_next_allowed_at_a_skipped_end_is_the_jump_exactly() -> None:
    window = {"start": "22:00", "end": "02:30"}
    moment = datetime(2026, 3, 8, 1, 59, 59, tzinfo=NEW_YORK)
    out = next_allowed(moment, window, NEW_YORK)
    assert out.astimezone(UTC) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert not in_quiet_hours(out, window, NEW_YORK)
