"""Schedules, freshness policies and the stale-data settings: what runs out of the box, when,
over which days, and how the daily pull finalizes the day that just settled."""

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from cursor_analytics.definitions import defs
from cursor_analytics.defs.freshness.automation import METRICS_FOLLOW_RAW
from cursor_analytics.defs.freshness.schedules import build_daily_schedule
from cursor_analytics.defs.jobs import daily_assets
from cursor_analytics.defs.partitions import daily_partitions
from cursor_analytics.defs.resources import CursorApiResource
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse.finality import AS_OF_TAG, ENV, StaleDataSettings
from cursor_analytics_tests.support import ALL_ASSETS, query, resources

TICK = datetime(2025, 3, 14, 1, 30, tzinfo=UTC)
START, END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def tick(schedule: dg.ScheduleDefinition, at: datetime, db: Path | None = None):
    """Evaluate `schedule` at `at` against the DuckDB file `db` (default: none yet)."""
    duckdb = DuckDBResource(database=str(db or Path("/nonexistent/cursor.duckdb")))
    cursor_api = CursorApiResource(api_key="crsr_" + "0" * 48)
    return schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=at, resources={"duckdb": duckdb, "cursor_api": cursor_api}
        )
    )


def evaluate(schedule: dg.ScheduleDefinition, at: datetime, db: Path | None = None) -> dg.RunRequest:
    requests = tick(schedule, at, db).run_requests
    assert len(requests) == 1
    return requests[0]


def test_the_daily_schedule_pulls_yesterday_and_re_pulls_the_settle_window():
    request = evaluate(defs.resolve_schedule_def("cursor_daily_schedule"), TICK)
    assert (request.tags[START], request.tags[END]) == ("2025-03-10", "2025-03-13")  # 3 settle days
    assert request.tags[AS_OF_TAG] == TICK.isoformat()
    assert request.run_key == "daily:2025-03-13"

    shorter = evaluate(build_daily_schedule(StaleDataSettings(settle_days=1, lookback_days=2)), TICK)
    assert (shorter.tags[START], shorter.tags[END]) == ("2025-03-12", "2025-03-13")


def test_the_daily_run_makes_final_the_day_whose_settle_window_just_ended(tmp_path):
    db = tmp_path / "cursor.duckdb"
    request = evaluate(defs.resolve_schedule_def("cursor_daily_schedule"), TICK)
    with Simulator(seed=3, users=8, days=20, minute_seconds=1.0, today=TICK.date()) as sim:
        result = dg.materialize(
            ALL_ASSETS, selection=daily_assets, resources=resources(sim, db), tags=request.tags
        )
    assert result.success
    # 03-10 ended 2025-03-11 00:00; three days later, at 03-14 00:00, it settled: this pull is final
    assert query(db, "SELECT day::VARCHAR, finality FROM analytics.user_daily_metrics GROUP BY ALL ORDER BY 1") == [
        ("2025-03-10", "final"), ("2025-03-11", "provisional"),
        ("2025-03-12", "provisional"), ("2025-03-13", "provisional"),
    ]  # fmt: skip
    # each day's materialization says its own finality; the range's is shared by all four
    by_day = {m.partition: m.metadata for m in result.asset_materializations_for_node("raw__daily_usage")}
    assert {day: metadata["finality"].value for day, metadata in by_day.items()} == {
        "2025-03-10": "final", "2025-03-11": "provisional",
        "2025-03-12": "provisional", "2025-03-13": "provisional",
    }  # fmt: skip
    assert {metadata["range_finality"].value for metadata in by_day.values()} == {
        "mixed: 1 of 4 days final; provisional: 2025-03-11, 2025-03-12, 2025-03-13"
    }

    # evaluated again, the schedule does not fetch the day that is final now
    again = evaluate(defs.resolve_schedule_def("cursor_daily_schedule"), TICK, db)
    assert (again.tags[START], again.tags[END]) == ("2025-03-11", "2025-03-13")


def test_the_snapshot_schedule_refreshes_members_spend_and_blocklists_hourly():
    schedule = defs.resolve_schedule_def("cursor_snapshot_schedule")
    assert schedule.cron_schedule == "5 * * * *"
    assert schedule.job_name == "cursor_snapshot_job"
    job = defs.resolve_job_def("cursor_snapshot_job")
    assert {"raw/team_members", "raw/spend_snapshots", "raw/repo_blocklists"} <= {
        key.to_user_string() for key in job.asset_layer.executable_asset_keys
    }


