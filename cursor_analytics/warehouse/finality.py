"""Partition finality: when the numbers of a UTC day stop changing, and the settings of the
stale-data machinery (settle window, sensor lookback and request budget, alert webhook, check
tolerances), all read from environment variables in one place.

Cursor aggregates usage hourly and a day's numbers keep changing for a while after it ends. A day
is **provisional** until its settle window has passed (`settle_days` whole days after the day
ends, `settles_at`) and the data held in DuckDB was verified against the API after that moment;
then it is **final**. A verification is either a load of the day (the raw assets fetch the whole
day: a complete observation) or a matching fingerprint taken by `stale_partitions_sensor`.

Verifications are rows of `meta.partition_finality`, one per day and dataset, written by the one
DuckDB writer (`warehouse.Staging`) in the same transaction as the data they describe. A day is
final for the metrics when every fingerprinted dataset holding the day is final.

Time is an explicit input everywhere: a run takes its "now" from the `cursor_analytics/as_of`
tag (set by the schedule and the sensor to their evaluation time; the run's start otherwise),
and the sensor from the clock it is built with.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb

from cursor_analytics.cursor_api import days_in
from cursor_analytics.cursor_api.dates import utc_now
from cursor_analytics.warehouse import Table, table_exists
from cursor_analytics.warehouse.tables import sql_between, sql_literal

FINAL = "final"
PROVISIONAL = "provisional"

AS_OF_TAG = "cursor_analytics/as_of"

# Datasets whose days the sensor fingerprints cheaply (one ranged daily-usage call, one
# pageSize=1 request per day for the counts); the day finality of the metrics is over these.
FINGERPRINTED = ("daily_usage", "usage_events", "ai_commits", "ai_changes")

# --- settings --------------------------------------------------------------------------------

ENV = {
    "settle_days": "CURSOR_ANALYTICS_SETTLE_DAYS",
    "lookback_days": "CURSOR_ANALYTICS_LOOKBACK_DAYS",
    "request_budget": "CURSOR_ANALYTICS_SENSOR_REQUEST_BUDGET",
    "sensor_interval_seconds": "CURSOR_ANALYTICS_SENSOR_INTERVAL_SECONDS",
    "webhook_url": "CURSOR_ANALYTICS_ALERT_WEBHOOK_URL",
    "spend_tolerance_pct": "CURSOR_ANALYTICS_SPEND_TOLERANCE_PCT",
    "row_count_tolerance_pct": "CURSOR_ANALYTICS_ROW_COUNT_TOLERANCE_PCT",
}


@dataclass(frozen=True)
class StaleDataSettings:
    """Settings of freshness, the stale-partition sensor, finality, alerts and checks.

    - `settle_days`: whole days after a day ends during which its numbers may still change.
    - `lookback_days`: completed days the sensor fingerprints each tick (ending yesterday);
      at least `settle_days + 1`, so every day is still looked at once it has settled (from the
      environment: default 7, or `settle_days + 1` when that is more).
    - `request_budget`: most API requests one sensor tick may send (the daily access probes take
      at most a third of them).
    - `sensor_interval_seconds`: seconds between sensor ticks (Cursor aggregates hourly).
    - `webhook_url`: Slack-compatible incoming webhook for alerts; None = no alerts.
    - `spend_tolerance_pct`: allowed relative gap between the usage events' summed `chargedCents`
      and /teams/spend (chargeable events vs `spendCents`, all events vs `overallSpendCents`).
    - `row_count_tolerance_pct`: allowed deviation of a day's daily-usage rows from the median
      of the days before it.
    """

    settle_days: int = 3
    lookback_days: int = 7
    request_budget: int = 25
    sensor_interval_seconds: int = 3600
    webhook_url: str | None = None
    spend_tolerance_pct: float = 2.0
    row_count_tolerance_pct: float = 50.0

    def __post_init__(self) -> None:
        _at_least("settle_days", self.settle_days, 0)
        _at_least("lookback_days", self.lookback_days, self.settle_days + 1)
        if self.lookback_days > 30:
            raise ValueError(
                f"{ENV['lookback_days']}={self.lookback_days} is more than 30: the sensor reads "
                "daily usage for the whole lookback in one request, which covers at most 30 days; "
                "set it to 30 or less."
            )
        _at_least("request_budget", self.request_budget, 1)
        _at_least("sensor_interval_seconds", self.sensor_interval_seconds, 30)
        _at_least("spend_tolerance_pct", self.spend_tolerance_pct, 0)
        _at_least("row_count_tolerance_pct", self.row_count_tolerance_pct, 0)
        if self.webhook_url is not None and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError(
                f"{ENV['webhook_url']} is not an http(s) URL: set it to the incoming webhook "
                "address (https://hooks.slack.com/services/...) or unset it to turn alerts off."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StaleDataSettings:
        """The settings from the environment variables of `ENV`; unset or empty = default."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            text = environ.get(ENV[f.name], "").strip()
            if not text:
                continue
            if f.name == "webhook_url":
                values[f.name] = text
                continue
            kind = int if f.type in ("int", int) else float
            try:
                values[f.name] = kind(text)
            except ValueError:
                raise ValueError(
                    f"{ENV[f.name]}={text!r} is not a{'n integer' if kind is int else ' number'}: "
                    f"set it to a number (default {f.default}) or unset it."
                ) from None
        if "lookback_days" not in values and "settle_days" in values:
            # a longer settle window needs a longer lookback: follow it unless set explicitly
            values["lookback_days"] = max(cls.lookback_days, values["settle_days"] + 1)
        return cls(**values)

    def __repr__(self) -> str:  # the webhook URL carries a secret token: never print it
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["webhook_url"] = "<set>" if self.webhook_url else None
        return "StaleDataSettings(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise ValueError(f"{ENV[name]}={value} is below {low}: set it to {low} or more.")


