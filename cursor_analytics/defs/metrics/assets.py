"""Metrics derived inside DuckDB from the raw tables: asset key ["analytics", name] is table
analytics.name.

Ratios are computed from summed totals, never by averaging daily ratios, and a 0/0 ratio is
NULL (never 0 or 100%). Partitioned metrics are recomputed per UTC-day range in one transaction,
so re-deriving a day after its raw data changed replaces exactly that day.
"""


from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from cursor_analytics.ui import charts

from cursor_analytics.defs.freshness import finality
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.ui.metadata import preview, table_column_schema
from cursor_analytics.defs.partitions import backfill_policy, daily_partitions, window_days
from cursor_analytics.warehouse import (
    Table,
    ensure_table,
    replace_days_from_sql,
    replace_table_from_sql,
)

GROUP = "cursor_metrics"
KINDS = {"duckdb", "sql"}
# Who answers questions about these numbers (Dagster owners: emails or team:<name>).
OWNERS = ["team:engineering-analytics"]
TRAILING_28 = dg.TimeWindowPartitionMapping(start_offset=-27, end_offset=0)


def rate(numerator: str, denominator: str) -> str:
    """SQL for a ratio of sums: NULL when the denominator is 0."""
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


def _headline(conn, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    cursor = conn.execute(sql, params or {})
    row = cursor.fetchone()
    names = [d[0] for d in cursor.description]
    return {
        # floats rounded to 4 decimals: readable in the UI, plotted over partitions
        name: (dg.MetadataValue.float(round(float(v), 4)) if isinstance(v, float) else v)
        for name, v in zip(names, row or ())
        if v is not None
    }


def derive_days(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    name: str,
    select_sql: str,
    sources: Sequence[Table],
    headline_sql: str | None = None,
    chart: Callable[[Any, date], dg.MetadataValue] | None = None,
) -> dg.MaterializeResult:
    """Recompute analytics.<name> for the run's partition range from `select_sql`; `chart`
    draws the table up to the range's last day (charts.py)."""
    start, end = window_days(context)
    fqn = f"analytics.{name}"
    with duckdb.get_connection() as conn:
        for table in (*sources, finality.PARTITION_FINALITY):
            ensure_table(conn, table)
        rows = replace_days_from_sql(conn, fqn, finality.with_finality(select_sql), (start, end))
        headline = (
            _headline(conn, headline_sql, {"start": start, "end": end}) if headline_sql else {}
        )
        metadata = {
            "dagster/row_count": rows,
            **finality.finality_metadata(conn, start, end),
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            **headline,
            **({"chart": chart(conn, end)} if chart else {}),
            "preview": dg.MetadataValue.md(preview(conn, fqn, (start, end))),
            "dagster/column_schema": table_column_schema(conn, fqn),
        }
    return dg.MaterializeResult(metadata=metadata)


def derive_table(
    duckdb: DuckDBResource,
    name: str,
    select_sql: str,
    sources: Sequence[Table],
    headline_sql: str | None = None,
    chart: Callable[[Any], dg.MetadataValue] | None = None,
) -> dg.MaterializeResult:
    """Rebuild the unpartitioned analytics.<name> from `select_sql`."""
    fqn = f"analytics.{name}"
    with duckdb.get_connection() as conn:
        for table in sources:
            ensure_table(conn, table)
        rows = replace_table_from_sql(conn, fqn, select_sql)
        metadata = {
            "dagster/row_count": rows,
            **(_headline(conn, headline_sql) if headline_sql else {}),
            **({"chart": chart(conn)} if chart else {}),
            "preview": dg.MetadataValue.md(preview(conn, fqn, None)),
            "dagster/column_schema": table_column_schema(conn, fqn),
        }
    return dg.MaterializeResult(metadata=metadata)


def _daily(name: str, deps: Sequence[Any]):
    return dg.asset(
        key=["analytics", name],
        group_name=GROUP,
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy,
        kinds=KINDS,
        owners=OWNERS,
        pool="duckdb",
        deps=deps,
    )


# --- user_daily_metrics ------------------------------------------------------------------------

USER_DAILY_SQL = f"""
WITH usage AS (
    SELECT
        day,
        lower(email) AS email,
        max(user_id) AS user_id,
        bool_or(is_active) AS is_active,
        sum(chat_requests) AS chat_requests,
        sum(composer_requests) AS composer_requests,
        sum(agent_requests) AS agent_requests,
        sum(cmdk_usages) AS cmdk_usages,
        sum(bugbot_usages) AS bugbot_usages,
        sum(total_tabs_shown) AS tabs_shown,
        sum(total_tabs_accepted) AS tabs_accepted,
        sum(total_accepts) AS accepts,
        sum(total_rejects) AS rejects,
        sum(accepted_lines_added) AS accepted_lines_added,
        sum(total_lines_added) AS total_lines_added,
        max(most_used_model) AS most_used_model
    FROM raw.daily_usage
    WHERE day BETWEEN $start AND $end AND email IS NOT NULL
    GROUP BY ALL
),
spend AS (
    SELECT
        day,
        lower(user_email) AS email,
        count(*) AS usage_events,
        sum(charged_cents) AS charged_cents,
        sum(requests_costs) AS requests_costs,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        sum(cache_write_tokens) AS cache_write_tokens,
        sum(cache_read_tokens) AS cache_read_tokens
    FROM raw.usage_events
    WHERE day BETWEEN $start AND $end AND user_email IS NOT NULL
    GROUP BY ALL
)
SELECT
    coalesce(u.day, s.day) AS day,
    coalesce(u.email, s.email) AS email,
    u.user_id,
    coalesce(u.is_active, s.usage_events > 0) AS is_active,
    coalesce(u.chat_requests, 0) AS chat_requests,
    coalesce(u.composer_requests, 0) AS composer_requests,
    coalesce(u.agent_requests, 0) AS agent_requests,
    coalesce(u.cmdk_usages, 0) AS cmdk_usages,
    coalesce(u.bugbot_usages, 0) AS bugbot_usages,
    coalesce(u.tabs_shown, 0) AS tabs_shown,
    coalesce(u.tabs_accepted, 0) AS tabs_accepted,
    coalesce(u.accepts, 0) AS accepts,
    coalesce(u.rejects, 0) AS rejects,
    coalesce(u.accepted_lines_added, 0) AS accepted_lines_added,
    coalesce(u.total_lines_added, 0) AS total_lines_added,
    {rate("u.tabs_accepted", "u.tabs_shown")} AS tab_acceptance_rate,
    {rate("u.accepts", "u.accepts + u.rejects")} AS suggestion_acceptance_rate,
    {rate("u.accepted_lines_added", "u.total_lines_added")} AS line_acceptance_rate,
    u.most_used_model,
    coalesce(s.usage_events, 0) AS usage_events,
    coalesce(s.charged_cents, 0) AS charged_cents,
    coalesce(s.requests_costs, 0) AS requests_costs,
    coalesce(s.input_tokens, 0) AS input_tokens,
    coalesce(s.output_tokens, 0) AS output_tokens,
    coalesce(s.cache_write_tokens, 0) AS cache_write_tokens,
    coalesce(s.cache_read_tokens, 0) AS cache_read_tokens
FROM usage u
FULL OUTER JOIN spend s ON u.day = s.day AND u.email = s.email
"""


USER_DAILY_HEADLINE_SQL = """
SELECT
    count(DISTINCT email) FILTER (WHERE is_active) AS active_users,
    count(DISTINCT email) AS reporting_users
FROM analytics.user_daily_metrics
WHERE day BETWEEN $start AND $end
"""


@_daily("user_daily_metrics", deps=[raw.daily_usage, raw.usage_events])
def user_daily_metrics(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Per UTC day and user (lower-cased email): activity, requests by feature and the three
    acceptance rates side by side, with spend from usage events.

    - `tab_acceptance_rate = tabs_accepted / tabs_shown`
    - `suggestion_acceptance_rate = accepts / (accepts + rejects)`
    - `line_acceptance_rate = accepted_lines_added / total_lines_added`
    - `charged_cents`, `requests_costs`, tokens: sums over the user's usage events that day.

    A rate whose denominator is 0 is NULL."""
    return derive_days(
        context,
        duckdb,
        "user_daily_metrics",
        USER_DAILY_SQL,
        [raw.DAILY_USAGE, raw.USAGE_EVENTS],
        USER_DAILY_HEADLINE_SQL,
    )


# --- team_daily_metrics ------------------------------------------------------------------------

TEAM_DAILY_SQL = f"""
SELECT
    day,
    count(*) FILTER (WHERE is_active) AS active_users,
    count(*) AS reporting_users,
    sum(tabs_shown) AS tabs_shown,
    sum(tabs_accepted) AS tabs_accepted,
    sum(accepts) AS accepts,
    sum(rejects) AS rejects,
    sum(accepted_lines_added) AS accepted_lines_added,
    sum(total_lines_added) AS total_lines_added,
    {rate("sum(tabs_accepted)", "sum(tabs_shown)")} AS tab_acceptance_rate,
    {rate("sum(accepts)", "sum(accepts) + sum(rejects)")} AS suggestion_acceptance_rate,
    {rate("sum(accepted_lines_added)", "sum(total_lines_added)")} AS line_acceptance_rate,
    sum(chat_requests) AS chat_requests,
    sum(composer_requests) AS composer_requests,
    sum(agent_requests) AS agent_requests,
    sum(cmdk_usages) AS cmdk_usages,
    sum(bugbot_usages) AS bugbot_usages,
    sum(usage_events) AS usage_events,
    sum(charged_cents) AS charged_cents,
    sum(requests_costs) AS requests_costs,
    {rate("sum(charged_cents)", "count(*) FILTER (WHERE is_active)")} AS spend_per_active_user_cents
FROM analytics.user_daily_metrics
WHERE day BETWEEN $start AND $end
GROUP BY day
"""

TEAM_WINDOW_HEADLINE_SQL = f"""
SELECT
    max(active_users) AS peak_active_users,
    {rate("sum(tabs_accepted)", "sum(tabs_shown)")} AS tab_acceptance_rate,
    {rate("sum(accepts)", "sum(accepts) + sum(rejects)")} AS suggestion_acceptance_rate,
    {rate("sum(accepted_lines_added)", "sum(total_lines_added)")} AS line_acceptance_rate,
    {rate("sum(charged_cents)", "sum(active_users)")} AS spend_per_active_user_cents
FROM analytics.team_daily_metrics
WHERE day BETWEEN $start AND $end
"""



@_daily("team_daily_metrics", deps=[user_daily_metrics])
def team_daily_metrics(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Per UTC day, the whole team: active users, the three acceptance rates from team totals,
    requests by feature, spend and spend per active user.

    - `tab_acceptance_rate = sum(tabs_accepted) / sum(tabs_shown)`
    - `suggestion_acceptance_rate = sum(accepts) / (sum(accepts) + sum(rejects))`
    - `line_acceptance_rate = sum(accepted_lines_added) / sum(total_lines_added)`
    - `spend_per_active_user_cents = sum(charged_cents) / active_users`

    The headline metadata (plotted per partition in the UI) is computed over the run's range."""
    return derive_days(
        context,
        duckdb,
        "team_daily_metrics",
        TEAM_DAILY_SQL,
        [],
        TEAM_WINDOW_HEADLINE_SQL,
        chart=charts.acceptance_rate_trend,
    )


# --- team_rolling_metrics ----------------------------------------------------------------------


def _trailing(column: str, days: int) -> str:
    return f"sum(t.{column}) FILTER (WHERE t.day > d.day - {days})"


ROLLING_SQL = f"""
WITH days AS (
    SELECT CAST(unnest(generate_series(CAST($start AS DATE), CAST($end AS DATE), INTERVAL 1 DAY)) AS DATE) AS day
),
team AS (
    SELECT
        d.day,
        {rate(_trailing("tabs_accepted", 7), _trailing("tabs_shown", 7))} AS tab_acceptance_rate_7d,
        {rate(_trailing("tabs_accepted", 28), _trailing("tabs_shown", 28))} AS tab_acceptance_rate_28d,
        {rate(_trailing("accepts", 7), f"{_trailing('accepts', 7)} + {_trailing('rejects', 7)}")} AS suggestion_acceptance_rate_7d,
        {rate(_trailing("accepts", 28), f"{_trailing('accepts', 28)} + {_trailing('rejects', 28)}")} AS suggestion_acceptance_rate_28d,
        {rate(_trailing("accepted_lines_added", 7), _trailing("total_lines_added", 7))} AS line_acceptance_rate_7d,
        {rate(_trailing("accepted_lines_added", 28), _trailing("total_lines_added", 28))} AS line_acceptance_rate_28d,
        coalesce({_trailing("charged_cents", 7)}, 0) AS charged_cents_7d,
        coalesce({_trailing("charged_cents", 28)}, 0) AS charged_cents_28d
    FROM days d
    LEFT JOIN analytics.team_daily_metrics t ON t.day BETWEEN d.day - 27 AND d.day
    GROUP BY d.day
),
users AS (
    SELECT
        d.day,
        count(DISTINCT u.email) FILTER (WHERE u.is_active AND u.day > d.day - 7) AS active_users_7d,
        count(DISTINCT u.email) FILTER (WHERE u.is_active) AS active_users_28d
    FROM days d
    LEFT JOIN analytics.user_daily_metrics u ON u.day BETWEEN d.day - 27 AND d.day
    GROUP BY d.day
)
SELECT team.*, users.active_users_7d, users.active_users_28d
FROM team JOIN users USING (day)
"""


ROLLING_HEADLINE_SQL = """
SELECT
    tab_acceptance_rate_7d,
    tab_acceptance_rate_28d,
    suggestion_acceptance_rate_28d,
    line_acceptance_rate_28d,
    active_users_7d,
    active_users_28d,
    charged_cents_28d
FROM analytics.team_rolling_metrics
WHERE day BETWEEN $start AND $end
ORDER BY day DESC
LIMIT 1
"""


@_daily(
    "team_rolling_metrics",
    deps=[
        dg.AssetDep(team_daily_metrics, partition_mapping=TRAILING_28),
        dg.AssetDep(user_daily_metrics, partition_mapping=TRAILING_28),
    ],
)
def team_rolling_metrics(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Per UTC day, the team's rates over the trailing 7 and 28 days (the day and the 6 or 27
    before it), each a ratio of the window's summed totals, e.g.
    `tab_acceptance_rate_7d = sum(tabs_accepted over 7 days) / sum(tabs_shown over 7 days)`;
    `active_users_7d` / `_28d` count distinct users active at least once in the window, and
    `charged_cents_7d` / `_28d` sum spend."""
    return derive_days(
        context, duckdb, "team_rolling_metrics", ROLLING_SQL, [], ROLLING_HEADLINE_SQL
    )


# --- ai_code_share_daily -----------------------------------------------------------------------

AI_SHARE_SQL = f"""
WITH commits AS (
    SELECT *
    FROM raw.ai_commits
    WHERE day BETWEEN $start AND $end
    QUALIFY row_number() OVER (
        PARTITION BY day, commit_hash, repo_name ORDER BY created_at DESC NULLS LAST
    ) = 1
)
SELECT
    day,
    lower(user_email) AS email,
    repo_name,
    count(*) AS commits,
    sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0)) AS ai_lines_added,
    sum(coalesce(total_lines_added, 0)) AS total_lines_added,
    {rate("sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0))", "sum(coalesce(total_lines_added, 0))")} AS ai_share,
    sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0)) FILTER (WHERE is_primary_branch) AS primary_ai_lines_added,
    sum(coalesce(total_lines_added, 0)) FILTER (WHERE is_primary_branch) AS primary_total_lines_added,
    {rate("sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0)) FILTER (WHERE is_primary_branch)", "sum(coalesce(total_lines_added, 0)) FILTER (WHERE is_primary_branch)")} AS primary_ai_share
