"""Structured logging: stable dotted event names with key=value fields. Never message text or secrets."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

LOGGER = logging.getLogger("warden")

# A value needs quotes when it is empty or holds a space, a quote, '=', a backslash or anything
# unprintable (controls, line separators): otherwise a value such as an X-Forwarded-For header
# could end its field and forge others (`1.2.3.4 reason=ok`) or a whole line (a newline).
_NEEDS_QUOTES = re.compile(r'[\s"=\\]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char == " " or char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _fmt(value: Any) -> str:
    text = str(value)
    if text and text.isprintable() and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def log_event(name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log `name k=v ...`; cheap when the level is off (the hot path logs at DEBUG)."""
    if LOGGER.isEnabledFor(level):
        kv = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        LOGGER.log(level, f"{name} {kv}" if kv else name)


class LogLimiter:
    """At most `per_window` lines per key (e.g. a refusal reason) in each `window_s`; the rest are
    counted, and the first call after a window that suppressed lines returns the count so the
    caller logs one summary line. Summaries are lazy: they appear with the next call after the
    window ends, not on a timer. Keys should come from a small fixed set (reasons, endpoints).
    """

    def __init__(
        self, per_window: int = 20, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # key → [window start, logged, suppressed]

    def admit(self, key: str) -> tuple[bool, list[tuple[str, int]]]:
        """(log this line?, [(key, lines suppressed)] for every window that just closed)."""
        now = self._clock()
        closed: list[tuple[str, int]] = []
        for other, state in self._windows.items():
            if now - state[0] >= self.window_s:
                if state[2]:
                    closed.append((other, int(state[2])))
                state[:] = [now, 0, 0]
        state = self._windows.setdefault(key, [now, 0, 0])
        if state[1] < self.per_window:
            state[1] += 1
            return True, closed
        state[2] += 1
        return False, closed


def log_limited(
    limiter: LogLimiter, key: str, name: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """`log_event` under `limiter` (keyed by `key`), with one `<name>.suppressed` summary line
    per key and window that dropped lines."""
    admitted, closed = limiter.admit(key)
    for other, suppressed in closed:
        log_event(
            f"{name}.suppressed", level=level, key=other, suppressed=suppressed, window_s=limiter.window_s
        )
    if admitted:
        log_event(name, level=level, **fields)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("warden")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
