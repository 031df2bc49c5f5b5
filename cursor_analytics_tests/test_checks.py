"""The asset checks on the raw tables: every check passes on data loaded from the simulator, and
fails (ERROR) or warns (WARN) on data built to violate it, including fields the simulator drops
or adds (schema drift)."""

import json
import shutil
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import httpx
import pytest

from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.ingestion import checks
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.defs.metrics import checks as metric_checks
from cursor_analytics.simulator import Simulator, Variants
from cursor_analytics_tests.support import (
    ALL_ASSETS,
    NOW,
    TODAY,
    materialize_snapshots,
    query,
    range_tags,
    resources,
)

# The simulator's clock stands at the suite's NOW, as does the code's (a spend snapshot is
# stamped with it), so the snapshot and the usage events describe the same moment. At the
# default NOW (2025-06-23) seed 7's billing cycle starts on the 18th: inside the history.
FIRST = TODAY - timedelta(days=9)  # the simulated history: 10 days, the whole billing cycle
DAY = TODAY - timedelta(days=1)  # the day the violations are built on
RAW_DAILY = dg.AssetSelection.assets(*raw.partitioned_raw_assets)
WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


def simulator(**kwargs) -> Simulator:
    return Simulator(seed=7, users=12, days=10, minute_seconds=1.0, now=NOW, **kwargs)


def load_days(res, first, last, selection=RAW_DAILY):
    dg.materialize(ALL_ASSETS, selection=selection, resources=res, tags=range_tags(first, last))


def run_checks(res, first=None, last=None):
    """Execute every check on the raw tables, over the days first..last (a partitioned run) or
    over the whole tables; returns {(table, check name): evaluation}."""
    result = dg.materialize(
        [*ALL_ASSETS, *checks.asset_checks],
        selection=dg.AssetSelection.checks(*checks.asset_checks),
        resources=res,
        tags=range_tags(first, last) if first else None,
        raise_on_error=False,  # a failed ERROR check is blocking: its step fails
    )
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def execute(db, *statements):
    with duckdb.connect(str(db)) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The simulated team's whole history and a spend snapshot, loaded as served."""
    with simulator() as sim:
        db = tmp_path_factory.mktemp("clean") / "cursor.duckdb"
        res = resources(sim, db)
        materialize_snapshots(res)  # taken first: the events loaded next cover it
        load_days(res, FIRST, TODAY)
        yield sim, db


@pytest.fixture
def copy(clean, tmp_path):
    sim, db = clean
    target = tmp_path / "cursor.duckdb"
    shutil.copy(db, target)
    return target, resources(sim, target)


def test_every_check_passes_on_the_data_the_simulator_served(copy):
    db, res = copy
    # the README's table of checks, written out: every raw table has a unique natural key and a
    # schema-drift check; the counters, row counts and spend have theirs
    every_raw_table = [
        "daily_usage", "usage_events", "ai_commits", "ai_changes", "audit_logs",
        "team_members", "spend_snapshots", "repo_blocklists",
    ]  # fmt: skip
    expected = {
        *((table, "unique_natural_key") for table in every_raw_table),
        *((table, "schema_drift") for table in every_raw_table),
        *(
            (table, "non_negative_counters")
            for table in ["daily_usage", "usage_events", "ai_commits", "ai_changes"]
        ),
        ("daily_usage", "accepted_not_above_shown"),
        ("daily_usage", "row_count_anomaly"),
        ("spend_snapshots", "spend_reconciliation"),
    }
    assert len(expected) == 23
    for window in [(DAY - timedelta(days=1), DAY), (None, None)]:
        evaluations = run_checks(res, *window)
        assert set(evaluations) == expected
        failed = {key: e.description for key, e in evaluations.items() if not e.passed}
        assert failed == {}, window
    spend = evaluations[("spend_snapshots", checks.SPEND_RECONCILIATION)]
    assert spend.metadata["billed_cents_from_events"].value == pytest.approx(
        spend.metadata["spend_cents"].value
    )
    assert spend.metadata["total_usage_cents_from_events"].value == pytest.approx(
        spend.metadata["overall_spend_cents"].value
    )
    # included usage carries cents: the two figures differ
    assert (
        0
        < spend.metadata["billed_cents_from_events"].value
        < spend.metadata["total_usage_cents_from_events"].value
    )


