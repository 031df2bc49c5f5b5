"""Concurrency on one DuckDB file: a backfill split into parallel runs (separate processes, as a
multi-run backfill launched from the UI runs), and readers such as a notebook or a BI tool
opening the file while runs write it, handled as the README's Reliability section documents.

DuckDB admits one read-write process or many read-only ones. Writers open the file only to
publish (warehouse.connect waits, with bounded retries, while another process holds it); readers
open it read-only, briefly.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.resources import WarehouseResource
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse import WarehouseLockedError, connect
from cursor_analytics.warehouse import logger as warehouse_logger
from cursor_analytics_tests.support import NOW, materialize_days, query, resources, table_contents
from cursor_analytics_tests.test_crash import output_of, start_child


@pytest.mark.timeout(900)  # three runs in three processes: minutes on a busy 2-core machine
def test_a_backfill_split_into_parallel_runs_loses_no_partition(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No pools here (the shipped dagster.yaml admits one step per endpoint at a time): the
    # steps of the three runs then reach the DuckDB file at the same moments, the hardest case
    # for its lock handling.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The instance exists before runs are launched (`dagster dev` creates it): several
    # processes creating a fresh SQLite instance at once would race on its schema.
    instance = dg.DagsterInstance.from_config(str(home))
    db = tmp_path / "cursor.duckdb"
    with Simulator(seed=31, users=12, days=40, minute_seconds=1.0, now=NOW) as sim:
        end = sim.team.today - timedelta(days=1)
        ranges = [(end - timedelta(days=i + 6), end - timedelta(days=i)) for i in (14, 7, 0)]
        days = [ranges[0][0] + timedelta(days=i) for i in range(21)]
        truth = {d: sim.ground_truth(d)["usage_events"]["rows"] for d in days}

        # A notebook polling the file the documented way while the runs write it: read-only,
        # briefly, through warehouse.connect (which waits while a writer holds the file).
        seen: list[dict] = []
        stop = threading.Event()

        def notebook() -> None:
            while not stop.is_set():
                if db.exists():
                    with connect(str(db), read_only=True, lock_timeout_seconds=60) as conn:
                        has_table = conn.execute(
                            "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'raw' AND table_name = 'usage_events'"
                        ).fetchone()[0]
                        if has_table:
                            seen.append(dict(conn.execute(
                                "SELECT day, count(*) FROM raw.usage_events GROUP BY day"
                            ).fetchall()))  # fmt: skip
                time.sleep(0.2)

        reader = threading.Thread(target=notebook, daemon=True)
        reader.start()
        children = [start_child(sim, db, home, a, b) for a, b in ranges]
        try:
            codes = [child.wait(timeout=600) for child in children]
        finally:
            stop.set()
            reader.join(timeout=60)
            for child in children:
                if child.poll() is None:
                    child.kill()
        assert codes == [0, 0, 0], "\n".join(output_of(c) for c in children)

        # Every run succeeded and every day of every asset was materialized exactly once.
        runs = instance.get_runs()
        assert len(runs) == 3 and all(r.is_success for r in runs)
        keys = {d.isoformat() for d in days}
        for asset in raw.partitioned_raw_assets:
            assert instance.get_materialized_partitions(asset.key) == keys, asset.key
            assert len(instance.fetch_materializations(asset.key, limit=100).records) == 21, asset.key

        # The data is whole: every day equals the ground truth, in raw and derived tables.
        got = dict(query(db, "SELECT day, count(*) FROM raw.usage_events GROUP BY day"))
        assert {d: got.get(d, 0) for d in days} == truth
        for table in ("raw.daily_usage", "raw.ai_commits", "raw.ai_changes", "raw.audit_logs"):
            dataset = table.split(".")[1]
            got = dict(query(db, f"SELECT day, count(*) FROM {table} GROUP BY day"))
            assert {d: got.get(d, 0) for d in days} == {d: sim.ground_truth(d)[dataset]["rows"] for d in days}
        assert query(db, "SELECT count(DISTINCT day) FROM analytics.team_daily_metrics") == [(21,)]

    # The notebook read while the runs wrote, and never saw a day half loaded.
    assert len(seen) >= 1, "the reader never got a look in while the runs wrote"
    for snapshot in seen:
        assert all(count == truth[day] for day, count in snapshot.items()), snapshot


# ---------------------------------------------------------------- a reader holding the file

READER = """
import sys, duckdb
how, path = sys.argv[1], sys.argv[2]
if how == "attach":  # a BI tool's in-memory DuckDB with the warehouse attached read-only
    conn = duckdb.connect()
    conn.execute(f"ATTACH '{path}' AS warehouse (READ_ONLY)")
else:                # a notebook's read-only connection
    conn = duckdb.connect(path, read_only=True)
print("holding", flush=True)
sys.stdin.readline()  # holds the file until told to release it
if how == "attach":
    conn.execute("DETACH warehouse")
else:
    conn.close()
