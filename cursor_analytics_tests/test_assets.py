"""The asset graph end to end: Dagster materializations against the simulator over loopback,
landing in a real DuckDB file, compared with what the simulator served."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from cursor_analytics.cursor_api import BY_USER_METRICS, TEAM_METRICS, analytics_record_type
from cursor_analytics.definitions import defs
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.simulator import Simulator
from cursor_analytics_tests.support import (
    NOW,
    materialize_days,
    materialize_snapshots,
    query,
    resources,
    table_contents,
)

RAW_PARTITIONED = ["daily_usage", "usage_events", "ai_commits", "ai_changes", "audit_logs"]
RAW_SNAPSHOTS = ["team_members", "spend_snapshots", "repo_blocklists"]
# The Analytics API (test_analytics_api.py): raw.analytics_<metric>, raw.analytics_by_user_<metric>
RAW_ANALYTICS_API = [
    *(analytics_record_type(m) for m in TEAM_METRICS),
    *(analytics_record_type(m, by_user=True) for m in BY_USER_METRICS),
    "billing_groups",
]
METRICS = [
    "user_daily_metrics",
    "team_daily_metrics",
    "team_rolling_metrics",
    "ai_code_share_daily",
    "model_usage_daily",
    "spend_per_user",
    "seat_utilization",
    "spend_budget",
    "agent_acceptance_daily",
    "feature_adoption_daily",
    "active_users_daily",
]


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=11, users=12, days=90, minute_seconds=1.0, now=NOW) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def three_days(sim, tmp_path_factory):
    """Three past days of everything, materialized once for the tests of this module."""
    db = tmp_path_factory.mktemp("three_days") / "cursor.duckdb"
    end = sim.team.today - timedelta(days=2)
    start = end - timedelta(days=2)
    res = resources(sim, db)
    materialize_days(res, start, end)
    materialize_snapshots(res)
    return db, start, end, res


def test_definitions_load_with_every_asset_and_lineage_from_raw_to_metrics():
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    raw_names = RAW_PARTITIONED + RAW_SNAPSHOTS + RAW_ANALYTICS_API
    assert keys == {f"raw/{n}" for n in raw_names} | {f"analytics/{n}" for n in METRICS}
    for name in METRICS:
        upstream = {k.to_user_string() for k in graph.upstream_key_iterator(dg.AssetKey(["analytics", name]))}
        assert upstream, name
        assert upstream <= keys
    assert graph.get(dg.AssetKey(["analytics", "team_daily_metrics"])).parent_keys == {
        dg.AssetKey(["analytics", "user_daily_metrics"]),
        dg.AssetKey(["raw", "analytics_agent_edits"]),  # line_acceptance_rate (Analytics API)
    }
    assert (
        dg.AssetKey(["raw", "usage_events"])
        in graph.get(dg.AssetKey(["analytics", "user_daily_metrics"])).parent_keys
    )


def test_dg_check_defs_loads_the_code_location_from_pyproject():
    repo = Path(__file__).resolve().parents[1]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "VIRTUAL_ENV": str(bin_dir.parent), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(bin_dir / "dg"), "check", "defs"], cwd=repo, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_three_days_land_exactly_what_the_simulator_served(sim, three_days):
    db, start, end, _ = three_days
    day = start
    while day <= end:
        truth = sim.ground_truth(day)
        du = truth["daily_usage"]
        (rows, tabs, accepts, lines) = query(
            db,
            "SELECT count(*), sum(total_tabs_shown), sum(total_accepts), sum(accepted_lines_added) "
            "FROM raw.daily_usage WHERE day = ?",
            [day],
        )[0]
        assert (rows, tabs, accepts, lines) == (
            du["unpaged_rows"],
            du["total_tabs_shown"],
            du["total_accepts"],
            du["accepted_lines_added"],
        )
        ev = truth["usage_events"]
        (rows, charged, costs, tokens) = query(
            db,
            "SELECT count(*), sum(charged_cents), sum(requests_costs), sum(input_tokens) "
            "FROM raw.usage_events WHERE day = ?",
            [day],
        )[0]
        assert rows == ev["rows"]
        assert charged == pytest.approx(ev["charged_cents"])
        assert costs == pytest.approx(ev["requests_costs"])
        assert tokens == ev["input_tokens"]
        co = truth["ai_commits"]
        assert query(
            db,
            "SELECT count(*), coalesce(sum(tab_lines_added), 0), coalesce(sum(composer_lines_added), 0) "
            "FROM raw.ai_commits WHERE day = ?",
            [day],
        )[0] == (co["rows"], co["tab_lines_added"], co["composer_lines_added"])
        ch = truth["ai_changes"]
        assert query(
            db,
            "SELECT count(*), coalesce(sum(total_lines_added), 0) FROM raw.ai_changes WHERE day = ?",
            [day],
        )[0] == (ch["rows"], ch["total_lines_added"])
        assert query(db, "SELECT count(*) FROM raw.ai_change_files WHERE day = ?", [day])[0][0] == ch["files"]
        assert (
            query(db, "SELECT count(*) FROM raw.audit_logs WHERE day = ?", [day])[0][0]
            == truth["audit_logs"]["rows"]
        )
        day += timedelta(days=1)
    assert query(db, "SELECT count(*) FROM raw.team_members")[0][0] == len(sim.team.members())
    assert query(db, "SELECT count(*) FROM raw.spend_snapshots")[0][0] == len(sim.team.spend_rows())


def test_a_range_run_gives_each_day_its_own_rows_rates_spend_and_finality(sim, tmp_path):
    db = tmp_path / "cursor.duckdb"
    end = sim.team.today - timedelta(days=2)
    start = end - timedelta(days=2)
    selection = dg.AssetSelection.assets(
        raw.daily_usage, raw.usage_events, metrics.user_daily_metrics, metrics.team_daily_metrics
    )
    result = materialize_days(resources(sim, db), start, end, selection)
    days = [(start + timedelta(days=i)).isoformat() for i in range(3)]

    def by_day(node: str) -> dict:
        return {m.partition: m.metadata for m in result.asset_materializations_for_node(node)}

    for node, table in [("raw__daily_usage", "raw.daily_usage"), ("raw__usage_events", "raw.usage_events")]:
        counts = dict(query(db, f"SELECT day::VARCHAR, count(*) FROM {table} GROUP BY 1"))
        assert {d: m["dagster/row_count"].value for d, m in by_day(node).items()} == counts, node
        assert len(set(counts.values())) > 1 or table == "raw.daily_usage"  # days differ
    team = by_day("analytics__team_daily_metrics")
    assert sorted(team) == days
    rows = query(
        db,
        "SELECT day::VARCHAR, tab_acceptance_rate, spend_per_active_user_cents, active_users, finality "
        "FROM analytics.team_daily_metrics ORDER BY day",
    )
    for day, tab_rate, spend, active, finality in rows:
        assert team[day]["tab_acceptance_rate"].value == round(tab_rate, 4)
        assert team[day]["spend_per_active_user_cents"].value == round(spend, 4)
        assert team[day]["peak_active_users"].value == active
        assert team[day]["finality"].value == finality
        assert team[day]["dagster/row_count"].value == 1
        assert team[day]["range_summary"].value.startswith(f"Over {start} .. {end}:")  # shared
    assert len({r[1] for r in rows}) == 3  # one point per day, not a flat line


def test_every_raw_row_keeps_the_record_as_sent(three_days):
    db, *_ = three_days
    for table in RAW_PARTITIONED + RAW_SNAPSHOTS:
        missing = query(db, f"SELECT count(*) FROM raw.{table} WHERE raw IS NULL OR _loaded_at IS NULL")
        assert missing == [(0,)], table
    assert query(
        db, "SELECT json_extract_string(raw, '$.userEmail') = user_email FROM raw.usage_events LIMIT 1"
    ) == [(True,)]


def _rate(numerator, denominator):
    return None if denominator == 0 else numerator / denominator


def test_team_metrics_equal_values_recomputed_from_the_simulator(sim, three_days):
    db, start, end, _ = three_days
    day = start
    while day <= end:
        usage = sim.team.daily_usage(day)
        events = list(sim.team.usage_events(day))
        active = {r["email"].lower() for r in usage if r["isActive"]}
        billed = sum(float(e["chargedCents"]) for e in events if e["isChargeable"])
        included = sum(float(e["chargedCents"]) for e in events if not e["isChargeable"])
        expected = {
            "active_users": len(active),
            "tab_acceptance_rate": _rate(
                sum(r["totalTabsAccepted"] for r in usage), sum(r["totalTabsShown"] for r in usage)
            ),
            "suggestion_acceptance_rate": _rate(
                sum(r["totalAccepts"] for r in usage),
                sum(r["totalAccepts"] + r["totalRejects"] for r in usage),
            ),
            "ai_line_share": _rate(
                sum(r["acceptedLinesAdded"] for r in usage), sum(r["totalLinesAdded"] for r in usage)
            ),
            "billed_cents": billed,
            "included_usage_cents": included,
            "spend_per_active_user_cents": _rate(billed, len(active)),
        }
        columns = ", ".join(expected)
        got = dict(
            zip(
                expected,
                query(db, f"SELECT {columns} FROM analytics.team_daily_metrics WHERE day = ?", [day])[0],
            )
        )
        assert got == pytest.approx(expected), day
        # the agent's line acceptance comes from the Analytics API, not loaded here
        assert query(
            db, "SELECT line_acceptance_rate FROM analytics.team_daily_metrics WHERE day = ?", [day]
        ) == [(None,)]

        requests_by_model = Counter(e["model"] or "unknown" for e in events)
        assert (
            dict(query(db, "SELECT model, requests FROM analytics.model_usage_daily WHERE day = ?", [day]))
            == requests_by_model
        )

        latest = {}
        for c in sim.team.commits(day):
            key = (c["commitHash"], c["repoName"])
            if key not in latest or c["createdAt"] > latest[key]["createdAt"]:
                latest[key] = c
        ai = sum((c["tabLinesAdded"] or 0) + (c["composerLinesAdded"] or 0) for c in latest.values())
        total = sum(c["totalLinesAdded"] or 0 for c in latest.values())
        got_share = query(
            db,
            "SELECT sum(ai_lines_added) / NULLIF(sum(total_lines_added), 0) FROM analytics.ai_code_share_daily WHERE day = ?",
            [day],
        )[0][0]
        assert got_share == pytest.approx(_rate(ai, total))
        day += timedelta(days=1)


def test_rolling_rates_are_ratios_of_window_totals(sim, three_days):
    db, start, end, _ = three_days
    usage = [r for d in (start, start + timedelta(days=1), end) for r in sim.team.daily_usage(d)]
    expected = _rate(sum(r["totalTabsAccepted"] for r in usage), sum(r["totalTabsShown"] for r in usage))
    got = query(
        db,
        "SELECT tab_acceptance_rate_7d, active_users_7d FROM analytics.team_rolling_metrics WHERE day = ?",
        [end],
    )[0]
    assert got[0] == pytest.approx(expected)
    assert got[1] == len({r["email"].lower() for r in usage if r["isActive"]})


def test_zero_denominators_give_null_rates_not_zero(three_days):
    db, *_ = three_days
    assert query(
        db,
        "SELECT count(*) FROM analytics.user_daily_metrics "
        "WHERE (tabs_shown = 0 AND tab_acceptance_rate IS NOT NULL) "
        "OR (accepts + rejects = 0 AND suggestion_acceptance_rate IS NOT NULL) "
        "OR (total_lines_added = 0 AND ai_line_share IS NOT NULL)",
    ) == [(0,)]
    # the simulated team has idle seats: their user-days exist with NULL rates
    assert query(
        db, "SELECT count(*) > 0 FROM analytics.user_daily_metrics WHERE tab_acceptance_rate IS NULL"
    ) == [(True,)]


def test_seat_utilization_and_spend_per_user_follow_the_snapshots(sim, three_days):
    db, start, end, _ = three_days
    members = [m for m in sim.team.members() if not m.get("isRemoved") and m["role"] != "free-owner"]
    active = {
        r["email"].lower()
        for d in (start, start + timedelta(days=1), end)
        for r in sim.team.daily_usage(d)
        if r["isActive"]
    }
    idle = {m["email"].lower() for m in members} - active
    assert {r[0] for r in query(db, "SELECT email FROM analytics.seat_utilization WHERE idle_28d")} == idle
    assert query(db, "SELECT count(*) FROM analytics.seat_utilization WHERE is_billable_seat")[0][0] == len(
        members
    )
    assert query(db, "SELECT count(*) FROM analytics.seat_utilization")[0][0] == len(sim.team.members())

    spend = {r["email"].lower(): r["spendCents"] for r in sim.team.spend_rows()}
    got = dict(query(db, "SELECT email, spend_cents FROM analytics.spend_per_user"))
    assert got == pytest.approx(spend)


def test_rematerializing_a_partition_leaves_every_table_identical(sim, three_days):
    db, start, end, res = three_days
    before = table_contents(db)
    middle = start + timedelta(days=1)
    materialize_days(res, middle, middle)
    assert table_contents(db) == before


def test_a_60_day_backfill_makes_the_minimum_requests_and_one_materialization_per_partition(sim, tmp_path):
    db = tmp_path / "cursor.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    end = sim.team.today - timedelta(days=1)
    start = end - timedelta(days=59)
    chunks = [(start, start + timedelta(days=29)), (start + timedelta(days=30), end)]

    def truth_rows(dataset, first, last):
        return sum(
            sim.ground_truth(first + timedelta(days=i))[dataset]["rows"]
            for i in range((last - first).days + 1)
        )

    def floor(dataset, page_size):
        return sum(max(1, math.ceil(truth_rows(dataset, a, b) / page_size)) for a, b in chunks)

    sim.reset_requests()
    raw_only = dg.AssetSelection.assets(*raw.partitioned_raw_assets)
    materialize_days(resources(sim, db), start, end, selection=raw_only, instance=instance)

    assert sim.request_count("/teams/daily-usage-data") == 2  # ceil(60 / 30)
    assert sim.request_count("/teams/filtered-usage-events") == floor("usage_events", 1000)
    assert sim.request_count("/analytics/ai-code/commits") == floor("ai_commits", 1000)
    assert sim.request_count("/analytics/ai-code/changes") == floor("ai_changes", 1000)
    assert sim.request_count("/teams/audit-logs") == floor("audit_logs", 500)
    for name in RAW_PARTITIONED:
        key = dg.AssetKey(["raw", name])
        assert len(instance.get_materialized_partitions(key)) == 60, name
        assert len(instance.fetch_materializations(key, limit=1000).records) == 60, name


def test_a_run_with_an_invalid_key_fails_and_leaves_the_tables_unchanged(sim, three_days):
    db, start, end, _ = three_days
    before = table_contents(db)
    bad = resources(sim, db, api_key="crsr_" + "x" * 40)
    result = materialize_days(bad, start, start, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures
    message = failures[0].step_failure_data.error.to_string()
    assert "InvalidCredentialsError" in message and "CURSOR_API_KEY" in message
    assert "crsr_" + "x" * 40 not in message
    assert table_contents(db) == before