def test_each_check_fails_or_warns_on_data_built_to_violate_it(copy):
    db, res = copy
    day = DAY.isoformat()
    execute(
        db,
        # 8 of the day's 12 daily-usage rows lost: a row-count anomaly
        f"DELETE FROM raw.daily_usage WHERE day = '{day}' AND user_id IN "
        f"(SELECT user_id FROM raw.daily_usage WHERE day = '{day}' ORDER BY user_id LIMIT 8)",
        # a repeated natural key in daily usage, usage events and commits
        f"INSERT INTO raw.daily_usage SELECT * FROM raw.daily_usage WHERE day = '{day}' LIMIT 1",
        f"INSERT INTO raw.usage_events SELECT * FROM raw.usage_events WHERE day = '{day}' LIMIT 1",
        f"INSERT INTO raw.ai_commits SELECT * FROM raw.ai_commits WHERE day = '{day}' LIMIT 1",
        # counters below zero
        f"UPDATE raw.daily_usage SET chat_requests = -3 WHERE day = '{day}'",
        f"UPDATE raw.ai_changes SET total_lines_added = -1 WHERE day = '{day}'",
        # more tabs accepted than shown
        f"UPDATE raw.daily_usage SET total_tabs_accepted = total_tabs_shown + 5 WHERE day = '{day}'",
        # charges inflated over the billing cycle: summed chargedCents no longer match /teams/spend
        "UPDATE raw.usage_events SET charged_cents = charged_cents * 2 + 1 "
        'WHERE "timestamp" >= (SELECT max(subscription_cycle_start) FROM raw.spend_snapshots)',
    )

    rows = query(db, "SELECT count(*) FROM raw.daily_usage WHERE day = ?", [DAY])[0][0]
    evaluations = run_checks(res, DAY, DAY)
    failed = {key: (e.severity, e.description) for key, e in evaluations.items() if not e.passed}

    assert set(failed) == {
        ("daily_usage", checks.ROW_COUNT_ANOMALY),
        ("daily_usage", checks.UNIQUE_NATURAL_KEY),
        ("usage_events", checks.UNIQUE_NATURAL_KEY),
        ("ai_commits", checks.UNIQUE_NATURAL_KEY),
        ("daily_usage", checks.NON_NEGATIVE_COUNTERS),
        ("ai_changes", checks.NON_NEGATIVE_COUNTERS),
        ("daily_usage", checks.ACCEPTED_NOT_ABOVE_SHOWN),
        ("spend_snapshots", checks.SPEND_RECONCILIATION),
    }
    severity = {key: s for key, (s, _) in failed.items()}
    assert severity[("daily_usage", checks.ROW_COUNT_ANOMALY)] == WARN
    assert severity[("spend_snapshots", checks.SPEND_RECONCILIATION)] == WARN
    assert severity[("daily_usage", checks.UNIQUE_NATURAL_KEY)] == ERROR
    text = {key: d for key, (_, d) in failed.items()}
    assert text[("daily_usage", checks.ROW_COUNT_ANOMALY)].startswith(
        f"rows deviate from the median of the previous days by more than 50%: {day} ({rows} rows vs"
    )
    assert (
        "1 keys of (commit_hash, repo_name, created_at) repeat"
        in text[("ai_commits", checks.UNIQUE_NATURAL_KEY)]
    )
    assert f"chat_requests ({rows} rows)" in text[("daily_usage", checks.NON_NEGATIVE_COUNTERS)]
    assert (
        f"total_tabs_accepted > total_tabs_shown ({rows})"
        in text[("daily_usage", checks.ACCEPTED_NOT_ABOVE_SHOWN)]
    )
    assert "tolerance 2%" in text[("spend_snapshots", checks.SPEND_RECONCILIATION)]


