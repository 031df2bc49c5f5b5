"""UTC-day partitions shared by every partitioned asset, and the backfill policy that keeps
backfills request-minimal."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg

from cursor_analytics.cursor_api.dates import utc_now

# BackfillPolicy is "beta" in Dagster 1.13; it is central here, so do not warn on every load.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

DEFAULT_START_DATE = "2025-01-01"
EARLIEST_START_DATE = date(2020, 1, 1)
START_DATE_ENV = "CURSOR_ANALYTICS_START_DATE"


class SettingError(ValueError):
    """A setting read from the environment while the code location loads is invalid."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def start_date() -> str:
    """The first partition, from CURSOR_ANALYTICS_START_DATE (YYYY-MM-DD, default 2025-01-01)."""
    value = os.environ.get(START_DATE_ENV, "").strip() or DEFAULT_START_DATE
    try:
        # Only YYYY-MM-DD: fromisoformat alone would also take 20250601 or 2025-W22-1.
        parsed = date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise SettingError(
            START_DATE_ENV,
            f"{START_DATE_ENV}={value!r} is not a date: set it to the first UTC day to load, "
            f"as YYYY-MM-DD (for example {DEFAULT_START_DATE}).",
        )
    if parsed > utc_now().date():
        raise SettingError(
            START_DATE_ENV,
            f"{START_DATE_ENV}={value!r} is in the future: set it to a past UTC day, as YYYY-MM-DD.",
        )
    if parsed < EARLIEST_START_DATE:
        raise SettingError(
            START_DATE_ENV,
            f"{START_DATE_ENV}={value!r} is before {EARLIEST_START_DATE}: Cursor's team APIs hold "
            "no data that old (and every day would become a partition); set a later UTC day, as "
            "YYYY-MM-DD.",
        )
    return parsed.isoformat()


# end_offset=1 adds today: a provisional partition whose numbers are still arriving.
daily_partitions = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC", end_offset=1)

# One run for a whole backfill: the client splits the range into the fewest API requests the
# range limit allows (365 days of daily usage = 13 calls), instead of one run (and call) per day.
backfill_policy = dg.BackfillPolicy.single_run()


def window_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The inclusive UTC days of the run's partition range (one day, or a whole backfill)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the inclusive day range first..last."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def add_metadata_per_day(context: dg.AssetExecutionContext, by_day: Mapping[date, Mapping[str, Any]]) -> None:
    """Give each day of the run its own figures. A range run records one materialization per
    day; each gets `by_day[day]` (so the UI's Plots show one point per day) next to the
    metadata the run shares (its MaterializeResult)."""
    for key in context.partition_keys:
        figures = by_day.get(date.fromisoformat(key))
        if figures:
            context.add_asset_metadata(dict(figures), partition_key=key)
