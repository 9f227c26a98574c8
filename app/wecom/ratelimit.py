"""Client-side rate limits, kept below WeCom's so the service slows itself down instead of being
banned (45009 bans for 60 s) or, worse, having messages silently dropped.

`SlidingWindowLimiter.acquire(key)` waits until the key has room; the clock and the sleep are
injectable so tests run in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("warden.wecom")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# WECOM.md §5.1: per corp per single API ≤ 10,000/min (150,000/h). Keep 10 % headroom.
API_CALLS_PER_MIN = 9_000
# WECOM.md §4.3/§5.1: message/send per app per member ≤ 30/min and ≤ 1,000/h; excess is dropped
# without an error, so the client must never get there.
MESSAGES_PER_MEMBER_PER_MIN = 25
MESSAGES_PER_MEMBER_PER_HOUR = 900
# WECOM.md §4.5/§5.1: a group robot takes ≤ 20 messages/min; fixed or sliding window is unknown,
# a sliding window below it is safe either way.
WEBHOOK_PER_KEY_PER_MIN = 18
# WECOM.md §4.2/§5.1: appchat/update ≤ 1,000 changes per corp per hour.
APPCHAT_UPDATES_PER_HOUR = 900

MINUTE = 60.0
HOUR = 3600.0
_SWEEP_AT_KEYS = 4096  # forget idle keys once this many are tracked


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """The client's limits; lower them in tests or for a small corp."""

    api_per_min: int = API_CALLS_PER_MIN
    message_per_member_per_min: int = MESSAGES_PER_MEMBER_PER_MIN
    message_per_member_per_hour: int = MESSAGES_PER_MEMBER_PER_HOUR
    webhook_per_key_per_min: int = WEBHOOK_PER_KEY_PER_MIN
    appchat_updates_per_hour: int = APPCHAT_UPDATES_PER_HOUR


class SlidingWindowLimiter:
    """At most `limit` acquisitions per `window_s` seconds per key; `acquire` waits for room."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        name: str,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be ≥ 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._hits: dict[str, deque[float]] = {}

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()

    def _sweep(self, now: float) -> None:
        idle = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window_s]
        for key in idle:
            del self._hits[key]

    def delay(self, key: str = "") -> float:
        """Seconds until `key` has room (0 when it has room now)."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            return 0.0
        self._expire(hits, now)
        if len(hits) < self.limit:
            return 0.0
        return hits[0] + self.window_s - now

    async def acquire(self, key: str = "") -> float:
        """Take one slot for `key`, waiting as long as needed; return the seconds waited.

        Check and take happen with no await between them, so concurrent callers on one event
        loop never overshoot; a waiter re-checks after sleeping because others may have won.
        """
        waited = 0.0
        while True:
            wait = self.delay(key)
            if wait <= 0:
                now = self._clock()
                if len(self._hits) >= _SWEEP_AT_KEYS:
                    self._sweep(now)
                self._hits.setdefault(key, deque()).append(now)
                return waited
            log.info("wecom.ratelimit.wait limiter=%s wait_s=%.3f", self.name, wait)
            await self._sleep(wait)
            waited += wait
