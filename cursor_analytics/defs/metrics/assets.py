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

from cursor_analytics.defs.ingestion import analytics as raw_analytics
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.partitions import (
    add_metadata_per_day,
    backfill_policy,
    daily_partitions,
    window_days,
)
from cursor_analytics.ui import charts
from cursor_analytics.ui.metadata import markdown_table, preview, rows_per_day, table_column_schema
from cursor_analytics.warehouse import (
    Table,
    ensure_table,
    finality,
    replace_days_from_sql,
    replace_table_from_sql,
    tables,
)
from cursor_analytics.warehouse import metrics as sql
from cursor_analytics.warehouse.tables import quote_ident

GROUP = "cursor_metrics"
KINDS = {"duckdb", "sql"}
# Who answers questions about these numbers (Dagster owners: emails or team:<name>).
OWNERS = ["team:engineering-analytics"]
TRAILING_28 = dg.TimeWindowPartitionMapping(start_offset=-27, end_offset=0)


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
    own_finality: bool = False,
) -> dg.MaterializeResult:
    """Recompute analytics.<name> for the run's partition range from `select_sql`. Each row gets
    the finality of its day, unless `own_finality`: then `select_sql` gives each row's `finality`
    itself. Each day records its own rows, finality and headline figures (`headline_sql` over
    that day); the range's headline is logged and shared as `range_summary`; `chart` draws the
    table up to the range's last day (charts.py)."""
    start, end = window_days(context)
    fqn = f"analytics.{name}"
    with duckdb.get_connection() as conn:
        for table in (*sources, finality.PARTITION_FINALITY):
            ensure_table(conn, table)
        select = select_sql if own_finality else finality.with_finality(select_sql)
        rows = replace_days_from_sql(conn, fqn, select, (start, end))
        by_day, range_finality = finality.finality_metadata(conn, start, end)
        if own_finality:  # each day's row says its own finality
            for day, own in conn.execute(
                f"SELECT day, max(finality) FROM {quote_ident(fqn)} WHERE day BETWEEN ? AND ? GROUP BY day",
                [start, end],
            ).fetchall():
                by_day[day]["finality"] = own
        for day, n in rows_per_day(conn, fqn, (start, end)).items():
            by_day[day]["dagster/row_count"] = n
            if headline_sql:
                by_day[day].update(_headline(conn, headline_sql, {"start": day, "end": day}))
        headline = _headline(conn, headline_sql, {"start": start, "end": end}) if headline_sql else {}
        metadata = {
            **range_finality,
            "range_rows": rows,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "range_summary": dg.MetadataValue.md(_summary(start, end, headline)),
            **({"chart": chart(conn, end)} if chart else {}),
            "preview": dg.MetadataValue.md(preview(conn, fqn, (start, end))),
            "dagster/column_schema": table_column_schema(conn, fqn),
        }
    context.log.info(f"{fqn} {start}..{end}: {rows} rows; {_plain(headline)}")
    add_metadata_per_day(context, by_day)
    return dg.MaterializeResult(metadata=metadata)


def _plain(headline: dict[str, Any]) -> str:
    return ", ".join(f"{k} {getattr(v, 'value', v)}" for k, v in headline.items()) or "no headline"


def _summary(start: date, end: date, headline: dict[str, Any]) -> str:
    """The range's headline figures as a markdown table (the days carry their own)."""
    rows = [(k, getattr(v, "value", v)) for k, v in headline.items()]
    return f"Over {start} .. {end}:\n\n" + markdown_table(["figure", "value"], rows)


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