print("released", flush=True)
sys.stdin.readline()  # stays alive: only the detach or close released the file
"""


def hold_file(how: str, db) -> subprocess.Popen:
    """A separate reader process that opens the file and holds it until `release(reader)`."""
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, how, str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert reader.stdout.readline().strip() == "holding"
    return reader


def release(holder: subprocess.Popen) -> None:
    holder.stdin.write("release\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"


@contextmanager
def waiting_for_the_lock() -> Iterator[threading.Event]:
    """An event set when a writer or reader in this process starts waiting for the DuckDB file
    (warehouse.connect says so once, in its log): the moment to let the holder go."""
    event = threading.Event()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting up to" in record.getMessage():
                event.set()

    handler = Handler()
    warehouse_logger.addHandler(handler)
    try:
        yield event
    finally:
        warehouse_logger.removeHandler(handler)


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=37, users=12, days=40, minute_seconds=1.0, now=NOW) as simulator:
        yield simulator


@pytest.fixture
def loaded(sim, tmp_path):
    """One day of raw.daily_usage, loaded: the previous data."""
    db = tmp_path / "cursor.duckdb"
    day = sim.team.today - timedelta(days=1)
    materialize_days(run_resources(sim, db), day, day, selection=DAILY_USAGE)
    return db, day


DAILY_USAGE = dg.AssetSelection.assets(raw.daily_usage)


def run_resources(sim, db, lock_timeout_seconds: float = 60.0):
    return {
        **resources(sim, db),
        "duckdb": WarehouseResource(database=str(db), lock_timeout_seconds=lock_timeout_seconds),
    }


@pytest.mark.parametrize("how", ["read_only", "attach"])
def test_a_run_waits_for_a_brief_reader_and_then_publishes(sim, loaded, how):
    db, day = loaded
    before = table_contents(db)
    sim.change_day(day)
    instance = dg.DagsterInstance.ephemeral()
    reader = hold_file(how, db)
    results = []
    try:
        with pytest.raises(duckdb.IOException, match="Conflicting lock"):
            duckdb.connect(str(db))  # DuckDB itself refuses a writer while a reader holds the file
        with waiting_for_the_lock() as waiting:
            run = threading.Thread(
                target=lambda: results.append(
                    materialize_days(
                        run_resources(sim, db), day, day, selection=DAILY_USAGE, instance=instance
                    )
                )
            )
            run.start()
            assert waiting.wait(timeout=180), "the run never reached the locked file"
            assert results == []  # still waiting: it publishes only once the reader lets go
            release(reader)
            run.join(timeout=180)
    finally:
        reader.kill()
        reader.wait()
    [result] = results
    assert result.success
    assert table_contents(db) != before
    assert (
        query(db, "SELECT count(*) FROM raw.daily_usage WHERE day = ?", [day])[0][0]
        == (sim.ground_truth(day)["daily_usage"]["rows"])
    )


@pytest.mark.parametrize("how", ["read_only", "attach"])
def test_a_reader_holding_the_file_too_long_fails_the_run_clearly_and_changes_nothing(sim, loaded, how):
    db, day = loaded
    before = table_contents(db)
    sim.change_day(day)
    reader = hold_file(how, db)  # never released: killed at the end
    try:
        result = materialize_days(
            run_resources(sim, db, lock_timeout_seconds=1.0), day, day,
            selection=DAILY_USAGE, raise_on_error=False,
        )  # fmt: skip
    finally:
        reader.kill()
        reader.wait()
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    assert error.cls_name == WarehouseLockedError.__name__
    assert f"(PID {reader.pid})" in error.message and "read-only and briefly" in error.message
    assert table_contents(db) == before

    # Once the reader is gone, the rerun publishes.
    assert materialize_days(run_resources(sim, db), day, day, selection=DAILY_USAGE).success
    assert table_contents(db) != before


def test_a_reader_opening_during_a_publish_waits_through_warehouse_connect(tmp_path):
    """What a notebook meets: DuckDB refuses a read-only open while a writer holds the file;
    warehouse.connect(read_only=True) waits for the writer instead, and then reads."""
    db = tmp_path / "cursor.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb\n"
         "conn = duckdb.connect(sys.argv[1]); conn.execute('CREATE TABLE t AS SELECT 42 AS x')\n"
         "print('holding', flush=True); sys.stdin.readline(); conn.close()\n"
         "print('released', flush=True); sys.stdin.readline()",
         str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    read = []
    try:
        assert writer.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.IOException, match="Conflicting lock"):
            duckdb.connect(str(db), read_only=True)
        with waiting_for_the_lock() as waiting:

            def notebook() -> None:
                with connect(str(db), read_only=True, lock_timeout_seconds=120) as conn:
                    read.append(conn.execute("SELECT x FROM t").fetchall())

            reader = threading.Thread(target=notebook)
            reader.start()
            assert waiting.wait(timeout=60), "the reader never waited for the writer"
            assert read == []
            release(writer)
            reader.join(timeout=120)
    finally:
        writer.kill()
        writer.wait()
    assert read == [[(42,)]]
