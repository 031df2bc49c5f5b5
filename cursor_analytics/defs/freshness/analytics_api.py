"""The Analytics API's schedules (Enterprise teams). They ship STOPPED: turn them on in the UI
(Automation) once the key can read the Analytics API.

- `cursor_analytics_api_schedule` (02:00 UTC): one range run of `cursor_analytics_api_job` over
  yesterday and the `settle_days` days before it (30 days per request: one request per team
  endpoint and day range).
- `cursor_analytics_api_snapshot_schedule` (02:10 UTC): `cursor_analytics_api_snapshot_job`,
  the leaderboard of the trailing 30 days and the billing groups.
"""

import dagster as dg

from cursor_analytics.defs.freshness.schedules import settle_window
from cursor_analytics.defs.jobs import cursor_analytics_api_job, cursor_analytics_api_snapshot_job
from cursor_analytics.defs.partitions import range_tags
from cursor_analytics.warehouse.finality import StaleDataSettings, as_of_tags


@dg.schedule(
    name="cursor_analytics_api_schedule",
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    job=cursor_analytics_api_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily at 02:00 UTC (Enterprise): the Analytics API for yesterday and the days "
    "of the settle window before it, in one range run.",
)
def cursor_analytics_api_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    now = context.scheduled_execution_time
    first, last = settle_window(now, StaleDataSettings.from_env().settle_days)
    if first > last:
        return dg.SkipReason(f"No completed UTC day since the first partition ({first}) yet.")
    return dg.RunRequest(
        run_key=f"analytics-api:{last.isoformat()}",
        tags={**range_tags(first, last), **as_of_tags(now)},
    )


cursor_analytics_api_snapshot_schedule = dg.ScheduleDefinition(
    name="cursor_analytics_api_snapshot_schedule",
    cron_schedule="10 2 * * *",
    execution_timezone="UTC",
    job=cursor_analytics_api_snapshot_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily at 02:10 UTC (Enterprise): the Analytics API leaderboard of the trailing "
    "30 days and the billing groups.",
)
