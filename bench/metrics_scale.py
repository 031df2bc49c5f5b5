"""Benchmark 5: time to recompute every metric at scale (365 days of a 5,000-user team), and how
it grows with days and users.

The raw tables are generated directly in DuckDB with SQL (`range` over days and users, hashed
randomness) in the shape the API gives: every member every day in raw.daily_usage (inactive
ones included), 20-60 usage events per active user-day (four times that for heavy users; about
as many as the simulator's team), a few AI commits per active user-day, one members snapshot and
one spend snapshot. The `raw` JSON column is left empty: no metric reads it (DuckDB reads only
the columns a query names). Then every asset of the `cursor_metrics` group is materialized
through Dagster (`dg.materialize`: the partitioned metrics as one range run over the whole
history, then the unpartitioned ones), timed per asset from the run's step statistics.

    python -m bench.metrics_scale --grid 5000x365,5000x90,1000x365 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from bench.common import backfill_window, main, median, utc_today
from cursor_analytics.defs.partitions import range_tags
from cursor_analytics.warehouse import tables

NAME = "metrics_scale"

MODELS = "['claude-4.5-sonnet', 'gpt-5', 'gemini-2.5-pro', 'cursor-small', 'default']"
REPOS = "['acme/api-server', 'acme/web-app', 'acme/data-pipeline', 'acme/mobile', 'acme/infra']"

USER_DAYS_SQL = """
CREATE TEMP TABLE user_days AS
WITH base AS (
    SELECT
        CAST(d AS DATE) AS day,
        u AS i,
        hash(u, 'idle') % 100 < 12 AS idle,
        hash(u, 'heavy') % 100 < 10 AS heavy,
        (hash(u, d, 'active') % 1000) / 1000.0 AS r
    FROM range(CAST($start AS TIMESTAMP), CAST($end AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d),
         range(1, $users + 1) s(u)
)
SELECT
    day, i, heavy,
    'user' || i || '@acme.dev' AS email,
    'user_' || lpad(CAST(i AS VARCHAR), 28, '0') AS user_id,
    NOT idle AND r < CASE WHEN isodow(day) < 6 THEN (CASE WHEN heavy THEN 0.95 ELSE 0.8 END)
                          ELSE (CASE WHEN heavy THEN 0.4 ELSE 0.12 END) END AS active
FROM base
"""

DAILY_USAGE_SQL = f"""
INSERT INTO raw.daily_usage BY NAME
WITH ud AS (
    SELECT *, CASE WHEN active THEN CAST(20 + hash(i, day, 'n') % 41 AS BIGINT) * (CASE WHEN heavy THEN 4 ELSE 1 END) ELSE 0 END AS n,
           CASE WHEN active THEN CAST(50 + hash(i, day, 'lines') % 400 AS BIGINT) ELSE 0 END AS lines
    FROM user_days
)
SELECT
    day, user_id, email, epoch_ms(CAST(day AS TIMESTAMP)) AS date_ms, active AS is_active,
    lines * 2 AS total_lines_added, lines AS total_lines_deleted,
    lines AS accepted_lines_added, lines // 3 AS accepted_lines_deleted,
    n // 2 AS total_applies, n // 3 AS total_accepts, n // 8 AS total_rejects,
    lines * 3 AS total_tabs_shown, lines AS total_tabs_accepted,
    n // 5 AS composer_requests, n // 5 AS chat_requests, n - 3 * (n // 5) AS agent_requests,
    n // 5 AS cmdk_usages, n - n // 4 AS subscription_included_reqs, 0 AS api_key_reqs,
    n // 4 AS usage_based_reqs, 0 AS bugbot_usages,
    CASE WHEN active THEN {MODELS}[1 + CAST(hash(i, 'model') % 5 AS BIGINT)] END AS most_used_model,
    CASE WHEN active THEN 'ts' END AS apply_most_used_extension,
    CASE WHEN active THEN 'py' END AS tab_most_used_extension,
    CASE WHEN active THEN '2.1.39' END AS client_version,
    now()::TIMESTAMP AS _loaded_at
FROM ud
"""

USAGE_EVENTS_SQL = f"""
INSERT INTO raw.usage_events BY NAME
WITH ud AS (
    SELECT day, i, email, CAST(20 + hash(i, day, 'n') % 41 AS BIGINT) * (CASE WHEN heavy THEN 4 ELSE 1 END) AS n
    FROM user_days WHERE active
),
ev AS (
    SELECT day, i, email, k, CAST(hash(i, day, k) >> 1 AS BIGINT) AS h
    FROM ud, range(ud.n) e(k)
)
SELECT
    day,
    CAST(day AS TIMESTAMP) + to_milliseconds(CAST(h % 86400000 AS BIGINT)) AS "timestamp",
    email AS user_email,
    {MODELS}[1 + (h >> 8) % 5] AS model,
    CASE WHEN (h >> 16) % 100 < 70 THEN 'Included in Business'
         WHEN (h >> 16) % 100 < 95 THEN 'Usage-based' ELSE 'User API Key' END AS kind,
    (h >> 24) % 100 < 10 AS max_mode,
    CASE WHEN (h >> 8) % 5 = 3 THEN 0.25 ELSE 1.0 END AS requests_costs,
    (h >> 8) % 5 <> 3 AS is_token_based_call,
    (h >> 16) % 100 BETWEEN 70 AND 94 AS is_chargeable,
    (h >> 32) % 100 < 5 AS is_headless,
    CASE WHEN (h >> 16) % 100 < 95 THEN ((h >> 40) % 500) / 10.0 ELSE 0 END AS charged_cents,
    CAST(5000 + (h >> 20) % 30000 AS BIGINT) AS input_tokens,
    CAST(200 + (h >> 28) % 3000 AS BIGINT) AS output_tokens,
    CAST((h >> 36) % 8000 AS BIGINT) AS cache_write_tokens,
    CAST((h >> 44) % 80000 AS BIGINT) AS cache_read_tokens,
    ((h >> 40) % 500) / 10.0 AS total_cents,
    now()::TIMESTAMP AS _loaded_at
FROM ev
"""

AI_COMMITS_SQL = f"""
INSERT INTO raw.ai_commits BY NAME
WITH ud AS (
    SELECT day, i, email, user_id, CAST(hash(i, day, 'commits') % 7 AS BIGINT) AS n FROM user_days WHERE active
),
c AS (SELECT ud.*, k, CAST(hash(i, day, k, 'c') >> 1 AS BIGINT) AS h FROM ud, range(ud.n) e(k))
SELECT
    day,
    md5(CAST(h AS VARCHAR)) AS commit_hash,
    user_id, email AS user_email,
    {REPOS}[1 + h % 5] AS repo_name,
    CASE WHEN (h >> 8) % 3 = 0 THEN 'main' ELSE 'feature-' || (h % 100) END AS branch_name,
    (h >> 8) % 3 = 0 AS is_primary_branch,
    'ide' AS commit_source,
    CAST(20 + (h >> 12) % 300 AS BIGINT) AS total_lines_added,
    CAST((h >> 20) % 100 AS BIGINT) AS total_lines_deleted,
    CAST((h >> 28) % 20 AS BIGINT) AS tab_lines_added, 0 AS tab_lines_deleted,
    CAST((h >> 36) % 150 AS BIGINT) AS composer_lines_added, 0 AS composer_lines_deleted,
    CAST(20 AS BIGINT) AS non_ai_lines_added, 0 AS non_ai_lines_deleted,
    'Fix flaky test' AS message,
    CAST(day AS TIMESTAMP) + to_milliseconds(CAST(h % 80000000 AS BIGINT)) AS commit_ts,
    CAST(day AS TIMESTAMP) + to_milliseconds(CAST(h % 80000000 AS BIGINT) + 60000) AS created_at,
    now()::TIMESTAMP AS _loaded_at
FROM c
"""

SNAPSHOTS_SQL = [
    """
    INSERT INTO raw.team_members BY NAME
    SELECT 'user_' || lpad(CAST(u AS VARCHAR), 28, '0') AS user_id, 'User ' || u AS name,
           'user' || u || '@acme.dev' AS email, CASE WHEN u = 1 THEN 'owner' ELSE 'member' END AS role,
           hash(u, 'removed') % 100 < 8 AS is_removed, now()::TIMESTAMP AS snapshot_at,
           now()::TIMESTAMP AS _loaded_at
    FROM range(1, $users + 1) s(u)
    """,
    """
    INSERT INTO raw.spend_snapshots BY NAME
    SELECT 'user_' || lpad(CAST(u AS VARCHAR), 28, '0') AS user_id, 'User ' || u AS name,
           'user' || u || '@acme.dev' AS email, 'member' AS role,
           (hash(u, 'spend') % 100000) / 10.0 AS spend_cents,
           (hash(u, 'spend') % 100000) / 10.0 + 2000 AS overall_spend_cents,
           CAST(hash(u, 'fast') % 500 AS BIGINT) AS fast_premium_requests,
           0 AS hard_limit_override_dollars, NULL AS monthly_limit_dollars,
           NULL AS effective_per_user_limit_dollars,
           now()::TIMESTAMP AS snapshot_at,
           CAST($end AS TIMESTAMP) - INTERVAL 14 DAY AS subscription_cycle_start,
           now()::TIMESTAMP AS _loaded_at
    FROM range(1, $users + 1) s(u)
    """,
]


def generate(db: Path, users: int, start: date, end: date) -> dict[str, Any]:
    """The raw tables of a `users`-member team over [start, end], written into `db`."""
    from cursor_analytics.warehouse import ensure_table

    params = {"start": start, "end": end, "users": users}
    started = time.perf_counter()
    with duckdb.connect(str(db)) as conn:
        for table in (
            tables.DAILY_USAGE,
            tables.USAGE_EVENTS,
            tables.AI_COMMITS,
            tables.TEAM_MEMBERS,
            tables.SPEND_SNAPSHOTS,
        ):
            ensure_table(conn, table)
        conn.execute(USER_DAYS_SQL, params)
        conn.execute(DAILY_USAGE_SQL)
        conn.execute(USAGE_EVENTS_SQL)
        conn.execute(AI_COMMITS_SQL)
        for sql in SNAPSHOTS_SQL:
            conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        rows = {
            name: conn.execute(f"SELECT count(*) FROM raw.{name}").fetchone()[0]
            for name in ("daily_usage", "usage_events", "ai_commits")
        }
    return {
        "rows": rows,
        "generate_seconds": time.perf_counter() - started,
        "db_mb": db.stat().st_size / 2**20,
    }


def recompute(db: Path, start: date, end: date, database: str | None = None) -> dict[str, Any]:
    """Every metric asset: the partitioned ones as one range run over [start, end], then the
    unpartitioned ones. Seconds per asset (step duration) and in all. `database`: another
    warehouse than the file `db` (a DuckLake catalog)."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from cursor_analytics.definitions import defs
    from cursor_analytics.defs.metrics import assets as metrics
    from cursor_analytics.defs.resources import WarehouseResource

    metric_assets = [
        a
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        and any(a.specs_by_key[k].group_name == metrics.GROUP for k in a.keys)
    ]
    partitioned = [a for a in metric_assets if a.partitions_def is not None]
    unpartitioned = [a for a in metric_assets if a.partitions_def is None]
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "duckdb": WarehouseResource(database=database) if database else DuckDBResource(database=str(db))
    }
    steps: dict[str, float] = {}
    started = time.perf_counter()
    for group, tags in ((partitioned, range_tags(start, end)), (unpartitioned, {})):
        result = dg.materialize(group, resources=resources, instance=instance, tags=tags)
        assert result.success
        for s in instance.get_run_step_stats(result.run_id):
            steps[s.step_key] = s.end_time - s.start_time
    return {"seconds": time.perf_counter() - started, "steps": steps}