# --- time ------------------------------------------------------------------------------------


def parse_as_of(value: str) -> datetime:
    """An ISO 8601 time (naive = UTC), as in the `cursor_analytics/as_of` run tag."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"run tag {AS_OF_TAG}={value!r} is not an ISO 8601 time: set it like "
            "2025-03-14T12:00:00+00:00, or remove it to use the run's start time."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def run_as_of(context: Any) -> datetime:
    """The run's "now": its `cursor_analytics/as_of` tag, else the current time (also for a
    directly invoked asset, whose context has no run)."""
    try:
        tag = context.run.tags.get(AS_OF_TAG)
    except Exception:  # Dagster's DagsterInvalidPropertyError: no run on a direct invocation
        tag = None
    return parse_as_of(tag) if tag else utc_now()


def as_of_tags(now: datetime) -> dict[str, str]:
    return {AS_OF_TAG: now.astimezone(UTC).isoformat()}


def settles_at(day: date, settle_days: int) -> datetime:
    """When `day`'s numbers stop changing: `settle_days` whole days after the day ends (UTC)."""
    return datetime.combine(day + timedelta(days=1 + settle_days), time(), tzinfo=UTC)


def finality_at(day: date, when: datetime, settle_days: int) -> str:
    """The finality of data about `day` verified at `when`."""
    return FINAL if when >= settles_at(day, settle_days) else PROVISIONAL


# --- the verification table ------------------------------------------------------------------

PARTITION_FINALITY = Table(
    "meta",
    "partition_finality",
    {
        "day": "date",
        "dataset": "str",
        "finality": "str",
        "verified_at": "datetime",
        "settles_at": "datetime",
        "source": "str",
        "fingerprint": "json",
    },
    descriptions={
        "day": "UTC day (the partition).",
        "dataset": "Raw table the row is about (raw.<dataset>).",
        "finality": "'final' when the data was verified after the day settled, else 'provisional'.",
        "verified_at": "When DuckDB's data for the day was known to equal the API (the load's or the sensor's time).",
        "settles_at": "When the day's settle window ends: the day's end plus the settle window.",
        "source": "'load' (the raw asset fetched the day) or 'fingerprint' (the sensor's fingerprint matched).",
        "fingerprint": "For 'fingerprint' rows, the API's numbers that matched DuckDB's.",
    },
)


