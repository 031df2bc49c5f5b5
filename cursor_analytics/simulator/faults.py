"""Injected failures: server errors, spurious 429s, slow, dropped and truncated responses, and
data that moves while a client pages through it.

`Faults` describes the failure rates; `FaultInjector` draws, request by request, which fault (if
any) hits. The draws come from a `random.Random(seed)` consumed in request order, so the same
sequence of requests meets the same faults. Faults apply only to requests that passed
authentication.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    """Failure rates (each a probability per request, 0 = never).

    - `error_rate`: answer 500 `{"error": "Internal Server Error", ...}`.
    - `rate_limit_rate`: start a burst of 1-3 spurious 429s (the contract's body).
    - `retry_after`: `Retry-After` header on every 429 (spurious or real): `None` = no header,
      a number = that many seconds, `"date"` = an HTTP-date at the end of the current window.
    - `slow_rate`, `slow_seconds`: sleep before answering.
    - `drop_rate`: close the connection without any response.
    - `truncate_rate`: send the status line and headers (full `Content-Length`) but only part
      of the body, then close the connection.
    - `drift`: the data moves under a read that pages (asks for page 1, then 2, ...): from its
      second page on, the pages are shifted by one record, as if one arrived at the head of
      the list after page 1 was served. `"grow"`: a new record (a new event, commit or audit
      event; for daily usage, paged over users, a user who joins): the announced total
      (`totalUsageEventsCount`, `totalCount`, `totalUsers`, `totalMembers`) grows by one.
      `"shift"`: the total stays the same (one record left the end as one arrived), so only the
      records tell: the last record of page n is served again first on page n + 1.
    - `drift_reads`: how many reads drift (each request for page 1 starts a read; `None` =
      every read).
    - `seed`: seed of the fault draws.
    - `paths`: if given, only requests to these paths (exact URL paths) can be hit.
    """

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float | int | str | None = None
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    drift: str | None = None
    drift_reads: int | None = 1
    seed: int = 0
    paths: frozenset[str] | tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.drift not in (None, "grow", "shift"):
            raise ValueError(f"drift must be None, 'grow' or 'shift', got {self.drift!r}")

    @property
    def any(self) -> bool:
        return any(
            rate > 0
            for rate in (
                self.error_rate,
                self.rate_limit_rate,
                self.slow_rate,
                self.drop_rate,
                self.truncate_rate,
            )
        )


@dataclass
class FaultDecision:
    """What happens to one request. `kind` is None, "drop", "truncate", "error" or "rate_limit"."""

    kind: str | None = None
    slow_seconds: float = 0.0


class FaultInjector:
    """Thread-safe, deterministic fault draws for one `Faults` setting."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._burst = 0
        self._lock = threading.Lock()
        self._drifted_reads = 0
        self._drifting: dict[str, bool] = {}

    def decide(self, path: str) -> FaultDecision:
        f = self.faults
        if f.paths is not None and path not in _as_set(f.paths):
            return FaultDecision()
        if not f.any:
            return FaultDecision()
        with self._lock:
            if self._burst > 0:
                self._burst -= 1
                return FaultDecision("rate_limit")
            # One draw per fault kind, always in the same order, so decisions depend only on
            # the seed and the number of requests seen.
            r_drop, r_trunc, r_err, r_429, r_slow = (self._rng.random() for _ in range(5))
            burst = self._rng.randint(1, 3)
            if r_drop < f.drop_rate:
                return FaultDecision("drop")
            if r_err < f.error_rate:
                return FaultDecision("error")
            if r_429 < f.rate_limit_rate:
                self._burst = burst - 1
                return FaultDecision("rate_limit")
            slow = f.slow_seconds if r_slow < f.slow_rate else 0.0
            if r_trunc < f.truncate_rate:
                return FaultDecision("truncate", slow)
            return FaultDecision(None, slow)

    def drift(self, path: str, page: int) -> tuple[int, int]:
        """(records the page is shifted by, records added to the announced total) for this page
        of a paged read of `path`."""
        f = self.faults
        if f.drift is None or (f.paths is not None and path not in _as_set(f.paths)):
            return 0, 0
        with self._lock:
            if page == 1:  # a new read starts
                drifts = f.drift_reads is None or self._drifted_reads < f.drift_reads
                self._drifting[path] = drifts
                self._drifted_reads += drifts
                return 0, 0
            if not self._drifting.get(path):
                return 0, 0
        return 1, 1 if f.drift == "grow" else 0


def _as_set(paths: Iterable[str]) -> frozenset[str]:
    return paths if isinstance(paths, frozenset) else frozenset(paths)
