"""The production profile, for real: the Dagster instance in PostgreSQL (deploy/dagster.yaml) and
the warehouse on DuckLake (catalog in PostgreSQL, Parquet files in a folder), against a
throwaway PostgreSQL server (cursor_analytics_tests/postgres.py).

- `cursor-analytics setup` + `cursor-analytics demo` end to end;
- three runs in separate processes at once, on overlapping assets and different days, while a
  reader keeps one connection open the whole time: nobody waits for a lock, no day is lost or
  doubled;
- the stale-data sensor reading DuckLake;
- the code location served by `dagster api grpc`, loaded by a separate webserver, and a backfill
  launched through the webserver's GraphQL API (as the UI does) run by `dagster-daemon`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from cursor_analytics.cursor_api.dates import NOW_ENV
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse import DATA_PATH_ENV, WarehousePathError, check_database_path, connect
from cursor_analytics_tests.postgres import PostgresServer, postgres_server  # noqa: F401
from cursor_analytics_tests.support import NOW
from cursor_analytics_tests.test_sensors import RAW_ONLY, load, ranges, run, simulator, tick

# Whole Dagster runs in subprocesses against PostgreSQL: allow for a loaded shared machine.
pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAW_TABLES = ["usage_events", "daily_usage", "ai_commits"]


@dataclass
class Profile:
    """A fresh PostgreSQL-backed Dagster home and a fresh DuckLake catalog (own databases)."""

    home: Path
    lake: str  # CURSOR_ANALYTICS_DB
    data_path: str  # CURSOR_ANALYTICS_DATA_PATH
    env: dict[str, str]  # everything a subprocess needs (no CURSOR_API_* yet)


@pytest.fixture
def profile(postgres_server: PostgresServer, tmp_path, monkeypatch, request) -> Profile:  # noqa: F811
    name = request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    dagster_db = postgres_server.create_database(f"dagster_{name}")
    lake_db = postgres_server.create_database(f"lake_{name}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    lake = f"ducklake:postgres:{lake_db.dsn}"
    data_path = str(tmp_path / "lake") + "/"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "DAGSTER_"))},
        **dagster_db.dagster_env(),
        "DAGSTER_HOME": str(home),
        "CURSOR_ANALYTICS_DB": lake,
        DATA_PATH_ENV: data_path,
        NOW_ENV: NOW.isoformat(),  # the demo's today is the suite's, not the calendar's
    }
    for key in ("DAGSTER_HOME", "CURSOR_ANALYTICS_DB", DATA_PATH_ENV, *dagster_db.dagster_env()):
        monkeypatch.setenv(key, env[key])
    return Profile(home, lake, data_path, env)


def cli(profile: Profile, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(BIN / "cursor-analytics"), *args],
        cwd=profile.home.parent,
        env=profile.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def day_counts(conn, table: str) -> dict[date, int]:
    return dict(conn.execute(f"SELECT day, count(*) FROM raw.{table} GROUP BY day").fetchall())


def test_a_password_in_the_lake_connection_string_is_refused_before_it_can_leak():
    with pytest.raises(WarehousePathError, match="PGPASSWORD") as error:
        check_database_path("ducklake:postgres:host=db user=lake password=s3cret dbname=lake")
    assert "s3cret" not in str(error.value)


def test_setup_and_demo_run_end_to_end_on_postgres_and_ducklake(profile):
    out = cli(profile, "setup")
    assert "pools ready" in out and "cursor_api_usage_events" in out and "DuckLake catalog ready" in out

    out = cli(profile, "demo", "--days", "2", "--users", "5")

    assert "succeeded" in out and "Cursor usage" in out, out
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS] * 2
    with connect(profile.lake, read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT day) FROM analytics.team_daily_metrics").fetchone()[0] == 2
    assert list(Path(profile.data_path).rglob("*.parquet")), "no data files under the DATA_PATH"


CHILD = """
import json, sys
import dagster as dg
from datetime import date
from cursor_analytics.definitions import defs
from cursor_analytics.defs.partitions import range_tags
from cursor_analytics.defs.resources import run_config_from_env
args = json.loads(sys.argv[1])
result = defs.resolve_job_def("cursor_daily_job").execute_in_process(
    run_config=run_config_from_env(rate_limit_window_seconds=1.0, backoff_base_seconds=0.01),
    instance=dg.DagsterInstance.get(),
    tags=range_tags(date.fromisoformat(args["start"]), date.fromisoformat(args["end"])),
    asset_selection=[dg.AssetKey.from_user_string(a) for a in args["assets"]] if args["assets"] else None,
)
"""


def test_three_parallel_runs_and_a_reader_holding_its_connection_share_the_lake(profile):
    # No pools here (the shipped instance admits one step per endpoint and one DuckDB step at a
    # time): the three runs' steps then write the same tables at the same moments, the hardest
    # case for DuckLake's optimistic commits.
    instance_file = profile.home / "dagster.yaml"
    settings = yaml.safe_load(instance_file.read_text())
    del settings["concurrency"]["pools"]
    instance_file.write_text(yaml.safe_dump(settings))
    cli(profile, "setup")  # the catalog (and the instance's tables), once, before the parallel runs
    with Simulator(seed=31, users=8, days=30, minute_seconds=1.0) as sim:
        end = sim.team.today - timedelta(days=1)
        days = [end - timedelta(days=i) for i in range(6)][::-1]
        truth = {t: {d: sim.ground_truth(d)[t]["rows"] for d in days} for t in RAW_TABLES}
        # Overlapping assets, different days (with the checks of the raw assets).
        plans = [
            (days[0], days[1], ["raw/usage_events", "raw/daily_usage", "analytics/user_daily_metrics"]),
            (days[2], days[3], ["raw/usage_events", "raw/daily_usage", "analytics/user_daily_metrics"]),
            (days[4], days[5], ["raw/usage_events", "raw/ai_commits"]),
        ]
        env = {**profile.env, "CURSOR_API_KEY": sim.api_key, "CURSOR_API_BASE_URL": sim.base_url}

        # A BI tool's connection, opened before the runs and kept open until after them.
        reader = connect(profile.lake, read_only=True)
        seen: list[dict[date, int]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                if reader.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'usage_events'"
                ).fetchone()[0]:
                    seen.append(day_counts(reader, "usage_events"))
                stop.wait(0.2)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        logs = [profile.home / f"run-{i}.log" for i in range(3)]
        children = []
        for (first, last, assets), log in zip(plans, logs):
            args = json.dumps({"start": first.isoformat(), "end": last.isoformat(), "assets": assets})
            with log.open("w") as out:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", CHILD, args], env=env, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        try:
            codes = [child.wait(timeout=400) for child in children]
        finally:
            stop.set()
            watcher.join(timeout=30)
            for child in children:
                if child.poll() is None:
                    child.kill()
        output = "\n".join(log.read_text()[-3000:] for log in logs)
        assert codes == [0, 0, 0], output
        assert "waiting up to" not in output  # nobody waited for a file lock

        # The reader's connection, open all along, sees every day exactly once...
        loaded = {"usage_events": days, "daily_usage": days[:4], "ai_commits": days[4:]}
        for table, its_days in loaded.items():
            counts = day_counts(reader, table)
            assert counts == {d: truth[table][d] for d in its_days if truth[table][d]}, table
        metric_days = reader.execute(
            "SELECT DISTINCT day FROM analytics.user_daily_metrics ORDER BY 1"
        ).fetchall()
        assert [d for (d,) in metric_days] == days[:4]
        reader.close()
    # ...and while the runs wrote it never saw a day half loaded.
    assert seen, "the reader never got a look in while the runs wrote"
    for snapshot in seen:
        assert all(count == truth["usage_events"][day] for day, count in snapshot.items()), snapshot

    instance = dg.DagsterInstance.get()
    assert len(instance.get_runs()) == 3
    for table, its_days in loaded.items():
        key = dg.AssetKey(["raw", table])
        assert instance.get_materialized_partitions(key) == {d.isoformat() for d in its_days}, key


def test_the_stale_sensor_reads_the_lake_and_repairs_a_changed_day(profile):
    from cursor_analytics_tests.support import resources

    instance = dg.DagsterInstance.get()
    with simulator() as sim:
        res = resources(sim, profile.lake)
        load(res, date(2025, 3, 7), date(2025, 3, 13), selection=RAW_ONLY, instance=instance)
        sim.change_day(date(2025, 3, 12))  # late data for one day

        result = tick(res, instance=instance)

        assert ranges(result) == [("2025-03-12", "2025-03-12")]
        assert run(result.run_requests[0], res, instance=instance).success
        assert not tick(res, cursor=result.cursor, instance=instance).run_requests


# ------------------------------------------------- the code location as a separate gRPC server


LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
LAUNCH = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack }
  ... on InvalidSubsetError { message } ... on UnauthorizedError { message } } }
"""
BACKFILL = "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Long-running subprocesses, each in its own process group, stopped at teardown."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    return answer.json()["data"]


