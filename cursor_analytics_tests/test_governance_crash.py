"""Governance under crashes: `cursor-analytics spend-limits apply --yes` is run as a real
process with the project's dagster.yaml, against the simulator and a DuckDB file.

- Killed with SIGKILL while a spend-limit write is in flight (the simulator sleeps before it
  applies the write, so the write reaches "Cursor" after its sender died): the audit row was
  committed before the call and stays `pending`; the next apply is not blocked by anything the
  killed one held, settles the row as `success` against a fresh snapshot, does not repeat the
  write, and marks the killed run failed.
- Waiting for the governance lock held by another live command, it answers SIGTERM and Ctrl-C
  (SIGINT) at once, having written nothing.
- DuckDB held by a reader just after a write succeeded: the apply stops saying the write was
  made and its row is pending (never "Nothing was written"); the next apply settles it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from cursor_analytics.defs.resources import WarehouseResource
from cursor_analytics.governance.lock import governance_lock
from cursor_analytics.simulator import Faults, Simulator
from cursor_analytics_tests.support import query, resources
from cursor_analytics_tests.test_governance import (
    LIMIT_PATH,
    SPEND_OP,
    current_members,
    run,
    take_snapshots,
    write,
)

REPO = Path(__file__).resolve().parents[1]


def apply_command(sim: Simulator, path: str, db: Path, home: Path) -> subprocess.Popen:
    """`cursor-analytics spend-limits apply --yes` in its own process (stderr piped)."""
    env = {**os.environ, "CURSOR_API_KEY": sim.api_key, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    command = ["spend-limits", "apply", "--yes", "--file", path, "--db", str(db), "--base-url", sim.base_url]
    return subprocess.Popen(
        [sys.executable, "-m", "cursor_analytics.cli", *command],
        cwd=REPO,  # the project's dagster.yaml (pools and all) is copied into DAGSTER_HOME
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, what: str, child: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Poll `condition` (every 5 ms) until it holds; fail if `child` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if child is not None and child.poll() is not None:
            pytest.fail(f"the command ended (exit {child.returncode}) before {what}:\n{child.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} never happened")
        time.sleep(0.005)


def audit(db: Path) -> list[tuple]:
    return query(
        db, "SELECT target, outcome, message, run_id FROM governance.audit_log ORDER BY recorded_at, target"
    )


@pytest.fixture
def team(make_sim, tmp_path):
    """A simulator without rate limits, its snapshots in DuckDB, and a file setting every limit to $5."""
    sim = make_sim(rate_limits=False)
    db = tmp_path / "cursor.duckdb"
    take_snapshots(resources(sim, db), dg.DagsterInstance.ephemeral())
    return sim, db, write(tmp_path / "spend_limits.yaml", "default: 5\n"), tmp_path / "dagster_home"


def test_an_apply_killed_mid_write_leaves_a_pending_row_that_the_next_apply_settles(team):
    sim, db, path, home = team
    sim.faults = Faults(slow_rate=1.0, slow_seconds=1.0, paths=(LIMIT_PATH,))  # applied after 1 s
    killed = apply_command(sim, path, db, home)
    wait_for(lambda: sim.received_count(LIMIT_PATH) == 1, "the first write was sent", killed)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: sim.request_count(LIMIT_PATH) == 1, "the simulator applied the write")
    [(target, outcome, _, killed_run)] = audit(db)
    assert outcome == "pending"  # committed before the call: the write is not unaudited
    assert next(m for m in current_members(sim) if m.email == target).monthly_limit == 5

    sim.faults = Faults()
    again = apply_command(sim, path, db, home)
    _, err = again.communicate(timeout=300)  # not blocked by anything the killed one held
    assert again.returncode == 0, err
    rows = audit(db)
    assert rows[0][:2] == (target, "success")
    assert rows[0][2].startswith("settled by run ") and "shows the limit written ($5)" in rows[0][2]
    assert {r[1] for r in rows} == {"success"} and len(rows) == len({r[0] for r in rows})
    assert sim.request_count(LIMIT_PATH) == len(rows)  # the killed write was not repeated
    assert {m.monthly_limit for m in current_members(sim)} == {5}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(killed_run).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_an_apply_waiting_for_another_answers_sigterm_and_ctrl_c_at_once(team, sig):
    sim, db, path, home = team
    with governance_lock(str(db)):  # another governance command is running
        waiting = apply_command(sim, path, db, home)
        lines: list[str] = []
        wait_for(
            lambda: lines.append(waiting.stderr.readline()) or "Waiting up to" in lines[-1],
            "the apply waited for the lock",
            waiting,
        )
        waiting.send_signal(sig)
        assert waiting.wait(timeout=30) != 0  # seconds, not the 120 s lock timeout
    assert sim.request_count(LIMIT_PATH) == 0
    assert query(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit_log'") == [
        (0,)
    ]


def test_a_reader_holding_duckdb_after_a_write_leaves_it_pending_never_nothing_was_written(team):
    sim, db, path, _ = team
    sim.faults = Faults(slow_rate=1.0, slow_seconds=1.0, paths=(LIMIT_PATH,))
    # A reader (a notebook) that opens DuckDB as soon as the first write is in flight, and keeps it.
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().strip() == "polling"  # it is watching before the run starts
        res = resources(sim, db)
        res["duckdb"] = WarehouseResource(database=str(db), lock_timeout_seconds=3)
        instance = dg.DagsterInstance.ephemeral()
        failed = run("spend_limits_job", SPEND_OP, res, instance, raise_on_error=False, path=path, apply=True)
        error = failed.failure_data_for_node(SPEND_OP).error.cause
        assert error.cls_name == "AuditIncomplete", error.message
        assert reader.stdout.readline().strip() == "holding"
        assert "was written to Cursor" in error.message and "stays pending" in error.message
        assert "Nothing was written." not in error.message
        reader.communicate("", timeout=60)  # the reader closes DuckDB
    finally:
        if reader.poll() is None:  # a failed assertion above: never leave it polling
            reader.kill()
            reader.wait()
    [(target, outcome, _, _)] = audit(db)
    assert outcome == "pending"
    assert next(m for m in current_members(sim) if m.email == target).monthly_limit == 5

    sim.faults = Faults()
    run("spend_limits_job", SPEND_OP, res, instance, path=path, apply=True)
    rows = audit(db)
    assert rows[0][:2] == (target, "success") and "settled by run" in rows[0][2]
    assert {r[1] for r in rows} == {"success"}
    assert sim.request_count(LIMIT_PATH) == len(rows) == len({r[0] for r in rows})


# Polls (every 50 ms: the writer must find gaps to open the file) for the first pending audit
# row, then holds a read-only connection until its stdin closes.
READER = """
import sys, time, duckdb
print("polling", flush=True)
while True:
    try:
        conn = duckdb.connect(sys.argv[1], read_only=True)
    except duckdb.Error:
        time.sleep(0.05)
        continue
    try:
        if conn.execute("SELECT count(*) FROM governance.audit_log WHERE outcome = 'pending'").fetchone()[0]:
            break
    except duckdb.Error:
        pass
    conn.close()
    time.sleep(0.05)
print("holding", flush=True)
sys.stdin.read()
"""
