"""Unit level: key=value formatting cannot be forged by a value; refusal logging is rate limited."""

from __future__ import annotations

import logging
import re

import pytest

from app.logs import LogLimiter, _fmt, log_event, log_limited

# One field: key=bare or key="quoted with \" and \\ escapes"
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


def fields_of(line: str) -> list[str]:
    return [m.group(1) for m in FIELD.finditer(line)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("", '""'),
        ("a b", '"a b"'),
        ('1.2.3.4" reason="ok', r'"1.2.3.4\" reason=\"ok"'),
        ("1.2.3.4 reason=ok", '"1.2.3.4 reason=ok"'),
        ("a=b", '"a=b"'),
        ("1.2.3.4\nINFO warden callback.accepted", r'"1.2.3.4\nINFO warden callback.accepted"'),
        ("tab\there\r", r'"tab\there\r"'),
        ("back\\slash", r'"back\\slash"'),
        ("nul\x00bell\x07", r'"nul\x00bell\x07"'),
        ("line\u2028sep", r'"line\u2028sep"'),
        ("张三", "张三"),
        (403, "403"),
    ],
)
def test_values_are_escaped(value: object, expected: str) -> None:
    assert _fmt(value) == expected


def test_a_forged_value_stays_one_field_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    xff = '203.0.113.9" status=200 reason="accepted\nWARNING warden admin.login ok=1'
    with caplog.at_level("INFO", logger="warden"):
        log_event("callback.refused", status=403, reason="bad_signature", client=xff)
    (record,) = caplog.records
    line = record.getMessage()
    assert "\n" not in line
    assert fields_of(line) == ["status", "reason", "client"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_admits_n_per_key_per_window_then_reports_the_suppressed() -> None:
    clock = Clock()
    limiter = LogLimiter(per_window=3, window_s=60, clock=clock)
    admitted = [limiter.admit("bad_signature") for _ in range(10)]
    assert [a for a, _ in admitted] == [True] * 3 + [False] * 7
    assert all(closed == [] for _, closed in admitted)
    assert limiter.admit("stale_timestamp") == (True, [])  # each key has its own budget
    clock.now += 59.9
    assert limiter.admit("bad_signature") == (False, [])
    clock.now += 0.1  # the window is over: the next call reports what it dropped, once
    assert limiter.admit("bad_signature") == (True, [("bad_signature", 8)])
    assert limiter.admit("bad_signature") == (True, [])


def test_a_quiet_key_still_gets_its_summary_with_the_next_line_of_any_key() -> None:
    clock = Clock()
    limiter = LogLimiter(per_window=1, window_s=60, clock=clock)
    for _ in range(5):
        limiter.admit("bad_padding")
    clock.now += 61
    assert limiter.admit("bad_signature") == (True, [("bad_padding", 4)])


def test_log_limited_writes_n_lines_then_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = LogLimiter(per_window=2, window_s=60, clock=clock)
    with caplog.at_level("INFO", logger="warden"):
        for _ in range(1000):
            log_limited(limiter, "bad_signature", "callback.refused", reason="bad_signature")
        clock.now += 60
        log_limited(limiter, "bad_signature", "callback.refused", reason="bad_signature")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["callback.refused reason=bad_signature"] * 2 + [
        "callback.refused.suppressed key=bad_signature suppressed=998 window_s=60",
        "callback.refused reason=bad_signature",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)
