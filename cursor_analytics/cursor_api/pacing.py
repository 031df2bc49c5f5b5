"""Client-side pacing: stay under each endpoint's rate limit instead of provoking 429s.

Cursor counts requests per team and endpoint in fixed one-minute windows. A sliding-window log
that allows at most N requests in any span of `window + margin` seconds guarantees at most N
in every fixed server window of `window` seconds, whatever the windows' alignment, as long as
the jitter of network latency stays under the margin (two requests N apart reach the server
more than one window apart).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

# The margin covers the jitter of network latency between two requests a window apart (their
# windows' alignment needs none): 0.7 s on a real minute. It was 5% + 50 ms (3.05 s) until
# 2026-12: the backfill benchmark draws no 429 at either, and every window paid 2.35 s more.
MARGIN_SHARE = 0.01
MARGIN_SECONDS = 0.1


def default_margin(window_seconds: float) -> float:
    """Safety margin added to the window: 1% plus 100 ms (0.7 s for one minute)."""
    return MARGIN_SHARE * window_seconds + MARGIN_SECONDS


class SlidingWindowLimiter:
    """At most `limit` acquisitions in any `window_seconds + margin_seconds` span. Thread-safe:
    waiting threads sleep without holding the lock."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        margin_seconds: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be at least 1 request per window, got {limit}")
        if window_seconds <= 0:
            raise ValueError(f"rate_limit_window_seconds must be positive, got {window_seconds}")
        self.limit = int(limit)
        self.window_seconds = float(window_seconds)
        margin = default_margin(window_seconds) if margin_seconds is None else margin_seconds
        self.span = self.window_seconds + max(0.0, margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._granted: deque[float] = deque()

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._granted and self._granted[0] <= now - self.span:
                    self._granted.popleft()
                if len(self._granted) < self.limit:
                    self._granted.append(now)
                    return waited
                delay = self._granted[0] + self.span - now
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay

    def refund(self) -> None:
        """Give back the most recent slot (a 304 does not count against Cursor's limit)."""
        with self._lock:
            if self._granted:
                self._granted.pop()

    def in_window(self) -> int:
        with self._lock:
            now = self._clock()
            return sum(1 for t in self._granted if t > now - self.span)


def rate_limit_key(path: str, rate_limits: Mapping[str, int]) -> str | None:
    """The key of `rate_limits` that governs `path`: the path itself, else the most specific
    glob pattern (e.g. "/analytics/team/*") that matches it, else None (not paced)."""
    if path in rate_limits:
        return path
    matches = [p for p in rate_limits if any(c in p for c in "*?[") and fnmatchcase(path, p)]
    return max(matches, key=len) if matches else None


class Pacer:
    """One SlidingWindowLimiter per rate-limit key, created on first use."""

    def __init__(
        self,
        rate_limits: Mapping[str, int],
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for key, limit in rate_limits.items():
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ValueError(
                    f"rate_limits[{key!r}] must be a whole number of requests per window "
                    f"(at least 1), got {limit!r}"
                )
        if window_seconds <= 0:
            raise ValueError(f"rate_limit_window_seconds must be positive, got {window_seconds}")
        self.rate_limits = dict(rate_limits)
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, SlidingWindowLimiter] = {}
        self._lock = threading.Lock()

    def limiter(self, path: str) -> SlidingWindowLimiter | None:
        key = rate_limit_key(path, self.rate_limits)
        if key is None:
            return None
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = SlidingWindowLimiter(
                    self.rate_limits[key], self.window_seconds, clock=self._clock, sleep=self._sleep
                )
                self._limiters[key] = limiter
            return limiter
