"""`python -m bench` (`make bench`): run every benchmark, each script in a process of its own,
one after the other, and write bench/RESULTS.md from their results.

    python -m bench                       # everything, full size (about 80 minutes on 2 cores)
    python -m bench --only memory,ingestion
    python -m bench --report-only         # re-render RESULTS.md from bench/results/*.json
    python -m bench --quick --results-dir /tmp/r --output /tmp/r/RESULTS.md   # smoke test

RESULTS.md keeps the hand-written analysis between the `<!-- analysis -->` markers of the
previous file; everything else in it is generated.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS_DIR

BENCHMARKS = ["backfill", "ingestion", "memory", "metrics_scale", "production", "publish"]
QUICK_ARGS = {
    "backfill": [
        "--days",
        "2",
        "--users",
        "12",
        "--minute-seconds",
        "1",
        "--repeats",
        "1",
        "--long-repeats",
        "1",
    ],
    "ingestion": ["--events", "3000", "--users", "12", "--repeats", "1"],
    "memory": ["--events", "2000,4000", "--users", "12", "--repeats", "1"],
    "metrics_scale": ["--grid", "40x7,20x7", "--repeats", "1"],
    "publish": ["--days", "3", "--users", "12", "--repeats", "1"],
}
# Not in --quick (the suite's smoke test): it starts PostgreSQL and runs whole backfills;
# cursor_analytics_tests/test_production.py tests the same paths.
QUICK_SKIPPED = {"production"}
# Run after the main backfill benchmark (not in --quick): the same code at a clock that this
# 2-core machine can keep up with, to separate the pacing from local CPU (see RESULTS.md).
SUPPLEMENTARY = {
    "backfill-slow-clock": ("backfill", ["--days", "90", "--minute-seconds", "30", "--repeats", "2"]),
    # Dagster writes one "materialization planned" event per asset and day when it creates a
    # range run; with its switch on, one per asset (see bench/backfill.py, PLANNED_AS_RANGES).
    "backfill-planned-as-ranges": (
        "backfill",
        ["--days", "30,90,365", "--repeats", "1", "--long-repeats", "1", "--planned-events-as-ranges"],
    ),
}
ANALYSIS_START, ANALYSIS_END = "<!-- analysis -->", "<!-- /analysis -->"
DEFAULT_ANALYSIS = "_(No analysis yet: paste it between these markers; re-running keeps it.)_"


def run_benchmark(name: str, results_dir: Path, log_dir: Path, quick: bool) -> None:
    out = results_dir / f"{name}.json"
    log = log_dir / f"{name}.log"
    module, extra = SUPPLEMENTARY.get(name, (name, QUICK_ARGS[name] if quick else []))
    command = [sys.executable, "-m", f"bench.{module}", "--out", str(out), *extra]
    print(f"== {name}: {' '.join(command[1:])} (log: {log})", flush=True)
    started = time.time()
    with log.open("w") as stderr:
        proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True)
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"bench.{name} failed (exit {proc.returncode}); end of {log}:\n{tail}")
    print(proc.stdout, flush=True)
    print(f"== {name}: done in {time.time() - started:.0f} s", flush=True)


def load(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Results by benchmark name; supplementary backfill runs saved as backfill-<label>.json
    (e.g. `python -m bench.backfill --minute-seconds 30 --out bench/results/backfill-slow-clock.json`)
    come after the main ones."""
    names = BENCHMARKS + sorted(p.stem for p in results_dir.glob("backfill-*.json"))
    return {
        name: json.loads((results_dir / f"{name}.json").read_text())
        for name in names
        if (results_dir / f"{name}.json").exists()
    }


