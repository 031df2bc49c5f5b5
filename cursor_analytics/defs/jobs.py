"""Jobs: the daily partitioned pipeline and the snapshot refresh."""

from __future__ import annotations

import dagster as dg

from cursor_analytics.defs.ingestion import analytics as raw_analytics
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.metrics import analytics as analytics_metrics
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.defs.metrics import budget as budget
from cursor_analytics.defs.partitions import daily_partitions

daily_assets = dg.AssetSelection.assets(*raw.partitioned_raw_assets, *metrics.partitioned_metric_assets)
snapshot_assets = dg.AssetSelection.assets(
    *raw.snapshot_raw_assets, *metrics.snapshot_metric_assets, *budget.assets
)

cursor_daily_job = dg.define_asset_job(
    "cursor_daily_job",
    selection=daily_assets,
    partitions_def=daily_partitions,
    description="Raw Cursor data and the metrics derived from it, for a range of UTC days "
    "(one API request per range chunk, not per day).",
)

cursor_snapshot_job = dg.define_asset_job(
    "cursor_snapshot_job",
    selection=snapshot_assets,
    description="Snapshots of members, spend and repo blocklists, and the current-cycle "
    "metrics built on them.",
)

# The Analytics API (Enterprise) in jobs of its own: a key without Analytics access leaves the
# daily and snapshot jobs untouched.
analytics_api_assets = dg.AssetSelection.assets(
    *raw_analytics.partitioned_analytics_assets, *analytics_metrics.analytics_api_metric_assets
)
analytics_api_snapshot_assets = dg.AssetSelection.assets(*raw_analytics.snapshot_analytics_assets)

cursor_analytics_api_job = dg.define_asset_job(
    "cursor_analytics_api_job",
    selection=analytics_api_assets,
    partitions_def=daily_partitions,
    description="Cursor's Analytics API (team and by-user, Enterprise) for a range of UTC days, "
    "30 days per request, and the metrics derived from it.",
)

cursor_analytics_api_snapshot_job = dg.define_asset_job(
    "cursor_analytics_api_snapshot_job",
    selection=analytics_api_snapshot_assets,
    description="Snapshots of the Analytics API leaderboard (trailing 30 days) and of the "
    "billing groups (Enterprise).",
)