class InflatingProxy:
    """Forwards every request to the simulator, but daily usage comes back with more tabs
    accepted than shown: data that fails `accepted_not_above_shown`, as served by an API."""

    def __init__(self, upstream: str) -> None:
        http = httpx.Client(base_url=upstream, timeout=30)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                keep = ("authorization", "content-type", "accept")
                headers = {k: v for k, v in self.headers.items() if k.lower() in keep}
                answer = http.request(self.command, self.path, headers=headers, content=body)
                out = answer.content
                if self.path.startswith("/teams/daily-usage-data") and answer.status_code == 200:
                    data = answer.json()
                    for row in data["data"]:
                        row["totalTabsAccepted"] = row["totalTabsShown"] + 5
                    out = json.dumps(data).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._http = http

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.close()


def test_a_metric_is_not_derived_from_a_raw_day_that_failed_an_error_check(clean, tmp_path):
    sim, _ = clean
    proxy = InflatingProxy(sim.base_url)
    db = tmp_path / "cursor.duckdb"
    try:
        result = dg.materialize(
            [*ALL_ASSETS, *checks.asset_checks],
            selection=dg.AssetSelection.assets(
                raw.daily_usage, raw.usage_events, metrics.user_daily_metrics
            ).without_checks()
            | dg.AssetSelection.checks_for_assets(raw.daily_usage)
            | dg.AssetSelection.checks(dg.AssetCheckKey(raw.usage_events.key, raw.ROWS_IN_WINDOW)),
            resources=resources(sim, db, base_url=proxy.base_url),
            tags=range_tags(DAY, DAY),
            raise_on_error=False,
        )
    finally:
        proxy.close()
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert (failed.check_name, failed.severity) == (checks.ACCEPTED_NOT_ABOVE_SHOWN, ERROR)
    assert not result.success
    # the raw day landed (the check is about it) but no metric was derived from it
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert raw.daily_usage.key in materialized
    assert metrics.user_daily_metrics.key not in materialized
    assert query(
        db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'user_daily_metrics'"
    ) == [(0,)]


def test_a_commit_hash_may_repeat_across_repositories_without_failing_uniqueness(copy):
    db, res = copy
    execute(
        db,
        "INSERT INTO raw.ai_commits SELECT * REPLACE ('other/repo' AS repo_name) "
        f"FROM raw.ai_commits WHERE day = '{DAY}' LIMIT 1",
    )
    evaluations = run_checks(res, DAY, DAY)
    assert evaluations[("ai_commits", checks.UNIQUE_NATURAL_KEY)].passed


def test_spend_cannot_be_reconciled_while_days_of_the_cycle_are_missing(clean, tmp_path):
    sim, _ = clean
    db = tmp_path / "cursor.duckdb"
    res = resources(sim, db)
    materialize_snapshots(res)
    cycle_start = sim.team.cycle_start
    assert FIRST < cycle_start < TODAY  # the fixed clock puts the cycle's start inside the history
    # every day of the cycle but its first
    load_days(res, cycle_start + timedelta(days=1), TODAY, dg.AssetSelection.assets(raw.usage_events))
    spend = run_checks(res)[("spend_snapshots", checks.SPEND_RECONCILIATION)]
    assert not spend.passed and spend.severity == WARN
    assert spend.description == (
        f"cannot reconcile: the usage events of 1 day of the cycle are not loaded "
        f"({cycle_start}..{cycle_start}); load them (cursor_daily_job)"
    )


def test_schema_drift_warns_with_the_names_of_new_and_vanished_fields(tmp_path):
    db = tmp_path / "cursor.duckdb"
    with simulator() as sim:
        res = resources(sim, db)
        usage = dg.AssetSelection.assets(raw.daily_usage, raw.usage_events, raw.team_members)
        load_days(res, DAY - timedelta(days=2), DAY - timedelta(days=1), usage)
        assert run_checks(res, DAY - timedelta(days=1), DAY - timedelta(days=1))[
            ("daily_usage", checks.SCHEMA_DRIFT)
        ].passed

        sim.variants = Variants(
            extra_fields={"usage_events": {"priorityTier": "fast"}, "team_members": {"seatType": "pro"}},
            dropped_fields={"daily_usage": ["totalTabsShown"]},
        )
        load_days(res, DAY, DAY, usage)
        evaluations = run_checks(res, DAY, DAY)

    daily, events = (
        evaluations[("daily_usage", checks.SCHEMA_DRIFT)],
        evaluations[("usage_events", checks.SCHEMA_DRIFT)],
    )
    assert not daily.passed and daily.severity == WARN
    assert "documented fields that stopped coming: totalTabsShown" in daily.description
    assert daily.metadata["stopped_fields"].value == "totalTabsShown"
    assert not events.passed and events.severity == WARN
    assert "fields the API sent that the client does not know: priorityTier" in events.description
    assert evaluations[("ai_commits", checks.SCHEMA_DRIFT)].passed


