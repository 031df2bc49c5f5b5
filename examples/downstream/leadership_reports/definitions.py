"""The leadership_reports code location: a second Dagster code location, beside cursor-analytics
in workspace.yaml, whose asset depends on cursor-analytics' `analytics/team_daily_metrics`."""

import os
import warnings

import dagster as dg
from dagster_duckdb import DuckDBResource

from leadership_reports.assets import weekly_cursor_report

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # code references are "beta"

# Same file and variable as cursor-analytics: data/cursor.duckdb unless CURSOR_ANALYTICS_DB says.
DATABASE = dg.EnvVar("CURSOR_ANALYTICS_DB") if os.environ.get("CURSOR_ANALYTICS_DB") else "data/cursor.duckdb"

weekly_report_job = dg.define_asset_job("weekly_cursor_report_job", selection=[weekly_cursor_report])

defs = dg.Definitions(
    assets=dg.with_source_code_references([weekly_cursor_report]),
    jobs=[weekly_report_job],
    schedules=[
        # Mondays 07:00 UTC, after the weekend's days are final. Starts stopped: turn it on in
        # the UI (Automation) once the upstream daily loads run on their own.
        dg.ScheduleDefinition(job=weekly_report_job, cron_schedule="0 7 * * 1", execution_timezone="UTC")
    ],
    resources={"duckdb": DuckDBResource(database=DATABASE)},
)
