"""The cursor-analytics code location: one Definitions object assembling assets, checks, jobs,
schedules, sensors and resources. Cross-cutting policy is applied here, nowhere else."""

import dagster as dg

from cursor_analytics.assets import metrics, raw
from cursor_analytics.jobs import cursor_daily_job, cursor_snapshot_job
from cursor_analytics.resources import build_resources

assets = [
    *raw.partitioned_raw_assets,
    *raw.snapshot_raw_assets,
    *metrics.partitioned_metric_assets,
    *metrics.snapshot_metric_assets,
]
asset_checks: list = []
jobs = [cursor_daily_job, cursor_snapshot_job]
schedules: list = []
sensors: list = []

defs = dg.Definitions(
    assets=assets,
    asset_checks=asset_checks,
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(),
)
