"""Cross-cutting policy applied to every asset in definitions.py: freshness policies (the UI
shows which assets are late) and the automation condition that keeps the partitioned metrics
following their raw data.

- Daily-partitioned assets are expected to materialize every day between 01:00 and 04:00 UTC
  (the daily schedule runs at 01:30): `FreshnessPolicy.cron("0 4 * * *", 3 hours)`.
- Snapshot assets refresh hourly: WARN after 2 hours without a materialization, FAIL after 3.
- Partitioned metrics re-derive any partition whose upstream partitions changed in a run that
  did not derive it, old days included (a raw-only backfill, a repair of the stale-partition
  sensor, or the days after a repaired day in trailing-window metrics), once none of its
  upstream partitions is missing. `AutomationCondition.eager()` would only look at the latest
  day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from cursor_analytics.defs.metrics import assets as metrics

DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 4 * * *", lower_bound_delta=timedelta(hours=3), timezone="UTC"
)
SNAPSHOT_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)
)

# The Analytics API is Enterprise-only and loaded by its own job: its missing partitions do not
# hold a metric back (team_daily_metrics' line_acceptance_rate is NULL until they are loaded).
OPTIONAL_UPSTREAM = dg.AssetSelection.groups("cursor_analytics_api")

METRICS_FOLLOW_RAW = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing().ignore(OPTIONAL_UPSTREAM)
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("re-derive when an upstream partition changes")

PARTITIONED_METRICS = dg.AssetSelection.assets(*metrics.partitioned_metric_assets)

metrics_automation_sensor = dg.AutomationConditionSensorDefinition(
    "metrics_automation_sensor",
    target=PARTITIONED_METRICS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-derives the metric partitions whose raw partitions changed, old days "
    "included (e.g. days repaired by stale_partitions_sensor).",
)


def _policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    if spec.key.path[0] not in ("raw", "analytics"):
        return spec
    partitioned = spec.partitions_def is not None
    spec = spec.replace_attributes(freshness_policy=DAILY_FRESHNESS if partitioned else SNAPSHOT_FRESHNESS)
    if partitioned and spec.key.path[0] == "analytics":
        spec = spec.replace_attributes(automation_condition=METRICS_FOLLOW_RAW)
    return spec


def with_policies(assets: Sequence[dg.AssetsDefinition]) -> Sequence[dg.AssetsDefinition]:
    """`assets` with the freshness policies and automation conditions above."""
    return dg.map_asset_specs(_policies, assets)
