"""Crash safety: the process running `cursor_daily_job` over a range of days kills itself with
SIGKILL at a named point of the load (`CURSOR_ANALYTICS_FAULT`): after it staged a page of API
records, and inside the publish transaction just before the commit. Each time every table still
holds exactly the previous data; once the killed run is terminated, the instance's daemon frees
the pool slots it held (`run_monitoring.free_slots_after_run_end_seconds`), and the rerun
completes and matches the simulator's new ground truth.

The runs use the project's dagster.yaml (pools: one step per endpoint at a time), as `dagster
dev` would.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time
from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from cursor_analytics.definitions import defs
from cursor_analytics.defs.resources import run_config_from_env
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse import FAULT_ENV
from cursor_analytics_tests.support import NOW, query, range_tags, table_contents

REPO = Path(__file__).resolve().parents[1]
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
    sim: Simulator,
    db: Path,
    home: Path,
    start: date,
    end: date,
    assets: list[str] | None = None,
    fault: str | None = None,
) -> subprocess.Popen:
    """Run the job in a child process (that kills itself at the fault point `fault`, if given)."""
    env = {
        **os.environ,
        "CURSOR_API_KEY": sim.api_key,
        "CURSOR_API_BASE_URL": sim.base_url,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
        **({FAULT_ENV: fault} if fault else {}),
    }
    args = json.dumps({"db": str(db), "start": start.isoformat(), "end": end.isoformat(), "assets": assets})
    code = "from cursor_analytics_tests.test_crash import child_main; child_main()"
    log = home / f"child-{start}-{fault}-{len(list(home.glob('child-*')))}.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", code, args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    child.log = log  # what it printed, for a failure message
    return child


def output_of(child: subprocess.Popen) -> str:
    return child.log.read_text()[-3000:]


def killed_at(child: subprocess.Popen, fault: str) -> None:
    """The child ended by SIGKILL at the fault point, as it announced."""
    child.wait(timeout=600)
    output = output_of(child)
    assert child.returncode == -signal.SIGKILL, output
    assert f"{FAULT_ENV}: killing process {child.pid} at {fault}" in output, output


def terminate_killed_run(instance: dg.DagsterInstance) -> str:
    """What an operator does in the UI for a run whose process died: Terminate it (marked
    canceled). Nothing else does: the default run launcher cannot check a run's process, so the
    daemon's run monitoring leaves the killed run started."""
    [record] = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    monitor_started_run(instance, None, record, logging.getLogger())  # what the daemon does
    [run] = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.STARTED]
    assert run.run_id == record.dagster_run.run_id
    instance.report_run_canceled(run, message="The run's process was killed (SIGKILL).")
    return run.run_id


def daemon_frees_slots(instance: dg.DagsterInstance, run_id: str) -> None:
    """One iteration of the daemon's slot release (what `dagster dev` runs), 61 s after the run
    ended: `free_slots_after_run_end_seconds: 60` in dagster.yaml releases the run's slots."""
    assert instance.event_log_storage.get_concurrency_run_ids() == {run_id}
    ended = instance.get_run_record_by_id(run_id).end_time
    before = datetime.fromtimestamp(ended + 30, UTC)
    with freeze_time(before):  # not yet: the slots stay held for 60 s
        list(execute_concurrency_slots_iteration(SimpleNamespace(instance=instance), logging.getLogger()))
    assert instance.event_log_storage.get_concurrency_run_ids() == {run_id}
    with freeze_time(before + timedelta(seconds=31)):
        list(execute_concurrency_slots_iteration(SimpleNamespace(instance=instance), logging.getLogger()))
    assert instance.event_log_storage.get_concurrency_run_ids() == set()


@pytest.mark.timeout(900)  # two child processes and two runs: minutes on a busy 2-core machine
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
        start = end - timedelta(days=4)
        window = [start + timedelta(days=i) for i in range(5)]

        assert run_daily_job(db, start, end, dg.DagsterInstance.ephemeral()).success
        previous = table_contents(db)
        for day in window:  # late data: every day of the range now has new numbers
            sim.change_day(day)

        # 1. Killed after staging a page: pages are being written to Parquet, DuckDB is not
        # open. Each asset publishes its range atomically, one after the other: the killed runs
        # materialize the largest one only, so "previous data" is exact for every table.
        fault = "stage:after_page"
        killed_at(start_child(sim, db, home, start, end, KILLED_ASSETS, fault), fault)
        assert table_contents(db) == previous
        daemon_frees_slots(instance, terminate_killed_run(instance))

        # 2. Killed while publishing: inside the transaction that deleted the range and inserted
        # the staged rows, just before its commit.
        fault = "publish:before_commit"
        killed_at(start_child(sim, db, home, start, end, KILLED_ASSETS, fault), fault)
        assert table_contents(db) == previous
        daemon_frees_slots(instance, terminate_killed_run(instance))

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
