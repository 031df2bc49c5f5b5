"""Dates of ranged reads: an inclusive range of UTC days split into the fewest chunks a range
limit allows (`split_days`), the `checked_range` decorator that validates (start, end) when a
ranged read is called, and the first and last instants of a UTC day in the two forms the APIs
take (epoch milliseconds and ISO 8601). Pure functions: no HTTP, no state; and `utc_now`, the
one place the code reads the current time.
"""

from __future__ import annotations

import functools
import os
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any


def days_in(first: date, last: date) -> list[date]:
    """Every UTC day from `first` to `last`, both included (empty when last < first)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def split_days(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Inclusive [start, end] as the fewest consecutive inclusive chunks of at most max_days."""
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if start > end:
        raise ValueError(f"start ({start}) is after end ({end})")
    chunks = []
    lo = start
    while lo <= end:
        hi = min(end, lo + timedelta(days=max_days - 1))
        chunks.append((lo, hi))
        lo = hi + timedelta(days=1)
    return chunks


def checked_range(method):
    """Validate (start, end) when a ranged read is called, not when its first page is asked for."""

    @functools.wraps(method)
    def wrapper(self, start, end, *args, **kwargs):
        start, end = _as_date(start, "start"), _as_date(end, "end")
        if start > end:
            raise ValueError(f"start ({start}) is after end ({end})")
        return method(self, start, end, *args, **kwargs)

    return wrapper


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")


def day_start_ms(day: date) -> int:
    return int(datetime.combine(day, dtime(0), tzinfo=UTC).timestamp() * 1000)


def day_end_ms(day: date) -> int:
    return day_start_ms(day + timedelta(days=1)) - 1


def day_start_iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000Z"


def day_end_iso(day: date) -> str:
    return f"{day.isoformat()}T23:59:59.999Z"


NOW_ENV = "CURSOR_ANALYTICS_NOW"
_STARTED = time.monotonic()


def utc_now() -> datetime:
    """The current UTC time: the system clock, or, when `CURSOR_ANALYTICS_NOW` is set (an ISO 8601
    time; tests and replays), that time when the process started plus the time elapsed since.

    Every "now" of the code (today's date, the run's as-of time, snapshot times, the sensor's
    default clock) comes from here, so the whole code runs at a chosen date."""
    text = os.environ.get(NOW_ENV, "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{NOW_ENV}={text!r} is not an ISO 8601 time: set it like 2025-06-23T12:00:00Z, or "
            "unset it to use the system clock."
        ) from None
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    return start + timedelta(seconds=time.monotonic() - _STARTED)


def _utc_today() -> date:
    return utc_now().date()
