"""Datasets the key cannot read are known, not retried: a team without Enterprise gets green daily
runs, the stale-partition sensor and the daily schedule plan only what the key may read, and the
UI says what is unavailable and why. Against the simulator (enterprise=False, or with forbidden
paths), real DuckDB files and real Dagster runs and ticks."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from cursor_analytics.cursor_api import CursorClient, DatasetAccess
from cursor_analytics.definitions import defs
from cursor_analytics.defs.freshness.schedules import UNAVAILABLE_TAG
from cursor_analytics.defs.freshness.sensors import build_stale_partitions_sensor
from cursor_analytics.defs.ingestion import access
from cursor_analytics.defs.resources import CursorApiResource, WarehouseResource
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse import table_exists
from cursor_analytics.warehouse.finality import StaleDataSettings
from cursor_analytics_tests.support import materialize_days, query, resources

NOW = datetime(2025, 3, 14, 12, tzinfo=UTC)
FIRST, LAST = NOW.date() - timedelta(days=2), NOW.date() - timedelta(days=1)
ENTERPRISE_ONLY = {"raw/ai_commits", "raw/ai_changes", "raw/audit_logs"}
REFUSED = "unavailable (403 Enterprise access required)"


def not_enterprise() -> Simulator:
    return Simulator(seed=3, users=4, days=10, minute_seconds=1.0, today=NOW.date(), enterprise=False)


def observations(instance: dg.DagsterInstance, key: str) -> list[str]:
    records = instance.fetch_observations(dg.AssetKey.from_user_string(key), limit=100).records
    return [r.asset_observation.metadata["access"].value for r in records]


def tick(res, clock, instance, cursor=None, budget=40):
    sensor = build_stale_partitions_sensor(
        StaleDataSettings(lookback_days=4, request_budget=budget), clock=lambda: clock
    )
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=res, definitions=defs
    ) as context:
        return sensor.evaluate_tick(context)


def selected(result) -> set[str]:
    return {k.to_user_string() for r in result.run_requests for k in r.asset_selection}


def test_a_run_over_datasets_the_key_cannot_read_is_green_and_says_why(tmp_path):
    db = tmp_path / "cursor.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    with not_enterprise() as sim:
        result = materialize_days(resources(sim, db), FIRST, LAST, instance=instance)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw/daily_usage", "raw/usage_events", "analytics/team_daily_metrics"} <= materialized
    assert not materialized & (ENTERPRISE_ONLY | {"analytics/ai_code_share_daily"})  # skipped, not failed
    for key in ENTERPRISE_ONLY:
        assert observations(instance, key) == [REFUSED]
    with duckdb.connect(str(db), read_only=True) as conn:
        assert not any(table_exists(conn, f"raw.{t}") for t in ("ai_commits", "ai_changes", "audit_logs"))
    assert query(
        db, "SELECT dataset, readable, status_code, reason, source FROM meta.dataset_access ORDER BY 1"
    ) == [
        (d, False, 403, "Enterprise access required", "run")
        for d in ("ai_changes", "ai_commits", "audit_logs")
    ]


def test_the_sensor_probes_once_a_day_leaves_refused_datasets_out_and_finds_an_upgrade(tmp_path):
    db = tmp_path / "cursor.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    with not_enterprise() as sim:
        res = resources(sim, db)
        first = tick(res, NOW, instance, budget=100)  # a third of it probes all 30 datasets at once
        assert sim.request_count("/analytics/ai-code/commits") == 1  # the probe, no count request
        assert selected(first) and not selected(first) & (ENTERPRISE_ONLY | {"analytics/ai_code_share_daily"})
        assert "raw/daily_usage" in selected(first)
        assert observations(instance, "raw/ai_commits") == [REFUSED]  # on the asset's page, no run needed
        assert observations(instance, "raw/daily_usage") == ["readable"]

        sim.reset_requests()
        later = tick(res, NOW + timedelta(hours=1), instance, first.cursor, budget=100)
        assert sim.request_count("/analytics/ai-code/commits") == sim.request_count("/teams/audit-logs") == 0
        assert observations(instance, "raw/ai_commits") == [REFUSED]  # reported once
        assert not selected(later) & ENTERPRISE_ONLY

        sim.enterprise = True  # the team upgrades; the next day's probe finds it
        upgraded = tick(res, NOW + timedelta(days=1, hours=1), instance, later.cursor, budget=100)
        assert selected(upgraded) >= ENTERPRISE_ONLY
        assert observations(instance, "raw/ai_commits")[0] == "readable"
    assert query(db, "SELECT count(*) FROM meta.dataset_access WHERE source = 'probe'")[0][0] == 2 * len(
        set(access.tagged_assets(defs.resolve_asset_graph()).values())
    )


def test_the_daily_probes_take_at_most_a_third_of_the_ticks_request_budget(tmp_path):
    db = tmp_path / "cursor.duckdb"
    with not_enterprise() as sim:
        result = tick(resources(sim, db), NOW, dg.DagsterInstance.ephemeral(), budget=9)
        # 3 probes (daily usage, usage events, AI commits: the partitioned datasets first), then
        # the ranged daily-usage call; no counts: the file is empty, every day is missing
        assert sim.request_count() == 4
        assert sim.request_count("/teams/daily-usage-data") == 2
    assert json.loads(result.cursor)["requests"] == 4
    assert query(db, "SELECT dataset FROM meta.dataset_access ORDER BY dataset") == [
        ("ai_commits",), ("daily_usage",), ("usage_events",)
    ]  # fmt: skip


def test_the_daily_schedule_leaves_out_what_the_key_may_not_read_and_what_is_built_on_it(tmp_path):
    db = tmp_path / "cursor.duckdb"
    refusal = DatasetAccess("ai_commits", False, 403, "Enterprise access required")
    with duckdb.connect(str(db)) as conn:
        access.record(conn, [refusal], NOW - timedelta(hours=23), "probe")
    schedule = defs.resolve_schedule_def("cursor_daily_schedule")

    def evaluate(at):
        context = dg.build_schedule_context(
            scheduled_execution_time=at,
            resources={
                "duckdb": WarehouseResource(database=str(db)),
                "cursor_api": CursorApiResource(api_key="crsr_schedule0test", base_url="http://127.0.0.1:9"),
            },
            repository_def=defs.get_repository_def(),
        )
        (request,) = schedule.evaluate_tick(context).run_requests
        return request

    request = evaluate(NOW)
    keys = {k.to_user_string() for k in request.asset_selection}
    assert "raw/daily_usage" in keys and "analytics/team_daily_metrics" in keys
    assert not keys & {"raw/ai_commits", "analytics/ai_code_share_daily"}
    assert request.tags[UNAVAILABLE_TAG] == "ai_commits: unavailable (403 Enterprise access required)"
    # a refusal nobody renewed for two days is tried again by the run (which stays green)
    assert evaluate(NOW + timedelta(days=2)).asset_selection is None


def test_any_analytics_dataset_is_probed_by_its_name_alone(make_sim):
    sim = make_sim(users=3, days=10, forbidden=("/analytics/by-user/*",))
    with CursorClient(sim.api_key, base_url=sim.base_url, rate_limits={}) as client:
        found = client.probe_access(
            ["analytics_dau", "analytics_agent_edits", "analytics_by_user_agent_edits"]
        )
        assert [a.describe() for a in found.values()] == ["readable", "readable", REFUSED]
        assert sim.request_count("/analytics/by-user/agent-edits", status=403) == 1
        with pytest.raises(ValueError, match="no access probe for dataset 'analytics'"):
            client.probe_access(["analytics"])
