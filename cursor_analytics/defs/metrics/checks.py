"""Asset checks on the partitioned metric tables, run after the metrics in the same run, on the
run's days (executed alone from the UI: on the whole table). Each records its violation counts
as numbers, so a check's Plots show them over time.

| check | asset | severity | fails when |
|---|---|---|---|
| `rates_within_bounds` | every partitioned metric table | ERROR | a rate or share (a column named `*_rate`, `*_share`, `*_rate_7d`, ...) is outside [0, 1] |
| `team_totals_match_users` | team_daily_metrics | ERROR | a team total (any counter the two tables share, and active users) differs from the sum over members |
| `no_missing_days_in_window` | team_rolling_metrics | WARN | a day of a trailing 28-day window has members' metrics but no team row: the window is computed over a hole |
"""

import re
from collections.abc import Callable

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from cursor_analytics.defs.ingestion.checks import Outcome, Window, run_checks
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.ui.metadata import markdown_table
from cursor_analytics.warehouse import table_exists
from cursor_analytics.warehouse.tables import quote_ident

RATES_WITHIN_BOUNDS = "rates_within_bounds"
TEAM_TOTALS_MATCH_USERS = "team_totals_match_users"
NO_MISSING_DAYS_IN_WINDOW = "no_missing_days_in_window"

RATE_COLUMN = re.compile(r".*_(rate|share)(_\d+d)?$")
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL")
TEAM, USERS, ROLLING = (
    "analytics.team_daily_metrics",
    "analytics.user_daily_metrics",
    "analytics.team_rolling_metrics",
)
WINDOW_DAYS = 28
SAMPLE_ROWS = 10


def _columns(conn: duckdb.DuckDBPyConnection, fqn: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in conn.execute(f"DESCRIBE {quote_ident(fqn)}").fetchall()}


def _days(window: Window, column: str = "day") -> tuple[str, list]:
    return (f" WHERE {column} BETWEEN ? AND ?", list(window)) if window else ("", [])


def _scope(window: Window) -> str:
    return f"{window[0]}..{window[1]}" if window else "the whole table"


def rates_within_bounds(conn: duckdb.DuckDBPyConnection, fqn: str, window: Window) -> Outcome:
    rates = [c for c in _columns(conn, fqn) if RATE_COLUMN.fullmatch(c)]
    where, params = _days(window)
    counts = (
        conn.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE {q} < 0 OR {q} > 1)" for q in map(quote_ident, rates))
            + f" FROM {quote_ident(fqn)}{where}",
            params,
        ).fetchone()
        if rates
        else ()
    )
    assert counts is not None  # an aggregate without GROUP BY returns one row
    outside = {c: n for c, n in zip(rates, counts) if n}
    return Outcome(
        passed=not outside,
        description=(
            f"{len(rates)} rates within [0, 1] in {_scope(window)}"
            if not outside
            else "outside [0, 1]: " + ", ".join(f"{c} ({n} rows)" for c, n in outside.items())
        ),
        metadata={
            "rows_outside_bounds": sum(outside.values()),
            "rate_columns_checked": len(rates),
            "rows_outside_by_column": dg.MetadataValue.json(outside),
        },
    )


