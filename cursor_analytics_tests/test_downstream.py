"""Building on cursor-analytics: the example downstream code location (examples/downstream) and
the table reference a downstream team reads (docs/tables.md, from cursor_analytics/ui/columns.py)."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster_duckdb import DuckDBResource

from cursor_analytics.definitions import defs
from cursor_analytics.ui import columns
from cursor_analytics_tests.support import query

REPO = Path(__file__).resolve().parents[1]
DOWNSTREAM = REPO / "examples" / "downstream"
REPORT = dg.AssetKey(["leadership", "weekly_cursor_report"])
TEAM_DAILY = dg.AssetKey(["analytics", "team_daily_metrics"])


def downstream(module: str):
    """A module of the example downstream package (examples/downstream, not installed)."""
    if str(DOWNSTREAM) not in sys.path:
        sys.path.insert(0, str(DOWNSTREAM))
    return importlib.import_module(f"leadership_reports.{module}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """`cursor-analytics demo --days 8` (always two ISO weeks or more) in a fresh folder, run from
    there as from a checkout: the DuckDB file is its default data/cursor.duckdb."""
    root = tmp_path_factory.mktemp("downstream")
    (root / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "cursor_analytics.cli", "demo", "--days", "8", "--users", "6"],
        cwd=root,
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "DAGSTER_"))}
    return {**env, "DAGSTER_HOME": str(root / "dagster_home")}


def test_workspace_lists_the_downstream_location_and_its_asset_depends_on_team_daily_metrics():
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    entries = {
        (e.get("python_module") or e.get("python_file"))["location_name"]: e for e in workspace["load_from"]
    }
    assert set(entries) == {"cursor_analytics", "leadership_reports"}
    target = entries["leadership_reports"]["python_file"]
    assert (REPO / target["relative_path"]).is_file() and (REPO / target["working_directory"]).is_dir()

    graph = downstream("definitions").defs.resolve_asset_graph()
    assert graph.get(REPORT).parent_keys == {TEAM_DAILY}
    assert TEAM_DAILY in defs.resolve_asset_graph().get_all_asset_keys()


def test_the_weekly_report_materializes_after_the_demo_and_matches_the_daily_metrics(demo):
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-f",
            str(DOWNSTREAM / "leadership_reports" / "definitions.py"),
            "-d",
            str(DOWNSTREAM),
            "--select",
            REPORT.to_user_string(),
        ],
        cwd=demo,
        env=_env(demo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    db = demo / "data" / "cursor.duckdb"
    daily = query(
        db,
        "SELECT day, active_users, tabs_accepted, tabs_shown, billed_cents "
        "FROM analytics.team_daily_metrics ORDER BY day",
    )
    weeks: dict = defaultdict(list)
    for row in daily:
        weeks[row[0] - timedelta(days=row[0].weekday())].append(row)
    report = query(
        db,
        "SELECT week_start, week_end, days_reported, complete_week, peak_daily_active_users, "
        "tab_acceptance_rate, spend_dollars FROM leadership.weekly_cursor_report ORDER BY week_start",
    )
    assert len(report) == len(weeks) >= 2
    for (start, end, days, complete, peak, tab_rate, spend), (monday, rows) in zip(
        report, sorted(weeks.items())
    ):
        assert (start, end) == (monday, monday + timedelta(days=6))
        assert days == len(rows) and complete == (len(rows) == 7)
        assert peak == max(r[1] for r in rows)
        shown = sum(r[3] for r in rows)
        assert tab_rate == pytest.approx(sum(r[2] for r in rows) / shown if shown else None)
        assert spend == pytest.approx(sum(r[4] for r in rows) / 100)

    instance = dg.DagsterInstance.from_config(str(demo / "dagster_home"))
    event = instance.get_latest_materialization_event(REPORT).asset_materialization
    assert event.metadata["dagster/row_count"].value == len(weeks)
    assert event.metadata["latest_week_start"].value == str(report[-1][0])
    assert {c.name for c in event.metadata["dagster/column_schema"].schema.columns} >= {
        "week_start",
        "tab_acceptance_rate",
        "spend_per_active_user_day_dollars",
    }


def test_week_over_week_compares_with_the_previous_iso_week_only(tmp_path):
    db = tmp_path / "cursor.duckdb"
    # three loaded weeks, the third one after a gap: tab acceptance 0.2, 0.3, (none), 0.6
    days = {"2025-06-02": (20, 100), "2025-06-09": (30, 100), "2025-06-23": (60, 100)}
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA analytics")
        conn.execute(
            "CREATE TABLE analytics.team_daily_metrics (day DATE, active_users BIGINT, "
            "tabs_accepted BIGINT, tabs_shown BIGINT, accepts BIGINT, rejects BIGINT, "
            "accepted_lines_added BIGINT, total_lines_added BIGINT, agent_requests BIGINT, "
            "billed_cents DOUBLE)"
        )
        for day, (accepted, shown) in days.items():
            conn.execute(
                "INSERT INTO analytics.team_daily_metrics VALUES (?, 3, ?, ?, 1, 1, 1, 2, 5, 100)",
                [day, accepted, shown],
            )
    result = dg.materialize(
        [downstream("assets").weekly_cursor_report], resources={"duckdb": DuckDBResource(database=str(db))}
    )
    assert result.success
    changes = query(
        db,
        "SELECT week_start::VARCHAR, tab_acceptance_rate_change FROM leadership.weekly_cursor_report "
        "ORDER BY week_start",
    )
    assert changes[0] == ("2025-06-02", None)  # no week before it
    assert changes[1][0] == "2025-06-09" and changes[1][1] == pytest.approx(0.1)
    assert changes[2] == ("2025-06-23", None)  # 06-16 is not loaded: nothing to compare with


def test_the_report_says_what_to_materialize_first_when_the_daily_metrics_are_missing(tmp_path):
    result = dg.materialize(
        [downstream("assets").weekly_cursor_report],
        resources={"duckdb": DuckDBResource(database=str(tmp_path / "empty.duckdb"))},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
    assert "analytics.team_daily_metrics does not exist" in message
    assert "materialize analytics/team_daily_metrics first" in message


def test_every_table_and_column_of_the_warehouse_is_described(demo):
    tables = query(
        demo / "data" / "cursor.duckdb",
        "SELECT table_schema || '.' || table_name, list(column_name ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_schema IN ('raw', 'analytics') GROUP BY 1",
    )
    assert len(tables) >= 15
    for fqn, names in tables:
        described = columns.describe(fqn)
        missing = [n for n in names if n not in described]
        stale = [n for n in described if n not in names]
        assert not missing, f"describe columns {missing} of {fqn} in cursor_analytics/ui/columns.py"
        assert not stale, f"{fqn} has no columns {stale}: remove them from cursor_analytics/ui/columns.py"
        assert all(described[n] for n in names), fqn


def test_docs_tables_md_is_the_generated_table_reference():
    assert (REPO / "docs" / "tables.md").read_text() == columns.tables_document(), (
        "docs/tables.md is out of date: python -m cursor_analytics.ui.columns > docs/tables.md"
    )
