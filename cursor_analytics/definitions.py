"""The cursor-analytics code location: one Definitions object assembling assets, jobs and
resources."""

from __future__ import annotations

import dagster as dg

from cursor_analytics.assets import metrics, raw
from cursor_analytics.jobs import cursor_daily_job, cursor_snapshot_job
from cursor_analytics.resources import build_resources

defs = dg.Definitions(
    assets=[
        *raw.partitioned_raw_assets,
        *raw.snapshot_raw_assets,
        *metrics.partitioned_metric_assets,
        *metrics.snapshot_metric_assets,
    ],
    jobs=[cursor_daily_job, cursor_snapshot_job],
    resources=build_resources(),
)
