"""Fingerprints of UTC days: a few numbers per dataset that change when a day's data changes,
read cheaply from the API and from DuckDB, and the comparison that finds stale days.

A day's fingerprint is, per dataset:
- `daily_usage`: the row count and the sum of every counter, from ONE ranged daily-usage call
  for the whole lookback window (per-day sums);
- `usage_events`, `ai_commits`, `ai_changes`: the row count, from one pageSize=1 request per day
  (`totalUsageEventsCount` / `totalCount`).

The API side spends at most a given number of requests (counted as the client sends them, retries
included); days left unread are reported so the next tick can start with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from cursor_analytics.cursor_api import (
    CursorApiError,
    CursorClient,
    InsufficientAccessError,
    InvalidCredentialsError,
    days_in,
)
from cursor_analytics.warehouse import table_exists
from cursor_analytics.warehouse.finality import FINAL, FINGERPRINTED, PARTITION_FINALITY
from cursor_analytics.warehouse.tables import DAILY_USAGE_SUMS

Fingerprint = dict[str, dict[str, int]]  # dataset -> {measure: value}


COUNTED = ("usage_events", "ai_commits", "ai_changes")  # one count request per day each
AI_CODE_KIND = {"ai_commits": "commits", "ai_changes": "changes"}


def empty_fingerprint() -> Fingerprint:
    return {
        "daily_usage": {"rows": 0, **dict.fromkeys(DAILY_USAGE_SUMS, 0)},
        **{dataset: {"rows": 0} for dataset in COUNTED},
    }


# --- DuckDB side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    finality: str
    verified_at: datetime
    source: str


@dataclass
class StoredDays:
    """What DuckDB holds for a window: fingerprints and verifications per day."""

    fingerprints: dict[date, Fingerprint]
    verifications: dict[date, dict[str, Verification]]

    def is_final(self, day: date, datasets: Iterable[str] = FINGERPRINTED) -> bool:
        held = self.verifications.get(day, {})
        return all(d in held and held[d].finality == FINAL for d in datasets)


def read_stored(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> StoredDays:
    """Per day of start..end: the fingerprint of the rows held, and the verification rows."""
    params = {"start": start, "end": end}
    fingerprints = {day: empty_fingerprint() for day in days_in(start, end)}
    if table_exists(conn, "raw.daily_usage"):
        sums = ", ".join(f'coalesce(sum("{c}"), 0)' for c in DAILY_USAGE_SUMS)
        for day, rows, *values in conn.execute(
            f"SELECT day, count(*), {sums} FROM raw.daily_usage "
            "WHERE day BETWEEN $start AND $end GROUP BY day",
            params,
        ).fetchall():
            fingerprints[day]["daily_usage"] = {"rows": rows, **dict(zip(DAILY_USAGE_SUMS, map(int, values)))}
    for dataset in COUNTED:
        if table_exists(conn, f"raw.{dataset}"):
            for day, rows in conn.execute(
                f"SELECT day, count(*) FROM raw.{dataset} WHERE day BETWEEN $start AND $end GROUP BY day",
                params,
            ).fetchall():
                fingerprints[day][dataset] = {"rows": rows}
    verifications: dict[date, dict[str, Verification]] = {}
    if table_exists(conn, PARTITION_FINALITY.fqn):
        for day, dataset, finality, verified_at, source in conn.execute(
            f"SELECT day, dataset, finality, verified_at, source FROM {PARTITION_FINALITY.ident} "
            "WHERE day BETWEEN $start AND $end",
            params,
        ).fetchall():
            verifications.setdefault(day, {})[dataset] = Verification(finality, verified_at, source)
    return StoredDays(fingerprints, verifications)


# --- API side --------------------------------------------------------------------------------


class RequestBudget:
    """At most `limit` requests sent by `client` (its own count: every attempt, retries too)."""

    def __init__(self, client: CursorClient, limit: int) -> None:
        self.client = client
        self.limit = limit
        self._start = client.stats.total_requests

    @property
    def spent(self) -> int:
        return self.client.stats.total_requests - self._start

    @property
    def left(self) -> int:
        return self.limit - self.spent


@dataclass
class ApiReading:
    """Fingerprints read from the API in one tick (possibly partial)."""

    fingerprints: dict[date, Fingerprint] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)  # datasets this key may not read (403)
    stopped: str | None = None  # why reading stopped before every planned request was sent
    requests: int = 0

    def read(self, day: date) -> set[str]:
        return set(self.fingerprints.get(day, {}))

    def complete(self, day: date, datasets: Iterable[str]) -> bool:
        return set(datasets) <= self.read(day)


def read_api(
    client: CursorClient,
    window: tuple[date, date],
    budget: RequestBudget,
    count_order: Callable[[ApiReading], list[date]],
    unavailable: Iterable[str] = (),
) -> ApiReading:
    """Read the window's daily-usage sums (one ranged call), then the per-day counts of the
    days `count_order` returns (given what was read so far), in that order, while the budget
    lasts, leaving out the datasets known to be `unavailable`. A 403 on a counted dataset marks
    it unavailable; any other API error stops the reading (what was read is kept), except a
    rejected key, which is raised."""
    reading = ApiReading(unavailable=set(unavailable))
    try:
        _read_daily_usage(client, window, budget, reading)
        if reading.stopped is None:
            _read_counts(client, count_order(reading), budget, reading)
    except InvalidCredentialsError:
        raise  # nothing can be repaired with this key: fail the tick, visibly
    except CursorApiError as exc:
        reading.stopped = f"the API answered {type(exc).__name__}: {exc}"
    reading.requests = budget.spent
    return reading


def _read_daily_usage(
    client: CursorClient, window: tuple[date, date], budget: RequestBudget, reading: ApiReading
) -> None:
    if budget.left < 1:
        reading.stopped = f"the request budget ({budget.limit}) is spent"
        return
    sums = {day: {"rows": 0, **dict.fromkeys(DAILY_USAGE_SUMS, 0)} for day in days_in(*window)}
    pages = iter(client.daily_usage(*window))
    while True:
        page = next(pages, None)
        if page is None:
            break
        if page.restarted:  # read again from the first page: forget the chunk's partial sums
            for day in days_in(*page.window):
                if day in sums:
                    sums[day] = {"rows": 0, **dict.fromkeys(DAILY_USAGE_SUMS, 0)}
        for record in page.records:
            day_sums = sums.get(record["day"])
            if day_sums is None:
                continue
            day_sums["rows"] += 1
            for column in DAILY_USAGE_SUMS:
                day_sums[column] += record[column] or 0
        more = page.total_pages is not None and page.page < page.total_pages
        if more and budget.left < 1:
            reading.stopped = f"the request budget ({budget.limit}) is spent (daily usage has more pages)"
            return  # partial sums would look like a change: use none of them
    for day, day_sums in sums.items():
        reading.fingerprints.setdefault(day, {})["daily_usage"] = day_sums


def _read_counts(
    client: CursorClient, count_days: list[date], budget: RequestBudget, reading: ApiReading
) -> None:
    for day in count_days:
        for dataset in COUNTED:
            if dataset in reading.unavailable:
                continue
            if budget.left < 1:
                reading.stopped = f"the request budget ({budget.limit}) is spent"
                return
            try:
                if dataset == "usage_events":
                    rows = client.usage_events_count(day, day)
                else:
                    rows = client.ai_code_count(AI_CODE_KIND[dataset], day, day)
            except InsufficientAccessError:
                reading.unavailable.add(dataset)
                continue
            reading.fingerprints.setdefault(day, {})[dataset] = {"rows": rows}


# --- comparison ------------------------------------------------------------------------------

MISSING, DIFFERS, MATCHES, UNCHECKED = "missing", "differs", "matches", "unchecked"


@dataclass
class DayComparison:
    """One day's verdict: `missing` (a dataset was never loaded), `differs` (the API's numbers
    are not DuckDB's), `matches` (every readable fingerprinted dataset was read and is equal)
    or `unchecked` (not all of it could be read this tick)."""

    day: date
    verdict: str
    stale: set[str]  # datasets to re-pull: missing, differing, or unread beside a difference
    was_final: bool
    api: Fingerprint
    stored: Fingerprint

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "stale": sorted(self.stale),
            "was_final": self.was_final,
            "api": self.api,
            "stored": {d: self.stored[d] for d in self.api},
        }


def compare_day(day: date, stored: StoredDays, reading: ApiReading, datasets: Iterable[str]) -> DayComparison:
    """Compare one day over `datasets` (the raw datasets the key can read)."""
    datasets = list(datasets)
    fingerprinted = [d for d in datasets if d in FINGERPRINTED]
    held = stored.verifications.get(day, {})
    api = reading.fingerprints.get(day, {})
    mine = stored.fingerprints.get(day) or empty_fingerprint()
    was_final = bool(fingerprinted) and stored.is_final(day, fingerprinted)
    missing = {d for d in datasets if d not in held}
    differing = {d for d in fingerprinted if d in api and api[d] != mine[d]}
    if missing:
        verdict, stale = MISSING, missing | differing
    elif differing:
        unread = {d for d in fingerprinted if d not in api}
        verdict, stale = DIFFERS, differing | unread
    elif all(d in api for d in fingerprinted):
        verdict, stale = MATCHES, set()
    else:
        verdict, stale = UNCHECKED, set()
    return DayComparison(day, verdict, stale, was_final, api, mine)


def contiguous(days: Mapping[date, set[str]]) -> list[tuple[date, date, set[str]]]:
    """Group days into runs of consecutive days: (first, last, union of their datasets)."""
    groups: list[tuple[date, date, set[str]]] = []
    for day in sorted(days):
        if groups and groups[-1][1] + timedelta(days=1) == day:
            first, _, datasets = groups[-1]
            groups[-1] = (first, day, datasets | days[day])
        else:
            groups.append((day, day, set(days[day])))
    return groups