def test_everything_that_should_run_out_of_the_box_ships_running():
    running = dg.DefaultScheduleStatus.RUNNING, dg.DefaultSensorStatus.RUNNING
    stopped = dg.DefaultScheduleStatus.STOPPED  # the Analytics API needs an Enterprise key: opt in
    assert {s.name: s.default_status for s in defs.schedules} == {
        "cursor_daily_schedule": running[0], "cursor_snapshot_schedule": running[0],
        "cursor_analytics_api_schedule": stopped, "cursor_analytics_api_snapshot_schedule": stopped,
    }  # fmt: skip
    statuses = {s.name: s.default_status for s in defs.sensors}
    for name in ("stale_partitions_sensor", "freshness_alert_sensor", "metrics_automation_sensor"):
        assert statuses[name] == running[1], name


def test_the_daily_schedule_runs_at_01_30_utc():
    schedule = defs.resolve_schedule_def("cursor_daily_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 1 * * *", "UTC")
    assert schedule.job_name == "cursor_daily_job"


# The README's policies, written out: daily assets due by 04:00 UTC, materialized after 01:00
# (a 3-hour window); snapshots WARN after 2 hours and FAIL after 3.
README_DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 4 * * *", lower_bound_delta=timedelta(hours=3), timezone="UTC"
)
README_SNAPSHOT_FRESHNESS = dg.FreshnessPolicy.time_window(
    warn_window=timedelta(hours=2), fail_window=timedelta(hours=3)
)


def test_every_raw_and_metric_asset_has_a_freshness_policy_and_partitioned_metrics_follow_raw():
    graph = defs.resolve_asset_graph()
    seen = {"daily": 0, "snapshot": 0}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] not in ("raw", "analytics"):
            continue
        partitioned = node.partitions_def is not None
        seen["daily" if partitioned else "snapshot"] += 1
        assert node.freshness_policy == (
            README_DAILY_FRESHNESS if partitioned else README_SNAPSHOT_FRESHNESS
        ), key
        if partitioned and key.path[0] == "analytics":
            assert node.automation_condition == METRICS_FOLLOW_RAW, key
        if key.path[0] == "raw":
            assert node.automation_condition is None, key  # raw data is pulled by schedule and sensor only
    assert seen["daily"] >= 10 and seen["snapshot"] >= 5  # 5 raw + 5 metrics; 3 raw + 2 metrics


def test_stale_data_settings_come_from_documented_environment_variables():
    settings = StaleDataSettings.from_env(
        {ENV["settle_days"]: "2", ENV["lookback_days"]: "10", ENV["request_budget"]: "40",
         ENV["webhook_url"]: "https://hooks.example.com/T000/B000/secret", ENV["spend_tolerance_pct"]: "0.5"}
    )  # fmt: skip
    assert (settings.settle_days, settings.lookback_days, settings.request_budget) == (2, 10, 40)
    assert settings.spend_tolerance_pct == 0.5
    assert "secret" not in repr(settings)
    assert StaleDataSettings.from_env({}) == StaleDataSettings()
    assert StaleDataSettings().settle_days == 3
    # a longer settle window lengthens the default lookback with it
    assert StaleDataSettings.from_env({ENV["settle_days"]: "9"}).lookback_days == 10


@pytest.mark.parametrize(
    "environ, message",
    [
        ({ENV["settle_days"]: "three"}, "CURSOR_ANALYTICS_SETTLE_DAYS='three' is not an integer"),
        ({ENV["settle_days"]: "7", ENV["lookback_days"]: "7"}, "CURSOR_ANALYTICS_LOOKBACK_DAYS=7 is below 8"),
        ({ENV["lookback_days"]: "45"}, "CURSOR_ANALYTICS_LOOKBACK_DAYS=45 is more than 30"),
        ({ENV["request_budget"]: "0"}, "CURSOR_ANALYTICS_SENSOR_REQUEST_BUDGET=0 is below 1"),
        (
            {ENV["webhook_url"]: "hooks.slack.com/x"},
            "CURSOR_ANALYTICS_ALERT_WEBHOOK_URL is not an http(s) URL",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_variable_and_the_fix(environ, message):
    with pytest.raises(ValueError) as raised:
        StaleDataSettings.from_env(environ)
    assert message in str(raised.value)
    assert "hooks.slack.com/x" not in str(raised.value)


def test_the_settle_window_never_starts_before_the_first_partition():
    first = daily_partitions.start.date()
    schedule = defs.resolve_schedule_def("cursor_daily_schedule")
    at_first_tick = datetime.combine(first, time(1, 30), tzinfo=UTC)
    skipped = tick(schedule, at_first_tick)
    assert not skipped.run_requests
    assert f"No completed UTC day since the first partition ({first}) yet" in skipped.skip_message

    request = evaluate(schedule, at_first_tick + timedelta(days=2))
    assert (request.tags[START], request.tags[END]) == (
        first.isoformat(),
        (first + timedelta(days=1)).isoformat(),
    )
