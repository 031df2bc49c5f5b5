"""Metrics from Cursor's Analytics API (raw.analytics_*): the numbers of Cursor's own dashboard,
per UTC day. Ratios are ratios of summed totals; a 0/0 ratio is NULL."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from cursor_analytics.defs.ingestion import analytics as raw_analytics
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.metrics.assets import _daily, derive_days
from cursor_analytics.warehouse import metrics as sql
from cursor_analytics.warehouse.tables import ANALYTICS_BY_USER_TABLES, ANALYTICS_TABLES, DAILY_USAGE

TRAILING_30 = dg.TimeWindowPartitionMapping(start_offset=-29, end_offset=0)
ADOPTION_METRICS = ("mcp", "commands", "plans", "ask-mode")


@_daily("agent_acceptance_daily", deps=[raw_analytics.team_analytics_assets["agent-edits"]])
def agent_acceptance_daily(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day, the team's agent (Composer) edits as Cursor's dashboard counts them
    (`/analytics/team/agent-edits`): diffs and lines suggested and accepted.

    - `diff_acceptance_rate = accepted_diffs / suggested_diffs`
    - `line_acceptance_rate = accepted_lines / suggested_lines`: of the lines the agent proposed
      (added and deleted), the share that was accepted."""
    return derive_days(
        context,
        duckdb,
        "agent_acceptance_daily",
        sql.AGENT_ACCEPTANCE_SQL,
        [ANALYTICS_TABLES["agent-edits"]],
        sql.AGENT_ACCEPTANCE_HEADLINE_SQL,
    )


@_daily(
    "feature_adoption_daily",
    deps=[
        *(raw_analytics.team_analytics_assets[m] for m in ADOPTION_METRICS),
        *(raw_analytics.by_user_analytics_assets[m] for m in ADOPTION_METRICS),
    ],
)
def feature_adoption_daily(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day, feature and item: how much the team used MCP servers (`feature = 'mcp'`,
    item = server), commands (`command`, item = command), plan mode (`plan`, item = model) and
    ask mode (`ask_mode`, item = model; `default` = Auto).

    - `usage`: uses that day (team level, `/analytics/team/{metric}`).
    - `users`: members who used it that day (from the by-user endpoints; NULL when not loaded).
    - `usage_share = usage / all uses of the feature that day`."""
    return derive_days(
        context,
        duckdb,
        "feature_adoption_daily",
        sql.FEATURE_ADOPTION_SQL,
        [
            *(ANALYTICS_TABLES[m] for m in ADOPTION_METRICS),
            *(ANALYTICS_BY_USER_TABLES[m] for m in ADOPTION_METRICS),
        ],
        sql.FEATURE_ADOPTION_HEADLINE_SQL,
    )


@_daily(
    "active_users_daily",
    deps=[
        raw_analytics.team_analytics_assets["dau"],
        dg.AssetDep(raw.daily_usage, partition_mapping=TRAILING_30),
    ],
)
def active_users_daily(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day, daily, weekly and monthly active users.

    - `dau`, `cli_dau`, `cloud_agent_dau`, `bugbot_dau`: Cursor's counts
      (`/analytics/team/dau`): members who used an AI feature that day, and among them those
      who used the CLI, cloud agents and Bugbot.
    - `cli_share = cli_dau / dau`, `cloud_agent_share = cloud_agent_dau / dau`.
    - `wau` / `mau`: distinct members active (raw.daily_usage `is_active`) in the 7 / 30 days
      ending that day. Cursor's API gives daily counts only, so WAU and MAU come from daily
      usage and have no CLI or cloud-agent split.
    - `dau_mau_ratio = dau / mau` (stickiness)."""
    return derive_days(
        context,
        duckdb,
        "active_users_daily",
        sql.ACTIVE_USERS_SQL,
        [ANALYTICS_TABLES["dau"], DAILY_USAGE],
        sql.ACTIVE_USERS_HEADLINE_SQL,
    )


analytics_api_metric_assets = [agent_acceptance_daily, feature_adoption_daily, active_users_daily]
