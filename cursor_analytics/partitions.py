"""UTC-day partitions shared by every partitioned asset, and the backfill policy that keeps
backfills request-minimal."""

from __future__ import annotations

import os
import warnings
from datetime import date, datetime, timedelta

import dagster as dg

# BackfillPolicy is "beta" in Dagster 1.13; it is central here, so do not warn on every load.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

DEFAULT_START_DATE = "2025-01-01"
START_DATE_ENV = "CURSOR_ANALYTICS_START_DATE"


def start_date() -> str:
    """The first partition, from CURSOR_ANALYTICS_START_DATE (YYYY-MM-DD, default 2025-01-01)."""
    value = os.environ.get(START_DATE_ENV, "").strip() or DEFAULT_START_DATE
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{START_DATE_ENV}={value!r} is not a date: set it to the first UTC day to load, "
            f"as YYYY-MM-DD (for example {DEFAULT_START_DATE})."
        ) from None
    if parsed > datetime.utcnow().date():
        raise ValueError(
            f"{START_DATE_ENV}={value!r} is in the future: set it to a past UTC day, as YYYY-MM-DD."
        )
    return parsed.isoformat()


# end_offset=1 adds today: a provisional partition whose numbers are still arriving.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=start_date(), timezone="UTC", end_offset=1
)

# One run for a whole backfill: the client splits the range into the fewest API requests the
# range limit allows (365 days of daily usage = 13 calls), instead of one run (and call) per day.
backfill_policy = dg.BackfillPolicy.single_run()


def window_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The inclusive UTC days of the run's partition range (one day, or a whole backfill)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