FROM commits
GROUP BY ALL
"""

AI_SHARE_HEADLINE_SQL = f"""
SELECT
    {rate("sum(ai_lines_added)", "sum(total_lines_added)")} AS ai_share,
    {rate("sum(primary_ai_lines_added)", "sum(primary_total_lines_added)")} AS primary_ai_share
FROM analytics.ai_code_share_daily
WHERE day BETWEEN $start AND $end
"""


@_daily("ai_code_share_daily", deps=[raw.ai_commits])
def ai_code_share_daily(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Per UTC day (of commit time), user and repository: the share of committed lines written
    by AI, overall and on the primary branch only.

    - `ai_lines_added = tab_lines_added + composer_lines_added`
    - `ai_share = sum(ai_lines_added) / sum(total_lines_added)`
    - `primary_ai_share`: the same over commits with `is_primary_branch`.

    A commit reported more than once the same day (same hash and repository) counts once, in
    its latest ingested version."""
    return derive_days(
        context, duckdb, "ai_code_share_daily", AI_SHARE_SQL, [raw.AI_COMMITS], AI_SHARE_HEADLINE_SQL
    )


# --- model_usage_daily -------------------------------------------------------------------------

MODEL_USAGE_SQL = f"""
SELECT
    day,
    coalesce(model, 'unknown') AS model,
    count(*) AS requests,
    sum(requests_costs) AS requests_costs,
    sum(charged_cents) AS charged_cents,
    sum(total_cents) AS token_cost_cents,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    count(DISTINCT lower(user_email)) AS users,
    {rate("count(*)", "sum(count(*)) OVER (PARTITION BY day)")} AS request_share
FROM raw.usage_events
WHERE day BETWEEN $start AND $end
GROUP BY 1, 2
"""


