"""The README's first command: `cursor-analytics demo` against the bundled simulator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cursor_analytics_tests.support import query

REPO = Path(__file__).resolve().parents[1]


def test_demo_loads_every_asset_and_its_summary_matches_the_tables(tmp_path):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(tmp_path / ".dagster_home")
    done = subprocess.run(
        [sys.executable, "-m", "cursor_analytics.cli", "demo", "--days", "5", "--users", "10"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    db = tmp_path / "data" / "cursor.duckdb"

    peak, tab_rate, idle = query(
        db,
        """
        SELECT (SELECT max(active_users) FROM analytics.team_daily_metrics),
               (SELECT sum(tabs_accepted) / sum(tabs_shown) FROM analytics.team_daily_metrics),
               (SELECT count(*) FILTER (WHERE idle_28d) FROM analytics.seat_utilization)
        """,
    )[0]
    assert f"peak {peak}," in out
    assert f"tab acceptance rate       {tab_rate:.1%}" in out
    assert f"{idle} idle" in out
    for table in ("raw.daily_usage", "raw.usage_events", "analytics.model_usage_daily"):
        assert query(db, f"SELECT count(*) FROM {table}")[0][0] > 0, table

    # the runs are in the persistent instance the UI reads
    instance = dg.DagsterInstance.from_config(str(tmp_path / ".dagster_home"))
    runs = instance.get_runs()
    assert {r.job_name for r in runs} == {"cursor_daily_job", "cursor_snapshot_job"}
    assert all(r.is_success for r in runs)
    assert len(instance.get_materialized_partitions(dg.AssetKey(["raw", "usage_events"]))) == 5