def wait_until(condition, what: str, logs: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    pytest.fail(f"{what} not within {timeout:.0f} s:\n" + "\n".join(log.read_text()[-2000:] for log in logs))


def test_a_webserver_loads_the_grpc_code_location_and_a_ui_backfill_runs_through_the_daemon(
    profile, processes
):
    cli(profile, "setup")
    grpc_port, web_port = _free_port(), _free_port()
    workspace = profile.home / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        "      location_name: cursor_analytics\n"
    )
    with Simulator(seed=5, users=4, days=20, rate_limits=False) as sim:
        env = {**profile.env, "CURSOR_API_KEY": sim.api_key, "CURSOR_API_BASE_URL": sim.base_url}
        root = profile.home.parent
        commands = {
            # the code location's pod: the only process that imports cursor_analytics' definitions
            "grpc": ["dagster", "api", "grpc", "-m", "cursor_analytics.definitions", "-h", "127.0.0.1",
                     "-p", str(grpc_port)],
            "webserver": ["dagster-webserver", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(web_port)],
            "daemon": ["dagster-daemon", "run", "-w", str(workspace)],
        }  # fmt: skip
        logs = []
        for name, command in commands.items():
            log = root / f"{name}.log"
            logs.append(log)
            with log.open("w") as out:
                processes.append(
                    subprocess.Popen(
                        [str(BIN / command[0]), *command[1:]],
                        cwd=root,  # not the repository: the webserver and daemon need no project code
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            if name == "grpc":  # as a readiness probe would: the others start once it serves
                wait_until(
                    lambda log=log: "Started Dagster code server" in log.read_text(), "grpc", logs, 120
                )
        url = f"http://127.0.0.1:{web_port}"

        def loaded() -> bool:
            try:
                entries = graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                return False
            return [(e["name"], e["loadStatus"]) for e in entries] == [("cursor_analytics", "LOADED")]

        wait_until(loaded, "the webserver loading the gRPC code location", logs, timeout=120)

        days = [sim.team.today - timedelta(days=i) for i in (2, 1)]
        keys = [dg.AssetKey(["raw", "usage_events"]), dg.AssetKey(["raw", "daily_usage"])]
        params = {
            "partitionNames": [d.isoformat() for d in days],
            "assetSelection": [{"path": list(k.path)} for k in sorted(keys)],
            "fromFailure": False,
        }
        launched = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def status() -> str:
            return graphql(url, BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"]

        wait_until(lambda: status() not in ("REQUESTED", "CANCELING", "FAILING"), "the backfill", logs, 600)
        assert status() in ("COMPLETED", "COMPLETED_SUCCESS"), "\n".join(
            log.read_text()[-3000:] for log in logs
        )

        with connect(profile.lake, read_only=True) as conn:
            counts = day_counts(conn, "usage_events")
            assert {d: counts.get(d, 0) for d in days} == {
                d: sim.ground_truth(d)["usage_events"]["rows"] for d in days
            }
            assert set(days) <= {
                d for (d,) in conn.execute("SELECT DISTINCT day FROM raw.daily_usage").fetchall()
            }


def test_a_write_that_loses_a_commit_race_is_retried_whole_and_no_day_is_lost_or_doubled(profile):
    """Two processes replacing different days of one DuckLake table: the second commit conflicts
    (DuckLake's commits are optimistic) and `run_transaction` runs it again from BEGIN."""
    from cursor_analytics.warehouse import run_transaction

    with connect(profile.lake) as mine, connect(profile.lake) as theirs:
        mine.execute("CREATE SCHEMA raw")
        mine.execute(
            "CREATE TABLE raw.days AS SELECT DATE '2025-03-01' + i::INT AS day, i FROM range(4) t(i)"
        )
        attempts = []

        def replace_day_2() -> None:
            theirs.execute("DELETE FROM raw.days WHERE day = DATE '2025-03-02'")
            theirs.execute("INSERT INTO raw.days VALUES (DATE '2025-03-02', 20)")

        def replace_day_3() -> None:
            attempts.append(1)
            mine.execute("DELETE FROM raw.days WHERE day = DATE '2025-03-03'")
            mine.execute("INSERT INTO raw.days VALUES (DATE '2025-03-03', 30)")
            if len(attempts) == 1:  # meanwhile another process replaces day 2 and commits first
                run_transaction(theirs, replace_day_2)

        run_transaction(mine, replace_day_3)

        assert len(attempts) == 2
        assert mine.execute("SELECT day(day), i FROM raw.days ORDER BY day").fetchall() == [
            (1, 0),
            (2, 20),
            (3, 30),
            (4, 3),
        ]