@_daily("user_daily_metrics", deps=[raw.daily_usage, raw.usage_events])
def user_daily_metrics(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day and user (lower-cased email): activity, requests by feature, the two
    acceptance rates and the AI share of edited lines side by side, with spend from usage events.

    - `tab_acceptance_rate = tabs_accepted / tabs_shown`
    - `suggestion_acceptance_rate = accepts / (accepts + rejects)`
    - `ai_line_share = accepted_lines_added / total_lines_added`: the share of the lines added in
      the editor (by AI or by hand) that came from accepted AI suggestions; not an acceptance rate.
    - `billed_cents = sum(chargedCents)` of the user's chargeable events (`isChargeable`): spend
      billed on top of the plan; `included_usage_cents` the same over the other events (usage the
      plan includes); `total_usage_cents` both.
    - `most_used_model`: the model of most of the user's usage events that day (ties: first by
      name), else daily usage's `mostUsedModel`.

    A user seen only in usage events (no daily-usage row) has a row too. A rate whose
    denominator is 0 is NULL."""
    return derive_days(
        context,
        duckdb,
        "user_daily_metrics",
        sql.USER_DAILY_SQL,
        [tables.DAILY_USAGE, tables.USAGE_EVENTS],
        sql.USER_DAILY_HEADLINE_SQL,
    )


# --- team_daily_metrics ------------------------------------------------------------------------


@_daily("team_daily_metrics", deps=[user_daily_metrics, raw_analytics.team_analytics_assets["agent-edits"]])
def team_daily_metrics(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day, the whole team: active users, the two acceptance rates and the AI share of
    edited lines from team totals, requests by feature, spend and spend per active user.

    - `tab_acceptance_rate = sum(tabs_accepted) / sum(tabs_shown)`
    - `suggestion_acceptance_rate = sum(accepts) / (sum(accepts) + sum(rejects))`
    - `ai_line_share = sum(accepted_lines_added) / sum(total_lines_added)`
    - `line_acceptance_rate = agent_lines_accepted / agent_lines_suggested`: of the lines Cursor's
      agent suggested, the share accepted (Analytics API, raw.analytics_agent_edits; NULL on days
      it is not loaded)
    - `billed_cents`, `included_usage_cents`, `total_usage_cents`: the users' sums
    - `spend_per_active_user_cents = billed_cents / active_users` (billed spend only)

    Each day's materialization carries that day's figures (switch its metadata to Plots, by
    partition, for one point per day); the run's range summary is `range_summary`."""
    return derive_days(
        context,
        duckdb,
        "team_daily_metrics",
        sql.TEAM_DAILY_SQL,
        [tables.ANALYTICS_TABLES["agent-edits"]],
        sql.TEAM_WINDOW_HEADLINE_SQL,
        chart=charts.acceptance_rate_trend,
    )


# --- team_rolling_metrics ----------------------------------------------------------------------


@_daily(
    "team_rolling_metrics",
    deps=[
        dg.AssetDep(team_daily_metrics, partition_mapping=TRAILING_28),
        dg.AssetDep(user_daily_metrics, partition_mapping=TRAILING_28),
    ],
)
def team_rolling_metrics(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day, the team's rates over the trailing 7 and 28 days (the day and the 6 or 27
    before it), each a ratio of the window's summed totals, e.g.
    `tab_acceptance_rate_7d = sum(tabs_accepted over 7 days) / sum(tabs_shown over 7 days)`;
    `active_users_7d` / `_28d` count distinct users active at least once in the window,
    `billed_cents_7d` / `_28d` and `included_usage_cents_7d` / `_28d` sum spend.

    Reading a partial window: `days_loaded_7d` / `_28d` count the days of the window whose daily
    usage and usage events are loaded. A window with fewer than 7 (28) loaded days covers only
    those days: its rates are over fewer days and its sums are smaller than a full window's
    (on the first loaded day every window holds that one day). A row is `final` only when all
    28 days of its window are loaded and final."""
    return derive_days(
        context,
        duckdb,
        "team_rolling_metrics",
        sql.ROLLING_SQL,
        [],
        sql.ROLLING_HEADLINE_SQL,
        own_finality=True,
    )


# --- ai_code_share_daily -----------------------------------------------------------------------


@_daily("ai_code_share_daily", deps=[raw.ai_commits])
def ai_code_share_daily(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day (of commit time), user and repository: the share of committed lines written
    by AI, overall and on the primary branch only.

    - `ai_lines_added = tab_lines_added + composer_lines_added`
    - `ai_share = sum(ai_lines_added) / sum(total_lines_added)`
    - `primary_ai_share`: the same over commits with `is_primary_branch`.

    A commit reported more than once the same day (same hash and repository) counts once, in
    its latest ingested version."""
    return derive_days(
        context,
        duckdb,
        "ai_code_share_daily",
        sql.AI_SHARE_SQL,
        [tables.AI_COMMITS],
        sql.AI_SHARE_HEADLINE_SQL,
    )


