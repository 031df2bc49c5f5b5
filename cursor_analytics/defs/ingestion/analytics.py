"""Raw data of Cursor's Analytics API (Enterprise): the numbers of Cursor's own team dashboard.

- `raw.analytics_<metric>` (asset ["raw", "analytics_<metric>"]): `/analytics/team/{metric}`,
  one row per day (and model, version, extension, tool, command or skill), the documented field
  names as columns, daily partitions on the row's documented date field (`event_date`; `date`
  for dau and models).
- `raw.analytics_by_user_<metric>`: `/analytics/by-user/{metric}`, the same rows per member
  (`email`, `user_id`), paged 500 users at a time.
- `raw.analytics_leaderboard`: snapshots of the tab and agent leaderboards over the 30 days up
  to yesterday; `raw.billing_groups`: snapshots of `/teams/groups` (billing groups).

A backfill is one run that asks for 30 days per request (the documented maximum range): 90
days cost 3 requests per team endpoint. Each endpoint has its own pool (`cursor_api_<table>`).
The DAU and tab acceptance of the Analytics API are checked against daily usage (WARN).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from cursor_analytics.cursor_api import CursorClient
from cursor_analytics.defs.ingestion.access import DATASET_TAG
from cursor_analytics.defs.ingestion.assets import KINDS, OWNERS, ROWS_IN_WINDOW, load_days, load_snapshot
from cursor_analytics.defs.ingestion.checks import Check, Outcome, Window, table_checks
from cursor_analytics.defs.partitions import backfill_policy, daily_partitions
from cursor_analytics.defs.resources import CursorApiResource
from cursor_analytics.ui.metadata import column_schema, markdown_table
from cursor_analytics.warehouse import Table, table_exists
from cursor_analytics.warehouse.tables import (
    ANALYTICS_BY_USER_TABLES,
    ANALYTICS_LEADERBOARD,
    ANALYTICS_TABLES,
    BILLING_GROUPS,
    DAILY_USAGE,
)

GROUP = "cursor_analytics_api"
LEADERBOARD_DAYS = 30

# What each metric's rows say, for the assets' descriptions.
ABOUT = {
    "dau": "daily active users (used at least one AI feature), with the CLI, cloud-agent and "
    "Bugbot users among them",
    "agent-edits": "agent (Composer) diffs suggested, accepted and rejected, and their lines "
    "(green = added, red = deleted)",
    "tabs": "tab completions suggested, accepted and rejected, and their lines",
    "models": "messages and users per model (one row per day and model of `model_breakdown`)",
    "client-versions": "users per Cursor version and their share (a fraction)",
    "top-file-extensions": "the day's top 5 file extensions by suggestion volume",
    "mcp": "MCP tool calls per tool and server",
    "commands": "uses per command",
    "plans": "plan-mode uses per model (`default` = Auto)",
    "skills": "uses per skill",
    "ask-mode": "ask-mode uses per model (`default` = Auto)",
}


def _asset(table: Table, description: str, dataset: bool = True, **kwargs: Any):
    """A raw asset of table raw.<name>; a 403 leaves it unmaterialized and its run green
    (access.py), and its dataset (the table's name) is left out of the schedule's and the
    stale-partition sensor's work until a probe finds it readable."""
    return dg.asset(
        key=["raw", table.name],
        tags={DATASET_TAG: table.name} if dataset else None,
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNERS,
        metadata={"dagster/column_schema": column_schema(table)},
        pool=f"cursor_api_{table.name}",
        description=description,
        output_required=False,  # load_days / load_snapshot turn a 403 into no materialization
        **kwargs,
    )


def _daily_asset(table: Table, description: str, fetch: Callable[..., Any]) -> dg.AssetsDefinition:
    @_asset(
        table,
        description,
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy,
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_IN_WINDOW,
                asset=["raw", table.name],
                description="Every row the API sent is dated within the requested days (rows "
                "outside them are not stored; WARN names their days).",
            )
        ],
    )
    def _load(
        context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        return load_days(context, cursor_api, duckdb, table, fetch)

    return _load


def _team_fetch(metric: str):
    return lambda client, start, end: client.team_analytics(metric, start, end)


def _by_user_fetch(metric: str):
    return lambda client, start, end: client.analytics_by_user(metric, start, end)


team_analytics_assets = {
    metric: _daily_asset(
        table,
        f"`GET /analytics/team/{metric}` (Enterprise): {ABOUT[metric]}, one row per "
        f"`{table.day_column}` as Cursor's dashboard shows it.",
        _team_fetch(metric),
    )
    for metric, table in ANALYTICS_TABLES.items()
}
by_user_analytics_assets = {
    metric: _daily_asset(
        table,
        f"`GET /analytics/by-user/{metric}` (Enterprise): {ABOUT[metric]}, per member (`email`, "
        f"`user_id`) and `{table.day_column}`.",
        _by_user_fetch(metric),
    )
    for metric, table in ANALYTICS_BY_USER_TABLES.items()
}


def _leaderboard(client: CursorClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=LEADERBOARD_DAYS - 1)
    rows = [r for page in client.team_analytics("leaderboard", start, end) for r in page.records]
    return rows, {"start_date": start, "end_date": end}


@_asset(
    ANALYTICS_LEADERBOARD,
    f"Snapshots of `GET /analytics/team/leaderboard` (Enterprise) over the {LEADERBOARD_DAYS} "
    "days up to yesterday: one row per member and board (`tab` or `agent`) with accepts, lines "
    "accepted and suggested, their ratio and the rank.",
)
def analytics_leaderboard(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    return load_snapshot(context, cursor_api, duckdb, ANALYTICS_LEADERBOARD, _leaderboard)


def _billing_groups(client: CursorClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    report = client.billing_groups()
    return report.records, {k: report.extra[k] for k in ("cycle_start", "cycle_end")}


@_asset(
    BILLING_GROUPS,
    "Snapshots of `GET /teams/groups` (Enterprise): each billing group of the current cycle "
    "(the unassigned members' group included) with its spend, daily spend and members.",
    dataset=False,  # not an Analytics API metric: no access probe for it yet
)
def billing_groups(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    return load_snapshot(context, cursor_api, duckdb, BILLING_GROUPS, _billing_groups)


# --- checks: the Analytics API against daily usage ---------------------------------------------

DAU_MATCHES_DAILY_USAGE = "dau_matches_daily_usage"
TAB_ACCEPTANCE_MATCHES_DAILY_USAGE = "tab_acceptance_matches_daily_usage"
# Tab acceptance rates of the two sources may differ by this much (absolute) before a day is named.
TAB_RATE_TOLERANCE = 0.01


def _compare_days(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    window: Window,
    sql: str,
    what: str,
    disagree: Callable[[tuple[Any, ...]], bool],
    columns: list[str],
) -> Outcome:
    """Run `sql` (one row per day both sources hold: day, then the compared values) over the
    window, and name the days where `disagree`."""
    if not table_exists(conn, DAILY_USAGE.fqn):
        return Outcome(
            True, f"{DAILY_USAGE.fqn} is not loaded: nothing to compare", {}, dg.AssetCheckSeverity.WARN
        )
    lo, hi = window or ("0001-01-01", "9999-12-31")
    rows = conn.execute(sql, {"start": lo, "end": hi}).fetchall()
    bad = [r for r in rows if disagree(r)]
    metadata: dict[str, Any] = {"days_compared": len(rows), "days_disagreeing": len(bad)}
    if bad:
        days = ", ".join(str(r[0]) for r in bad)
        metadata["disagreeing_days"] = dg.MetadataValue.md(markdown_table(columns, bad[:10]))
        return Outcome(
            False, f"{what} disagree on {len(bad)} day(s): {days}", metadata, dg.AssetCheckSeverity.WARN
        )
    return Outcome(
        True, f"{what} agree on all {len(rows)} day(s) both hold", metadata, dg.AssetCheckSeverity.WARN
    )


DAU_SQL = f"""
SELECT a.date AS day, a.dau AS analytics_dau, u.active_users AS daily_usage_active_users
FROM {ANALYTICS_TABLES["dau"].fqn} a
JOIN (
    SELECT day, count(DISTINCT lower(email)) FILTER (WHERE is_active) AS active_users
    FROM {DAILY_USAGE.fqn} WHERE day BETWEEN $start AND $end GROUP BY day
) u ON u.day = a.date
WHERE a.date BETWEEN $start AND $end
ORDER BY 1
"""


def dau_matches_daily_usage(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    return _compare_days(
        conn,
        table,
        window,
        DAU_SQL,
        "The Analytics API's DAU and daily usage's active users",
        lambda r: r[1] != r[2],
        ["day", "analytics_dau", "daily_usage_active_users"],
    )


TABS_SQL = f"""
SELECT
    a.event_date AS day,
    CAST(a.total_accepts AS DOUBLE) / NULLIF(a.total_suggestions, 0) AS analytics_tab_acceptance,
    CAST(u.accepted AS DOUBLE) / NULLIF(u.shown, 0) AS daily_usage_tab_acceptance
FROM {ANALYTICS_TABLES["tabs"].fqn} a
JOIN (
    SELECT day, sum(total_tabs_accepted) AS accepted, sum(total_tabs_shown) AS shown
    FROM {DAILY_USAGE.fqn} WHERE day BETWEEN $start AND $end GROUP BY day
) u ON u.day = a.event_date
WHERE a.event_date BETWEEN $start AND $end
ORDER BY 1
"""


def tab_acceptance_matches_daily_usage(
    conn: duckdb.DuckDBPyConnection, table: Table, window: Window
) -> Outcome:
    def disagree(r: tuple[Any, ...]) -> bool:
        if r[1] is None or r[2] is None:
            return (r[1] is None) != (r[2] is None)
        return abs(r[1] - r[2]) > TAB_RATE_TOLERANCE

    return _compare_days(
        conn,
        table,
        window,
        TABS_SQL,
        "Tab acceptance (accepted / suggested) of the Analytics API and of daily usage",
        disagree,
        ["day", "analytics_tab_acceptance", "daily_usage_tab_acceptance"],
    )


analytics_checks = [
    table_checks(
        ANALYTICS_TABLES["dau"],
        [
            Check(
                DAU_MATCHES_DAILY_USAGE,
                "Each day's DAU from the Analytics API equals the active users of raw.daily_usage "
                "(days both hold); names the days that disagree.",
                dau_matches_daily_usage,
                dg.AssetCheckSeverity.WARN,
                reads=(DAILY_USAGE.name,),
            )
        ],
    ),
    table_checks(
        ANALYTICS_TABLES["tabs"],
        [
            Check(
                TAB_ACCEPTANCE_MATCHES_DAILY_USAGE,
                "Each day's tab acceptance (total_accepts / total_suggestions) is within "
                f"{TAB_RATE_TOLERANCE:g} of daily usage's (tabs accepted / tabs shown); names "
                "the days that disagree.",
                tab_acceptance_matches_daily_usage,
                dg.AssetCheckSeverity.WARN,
                reads=(DAILY_USAGE.name,),
            )
        ],
    ),
]

partitioned_analytics_assets = [*team_analytics_assets.values(), *by_user_analytics_assets.values()]
snapshot_analytics_assets = [analytics_leaderboard, billing_groups]
