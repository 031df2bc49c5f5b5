"""stale_partitions_sensor against the simulator: late data, missing days, range runs, the request
budget, finality moving from provisional to final, and metrics following raw data by themselves.

The simulator's clock is frozen at NOW (2025-03-14 12:00 UTC); loads take their "now" from the
`cursor_analytics/as_of` run tag and the sensor from the clock it is built with, so every moment
in these tests is explicit."""

import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from cursor_analytics.cursor_api import DatasetAccess
from cursor_analytics.definitions import defs
from cursor_analytics.defs.freshness.sensors import METRIC_KEYS, RAW_DATASETS, build_stale_partitions_sensor
from cursor_analytics.defs.ingestion import access
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.jobs import daily_assets
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse.finality import AS_OF_TAG, StaleDataSettings, as_of_tags
from cursor_analytics_tests.support import ALL_ASSETS, query, range_tags, resources

NOW = datetime(2025, 3, 14, 12, tzinfo=UTC)
WEEK = (date(2025, 3, 7), date(2025, 3, 13))  # the 7 completed days before NOW
RAW_ONLY = dg.AssetSelection.assets(*raw.partitioned_raw_assets)
START, END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def simulator() -> Simulator:
    return Simulator(seed=7, users=12, days=40, minute_seconds=1.0, today=NOW.date())


def load(res, first, last, as_of=NOW, selection=daily_assets, instance=None):
    """One range run of [first, last] as the schedule would make it at `as_of`."""
    return dg.materialize(
        ALL_ASSETS, selection=selection, resources=res, instance=instance,
        tags={**range_tags(first, last), **as_of_tags(as_of)},
    )  # fmt: skip


def tick(res, clock=NOW, cursor=None, instance=None, **settings):
    sensor = build_stale_partitions_sensor(StaleDataSettings(**settings), clock=lambda: clock)
    context = dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(), cursor=cursor, resources=res, definitions=defs
    )
    return sensor.evaluate_tick(context)


def run(request, res, instance=None):
    """Execute a sensor's RunRequest as the daemon would: its assets, its tags."""
    return dg.materialize(
        ALL_ASSETS, selection=request.asset_selection, resources=res, instance=instance, tags=request.tags
    )


def probed(db, at):
    """Record the daily access probe of every dataset the sensor probes (all readable) as made
    at `at`: probes count against a tick's request budget, so without this the first tick of a
    day spends nearly all of it on probes (30 datasets, budget 25) and compares almost nothing."""
    graph = defs.get_repository_def().asset_graph
    datasets = {*RAW_DATASETS.values(), *access.tagged_assets(graph).values()}
    with duckdb.connect(str(db)) as conn:
        access.record(conn, [DatasetAccess(d, True, 200) for d in sorted(datasets)], at, "probe")


def ranges(result):
    return sorted((r.tags[START], r.tags[END]) for r in result.run_requests)


@pytest.fixture(scope="module")
def settled_week(tmp_path_factory):
    """A week of raw data and metrics loaded two days before NOW (as_of 2025-03-12 12:00): the
    days up to 03-08 had settled by then (final); 03-09 .. 03-13 were provisional. Returns the
    simulator, the DuckDB file and the Dagster instance of the load."""
    with simulator() as sim:
        db = tmp_path_factory.mktemp("week") / "cursor.duckdb"
        instance = dg.DagsterInstance.ephemeral()
        load(resources(sim, db), *WEEK, as_of=NOW - timedelta(days=2), instance=instance)
        yield sim, db, instance


@pytest.fixture
def week(settled_week, tmp_path):
    """A private copy of the loaded week's DuckDB file, a simulator of its own serving the same
    seeded team (its request log and rate-limit windows fresh), and resources on both."""
    copy = tmp_path / "cursor.duckdb"
    shutil.copy(settled_week[1], copy)
    with simulator() as sim:
        yield sim, copy, resources(sim, copy)