def finality_table(dataset: str) -> Table:
    """meta.partition_finality as written for one dataset: publishing a window replaces only
    that dataset's rows."""
    return dataclasses.replace(PARTITION_FINALITY, scope={"dataset": dataset})


def verification_rows(
    dataset: str,
    days: list[date],
    verified_at: datetime,
    settle_days: int,
    source: str = "load",
    fingerprints: Mapping[date, Any] | None = None,
) -> list[dict[str, Any]]:
    return [
        {
            "day": day,
            "dataset": dataset,
            "finality": finality_at(day, verified_at, settle_days),
            "verified_at": verified_at,
            "settles_at": settles_at(day, settle_days),
            "source": source,
            "fingerprint": (fingerprints or {}).get(day),
        }
        for day in days
    ]


# Day finality for the metrics: final when every fingerprinted dataset holding the day is final.
DAY_FINALITY_SQL = f"""
SELECT
    day,
    CASE WHEN bool_and(finality = '{FINAL}') THEN '{FINAL}' ELSE '{PROVISIONAL}' END AS finality
FROM {PARTITION_FINALITY.ident}
WHERE day BETWEEN $start AND $end
  AND dataset IN ({", ".join(f"'{d}'" for d in FINGERPRINTED)})
GROUP BY day
"""


def with_finality(select_sql: str) -> str:
    """`select_sql` (a derived table's rows for $start..$end) with a `finality` column: the
    finality of each row's day, 'provisional' when the day was never verified."""
    return f"""
SELECT derived.*, coalesce(days.finality, '{PROVISIONAL}') AS finality
FROM ({select_sql}) AS derived
LEFT JOIN ({DAY_FINALITY_SQL}) AS days USING (day)
"""


def day_finality(
    conn: duckdb.DuckDBPyConnection, start: date, end: date, dataset: str | None = None
) -> dict[date, str]:
    """Finality per day of start..end: of one dataset, or of the day (DAY_FINALITY_SQL).
    Days never verified are missing from the result."""
    if not table_exists(conn, PARTITION_FINALITY.fqn):
        return {}
    if dataset is None:
        return dict(conn.execute(DAY_FINALITY_SQL, {"start": start, "end": end}).fetchall())
    return dict(
        conn.execute(
            f"SELECT day, finality FROM {PARTITION_FINALITY.ident} "
            f"WHERE {sql_between('day', (start, end))} AND dataset = {sql_literal(dataset)}"
        ).fetchall()
    )


def finality_metadata(
    conn: duckdb.DuckDBPyConnection, start: date, end: date, dataset: str | None = None
) -> tuple[dict[date, dict[str, Any]], dict[str, Any]]:
    """Materialization metadata: each day's own `finality` ('final' or 'provisional'), and the
    range's `range_finality` (final, provisional, or mixed with the provisional days named)."""
    by_day = day_finality(conn, start, end, dataset)
    days = days_in(start, end)
    per_day = {d: {"finality": FINAL if by_day.get(d) == FINAL else PROVISIONAL} for d in days}
    provisional = [d for d in days if per_day[d]["finality"] != FINAL]
    if not provisional:
        summary = f"{FINAL}: all {len(days)} days"
    elif len(provisional) == len(days):
        summary = f"{PROVISIONAL}: all {len(days)} days"
    else:
        summary = (
            f"mixed: {len(days) - len(provisional)} of {len(days)} days final; provisional: "
            + ", ".join(d.isoformat() for d in provisional)
        )
    return per_day, {"range_finality": summary}


def load_verification(
    dataset: str, start: date, end: date, verified_at: datetime
) -> tuple[Table, list[dict[str, Any]]]:
    """What a load of `dataset` for start..end publishes with its rows: the table (scoped to
    the dataset) and one verification per day, dated `verified_at` (the run's as-of time)."""
    settle = StaleDataSettings.from_env().settle_days
    days = days_in(start, end)
    return finality_table(dataset), verification_rows(dataset, days, verified_at, settle)
