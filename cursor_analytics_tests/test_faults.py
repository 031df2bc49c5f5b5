"""Faults end to end through Dagster: a 30-day backfill of every raw asset against a simulator
that fails 20% of requests with 500, starts 429 bursts of 1-3 on 10% (first without
Retry-After, then with it), answers 5% slowly (within, then beyond the timeout) and drops 5% of
connections. Every raw table must still equal the
simulator's ground truth exactly, day by day: nothing lost, nothing doubled.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest

from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.resources import WarehouseResource
from cursor_analytics.simulator import Faults, Simulator
from cursor_analytics_tests.support import NOW, materialize_days, materialize_snapshots, query, resources

RAW_PARTITIONED = dg.AssetSelection.assets(*raw.partitioned_raw_assets)
ERRORS, BURSTS, SLOW, DROPS = 0.2, 0.1, 0.05, 0.05


def faults(seed: int, retry_after: int | None, slow_seconds: float) -> Faults:
    return Faults(
        error_rate=ERRORS, rate_limit_rate=BURSTS, retry_after=retry_after,
        slow_rate=SLOW, slow_seconds=slow_seconds, drop_rate=DROPS, seed=seed,
    )  # fmt: skip


def our_resources(sim, db, **cursor_api):
    # max_attempts=10: the simulator's 429 bursts are counted in requests, not time, so the
    # default 6 attempts at the tests' 10 ms backoff can meet a burst plus three 500s in a row.
    settings = {"page_size": 200, "max_attempts": 10, **cursor_api}
    return {**resources(sim, db, **settings), "duckdb": WarehouseResource(database=str(db))}


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def expected_by_day(sim: Simulator, dataset: str, columns: list[str], day_list: list[date]):
    return {d: tuple(_exact(sim.ground_truth(d)[dataset][c]) for c in columns) for d in day_list}


def loaded_by_day(db, select: str, table: str, day_list: list[date]):
    rows = query(db, f"SELECT day, {select} FROM {table} GROUP BY day")
    got = {d: tuple(_exact(v) for v in rest) for d, *rest in rows}
    empty = tuple(_exact(0) for _ in select.split(","))
    return {d: got.get(d, empty) for d in day_list}


def _exact(value):
    """Sums of cents are fractional: compare them to the micro-cent, integers as they are."""
    return round(float(value or 0), 6)


def test_a_30_day_backfill_under_faults_lands_exactly_the_ground_truth(tmp_path):
    db = tmp_path / "cursor.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    with Simulator(seed=21, users=12, days=45, minute_seconds=1.0, now=NOW) as sim:
        end = sim.team.today - timedelta(days=1)
        start = end - timedelta(days=29)
        middle = start + timedelta(days=14)

        # Days 1-15 and the snapshots: 429s without Retry-After (exponential backoff), slow
        # answers that still arrive within the timeout.
        sim.faults = faults(seed=1, retry_after=None, slow_seconds=0.3)
        first = our_resources(sim, db, timeout_seconds=2.0)
        materialize_days(first, start, middle, selection=RAW_PARTITIONED, instance=instance)
        materialize_snapshots(first, instance=instance)
        without_header = sim.requests

        # Days 16-30: 429s with `Retry-After: 1`, and slow answers that outlast the timeout.
        sim.reset_requests()
        sim.faults = faults(seed=2, retry_after=1, slow_seconds=0.8)
        second = our_resources(sim, db, timeout_seconds=0.5)
        materialize_days(
            second, middle + timedelta(days=1), end, selection=RAW_PARTITIONED, instance=instance
        )
        with_header = sim.requests

        # The faults did happen, of every kind, in both halves.
        for log in (without_header, with_header):
            injected = Counter(r.fault for r in log if r.fault)
            assert {"error", "rate_limit", "drop", "slow"} <= set(injected), injected
        # Retry-After was honoured: each retry after a 429 that carried it came a second later
        # or more; without the header the client backed off for milliseconds only.
        waits = [b.time - a.time for a, b in _retries_after_429(with_header)]
        assert waits and min(waits) >= 1.0, waits
        waits = [b.time - a.time for a, b in _retries_after_429(without_header)]
        assert waits and min(waits) < 1.0, waits

        # Every day of every raw table equals the simulator's ground truth.
        all_days = days(start, end)
        usage_counters = [
            c
            for c in sim.ground_truth(start)["daily_usage"]
            if c not in ("rows", "unpaged_rows", "active_rows")
        ]
        checks = [
            ("daily_usage", ["rows", "active_rows", *usage_counters],
             "count(*), count(*) FILTER (WHERE is_active), "
             + ", ".join(f"sum({c})" for c in usage_counters), "raw.daily_usage"),
            ("usage_events",
             ["rows", "charged_cents", "requests_costs", "input_tokens", "output_tokens",
              "cache_write_tokens", "cache_read_tokens", "total_cents"],
             "count(*), sum(charged_cents), sum(requests_costs), sum(input_tokens), "
             "sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens), sum(total_cents)",
             "raw.usage_events"),
            ("ai_commits",
             ["rows", "distinct_hashes", "total_lines_added", "tab_lines_added",
              "composer_lines_added", "non_ai_lines_added", "total_lines_deleted"],
             "count(*), count(DISTINCT commit_hash), sum(total_lines_added), sum(tab_lines_added), "
             "sum(composer_lines_added), sum(non_ai_lines_added), sum(total_lines_deleted)",
             "raw.ai_commits"),
            ("ai_changes", ["rows", "total_lines_added", "total_lines_deleted"],
             "count(*), sum(total_lines_added), sum(total_lines_deleted)", "raw.ai_changes"),
            ("ai_changes", ["files"], "count(*)", "raw.ai_change_files"),
            ("audit_logs", ["rows"], "count(*)", "raw.audit_logs"),
        ]  # fmt: skip
        for dataset, truth_columns, select, table in checks:
            expected = expected_by_day(sim, dataset, truth_columns, all_days)
            assert loaded_by_day(db, select, table, all_days) == expected, table
        assert sum(sim.ground_truth(d)["usage_events"]["rows"] for d in all_days) > 5000

        members = {m["email"] for m in sim.team.members()}
        assert {r[0] for r in query(db, "SELECT email FROM raw.team_members")} == members
        assert query(db, "SELECT count(*) FROM raw.team_members")[0][0] == len(members)
        spend = sorted(round(r["spendCents"], 6) for r in sim.team.spend_rows())
        assert (
            sorted(round(r[0], 6) for r in query(db, "SELECT spend_cents FROM raw.spend_snapshots")) == spend
        )
        assert query(db, "SELECT count(*) FROM raw.repo_blocklists")[0][0] == len(sim.blocklists)

    # Dagster recorded one materialization per day and asset, and the retries each run took.
    keys = {d.isoformat() for d in all_days}
    retries_by_run = {}
    for asset in [*raw.partitioned_raw_assets, *raw.snapshot_raw_assets]:
        records = instance.fetch_materializations(asset.key, limit=100).records
        if asset in raw.partitioned_raw_assets:
            assert instance.get_materialized_partitions(asset.key) == keys, asset.key
            assert len(records) == 30, asset.key
        for r in records:  # a range run records the same metadata on each of its days
            retries_by_run[r.run_id, asset.key] = r.asset_materialization.metadata["api_retries"].value
    faults_to_retry = sum(
        1 for r in without_header + with_header if r.fault in ("error", "rate_limit", "drop")
    )
    assert sum(retries_by_run.values()) >= faults_to_retry


def _retries_after_429(log):
    """(429 answer, the next request to the same path) pairs, in the order requests arrived."""
    log = sorted(log, key=lambda r: r.time)
    for i, record in enumerate(log):
        if record.status == 429:
            following = next((r for r in log[i + 1 :] if r.path == record.path), None)
            if following is not None:
                yield record, following


@pytest.mark.parametrize("retry_after", [None, "date"])
def test_a_429_burst_longer_than_the_attempts_fails_the_run_cleanly(tmp_path, retry_after):
    """The other side of the budget: when every attempt is refused the run fails, names the
    endpoint and the limit, and writes nothing (the DuckDB file is not even created)."""
    db = tmp_path / "cursor.duckdb"
    with Simulator(seed=21, users=12, days=45, minute_seconds=1.0, now=NOW) as sim:
        day = sim.team.today - timedelta(days=1)
        sim.faults = Faults(rate_limit_rate=1.0, retry_after=retry_after, paths=("/teams/audit-logs",))
        result = materialize_days(
            our_resources(sim, db, max_attempts=3),
            day,
            day,
            selection=dg.AssetSelection.assets(raw.audit_logs),
            raise_on_error=False,
        )
        assert sim.request_count("/teams/audit-logs", status=429) == 3
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "RateLimitError" in message and "/teams/audit-logs" in message and "after 3 attempts" in message
    assert not db.exists()
