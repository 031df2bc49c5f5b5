"""README claims shown one by one (docs/claims.md maps each claim to its test): the sensor's
first tick on an empty file and its skip while DuckDB stays locked, schema migration of older
tables, the governance files' one error listing each problem, and metrics following a repaired
day through their trailing windows, and spend limits planned against a stale or older snapshot."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from cursor_analytics.cursor_api import CursorClient
from cursor_analytics.definitions import defs
from cursor_analytics.defs.freshness.sensors import METRIC_KEYS, build_stale_partitions_sensor
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.governance.blocklists import load_repo_blocklists
from cursor_analytics.governance.files import GovernanceFileError
from cursor_analytics.governance.spend_limits import load_spend_limits
from cursor_analytics.simulator import Simulator, Variants
from cursor_analytics.warehouse import Staging, Table, replace_days_from_sql
from cursor_analytics.warehouse.finality import StaleDataSettings
from cursor_analytics_tests.support import (
    NOW,
    TODAY,
    materialize_days,
    query,
    resources,
)
from cursor_analytics_tests.test_governance import LIMIT_PATH, SPEND_OP, audit_rows, run, take_snapshots

START, END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
RAW_ONLY = dg.AssetSelection.assets(*raw.partitioned_raw_assets)


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=7, users=6, days=20, minute_seconds=1.0, now=NOW) as simulator:
        yield simulator


def tick(res):
    sensor = build_stale_partitions_sensor(StaleDataSettings(), clock=lambda: NOW)
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources=res, definitions=defs
    )
    return sensor.evaluate_tick(context)


# ------------------------------------------------------------------ stale_partitions_sensor


def test_the_first_tick_on_an_empty_file_requests_the_whole_lookback_as_one_range_run(sim, tmp_path):
    db = tmp_path / "cursor.duckdb"  # a fresh install: no file yet
    result = tick(resources(sim, db))
    [request] = result.run_requests
    lookback = StaleDataSettings().lookback_days
    assert lookback == 7
    assert (request.tags[START], request.tags[END]) == (
        (TODAY - timedelta(days=7)).isoformat(),
        (TODAY - timedelta(days=1)).isoformat(),
    )
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {"raw/daily_usage", "raw/usage_events", "raw/ai_commits", "raw/ai_changes"} <= keys


def test_a_tick_skips_while_a_run_keeps_duckdb_locked(sim, tmp_path):
    db = tmp_path / "cursor.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb\n"
         "conn = duckdb.connect(sys.argv[1]); conn.execute('CREATE TABLE t AS SELECT 1 AS x')\n"
         "print('holding', flush=True); sys.stdin.readline()",
         str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        sim.reset_requests()
        result = tick(resources(sim, db))
    finally:
        holder.kill()
        holder.wait()
    assert not result.run_requests
    assert (
        result.skip_message
        == "DuckDB stayed locked by a running run: nothing compared; the next tick retries."
    )
    assert sim.request_count() == 0


# ------------------------------------------------------------------ schema migration


def test_an_older_table_gains_the_columns_a_newer_version_defines(tmp_path):
    """Raw tables (ensure_table) and derived tables (replace_days_from_sql) of an older version
    get the new columns by ALTER TABLE ... ADD COLUMN; their older rows read NULL there."""
    db = str(tmp_path / "cursor.duckdb")
    old = Table("raw", "things", {"day": "date", "n": "int"}, day_column="day")
    new = Table("raw", "things", {"day": "date", "n": "int", "label": "str"}, day_column="day")
    day, later = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    for table, rows, when in [
        (old, [{"day": day, "n": 1}], day),
        (new, [{"day": later, "n": 2, "label": "b"}], later),
    ]:
        with Staging([table]) as staging, duckdb.connect(db) as conn:
            staging.append(table, rows)
            staging.publish(conn, (when, when))
    assert query(tmp_path / "cursor.duckdb", "SELECT day, n, label FROM raw.things ORDER BY day") == [
        (day, 1, None),
        (later, 2, "b"),
    ]

    with duckdb.connect(db) as conn:
        replace_days_from_sql(
            conn,
            "analytics.things",
            "SELECT day, n FROM raw.things WHERE day BETWEEN $start AND $end",
            (day, day),
        )
        replace_days_from_sql(
            conn, "analytics.things",
            "SELECT day, n, label FROM raw.things WHERE day BETWEEN $start AND $end", (later, later),
        )  # fmt: skip
        assert conn.execute("SELECT day, n, label FROM analytics.things ORDER BY day").fetchall() == [
            (day, 1, None),
            (later, 2, "b"),
        ]


# ------------------------------------------------------------------ governance files


def test_a_spend_limits_file_with_several_problems_fails_with_one_error_listing_each(tmp_path):
    path = tmp_path / "spend_limits.yaml"
    path.write_text('default: "$50"\nroles:\n  member: -5\n  admin: 10\n')
    with pytest.raises(GovernanceFileError) as raised:
        load_spend_limits(path)
    assert str(raised.value) == (
        f"{path}: 3 problems\n"
        f"  {path}:1: default: must be whole dollars, got the text '$50': write 50 without quotes or $\n"
        f"  {path}:3: roles.member: must not be negative, got -5: use 0 for a $0 limit\n"
        f"  {path}:4: roles.admin: unknown role 'admin': the roles are owner, free-owner, member\n"
        "Nothing was applied: fix the file and plan again."
    )


def test_a_blocklists_file_with_bad_urls_names_each_with_the_fix(tmp_path):
    path = tmp_path / "repo_blocklists.yaml"
    path.write_text(
        "repos:\n"
        "  github.com/org/repo:\n    - '*.env'\n"
        "  https://github.com/org/repo?tab=1:\n    - '*.env'\n"
        "  https://github.com:\n    - '*.env'\n"
    )
    with pytest.raises(GovernanceFileError) as raised:
        load_repo_blocklists(path)
    lines = str(raised.value).splitlines()
    assert lines[0] == f"{path}: 3 problems"
    assert lines[1:] == [
        f"  {path}:2: repos.github.com/org/repo: 'github.com/org/repo' is not a repository URL: "
        "write it in full, e.g. https://github.com/org/repo",
        f"  {path}:4: repos.https://github.com/org/repo?tab=1: 'https://github.com/org/repo?tab=1' "
        "has a query or fragment: write the repository URL only",
        f"  {path}:6: repos.https://github.com: 'https://github.com' names a host, not a repository: "
        "add the repository path, e.g. https://github.com/org/repo",
        "Nothing was applied: fix the file and plan again.",
    ]


# ------------------------------------------------------------------ metrics follow repairs


@pytest.mark.timeout(600)  # 29 days of every daily asset
def test_a_repaired_day_is_followed_by_the_trailing_windows_that_hold_it_once_they_are_loaded(tmp_path):
    """metrics_automation_sensor: after a raw-only repair of day R, the day's metrics and the
    28-day windows holding R are re-derived, when every day of those windows is loaded (the
    windows of R and R + 1 here). test_sensors shows the other half: a window reaching days never
    loaded waits."""
    repaired = TODAY - timedelta(days=2)
    first, last = repaired - timedelta(days=27), repaired + timedelta(days=1)
    with Simulator(seed=7, users=4, days=40, minute_seconds=1.0, now=NOW) as small:
        res = resources(small, tmp_path / "cursor.duckdb")
        instance = dg.DagsterInstance.ephemeral()
        materialize_days(res, first, last, instance=instance)
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert before.total_requested == 0
        small.change_day(repaired)
        materialize_days(res, repaired, repaired, selection=RAW_ONLY, instance=instance)
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    requested = {
        key.to_user_string(): sorted(after.get_requested_partitions(key))
        for key in METRIC_KEYS
        if after.get_num_requested(key)
    }
    day = repaired.isoformat()
    assert requested == {
        "analytics/user_daily_metrics": [day],
        "analytics/team_daily_metrics": [day],
        "analytics/ai_code_share_daily": [day],
        "analytics/model_usage_daily": [day],
        "analytics/team_rolling_metrics": [day, last.isoformat()],
    }


# ------------------------------------------------------------------ spend limits at apply time


def test_an_apply_refreshes_a_stale_snapshot_and_writes_only_what_still_differs(tmp_path):
    with Simulator(seed=7, users=12, days=10, minute_seconds=1.0, now=NOW) as team:
        res, instance = resources(team, tmp_path / "cursor.duckdb"), dg.DagsterInstance.ephemeral()
        members = [m for m in team.team.member_list if not m.removed and m.role == "member"]
        first, second = members[0], members[1]
        path = tmp_path / "spend_limits.yaml"
        path.write_text(f"default: null\nusers:\n  {first.email}: 300\n  {second.email}: 300\n")
        take_snapshots(res, instance)
        stale = run("spend_limits_job", SPEND_OP, res, instance, path=str(path)).output_for_node(SPEND_OP)[
            "plan"
        ]
        assert {first.email, second.email} <= {c.email for c in stale.changes}

        # Someone sets one of the limits in Cursor's dashboard after the snapshot was taken.
        with CursorClient(team.api_key, base_url=team.base_url) as client:
            client.set_user_spend_limit(first.email, 300)
        team.reset_requests()
        run("spend_limits_job", SPEND_OP, res, instance, path=str(path), apply=True)
        writes = team.request_count(LIMIT_PATH)
        written = {row[1] for row in audit_rows(tmp_path / "cursor.duckdb")}
    assert first.email not in written and second.email in written
    assert writes == len(stale.changes) - 1 == len(written)


def test_an_older_spend_response_without_limits_plans_every_member_as_unknown(tmp_path):
    with Simulator(
        seed=7, users=12, days=10, minute_seconds=1.0, now=NOW, variants=Variants(legacy_spend=True)
    ) as team:
        res, instance = resources(team, tmp_path / "cursor.duckdb"), dg.DagsterInstance.ephemeral()
        path = tmp_path / "spend_limits.yaml"
        path.write_text("default: 100\n")
        take_snapshots(res, instance)
        planned = run("spend_limits_job", SPEND_OP, res, instance, path=str(path))
        current = {m.email for m in team.team.member_list if not m.removed}
    plan = planned.output_for_node(SPEND_OP)["plan"]
    assert {c.email for c in plan.changes} == current
    assert not any(c.before_known for c in plan.changes)
    assert plan.to_markdown().count("unknown (older API)") == len(current)