MODEL_USAGE_HEADLINE_SQL = f"""
WITH models AS (
    SELECT model, sum(requests) AS requests
    FROM analytics.model_usage_daily
    WHERE day BETWEEN $start AND $end
    GROUP BY model
)
SELECT
    count(*) AS models,
    sum(requests) AS requests,
    arg_max(model, requests) AS top_model,
    {rate("max(requests)", "sum(requests)")} AS top_model_request_share
FROM models
"""


@_daily("model_usage_daily", deps=[raw.usage_events])
def model_usage_daily(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Per UTC day and model: requests, request cost units, charged cents, token cost and
    tokens, distinct users, and `request_share = requests / all requests that day`."""
    return derive_days(
        context,
        duckdb,
        "model_usage_daily",
        MODEL_USAGE_SQL,
        [raw.USAGE_EVENTS],
        MODEL_USAGE_HEADLINE_SQL,
        chart=charts.model_mix,
    )


# --- spend_per_user ----------------------------------------------------------------------------

SPEND_PER_USER_SQL = f"""
WITH latest AS (
    SELECT * FROM raw.spend_snapshots
    WHERE snapshot_at = (SELECT max(snapshot_at) FROM raw.spend_snapshots)
),
cycle AS (
    SELECT
        max(subscription_cycle_start) AS cycle_start,
        max(subscription_cycle_start) + INTERVAL 1 MONTH AS cycle_end,
        max(snapshot_at) AS snapshot_at
    FROM latest
),
events AS (
    SELECT lower(e.user_email) AS email, sum(e.charged_cents) AS cycle_charged_cents, count(*) AS cycle_usage_events
    FROM raw.usage_events e, cycle c
    WHERE e."timestamp" >= c.cycle_start AND e."timestamp" <= c.snapshot_at
    GROUP BY 1
),
lines AS (
    SELECT lower(d.email) AS email, sum(d.accepted_lines_added) AS cycle_accepted_lines_added
    FROM raw.daily_usage d, cycle c
    WHERE d.day >= CAST(c.cycle_start AS DATE) AND d.day <= CAST(c.snapshot_at AS DATE)
    GROUP BY 1
)
SELECT
    lower(s.email) AS email,
    s.name,
    s.role,
    s.user_id,
    c.cycle_start,
    c.cycle_end,
    c.snapshot_at,
    s.spend_cents,
    s.overall_spend_cents,
    s.monthly_limit_dollars,
    s.hard_limit_override_dollars,
    s.effective_per_user_limit_dollars,
    coalesce(e.cycle_charged_cents, 0) AS cycle_charged_cents,
    coalesce(e.cycle_usage_events, 0) AS cycle_usage_events,
    coalesce(l.cycle_accepted_lines_added, 0) AS cycle_accepted_lines_added,
    {rate("coalesce(s.overall_spend_cents, s.spend_cents)", "l.cycle_accepted_lines_added")} AS cost_per_accepted_line_cents,
    s.spend_cents * epoch(c.cycle_end - c.cycle_start) / NULLIF(epoch(c.snapshot_at - c.cycle_start), 0) AS projected_cycle_spend_cents
FROM latest s, cycle c
LEFT JOIN events e ON e.email = lower(s.email)
LEFT JOIN lines l ON l.email = lower(s.email)
"""


@dg.asset(
    key=["analytics", "spend_per_user"],
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    pool="duckdb",
    deps=[raw.spend_snapshots, raw.usage_events, raw.daily_usage],
)
def spend_per_user(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per member, the current billing cycle: spend from the latest spend snapshot next to the
    cycle's usage events.

    - `spend_cents`: on-demand spend (excludes included usage); `overall_spend_cents` includes it.
    - `cycle_charged_cents = sum(chargedCents)` of the member's usage events from the cycle start
      to the snapshot (reconciles with `spend_cents` when every day of the cycle is loaded).
    - `cost_per_accepted_line_cents = overall_spend_cents / accepted_lines_added` in the cycle.
    - `projected_cycle_spend_cents = spend_cents * cycle_length / time_elapsed_in_cycle`
      (linear projection to the cycle end, one month after its start)."""
    return derive_table(
        duckdb,
        "spend_per_user",
        SPEND_PER_USER_SQL,
        [raw.SPEND_SNAPSHOTS, raw.USAGE_EVENTS, raw.DAILY_USAGE],
        "SELECT sum(spend_cents) AS cycle_spend_cents, sum(overall_spend_cents) AS cycle_overall_spend_cents, "
        "sum(projected_cycle_spend_cents) AS projected_cycle_spend_cents FROM analytics.spend_per_user",
        chart=charts.spend_per_member,
    )


# --- seat_utilization --------------------------------------------------------------------------

SEAT_UTILIZATION_SQL = """
WITH members AS (
    SELECT * FROM raw.team_members
    WHERE snapshot_at = (SELECT max(snapshot_at) FROM raw.team_members)
      AND NOT coalesce(is_removed, false)
),
as_of AS (SELECT max(day) AS as_of_day FROM raw.daily_usage),
activity AS (
    SELECT
        lower(d.email) AS email,
        max(d.day) FILTER (WHERE d.is_active) AS last_active_day,
        count(DISTINCT d.day) FILTER (WHERE d.is_active AND d.day > a.as_of_day - 7) AS active_days_7d,
        count(DISTINCT d.day) FILTER (WHERE d.is_active AND d.day > a.as_of_day - 28) AS active_days_28d
    FROM raw.daily_usage d, as_of a
    GROUP BY 1
)
SELECT
    lower(m.email) AS email,
    m.name,
    m.role,
    m.user_id,
    a.as_of_day,
    act.last_active_day,
    coalesce(act.active_days_7d, 0) AS active_days_7d,
    coalesce(act.active_days_28d, 0) AS active_days_28d,
    coalesce(act.active_days_7d, 0) = 0 AS idle_7d,
    coalesce(act.active_days_28d, 0) = 0 AS idle_28d
FROM members m, as_of a
LEFT JOIN activity act ON act.email = lower(m.email)
"""

SEAT_HEADLINE_SQL = f"""
SELECT
    count(*) AS seats,
    count(*) FILTER (WHERE NOT idle_7d) AS active_users_7d,
    count(*) FILTER (WHERE NOT idle_28d) AS active_users_28d,
    {rate("count(*) FILTER (WHERE NOT idle_7d)", "count(*)")} AS seat_utilization_7d,
    {rate("count(*) FILTER (WHERE NOT idle_28d)", "count(*)")} AS seat_utilization_28d
FROM analytics.seat_utilization
"""


@dg.asset(
    key=["analytics", "seat_utilization"],
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    pool="duckdb",
    deps=[raw.team_members, raw.daily_usage],
)
def seat_utilization(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per current member (latest members snapshot, removed members excluded): days active in
    the trailing 7 and 28 days ending at the latest loaded day, and whether the seat is idle.

    - `seat_utilization_7d = members active at least once in 7 days / members` (metadata)
    - `idle_7d` / `idle_28d`: no active day in the window: the idle seats, by email."""
    return derive_table(
        duckdb,
        "seat_utilization",
        SEAT_UTILIZATION_SQL,
        [raw.TEAM_MEMBERS, raw.DAILY_USAGE],
        SEAT_HEADLINE_SQL,
    )


partitioned_metric_assets = [
    user_daily_metrics,
    team_daily_metrics,
    team_rolling_metrics,
    ai_code_share_daily,
    model_usage_daily,
]
snapshot_metric_assets = [spend_per_user, seat_utilization]