def test_schema_drift_compares_a_snapshot_with_the_ones_before_it(tmp_path):
    db = tmp_path / "cursor.duckdb"
    with simulator() as sim:
        res = resources(sim, db)
        members = dg.AssetSelection.assets(raw.team_members)
        dg.materialize(ALL_ASSETS, selection=members, resources=res)
        sim.variants = Variants(
            extra_fields={"team_members": {"seatType": "pro"}}, dropped_fields={"team_members": ["role"]}
        )
        dg.materialize(ALL_ASSETS, selection=members, resources=res)
        drift = run_checks(res)[("team_members", checks.SCHEMA_DRIFT)]
    assert not drift.passed
    assert "does not know: seatType" in drift.description and "stopped coming: role" in drift.description


# --- checks on the metric tables ---------------------------------------------------------------

METRIC_DAILY = dg.AssetSelection.assets(*metrics.partitioned_metric_assets)


def run_metric_checks(res, first, last):
    result = dg.materialize(
        [*ALL_ASSETS, metric_checks.metric_checks],
        selection=dg.AssetSelection.checks(metric_checks.metric_checks),
        resources=res,
        tags=range_tags(first, last),
        raise_on_error=False,
    )
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_metric_checks_pass_on_derived_metrics_and_count_each_violation(copy):
    db, res = copy
    first = DAY - timedelta(days=2)
    derived = dg.materialize(
        [*ALL_ASSETS, metric_checks.metric_checks],
        selection=METRIC_DAILY,
        resources=res,
        tags=range_tags(first, DAY),
    )
    evaluations = {(e.asset_key.path[-1], e.check_name): e for e in derived.get_asset_check_evaluations()}
    assert len(evaluations) == len(metric_checks.CHECKS)  # run with the metrics, in the same run
    assert all(e.passed for e in evaluations.values()), [e.description for e in evaluations.values()]
    assert (
        evaluations[("team_daily_metrics", metric_checks.RATES_WITHIN_BOUNDS)]
        .metadata["rate_columns_checked"]
        .value
        >= 3
    )

    day = DAY.isoformat()
    execute(
        db,
        f"UPDATE analytics.team_daily_metrics SET tab_acceptance_rate = 1.5 WHERE day = '{day}'",
        f"UPDATE analytics.model_usage_daily SET request_share = -0.1 WHERE day = '{day}'",
        f"UPDATE analytics.team_daily_metrics SET tabs_shown = tabs_shown + 1 WHERE day = '{day}'",
        f"DELETE FROM analytics.team_daily_metrics WHERE day = '{first}'",
    )
    evaluations = run_metric_checks(res, first, DAY)
    failed = {key: e for key, e in evaluations.items() if not e.passed}
    assert set(failed) == {
        ("team_daily_metrics", metric_checks.RATES_WITHIN_BOUNDS),
        ("model_usage_daily", metric_checks.RATES_WITHIN_BOUNDS),
        ("team_daily_metrics", metric_checks.TEAM_TOTALS_MATCH_USERS),
        ("team_rolling_metrics", metric_checks.NO_MISSING_DAYS_IN_WINDOW),
    }
    rates = failed[("team_daily_metrics", metric_checks.RATES_WITHIN_BOUNDS)]
    assert rates.metadata["rows_outside_bounds"].value == 1 and rates.severity == ERROR
    assert "tab_acceptance_rate (1 rows)" in rates.description
    totals = failed[("team_daily_metrics", metric_checks.TEAM_TOTALS_MATCH_USERS)]
    assert totals.metadata["mismatched_days"].value == 1 and day in totals.description
    missing = failed[("team_rolling_metrics", metric_checks.NO_MISSING_DAYS_IN_WINDOW)]
    assert missing.metadata["missing_days"].value == 1 and missing.severity == WARN
    assert str(first) in missing.description
