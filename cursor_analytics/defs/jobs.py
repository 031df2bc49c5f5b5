"""Jobs: the daily partitioned pipeline and the snapshot refresh."""

from __future__ import annotations

import dagster as dg

from cursor_analytics.defs.ingestion import assets as raw
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