def run(grid: list[tuple[int, int]], repeats: int) -> dict[str, Any]:
    today = utc_today()
    results = []
    for users, days in grid:
        start, end = backfill_window(days, today)
        with tempfile.TemporaryDirectory(prefix="cursor-bench-") as workdir:
            db = Path(workdir) / "metrics.duckdb"
            data = generate(db, users, start, end)
            runs = [recompute(db, start, end) for _ in range(repeats)]
            with duckdb.connect(str(db), read_only=True) as conn:
                metric_rows = {
                    name: conn.execute(f"SELECT count(*) FROM analytics.{name}").fetchone()[0]
                    for name in ("user_daily_metrics", "team_daily_metrics", "model_usage_daily")
                }
        results.append(
            {
                "users": users,
                "days": days,
                **data,
                "metric_rows": metric_rows,
                "runs": runs,
                "median_seconds": median([r["seconds"] for r in runs]),
                "median_step_seconds": {
                    key: median([r["steps"][key] for r in runs]) for key in sorted(runs[0]["steps"])
                },
            }
        )
    return {"repeats": repeats, "grid": results}


def markdown(result: dict[str, Any]) -> str:
    rows = result["grid"]
    step_keys = list(rows[0]["median_step_seconds"]) if rows else []
    lines = [
        "## 5. Metrics recompute at scale",
        "",
        "Raw tables generated in DuckDB with SQL in the API's shape (every member every day; "
        "20-60 usage events per active user-day, 4x for heavy users; 0-6 AI commits), then every "
        "asset of the `cursor_metrics` group materialized through Dagster: the partitioned "
        "metrics as one range run over the whole history, then the unpartitioned ones. "
        f"Medians of {result['repeats']} runs (seconds, in-process executor, Dagster overhead included).",
        "",
        "| users | days | usage events | daily-usage rows | DuckDB file | all metrics | per 1M events |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ev = r["rows"]["usage_events"]
        lines.append(
            f"| {r['users']:,} | {r['days']} | {ev:,} | {r['rows']['daily_usage']:,} | "
            f"{r['db_mb']:,.0f} MB | **{r['median_seconds']:.1f} s** | {r['median_seconds'] / ev * 1e6:.2f} s |"
        )
    lines += [
        "",
        "Per asset (median step seconds):",
        "",
        "| users x days | " + " | ".join(k.replace("analytics__", "") for k in step_keys) + " |",
        "|---|" + "---:|" * len(step_keys),
    ]
    for r in rows:
        lines.append(
            f"| {r['users']:,} x {r['days']} | "
            + " | ".join(f"{r['median_step_seconds'].get(k, float('nan')):.1f}" for k in step_keys)
            + " |"
        )
    return "\n".join(lines)


def grid_list(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        users, _, days = item.strip().partition("x")
        out.append((int(users), int(days)))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grid",
        type=grid_list,
        default=grid_list("5000x365,5000x90,1000x365"),
        help="USERSxDAYS sizes, comma-separated (history ending yesterday)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="recomputes per size")


if __name__ == "__main__":
    main(NAME, __doc__.split("\n\n")[0], add_arguments, run, markdown)