def test_late_data_requests_exactly_the_changed_day_and_the_repair_equals_the_new_truth(
    settled_week, tmp_path
):
    db = tmp_path / "cursor.duckdb"
    shutil.copy(settled_week[1], db)
    clock, lookback = NOW - timedelta(days=2), 5  # the week as loaded, right after the load
    with simulator() as sim:  # the same seeded team, to change one of its days
        res = resources(sim, db)
        quiet = tick(res, clock=clock, lookback_days=lookback)
        assert not quiet.run_requests
        assert quiet.skip_message.startswith("Nothing stale in 2025-03-07..2025-03-11")

        changed = date(2025, 3, 10)
        sim.change_day(changed)
        result = tick(res, clock=clock, cursor=quiet.cursor, lookback_days=lookback)

        assert ranges(result) == [("2025-03-10", "2025-03-10")]
        request = result.run_requests[0]
        assert request.tags[AS_OF_TAG] == clock.isoformat()
        assert {k.to_user_string() for k in request.asset_selection} == {
            "raw/daily_usage", "raw/usage_events", "raw/ai_commits", "raw/ai_changes",
            "analytics/user_daily_metrics", "analytics/team_daily_metrics",
            "analytics/ai_code_share_daily", "analytics/model_usage_daily",
        }  # fmt: skip
        assert run(request, res).success

        truth = sim.ground_truth(changed)
        assert truth["revision"] == 1
        assert query(db, "SELECT count(*), sum(total_tabs_shown), sum(accepted_lines_added) FROM raw.daily_usage WHERE day = ?", [changed])[0] == (
            truth["daily_usage"]["rows"], truth["daily_usage"]["total_tabs_shown"], truth["daily_usage"]["accepted_lines_added"]
        )  # fmt: skip
        rows, charged = query(
            db, "SELECT count(*), sum(charged_cents) FROM raw.usage_events WHERE day = ?", [changed]
        )[0]
        assert rows == truth["usage_events"]["rows"]
        assert charged == pytest.approx(truth["usage_events"]["charged_cents"])
        assert (
            query(db, "SELECT count(*) FROM raw.ai_commits WHERE day = ?", [changed])[0][0]
            == truth["ai_commits"]["rows"]
        )
        assert (
            query(db, "SELECT count(*) FROM raw.ai_changes WHERE day = ?", [changed])[0][0]
            == truth["ai_changes"]["rows"]
        )
        # the metrics of the day follow in the same run
        usage = sim.team.daily_usage(changed)
        active = len({r["email"].lower() for r in usage if r["isActive"]})
        got = query(
            db,
            "SELECT active_users, tabs_shown, usage_events, billed_cents FROM analytics.team_daily_metrics WHERE day = ?",
            [changed],
        )[0]
        assert got[:3] == (active, truth["daily_usage"]["total_tabs_shown"], truth["usage_events"]["rows"])
        assert got[3] == pytest.approx(truth["usage_events"]["billed_cents"])
        # the other days were not touched
        assert query(db, "SELECT count(DISTINCT day) FROM raw.daily_usage")[0][0] == 7

        again = tick(res, clock=clock, cursor=result.cursor, lookback_days=lookback)
        assert not again.run_requests
        assert "Nothing stale" in again.skip_message


def test_a_missing_day_is_requested_and_two_adjacent_stale_days_become_one_range_run(tmp_path):
    db = tmp_path / "cursor.duckdb"
    with simulator() as sim:
        res = resources(sim, db)
        load(res, date(2025, 3, 7), date(2025, 3, 8), selection=RAW_ONLY)
        load(res, date(2025, 3, 10), date(2025, 3, 13), selection=RAW_ONLY)  # 03-09 never loaded
        sim.change_day(date(2025, 3, 11))
        sim.change_day(date(2025, 3, 12))
        probed(db, NOW - timedelta(hours=1))  # today's access probe was made an hour ago

        result = tick(res)

        assert ranges(result) == [("2025-03-09", "2025-03-09"), ("2025-03-11", "2025-03-12")]
        missing, stale = sorted(result.run_requests, key=lambda r: r.tags[START])
        assert {k.path[-1] for k in missing.asset_selection if k.path[0] == "raw"} == {
            "daily_usage",
            "usage_events",
            "ai_commits",
            "ai_changes",
            "audit_logs",
        }
        assert "missing" in missing.tags["cursor_analytics/reason"]
        assert "differs" in stale.tags["cursor_analytics/reason"]
        days = json.loads(result.cursor)["days"]
        assert days["2025-03-09"]["verdict"] == "missing"
        assert days["2025-03-11"]["verdict"] == days["2025-03-12"]["verdict"] == "differs"
        assert days["2025-03-10"]["verdict"] == "matches"

        for request in result.run_requests:
            assert run(request, res).success
        assert not tick(res, cursor=result.cursor).run_requests


def test_a_tick_stays_within_its_request_budget_counted_at_the_server(week):
    sim, db, res = week
    clock = NOW - timedelta(days=2)  # nothing to repair or finalize: only the reading is measured
    probed(db, clock - timedelta(hours=1))  # today's access probe was made an hour ago
    first = tick(res, clock=clock, request_budget=5, lookback_days=5)
    assert sim.request_count() == 5  # one ranged daily-usage call + 4 one-item counts
    assert sim.request_count("/teams/daily-usage-data") == 1
    assert not first.run_requests
    assert "Not compared in full this tick: 4 days (the request budget (5) is spent)" in first.skip_message

    compared = {d for d, v in json.loads(first.cursor)["days"].items() if "compared_at" in v}
    assert len(compared) == 1  # 3 counts for one day, 1 of the next
    sim.reset_requests()
    second = tick(res, clock=clock, cursor=first.cursor, request_budget=5, lookback_days=5)
    assert sim.request_count() == 5
    now_compared = {d for d, v in json.loads(second.cursor)["days"].items() if "compared_at" in v}
    assert compared < now_compared  # the next tick starts with the days not compared yet

    sim.reset_requests()  # a day later the access probes are due again: they share the budget
    later = clock + timedelta(days=1)
    tick(res, clock=later, cursor=second.cursor, request_budget=5, lookback_days=5)
    assert sim.request_count() == 5
    probes = "SELECT count(*) FROM meta.dataset_access WHERE probed_at = ?"
    assert query(db, probes, [later.replace(tzinfo=None)])[0][0] == 1  # a third of 5, at least one


