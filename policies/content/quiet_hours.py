"""C7 quiet hours (22:00–07:30 by default, in the organisation's local time): a member who posts in
the window gets a private reminder, no strike. The service itself posts nothing in groups then:
`next_allowed` says when a deferred group post may go out.

A window is `{"start": "HH:MM", "end": "HH:MM"}` (or a `QuietHours`); `end` before `start` means
it runs across midnight; null/None means no quiet hours. `start` is inside the window, `end` is
not (22:00 is quiet, 07:30 is not). Times are wall-clock times in `tz` (`PolicyContext.timezone`,
WARDEN_TIMEZONE); on a DST change the window follows the wall clock: when `end` falls in the
skipped hour the window ends at the jump, when it falls in the repeated hour it ends at its first
occurrence (and a moment in the repeat that is inside the window again ends at the second).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict
from policies.document import QuietHours

Window = QuietHours | Mapping[str, str] | None
DEFAULT_WINDOW = QuietHours(start="22:00", end="07:30")


def parse_window(window: Window) -> tuple[time, time] | None:
    """(start, end) as times, or None for no quiet hours."""
    if window is None:
        return None
    if isinstance(window, QuietHours):
        start, end = window.start, window.end
    else:
        checked = QuietHours.model_validate(dict(window))
        start, end = checked.start, checked.end
    return time.fromisoformat(start), time.fromisoformat(end)


def in_quiet_hours(moment: datetime, window: Window, tz: tzinfo) -> bool:
    """Whether the wall clock in `tz` at `moment` reads a time inside the window."""
    bounds = parse_window(window)
    if bounds is None:
        return False
    return _inside(moment.astimezone(tz).time().replace(tzinfo=None), *bounds)


def _inside(t: time, start: time, end: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end  # across midnight


def _instants(day: date, wall: time, tz: tzinfo) -> list[datetime]:
    """The UTC instants at which the wall clock in `tz` reads `day wall`: one, two in a repeated
    hour, or, in a skipped hour, the instant of the jump (the first moment past that wall time)."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return sorted({first, second})
    # Skipped: `second` (later offset) lands before the jump, `first` after it. Find the jump.
    lo, hi = int(min(first, second).timestamp()), int(max(first, second).timestamp())
    while hi - lo > 1:  # invariant: the wall clock reads before `naive` at lo, at or past it at hi
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return [datetime.fromtimestamp(hi, UTC)]


def next_allowed(moment: datetime, window: Window, tz: tzinfo) -> datetime:
    """`moment` itself when it is outside the quiet hours, else the end of the window it is in
    (an aware datetime in `tz`): when a group post deferred at `moment` may go out."""
    bounds = parse_window(window)
    if bounds is None:
        return moment
    local = moment.astimezone(tz)
    if not _inside(local.time().replace(tzinfo=None), *bounds):
        return moment
    end = bounds[1]
    for day in (local.date(), local.date() + timedelta(days=1)):
        for instant in _instants(day, end, tz):
            if instant > moment:
                return instant.astimezone(tz)
    raise AssertionError("a window ends within a day")  # pragma: no cover


class QuietHoursPolicy:
    """C7: no chatting in quiet hours; a private reminder, no strike."""

    name = "quiet-hours"
    rule_id = "C7"

    def __init__(self, *, quiet_hours: Window = DEFAULT_WINDOW) -> None:
        self.quiet_hours = quiet_hours
        self._bounds = parse_window(quiet_hours)

    def evaluate(self, message: ChatMessage, context: PolicyContext) -> list[Decision]:
        if self._bounds is None or message.chat_id is None:
            return []
        local = context.local(message.sent_at)
        if not _inside(local.time().replace(tzinfo=None), *self._bounds):
            return []
        start, end = (t.strftime("%H:%M") for t in self._bounds)
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.REMIND,
                f"C7 休息时间（{start}–{end}）请勿在群内发言；如有急事请电话或私聊联系相关同事。",
                evidence=(("local_time", local.strftime("%H:%M")),),
                remedies=(Remedy.REMIND_PRIVATELY,),
            )
        ]
