"""A weekly report for engineering leadership, derived from cursor-analytics' daily team metrics.

Built only on the upstream team's published contract: the asset key
`analytics/team_daily_metrics` (lineage, and the UI shows it as this asset's parent) and the
DuckDB table of the same name (analytics.team_daily_metrics) with the columns the cursor-analytics
docs/tables.md documents. Nothing is imported from the cursor_analytics package.
"""

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

UPSTREAM = dg.AssetKey(["analytics", "team_daily_metrics"])
UPSTREAM_TABLE = "analytics.team_daily_metrics"
REPORT_TABLE = "leadership.weekly_cursor_report"

COLUMNS = {
    "week_start": "Monday of the ISO week (UTC).",
    "week_end": "Sunday of the week.",
    "days_reported": "Days of the week present in analytics.team_daily_metrics.",
    "complete_week": "All 7 days are loaded: compare complete weeks only.",
    "mean_daily_active_users": "Mean of the daily active users.",
    "peak_daily_active_users": "Most active users on one day.",
    "tab_acceptance_rate": "sum(tabs_accepted) / sum(tabs_shown) over the week.",
    "suggestion_acceptance_rate": "sum(accepts) / (sum(accepts) + sum(rejects)) over the week.",
    "ai_line_share": "sum(accepted_lines_added) / sum(total_lines_added) over the week: AI share of edited lines.",
    "tab_acceptance_rate_change": "tab_acceptance_rate minus the previous ISO week's (percentage points / 100); "
    "NULL when the previous week is not loaded.",
    "agent_requests": "Agent requests over the week.",
    "spend_dollars": "sum(billed_cents) / 100 over the week: spend billed on top of the plan.",
    "spend_per_active_user_day_dollars": "spend_dollars / sum(daily active users).",
}

WEEKLY_SQL = f"""
WITH weeks AS (
    SELECT
        CAST(date_trunc('week', day) AS DATE) AS week_start,
        count(*) AS days_reported,
        avg(active_users) AS mean_daily_active_users,
        max(active_users) AS peak_daily_active_users,
        sum(tabs_accepted) AS tabs_accepted,
        sum(tabs_shown) AS tabs_shown,
        sum(accepts) AS accepts,
        sum(rejects) AS rejects,
        sum(accepted_lines_added) AS accepted_lines_added,
        sum(total_lines_added) AS total_lines_added,
        sum(agent_requests) AS agent_requests,
        sum(billed_cents) AS billed_cents,
        sum(active_users) AS active_user_days
    FROM {UPSTREAM_TABLE}
    GROUP BY 1
),
rates AS (
    SELECT
        *,
        CAST(tabs_accepted AS DOUBLE) / NULLIF(tabs_shown, 0) AS tab_acceptance_rate,
        CAST(accepts AS DOUBLE) / NULLIF(accepts + rejects, 0) AS suggestion_acceptance_rate,
        CAST(accepted_lines_added AS DOUBLE) / NULLIF(total_lines_added, 0) AS ai_line_share
    FROM weeks
)
SELECT
    week_start,
    CAST(week_start + 6 AS DATE) AS week_end,
    days_reported,
    days_reported = 7 AS complete_week,
    mean_daily_active_users,
    peak_daily_active_users,
    tab_acceptance_rate,
    suggestion_acceptance_rate,
    ai_line_share,
    tab_acceptance_rate - previous.rate AS tab_acceptance_rate_change,
    CAST(agent_requests AS BIGINT) AS agent_requests,
    billed_cents / 100.0 AS spend_dollars,
    billed_cents / 100.0 / NULLIF(active_user_days, 0) AS spend_per_active_user_day_dollars
FROM rates
-- the previous ISO week only: after a gap (a week not loaded) there is nothing to compare with
LEFT JOIN (SELECT week_start + 7 AS next_week, tab_acceptance_rate AS rate FROM rates) AS previous
    ON previous.next_week = rates.week_start
ORDER BY week_start
"""


def _markdown(columns: list[str], rows: list[tuple]) -> str:
    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


@dg.asset(
    key=["leadership", "weekly_cursor_report"],
    deps=[UPSTREAM],
    group_name="leadership_reports",
    kinds={"duckdb", "sql"},
    owners=["team:leadership-reporting"],
    pool="duckdb",  # shares cursor-analytics' pool: one DuckDB writer at a time in the instance
    metadata={
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, description=text) for name, text in COLUMNS.items()]
        )
    },
)
def weekly_cursor_report(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per ISO week (Monday to Sunday, UTC): Cursor adoption and cost for leadership, from
    cursor-analytics' `analytics.team_daily_metrics`.

    - `tab_acceptance_rate = sum(tabs_accepted) / sum(tabs_shown)` over the week's days, and the
      suggestion acceptance rate and the AI line share likewise: ratios of weekly totals;
    - `mean_daily_active_users`, `peak_daily_active_users`;
    - `spend_per_active_user_day_dollars = sum(billed_cents) / 100 / sum(active_users)`;
    - `complete_week`: all 7 days loaded (a partial week is labelled, not hidden).

    Rebuilt whole on every run, in one transaction."""
    with duckdb.get_connection() as conn:
        _require_upstream(conn)
        conn.execute("CREATE SCHEMA IF NOT EXISTS leadership")
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"CREATE OR REPLACE TABLE {REPORT_TABLE} AS {WEEKLY_SQL}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        cursor = conn.execute(f"SELECT * FROM {REPORT_TABLE} ORDER BY week_start DESC")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        types = {r[0]: r[1] for r in conn.execute(f"DESCRIBE {REPORT_TABLE}").fetchall()}
    context.log.info(f"{REPORT_TABLE}: {len(rows)} weeks")
    latest = dict(zip(columns, rows[0])) if rows else {}
    headline = {
        f"latest_week_{name}": dg.MetadataValue.float(float(latest[name]))
        for name in ("tab_acceptance_rate", "mean_daily_active_users", "spend_per_active_user_day_dollars")
        if latest.get(name) is not None
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "latest_week_start": str(latest.get("week_start", "")),
            **headline,
            "preview": dg.MetadataValue.md(_markdown(columns, rows[:8])),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c, types[c], description=COLUMNS.get(c)) for c in columns]
            ),
        }
    )


def _require_upstream(conn: duckdb.DuckDBPyConnection) -> None:
    (present,) = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'analytics' AND table_name = 'team_daily_metrics'"
    ).fetchone()
    if not present:
        raise dg.Failure(
            description=(
                f"{UPSTREAM_TABLE} does not exist in this DuckDB file yet: materialize "
                f"{UPSTREAM.to_user_string()} first (make demo, or a backfill of cursor_daily_job), "
                "and point CURSOR_ANALYTICS_DB at the same file for both code locations."
            )
        )