# --- model_usage_daily -------------------------------------------------------------------------


@_daily("model_usage_daily", deps=[raw.usage_events])
def model_usage_daily(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per UTC day and model: requests, request cost units, billed and included-usage cents,
    token cost and tokens, distinct users, and `request_share = requests / all requests that
    day`."""
    return derive_days(
        context,
        duckdb,
        "model_usage_daily",
        sql.MODEL_USAGE_SQL,
        [tables.USAGE_EVENTS],
        sql.MODEL_USAGE_HEADLINE_SQL,
        chart=charts.model_mix,
    )


# --- spend_per_user ----------------------------------------------------------------------------


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
    - `cycle_billed_cents = sum(chargedCents)` of the member's chargeable usage events from the
      cycle start to the snapshot (reconciles with `spend_cents` when every day of the cycle is
      loaded); `cycle_included_usage_cents` the same over the non-chargeable events (with it,
      reconciles with `overall_spend_cents`).
    - `cost_per_accepted_line_cents = overall_spend_cents / accepted_lines_added` in the cycle:
      all AI spend, billed and plan-included.
    - `projected_cycle_spend_cents = max(spend_cents, spend_cents * cycle_length /
      time_elapsed_in_cycle)`: linear projection of on-demand spend to the cycle end (one month
      after its start: `/teams/spend` gives no end), never below the spend so far."""
    return derive_table(
        duckdb,
        "spend_per_user",
        sql.SPEND_PER_USER_SQL,
        [tables.SPEND_SNAPSHOTS, tables.USAGE_EVENTS, tables.DAILY_USAGE],
        "SELECT sum(spend_cents) AS cycle_spend_cents, sum(overall_spend_cents) AS cycle_overall_spend_cents, "
        "sum(projected_cycle_spend_cents) AS projected_cycle_spend_cents FROM analytics.spend_per_user",
        chart=charts.spend_per_member,
    )


# --- seat_utilization --------------------------------------------------------------------------


@dg.asset(
    key=["analytics", "seat_utilization"],
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    pool="duckdb",
    deps=[raw.team_members, raw.daily_usage],
)
def seat_utilization(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per member of the latest members snapshot: days active in the trailing 7 and 28 days
    ending at the latest loaded day, whether the member holds a paid seat, and whether that
    seat is idle.

    - `is_billable_seat`: false for `free-owner` admins (no paid seat) and removed members.
    - `seat_utilization_7d = billable seats active at least once in 7 days / billable seats`
      (metadata; `seats` counts billable seats only)
    - `idle_7d` / `idle_28d`: a billable seat with no active day in the window: the idle seats."""
    return derive_table(
        duckdb,
        "seat_utilization",
        sql.SEAT_UTILIZATION_SQL,
        [tables.TEAM_MEMBERS, tables.DAILY_USAGE],
        sql.SEAT_HEADLINE_SQL,
    )


partitioned_metric_assets = [
    user_daily_metrics,
    team_daily_metrics,
    team_rolling_metrics,
    ai_code_share_daily,
    model_usage_daily,
]
snapshot_metric_assets = [spend_per_user, seat_utilization]