def test_under_a_tight_budget_provisional_days_are_counted_before_final_ones(week):
    sim, db, res = week
    clock = NOW - timedelta(days=2)  # 03-07 and 03-08 are final, 03-09 .. 03-11 provisional
    probed(db, clock - timedelta(hours=1))
    # the last tick compared the provisional days an hour ago and the final days never: by age
    # alone the final days would come first
    recently = (clock - timedelta(hours=1)).isoformat()
    cursor = json.dumps(
        {"days": {d: {"verdict": "matches", "compared_at": recently} for d in ("2025-03-09", "2025-03-10", "2025-03-11")}}
    )  # fmt: skip

    result = tick(res, clock=clock, cursor=cursor, request_budget=10, lookback_days=5)

    assert sim.request_count() == 10  # one ranged daily-usage call + 3 counts for each of 3 days
    compared_now = {
        d for d, v in json.loads(result.cursor)["days"].items() if v.get("compared_at") == clock.isoformat()
    }
    assert compared_now == {"2025-03-09", "2025-03-10", "2025-03-11"}
    assert "Not compared in full this tick: 2 days" in result.skip_message


def test_the_sensor_waits_while_a_run_holds_duckdb_then_reads_it(week):
    sim, db, res = week
    holder = subprocess.Popen(  # another process (a run) writing the DuckDB file for a moment
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('locked', flush=True); time.sleep(1); c.close()"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = tick(res, clock=NOW - timedelta(days=2), lookback_days=5)
    finally:
        holder.wait(timeout=30)
    assert result.skip_message.startswith("Nothing stale in 2025-03-07..2025-03-11")


def test_finality_moves_from_provisional_to_final_as_the_clock_passes_the_settle_window(week):
    sim, db, res = week
    instance = dg.DagsterInstance.ephemeral()

    def finality():
        return dict(query(db, "SELECT day::VARCHAR, finality FROM analytics.team_daily_metrics ORDER BY day"))

    # loaded on 03-12 12:00: only the days that had settled then (3 days after their end) are final
    assert finality() == {
        "2025-03-07": "final", "2025-03-08": "final", "2025-03-09": "provisional",
        "2025-03-10": "provisional", "2025-03-11": "provisional", "2025-03-12": "provisional",
        "2025-03-13": "provisional",
    }  # fmt: skip

    # at NOW, 03-09 and 03-10 have settled and their fingerprints match: final, without re-fetching
    probed(db, NOW - timedelta(hours=1))  # today's access probe was made an hour ago
    result = tick(res, clock=NOW, instance=instance)
    assert ranges(result) == [("2025-03-09", "2025-03-10")]
    request = result.run_requests[0]
    assert set(request.asset_selection) == set(METRIC_KEYS)  # metrics only
    sent_by_tick = sim.request_count()
    assert run(request, res, instance).success
    assert sim.request_count() == sent_by_tick  # finalizing re-fetched nothing
    assert finality()["2025-03-09"] == finality()["2025-03-10"] == "final"
    assert finality()["2025-03-11"] == "provisional"
    assert query(
        db,
        "SELECT DISTINCT source FROM meta.partition_finality WHERE day = '2025-03-09' AND dataset <> 'audit_logs'",
    ) == [("fingerprint",)]
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            dg.AssetKey(["analytics", "team_daily_metrics"]), asset_partitions=["2025-03-09"]
        ),
        limit=1,
    ).records[0]
    assert record.asset_materialization.metadata["finality"].value == "final"

    # one minute before 03-11 settles nothing changes; at midnight it becomes final
    before = tick(res, clock=datetime(2025, 3, 14, 23, 59, tzinfo=UTC), cursor=result.cursor)
    assert not before.run_requests
    at = tick(res, clock=datetime(2025, 3, 15, 0, 0, tzinfo=UTC), cursor=before.cursor)
    finalize = [r for r in at.run_requests if r.tags["cursor_analytics/trigger"].endswith("finalize")]
    assert [(r.tags[START], r.tags[END]) for r in finalize] == [("2025-03-11", "2025-03-11")]
    assert run(finalize[0], res).success
    assert finality()["2025-03-11"] == "final"
    assert finality()["2025-03-12"] == "provisional"


def test_a_raw_only_repair_of_an_old_day_makes_automation_request_its_metric_partitions(settled_week, week):
    _, _, instance = settled_week  # where the week was materialized
    _, _, res = week
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0

    old = "2025-03-09"
    load(res, date(2025, 3, 9), date(2025, 3, 9), selection=RAW_ONLY, instance=instance)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)

    requested = {
        key.to_user_string(): result.get_requested_partitions(key)
        for key in METRIC_KEYS if result.get_num_requested(key)
    }  # fmt: skip
    assert requested == {
        "analytics/user_daily_metrics": {old},
        "analytics/team_daily_metrics": {old},
        "analytics/ai_code_share_daily": {old},
        "analytics/model_usage_daily": {old},
        # team_rolling_metrics waits: its 28-day window reaches days never loaded
    }
