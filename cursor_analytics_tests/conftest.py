"""Shared fixtures: simulated Cursor APIs for tests, at the suite's fixed clock.

- `NOW` (`support.NOW`, default 2025-06-23 12:00 UTC): every simulator here is frozen at it, and
  `CURSOR_ANALYTICS_NOW` makes the code run at it too (see `support`).
- `sim`: a fresh, started `Simulator` per test (seed 7, 12 users, 40 days, documented rate
  limits in windows of 1 second). Point a client at `sim.base_url` with `sim.api_key`.
- `make_sim`: a factory for simulators with other settings; every simulator it made is
  stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cursor_analytics.simulator import Simulator
from cursor_analytics_tests.support import NOW

SIM_DEFAULTS: dict[str, Any] = {
    "now": NOW,
    "seed": 7,
    "users": 12,
    "days": 40,
    "rate_limits": True,
    "minute_seconds": 1.0,
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A fresh small simulator, started on an ephemeral loopback port, stopped after the test.

    `Simulator(seed=7, users=12, days=40, rate_limits=True, minute_seconds=1.0, now=NOW)`: the
    clock stands at the suite's `NOW`, and the documented per-endpoint limits apply per 1-second
    window. Use `sim.base_url`, `sim.api_key` (full access), `sim.no_access_key`
    (403 everywhere), `sim.team` (the records served), `sim.ground_truth(day)`,
    `sim.request_count(path)`, `sim.faults = Faults(...)`, `sim.change_day(day)`.
    """
    with Simulator(**SIM_DEFAULTS) as s:
        yield s


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Factory fixture: `make_sim(**kwargs)` returns a started `Simulator`.

    Keyword arguments are those of `Simulator` and override the defaults of the `sim` fixture
    (seed 7, 12 users, 40 days, rate limits on, 1-second windows, `now=NOW`). For example
    `make_sim(rate_limits=False, variants=Variants.legacy(), now=datetime(2025, 3, 14, 15, 30,
    tzinfo=timezone.utc))`. All simulators made are stopped at teardown.
    """
    made: list[Simulator] = []

    def make(**kwargs: Any) -> Simulator:
        params = {**SIM_DEFAULTS, **kwargs}
        if "today" in kwargs and "now" not in kwargs:
            del params["now"]  # an explicit `today` freezes the clock at its noon
        s = Simulator(**params).start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
