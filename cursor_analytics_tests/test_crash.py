"""Crash safety: the process running `cursor_daily_job` over a range of days is killed with
SIGKILL while it stages API pages, and again while it publishes them to DuckDB (inside the
transaction). Each time every table still holds exactly the previous data; after the killed run
is cleared from the Dagster instance, the rerun completes and matches the simulator's new
ground truth.

The runs use the project's dagster.yaml (pools: one step per endpoint at a time), as `dagster
dev` would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from cursor_analytics.definitions import defs
from cursor_analytics.defs.resources import run_config_from_env
from cursor_analytics.simulator import Simulator
from cursor_analytics_tests.support import NOW, query, range_tags, table_contents

REPO = Path(__file__).resolve().parents[1]
STAGE_PREFIX = "cursor-analytics-stage-"
KILLED_ASSETS = ["raw/usage_events"]


def run_config(db: Path) -> dict[str, Any]:
    return run_config_from_env(str(db), rate_limit_window_seconds=1.0, backoff_base_seconds=0.01)


def run_daily_job(
    db: Path, start: date, end: date, instance: dg.DagsterInstance, assets: list[str] | None = None
):
    """One range run of the real cursor_daily_job, as the UI launches it (optionally only some
    of its assets, by key path such as "raw/usage_events")."""
    return defs.resolve_job_def("cursor_daily_job").execute_in_process(
        run_config=run_config(db),
        instance=instance,
        tags=range_tags(start, end),
        asset_selection=[dg.AssetKey.from_user_string(a) for a in assets] if assets else None,
    )


def child_main() -> None:
    """The killed process: `python -c "...; child_main()" '{"db": ..., "start": ..., "end": ...}'`."""
    args = json.loads(sys.argv[1])
    run_daily_job(
        Path(args["db"]),
        date.fromisoformat(args["start"]),
        date.fromisoformat(args["end"]),
        dg.DagsterInstance.get(),
        args.get("assets"),
    )


def start_child(
    sim: Simulator, db: Path, home: Path, start: date, end: date, assets: list[str] | None = None
) -> subprocess.Popen:
    env = {
        **os.environ,
        "CURSOR_API_KEY": sim.api_key,
        "CURSOR_API_BASE_URL": sim.base_url,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }
    args = json.dumps({"db": str(db), "start": start.isoformat(), "end": end.isoformat(), "assets": assets})
    code = "from cursor_analytics_tests.test_crash import child_main; child_main()"
    log = home / f"child-{start}-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", code, args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    child.log = log  # what it printed, for a failure message
    return child


def output_of(child: subprocess.Popen) -> str:
    return child.log.read_text()[-3000:]


def open_files(pid: int) -> dict[str, str]:
    """The files a process has open: path -> "r" (read only) or "w" (writing)."""
    files = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            path = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:  # "pos: 0", "flags: 0100002", ...
                flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
        except (FileNotFoundError, StopIteration, ValueError):
            continue
        files[path] = "r" if flags & os.O_ACCMODE == os.O_RDONLY else "w"
    return files


def staging(files: dict[str, str], mode: str) -> bool:
    return any(STAGE_PREFIX in path and m == mode for path, m in files.items())


def kill_when(
    child: subprocess.Popen, moment: Callable[[dict[str, str]], bool], timeout: float = 180
) -> None:
    """SIGKILL the child as soon as `moment(its open files)` holds (polled every 0.5 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(
                f"the run ended (exit {child.returncode}) before the moment to kill it:\n{output_of(child)}"
            )
        try:
            files = open_files(child.pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if moment(files):
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
            return
        time.sleep(0.0005)
    child.kill()
    pytest.fail("the moment to kill the run never came")


def clear_killed_run(instance: dg.DagsterInstance) -> None:
    """What an operator does in the UI for a run whose process died: Terminate it (it is then
    marked canceled) and free the pool slots it held (Deployment > Concurrency). Without the
    second step the rerun waits for those slots forever."""
    [run] = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.STARTED]
    instance.report_run_canceled(run, message="The run's process was killed (SIGKILL).")
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def test_a_run_killed_while_staging_or_publishing_leaves_the_previous_data_and_the_rerun_is_exact(
    tmp_path, monkeypatch
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    db = tmp_path / "cursor.duckdb"

    with Simulator(seed=29, users=12, days=40, minute_seconds=1.0, now=NOW) as sim:
        monkeypatch.setenv("CURSOR_API_KEY", sim.api_key)
        monkeypatch.setenv("CURSOR_API_BASE_URL", sim.base_url)
        end = sim.team.today - timedelta(days=1)
        start = end - timedelta(days=9)
        window = [start + timedelta(days=i) for i in range(10)]

        assert run_daily_job(db, start, end, dg.DagsterInstance.ephemeral()).success
        previous = table_contents(db)
        for day in window:  # late data: every day of the range now has new numbers
            sim.change_day(day)

        # 1. Killed while staging: pages are being written to Parquet, DuckDB is not open.
        # Each asset publishes its range atomically, one after the other: the killed runs
        # materialize the largest one only, so "previous data" is exact for every table.
        child = start_child(sim, db, home, start, end, KILLED_ASSETS)
        kill_when(child, lambda files: staging(files, "w") and str(db) not in files)
        assert table_contents(db) == previous
        clear_killed_run(instance)

        # 2. Killed while publishing: DuckDB has the file open and is reading the staged Parquet
        # into the tables, inside the transaction that first deleted the range.
        child = start_child(sim, db, home, start, end, KILLED_ASSETS)
        kill_when(child, lambda files: staging(files, "r") and str(db) in files)
        assert table_contents(db) == previous
        clear_killed_run(instance)

        # 3. The rerun completes and holds the new ground truth.
        rerun = run_daily_job(db, start, end, instance)
        assert rerun.success
        assert table_contents(db) != previous
        for day in window:
            truth = sim.ground_truth(day)
            got = query(
                db,
                "SELECT (SELECT count(*) FROM raw.daily_usage WHERE day = $d), "
                "(SELECT sum(total_tabs_shown) FROM raw.daily_usage WHERE day = $d), "
                "(SELECT count(*) FROM raw.usage_events WHERE day = $d), "
                "(SELECT count(*) FROM raw.ai_commits WHERE day = $d), "
                "(SELECT count(*) FROM raw.ai_changes WHERE day = $d), "
                "(SELECT count(*) FROM raw.ai_change_files WHERE day = $d), "
                "(SELECT count(*) FROM raw.audit_logs WHERE day = $d), "
                "(SELECT active_users FROM analytics.team_daily_metrics WHERE day = $d)",
                {"d": day},
            )[0]
            active = len({r["email"].lower() for r in sim.team.daily_usage(day) if r["isActive"]})
            assert got == (
                truth["daily_usage"]["rows"], truth["daily_usage"]["total_tabs_shown"],
                truth["usage_events"]["rows"], truth["ai_commits"]["rows"],
                truth["ai_changes"]["rows"], truth["ai_changes"]["files"],
                truth["audit_logs"]["rows"], active,
            ), day  # fmt: skip

    runs = instance.get_runs()
    assert [r.status for r in runs].count(dg.DagsterRunStatus.CANCELED) == 2
    assert [r.status for r in runs].count(dg.DagsterRunStatus.SUCCESS) == 1