def team_totals_match_users(conn: duckdb.DuckDBPyConnection, fqn: str, window: Window) -> Outcome:
    if not table_exists(conn, USERS):
        return Outcome(True, f"{USERS} does not exist yet", {"mismatched_days": 0})
    team, users = _columns(conn, TEAM), _columns(conn, USERS)
    counters = [
        c
        for c, kind in team.items()
        if c in users and kind.startswith(NUMERIC) and not RATE_COLUMN.fullmatch(c) and c != "day"
    ]
    where, params = _days(window, "t.day")
    differs = " OR ".join(
        [f"coalesce(abs(t.{q} - s.{q}) > 1e-6 * greatest(1, abs(t.{q})), (t.{q} IS NULL) <> (s.{q} IS NULL))"
         for q in map(quote_ident, counters)]
        + ["t.active_users IS DISTINCT FROM s.active_users"]
    )  # fmt: skip
    rows = conn.execute(
        f"""
        WITH s AS (
            SELECT day, count(*) FILTER (WHERE is_active) AS active_users
                   {"".join(f", sum({q}) AS {q}" for q in map(quote_ident, counters))}
            FROM {USERS} GROUP BY day
        )
        SELECT t.day, t.active_users, s.active_users
        FROM {TEAM} t LEFT JOIN s USING (day){where or " WHERE TRUE"} AND ({differs})
        ORDER BY t.day
        """,
        params,
    ).fetchall()
    return Outcome(
        passed=not rows,
        description=(
            f"{len(counters) + 1} team totals equal the sums over members in {_scope(window)}"
            if not rows
            else f"{len(rows)} days whose team totals differ from the sums over members: "
            + ", ".join(str(r[0]) for r in rows[:SAMPLE_ROWS])
        ),
        metadata={
            "mismatched_days": len(rows),
            "totals_compared": len(counters) + 1,
            "days": dg.MetadataValue.md(
                markdown_table(["day", "team active users", "members active"], rows[:SAMPLE_ROWS])
            ),
        },
    )


def no_missing_days_in_window(conn: duckdb.DuckDBPyConnection, fqn: str, window: Window) -> Outcome:
    where, params = _days(window, "r.day")
    holes = conn.execute(
        f"""
        WITH member_days AS (SELECT DISTINCT day FROM {USERS}),
             team_days AS (SELECT DISTINCT day FROM {TEAM})
        SELECT DISTINCT m.day
        FROM {ROLLING} r
        JOIN member_days m ON m.day BETWEEN r.day - INTERVAL {WINDOW_DAYS - 1} DAY AND r.day
        LEFT JOIN team_days t ON t.day = m.day{where or " WHERE TRUE"} AND t.day IS NULL
        ORDER BY m.day
        """,
        params,
    ).fetchall()
    days = [str(d) for (d,) in holes]
    return Outcome(
        passed=not days,
        description=(
            f"every day with members' metrics in the trailing windows of {_scope(window)} has a team row"
            if not days
            else f"{len(days)} days in the trailing windows have members' metrics but no team row "
            f"(materialize analytics/team_daily_metrics for them): {', '.join(days[:SAMPLE_ROWS])}"
        ),
        metadata={"missing_days": len(days)},
        severity=dg.AssetCheckSeverity.WARN,
    )


Evaluate = Callable[[duckdb.DuckDBPyConnection, str, Window], Outcome]
CHECKS: list[tuple[dg.AssetsDefinition, str, str, Evaluate, dg.AssetCheckSeverity]] = [
    *(
        (
            asset,
            RATES_WITHIN_BOUNDS,
            "Every rate and share (columns named *_rate, *_share, *_rate_7d, ...) is within [0, 1].",
            rates_within_bounds,
            dg.AssetCheckSeverity.ERROR,
        )
        for asset in metrics.partitioned_metric_assets
    ),
    (
        metrics.team_daily_metrics,
        TEAM_TOTALS_MATCH_USERS,
        "Each day's team totals (active users and every counter it shares with "
        "user_daily_metrics) equal the sums over members.",
        team_totals_match_users,
        dg.AssetCheckSeverity.ERROR,
    ),
    (
        metrics.team_rolling_metrics,
        NO_MISSING_DAYS_IN_WINDOW,
        f"No day with members' metrics is missing from team_daily_metrics within a trailing "
        f"{WINDOW_DAYS}-day window.",
        no_missing_days_in_window,
        dg.AssetCheckSeverity.WARN,
    ),
]


@dg.multi_asset_check(
    name="metric_checks",
    specs=[dg.AssetCheckSpec(name, asset=asset.key, description=text) for asset, name, text, _, _ in CHECKS],
    can_subset=True,
    pool="duckdb",
)
def metric_checks(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
    """The metric checks selected in this run, over one DuckDB connection."""
    yield from run_checks(
        context,
        duckdb,
        (
            (dg.AssetCheckKey(asset.key, name), fqn, fqn, evaluate, severity)
            for asset, name, _, evaluate, severity in CHECKS
            for fqn in ["analytics." + asset.key.path[-1]]
        ),
    )
