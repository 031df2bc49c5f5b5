"""Schedules, both RUNNING out of the box:

- `cursor_daily_schedule` (01:30 UTC): one range run of `cursor_daily_job` over yesterday and the
  `settle_days` days before it. Each day is thus pulled again every day until its settle window
  has passed, and the last of those pulls, made after it, makes the day final. A day at the start
  of the window that is final already (the stale-partition sensor may have confirmed it after
  midnight) is not fetched again. Datasets the key may not read (meta.dataset_access) are left
  out, with the metrics built on them; the run's `cursor_analytics/unavailable` tag says which.
- `cursor_snapshot_schedule` (hourly, at minute 5): `cursor_snapshot_job` (members, spend,
  repo blocklists and the current-cycle metrics on them).
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from cursor_analytics.defs.ingestion import access
from cursor_analytics.defs.jobs import cursor_daily_job, cursor_snapshot_job, daily_assets
from cursor_analytics.defs.partitions import daily_partitions, range_tags
from cursor_analytics.defs.resources import MISSING_KEY, CursorApiResource
from cursor_analytics.warehouse import WarehouseLockedError, connect_briefly, warehouse_exists
from cursor_analytics.warehouse.finality import FINAL, StaleDataSettings, as_of_tags, day_finality

DAILY_CRON = "30 1 * * *"  # Cursor aggregates hourly: yesterday is complete well before 01:30
SNAPSHOT_CRON = "5 * * * *"
UNAVAILABLE_TAG = "cursor_analytics/unavailable"  # on a run that leaves datasets out, and why


def settle_window(now: datetime, settle_days: int) -> tuple[date, date]:
    """Yesterday and the `settle_days` days before it (from the first partition on)."""
    last = now.astimezone(UTC).date() - timedelta(days=1)
    first = max(last - timedelta(days=settle_days), daily_partitions.start.date())
    return first, last


def final_days(path: str, first: date, last: date) -> set[date]:
    """The days of first..last that are final in DuckDB (none if it is absent or stays locked)."""
    if first > last or not warehouse_exists(path):
        return set()
    try:
        with connect_briefly(path, read_only=True) as conn:
            return {d for d, f in day_finality(conn, first, last).items() if f == FINAL}
    except WarehouseLockedError:
        return set()


def readable_selection(
    context: dg.ScheduleEvaluationContext, path: str, now: datetime
) -> tuple[list[dg.AssetKey], str] | None:
    """The daily job's assets without those whose dataset the key may not read (recorded in
    meta.dataset_access) and the metrics built on them, and what was left out and why; None
    when everything is readable (or nothing is known: the run then finds out and stays green)."""
    try:
        refused = access.refused_datasets(access.read_known(path), now)
    except WarehouseLockedError:
        return None
    if not refused or context.repository_def is None:
        return None
    graph = context.repository_def.asset_graph
    keys = [k for k, dataset in access.tagged_assets(graph).items() if dataset in refused]
    kept = (daily_assets - dg.AssetSelection.assets(*keys).downstream()).resolve(graph)
    left_out = ", ".join(f"{d}: {a.describe()}" for d, a in refused.items())
    return sorted(kept, key=lambda k: k.to_user_string()), left_out


def build_daily_schedule(settings: StaleDataSettings | None = None) -> dg.ScheduleDefinition:
    settings = settings or StaleDataSettings.from_env()

    @dg.schedule(
        name="cursor_daily_schedule",
        cron_schedule=DAILY_CRON,
        execution_timezone="UTC",
        job=cursor_daily_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Daily at 01:30 UTC: yesterday and the {settings.settle_days} days before it, in one "
            "range run (their numbers may still change until the settle window has passed)."
        ),
    )
    def cursor_daily_schedule(
        context: dg.ScheduleEvaluationContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
    ) -> dg.RunRequest | dg.SkipReason:
        if not (cursor_api.api_key or "").strip():
            return dg.SkipReason(MISSING_KEY)
        now = context.scheduled_execution_time
        first, last = settle_window(now, settings.settle_days)
        if first > last:
            return dg.SkipReason(f"No completed UTC day since the first partition ({first}) yet.")
        final = final_days(duckdb.database, first, last)
        while first <= last and first in final:
            first += timedelta(days=1)
        if first > last:
            return dg.SkipReason(f"Nothing to pull: every day up to yesterday ({last}) is final.")
        tags = {**range_tags(first, last), **as_of_tags(now)}
        selection = readable_selection(context, duckdb.database, now)
        if selection is None:
            return dg.RunRequest(run_key=f"daily:{last.isoformat()}", tags=tags)
        assets, left_out = selection
        return dg.RunRequest(
            run_key=f"daily:{last.isoformat()}",
            asset_selection=assets,
            tags={**tags, UNAVAILABLE_TAG: left_out[:1000]},
        )

    return cursor_daily_schedule


@dg.schedule(
    name="cursor_snapshot_schedule",
    cron_schedule=SNAPSHOT_CRON,
    execution_timezone="UTC",
    job=cursor_snapshot_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: snapshots of members, spend and repo blocklists, and the current-cycle "
    "metrics built on them.",
)
def cursor_snapshot_schedule(
    context: dg.ScheduleEvaluationContext, cursor_api: CursorApiResource
) -> dg.RunRequest | dg.SkipReason:
    if not (cursor_api.api_key or "").strip():
        return dg.SkipReason(MISSING_KEY)
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())


cursor_daily_schedule = build_daily_schedule()