def summary(results: dict[str, dict[str, Any]]) -> list[str]:
    """The headline table: each target, what was measured, met or missed."""
    rows = []
    if "backfill" in results:
        b = results["backfill"]
        off = [
            f"{x['days']} d {path}"
            for x in b["backfills"]
            for path, f in x["floor"].items()
            if any(r["requests"].get(path, 0) != f["requests"] for r in x["runs"])
        ]
        n = sum(len(x["floor"]) for x in b["backfills"])
        events = ", ".join(
            f"{x['days']} d: {x['floor']['/teams/filtered-usage-events']['requests']:,} "
            f"(peers at 100/page: {x['floor']['/teams/filtered-usage-events']['requests_at_page_size_100']:,})"
            for x in b["backfills"]
        )
        rows.append(
            (
                "1. Requests per endpoint",
                "exactly the floor",
                (
                    f"all {n} endpoint x backfill counts at the floor"
                    if not off
                    else f"off the floor: {', '.join(off)}"
                )
                + f"; usage-events requests {events}",
                not off,
            )
        )
        ratios = [
            (
                x["days"],
                x["median_api_phase_seconds"] / x["floor_seconds"],
                x["median_wall_seconds"] / x["floor_seconds"],
            )
            for x in b["backfills"]
        ]
        rows.append(
            (
                "2. Wall time / rate-limit floor",
                "<= 1.10",
                "API phase "
                + ", ".join(f"{d} d: {a:.2f}" for d, a, _ in ratios)
                + "; whole run incl. metrics "
                + ", ".join(f"{d} d: {w:.2f}" for d, _, w in ratios)
                + f" (1 minute = {b['minute_seconds']:g} s)",
                all(a <= 1.10 for _, a, _ in ratios),
            )
        )
    for extra in (n for n in results if n.startswith("backfill-")):
        x = results[extra]
        ratios = [(b["days"], b["median_api_phase_seconds"] / b["floor_seconds"]) for b in x["backfills"]]
        rows.append(
            (
                f"2b. Same, supplementary ({extra.split('-', 1)[1]})",
                "<= 1.10",
                "API phase "
                + ", ".join(f"{d} d: {a:.2f}" for d, a in ratios)
                + f" (1 minute = {x['minute_seconds']:g} s)",
                all(a <= 1.10 for _, a in ratios),
            )
        )
    if "ingestion" in results:
        i = results["ingestion"]
        rows.append(
            (
                "3. Ingestion overhead",
                "<= 1.3x the bare load",
                f"{i['ratio']:.2f}x ({i['ours_rows_per_second']:,.0f} vs {i['bare_rows_per_second']:,.0f} rows/s, "
                f"{i['events']:,} events)",
                i["ratio"] <= 1.3,
            )
        )
    if "memory" in results:
        m = results["memory"]
        peaks = [(s["events"], s["median_peak_rss_mb"]) for s in m["sizes"]]
        flat = max(p for _, p in peaks) - min(p for _, p in peaks) <= 0.15 * min(p for _, p in peaks)
        rows.append(
            (
                "4. Peak RSS, one day of events",
                f"< {m['target_mb']} MB, flat",
                ", ".join(f"{e:,}: {p:.0f} MB" for e, p in peaks),
                all(p < m["target_mb"] for _, p in peaks) and flat,
            )
        )
    if "metrics_scale" in results:
        g = results["metrics_scale"]["grid"]
        rows.append(
            (
                "5. Metrics recompute",
                "(measured)",
                ", ".join(f"{r['users']:,} users x {r['days']} d: {r['median_seconds']:.1f} s" for r in g),
                None,
            )
        )
    if "production" in results:
        p = results["production"]
        rows.append(
            (
                "6. Production profile",
                "(measured once)",
                f"run creation {p['sizes']['run_days']} d: SQLite {p['run_creation']['sqlite']['seconds']:.1f} s, "
                f"PostgreSQL {p['run_creation']['postgres']['seconds']:.1f} s; "
                f"{p['sizes']['backfill_days']}-d backfill: {p['backfill']['sqlite']['seconds']:.1f} s vs "
                f"{p['backfill']['postgres']['seconds']:.1f} s; metrics {p['metrics']['users']:,} x "
                f"{p['metrics']['days']} d: file {p['metrics']['file']['seconds']:.1f} s, "
                f"DuckLake {p['metrics']['ducklake']['seconds']:.1f} s",
                None,
            )
        )
    if "publish" in results:
        p = results["publish"]
        rows.append(
            (
                "7. Publish of a backfill's usage events",
                "(measured)",
                f"{p['events']:,} events of {p['days']} d: {p['median_publish_seconds']:.1f} s; "
                + "; ".join(f"{v['label']}: {v['median_seconds']:.1f} s" for v in p["variants"][1:]),
                None,
            )
        )
    lines = ["| benchmark | target | measured (medians) | |", "|---|---|---|---|"]
    for name, target, measured, met in rows:
        lines.append(
            f"| {name} | {target} | {measured} | {'met' if met else 'missed' if met is False else ''} |"
        )
    return lines


def render(results: dict[str, dict[str, Any]], previous: str | None, quick: bool) -> str:
    analysis = DEFAULT_ANALYSIS
    if previous and ANALYSIS_START in previous and ANALYSIS_END in previous:
        analysis = previous.split(ANALYSIS_START, 1)[1].split(ANALYSIS_END, 1)[0].strip()
    machine = next(iter(results.values()))["machine"] if results else {}
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`) from `bench/results/*.json`"
        + (" (**quick smoke-test sizes**, not the benchmark)" if quick else "")
        + "; the analysis section is written by hand. Figures are medians of several runs; nothing "
        "here is asserted in tests.",
        "",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} logical cores, "
        f"{machine.get('memory_gb', '?')} GB RAM, {machine.get('os', '?')}; Python "
        f"{machine.get('python', '?')}, Dagster {machine.get('dagster', '?')}, DuckDB "
        f"{machine.get('duckdb', '?')}, pandas {machine.get('pandas', '?')}.",
        "",
        "| benchmark | command | measured at | load average (1/5/15 min) at start |",
        "|---|---|---|---|",
    ]
    for name, result in results.items():
        m = result["machine"]
        lines.append(
            f"| {name} | `{result['command']}` | {m['measured_at']} | "
            f"{' / '.join(str(x) for x in m['load_average_at_start'])} |"
        )
    lines += ["", "## Summary", "", *summary(results), "", ANALYSIS_START, "", analysis, "", ANALYSIS_END, ""]
    for name in BENCHMARKS:
        if name in results:
            module = importlib.import_module(f"bench.{name}")
            lines += [module.markdown(results[name]), ""]
        if name == "backfill":
            from bench.backfill import wall_table

            for extra in (n for n in results if n.startswith("backfill-")):
                heading = f"## 2b. Wall time, supplementary run ({extra.split('-', 1)[1]})"
                lines += [wall_table(results[extra], heading), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the scripts")
    parser.add_argument("--report-only", action="store_true", help="only re-render the report")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cursor-analytics-bench",
        help="where each script's stderr (Dagster's logs) goes",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for name in names:
            if args.quick and name in QUICK_SKIPPED:
                print(f"== {name}: skipped in --quick", flush=True)
                continue
            run_benchmark(name, args.results_dir, args.log_dir, args.quick)
            for extra, (module, _) in SUPPLEMENTARY.items():
                if module == name and not args.quick:
                    run_benchmark(extra, args.results_dir, args.log_dir, args.quick)
    previous = args.output.read_text() if args.output.exists() else None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(load(args.results_dir), previous, args.quick))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
