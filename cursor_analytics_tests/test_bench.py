"""Smoke test of the benchmark scripts in bench/: `python -m bench --quick` runs every script at
tiny sizes (each in its own process, as `make bench` does) and writes a report. The figures are
not asserted (speed is measured in bench/, never in tests); what the scripts count and load is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    report = out / "RESULTS.md"
    report.write_text("old\n<!-- analysis -->\nHand-written analysis.\n<!-- /analysis -->\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--results-dir",
            str(out),
            "--log-dir",
            str(out),
            "--output",
            str(report),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    return results, report.read_text()


def test_backfill_makes_exactly_the_floor_of_requests_per_endpoint_without_429s(quick_run):
    results, _ = quick_run
    backfill = results["backfill"]["backfills"][0]
    assert backfill["days"] == 2
    for run in backfill["runs"]:
        assert {path: run["requests"].get(path) for path in backfill["floor"]} == {
            path: floor["requests"] for path, floor in backfill["floor"].items()
        }
        assert run["rate_limited_429"] == 0
        assert run["api_phase_seconds"] <= run["wall_seconds"]
    assert backfill["floor"]["/teams/filtered-usage-events"]["items"] > 0


def test_ingestion_loads_every_event_on_both_paths(quick_run):
    results, _ = quick_run
    ingestion = results["ingestion"]
    assert [r["rows"] for r in ingestion["ours"] + ingestion["bare"]] == [3000, 3000]
    assert ingestion["ratio"] > 0
    # the events were typed in bulk by DuckDB (the columnar path), and each stage was profiled
    assert ingestion["profile"]["waiting for the batch being typed (DuckDB, typing thread)"] > 0
    assert "normalising records in Python (only those the bulk query leaves)" in ingestion["profile"]


def test_memory_reports_the_peak_of_the_measured_process_per_day_size(quick_run):
    results, _ = quick_run
    sizes = results["memory"]["sizes"]
    assert [s["events"] for s in sizes] == [2000, 4000]
    for size in sizes:
        assert size["runs"][0]["rows"] == size["events"]
        assert size["median_peak_rss_mb"] >= size["median_baseline_rss_mb"] > 0
        assert size["runs"][0]["imported"] == []  # a day's load never imports numpy or pandas


def test_metrics_scale_generates_raw_tables_and_recomputes_every_metric(quick_run):
    results, _ = quick_run
    grid = results["metrics_scale"]["grid"]
    assert [(g["users"], g["days"]) for g in grid] == [(40, 7), (20, 7)]
    assert grid[0]["rows"]["daily_usage"] == 40 * 7
    assert grid[0]["rows"]["usage_events"] > grid[1]["rows"]["usage_events"] > 0
    assert grid[0]["metric_rows"]["team_daily_metrics"] == 7
    assert grid[0]["metric_rows"]["user_daily_metrics"] > 0
    steps = set(grid[0]["median_step_seconds"])
    assert {
        "analytics__user_daily_metrics",
        "analytics__team_rolling_metrics",
        "analytics__spend_per_user",
    } <= steps


def test_publish_inserts_every_staged_event_in_each_variant(quick_run):
    results, _ = quick_run
    publish = results["publish"]
    assert publish["days"] == 3 and publish["events"] > 0
    assert publish["median_publish_seconds"] > 0
    # every variant inserts (or, the scan, reads) exactly the events the asset would publish
    assert {v["label"]: v["rows"] for v in publish["variants"]} == {
        v["label"]: publish["events"] for v in publish["variants"]
    }


def test_report_has_every_section_and_keeps_the_hand_written_analysis(quick_run):
    _, report = quick_run
    assert "quick smoke-test sizes" in report
    assert "Hand-written analysis." in report
    for heading in (
        "## Summary",
        "## 1. Requests per endpoint against the floor",
        "## 2. Wall time against the rate-limit floor",
        "## 3. Ingestion overhead",
        "## 4. Peak memory",
        "## 5. Metrics recompute at scale",
        "## 7. The publish of a backfill's usage events",
    ):
        assert heading in report
    assert "off the floor" not in report
