"""Benchmark 6: the production profile (PostgreSQL instance, DuckLake warehouse) against the defaults (SQLite instance, DuckDB file).

Against a throwaway PostgreSQL server on this machine (cursor_analytics_tests/postgres.py):

1. Run creation: creating the run of a 365-day range of cursor_daily_job (Dagster writes one
   "materialization planned" event per asset and day before the run starts), SQLite instance
   vs PostgreSQL instance (deploy/dagster.yaml).
2. A 90-day backfill: the same range run executed end to end (multiprocess executor, the
   simulator without rate limits, so the instance's and warehouse's costs show), SQLite instance
   + DuckDB file vs PostgreSQL instance + DuckLake.
3. Metric recompute: every metric asset over 365 days x 5,000 users (bench/metrics_scale.py's
   generated raw tables), DuckDB file vs DuckLake (the same raw rows copied into the lake).

Each figure is measured once, with the load average before and after it: the machine is
shared, so compare figures taken at similar load.

    python -m bench.production --run-days 365 --backfill-days 90 --backfill-users 20 --users 5000 --days 365
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import REPO, backfill_window, dagster_home, main, utc_today
from cursor_analytics.defs.partitions import range_tags

NAME = "production"
RAW_TABLES = ["daily_usage", "usage_events", "ai_commits", "team_members", "spend_snapshots"]


def measured(work: Callable[[], Any]) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    extra = work() or {}
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **extra,
    }


def in_fresh_process(work: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`work(*args)` in a new Python process started now, with this process's environment as it
    is now. Dagster's multiprocess executor forks its step processes from a forkserver started
    by the first run and never restarted: a later run in this process would give its steps the
    first run's environment (its DAGSTER_HOME, no DAGSTER_PG_*)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args).result()


def use_postgres_instance(home: Path, server: Any, dbname: str) -> None:
    """Point $DAGSTER_HOME at deploy/dagster.yaml over a fresh database of `server`."""
    os.environ.update(server.create_database(dbname).dagster_env())
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")


def run_creation(days: int) -> dict[str, Any]:
    """Seconds to create (not execute) one range run of `days` days of cursor_daily_job."""
    import dagster as dg

    from bench.jobs import cursor_daily_job

    start, end = backfill_window(days, utc_today())
    instance = dg.DagsterInstance.get()
    job = cursor_daily_job()
    # the run is only created, never executed: its config still needs these to resolve
    os.environ.setdefault("CURSOR_API_KEY", "key_bench_never_used")
    os.environ.setdefault("CURSOR_API_BASE_URL", "http://127.0.0.1:9")

    def create() -> dict[str, Any]:
        run = instance.create_run_for_job(job_def=job, tags=range_tags(start, end))
        return {"planned_events": len(instance.get_records_for_run(run.run_id, limit=100_000).records)}

    return measured(create)


def backfill(days: int, users: int, database: str) -> dict[str, Any]:
    """One range run of `days` days of cursor_daily_job, end to end, into `database`."""
    import dagster as dg

    from bench.jobs import cursor_daily_job
    from bench.sim_server import SimProcess
    from cursor_analytics.defs.resources import run_config_from_env

    start, end = backfill_window(days, utc_today())
    with SimProcess(seed=7, users=users, days=days + 10, today=utc_today(), rate_limits=False) as sim:
        os.environ.update(
            CURSOR_API_KEY=sim.api_key, CURSOR_API_BASE_URL=sim.base_url, CURSOR_ANALYTICS_DB=database
        )
        instance = dg.DagsterInstance.get()

        def execute() -> None:
            dg.execute_job(
                dg.reconstructable(cursor_daily_job),
                instance=instance,
                run_config=run_config_from_env(),
                tags=range_tags(start, end),
                raise_on_error=True,
            )

        return measured(execute)


def copy_into_lake(file: Path, lake: str) -> dict[str, Any]:
    from cursor_analytics.warehouse import connect

    path = str(file).replace("'", "''")
    with connect(lake) as conn:
        conn.execute(f"ATTACH '{path}' AS source (READ_ONLY)")
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        rows = 0
        for name in RAW_TABLES:
            conn.execute(f"CREATE TABLE raw.{name} AS SELECT * FROM source.raw.{name}")
            rows += conn.execute(f"SELECT count(*) FROM raw.{name}").fetchone()[0]
    return {"rows": rows}


def run(run_days: int, backfill_days: int, backfill_users: int, users: int, days: int) -> dict[str, Any]:
    from bench.metrics_scale import generate, recompute
    from cursor_analytics.warehouse import DATA_PATH_ENV
    from cursor_analytics_tests.postgres import running_postgres

    result: dict[str, Any] = {}
    with (
        running_postgres(settings={"max_connections": "200"}) as server,
        tempfile.TemporaryDirectory(prefix="cursor-bench-prod-") as workdir,
    ):
        work = Path(workdir)
        os.environ[DATA_PATH_ENV] = str(work / "lake-backfill") + "/"
        for label in ("sqlite", "postgres"):
            with dagster_home() as home:
                if label == "postgres":
                    use_postgres_instance(home, server, f"dagster_runs_{time.time_ns()}")
                result.setdefault("run_creation", {})[label] = in_fresh_process(run_creation, run_days)
            with dagster_home() as home:
                if label == "postgres":
                    use_postgres_instance(home, server, f"dagster_backfill_{time.time_ns()}")
                    database = f"ducklake:postgres:{server.create_database('lake_backfill').dsn}"
                else:
                    database = str(work / "backfill.duckdb")
                result.setdefault("backfill", {})[label] = in_fresh_process(
                    backfill, backfill_days, backfill_users, database
                )

        start, end = backfill_window(days, utc_today())
        file = work / "metrics.duckdb"
        generated = generate(file, users, start, end)
        lake = f"ducklake:postgres:{server.create_database('lake_metrics').dsn}"
        os.environ[DATA_PATH_ENV] = str(work / "lake-metrics") + "/"
        copied = measured(lambda: copy_into_lake(file, lake))
        result["metrics"] = {
            "users": users,
            "days": days,
            "rows": generated["rows"],
            "copy_into_lake": copied,
            "file": measured(lambda: {"steps": recompute(file, start, end)["steps"]}),
            "ducklake": measured(lambda: {"steps": recompute(file, start, end, database=lake)["steps"]}),
        }
    result["sizes"] = {
        "run_days": run_days,
        "backfill_days": backfill_days,
        "backfill_users": backfill_users,
    }
    return result


def markdown(result: dict[str, Any]) -> str:
    def cell(m: dict[str, Any]) -> str:
        return f"**{m['seconds']:.1f} s** (load {m['load_average'][0]:.1f} -> {m['load_average'][1]:.1f})"

    sizes, metrics = result["sizes"], result["metrics"]
    rc, bf = result["run_creation"], result["backfill"]
    return "\n".join(
        [
            "## 6. Production profile: PostgreSQL instance and DuckLake warehouse",
            "",
            "Measured once each on the shared 2-core machine, load average (1 min) before -> after.",
            "",
            "| what | default | production |",
            "| --- | --- | --- |",
            f"| create the run of a {sizes['run_days']}-day range ({rc['sqlite'].get('planned_events', '?')} planned events) "
            f"| SQLite instance: {cell(rc['sqlite'])} | PostgreSQL instance: {cell(rc['postgres'])} |",
            f"| {sizes['backfill_days']}-day backfill, {sizes['backfill_users']} users, no rate limits, end to end "
            f"| SQLite + DuckDB file: {cell(bf['sqlite'])} | PostgreSQL + DuckLake: {cell(bf['postgres'])} |",
            f"| every metric, {metrics['users']:,} users x {metrics['days']} days "
            f"({metrics['rows']['usage_events']:,} usage events) "
            f"| DuckDB file: {cell(metrics['file'])} | DuckLake: {cell(metrics['ducklake'])} |",
            "",
            f"Copying those raw tables into DuckLake (Parquet under a local DATA_PATH) took "
            f"{cell(metrics['copy_into_lake'])}.",
        ]
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-days", type=int, default=365, help="days of the range run whose creation is timed"
    )
    parser.add_argument("--backfill-days", type=int, default=90)
    parser.add_argument("--backfill-users", type=int, default=20)
    parser.add_argument("--users", type=int, default=5000, help="team size of the metric recompute")
    parser.add_argument("--days", type=int, default=365, help="days of the metric recompute")


if __name__ == "__main__":
    main(NAME, __doc__.split("\n\n")[0], add_arguments, run, markdown)
