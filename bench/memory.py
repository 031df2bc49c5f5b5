"""Benchmark 4: peak memory while materializing one day of 250k, 500k and 1M usage events.

Each day is materialized (`dg.materialize` of `raw/usage_events`, one partition, rate limits
off) in a fresh child process (`python -m bench.memory child ...`) that reports its own peak
resident set size (VmHWM) and its size right after importing Dagster and the code location;
the simulator runs in another process, so its memory never counts.

    python -m bench.memory --events 250000,500000,1000000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.common import int_list, main, median, utc_today
from bench.sim_server import SimProcess

NAME = "memory"
TARGET_MB = 256


def child(argv: list[str]) -> None:
    """Materialize one day into a new DuckDB file and print {peak_rss_mb, ...} as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory child")
    parser.add_argument("--day", type=date.fromisoformat, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args(argv)

    import dagster as dg
    import duckdb

    from bench.common import peak_rss_mb, resources, rss_mb
    from bench.ingestion import NO_PACING
    from cursor_analytics.defs.ingestion.assets import usage_events

    sim = SimpleNamespace(api_key=os.environ["CURSOR_API_KEY"], base_url=args.base_url, minute_seconds=60.0)
    baseline = rss_mb()
    started = time.perf_counter()
    result = dg.materialize(
        [usage_events],
        partition_key=args.day.isoformat(),
        resources=resources(sim, args.db, rate_limits=NO_PACING),
        instance=dg.DagsterInstance.ephemeral(),
    )
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    # DuckDB's Python binding imports both (~40 MB) at the first bound parameter: the step binds none
    imported = sorted(name for name in ("numpy", "pandas") if name in sys.modules)
    with duckdb.connect(str(args.db), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0]
    print(
        json.dumps(
            {
                "success": result.success,
                "rows": rows,
                "seconds": seconds,
                "baseline_rss_mb": baseline,
                "peak_rss_mb": peak,
                "imported": imported,
            }
        )
    )


def measure(sim: SimProcess, day: date, workdir: Path) -> dict[str, Any]:
    db = workdir / f"memory-{day}-{time.time_ns()}.duckdb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.memory",
            "child",
            "--day",
            day.isoformat(),
            "--base-url",
            sim.base_url,
            "--db",
            str(db),
        ],
        env={**os.environ, "CURSOR_API_KEY": sim.api_key},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the measured process failed:\n{proc.stderr[-4000:]}")
    db.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(events: list[int], repeats: int, users: int, seed: int) -> dict[str, Any]:
    import httpx

    from bench.ingestion import day_window_ms

    today = utc_today()
    days = {n: today - timedelta(days=1 + i) for i, n in enumerate(events)}
    sizes = []
    with (
        SimProcess(
            seed=seed,
            users=users,
            days=30,
            today=today,
            rate_limits=False,
            events_per_day={d: n for n, d in days.items()},
        ) as sim,
        tempfile.TemporaryDirectory(prefix="cursor-bench-") as workdir,
    ):
        for n, day in days.items():
            start_ms, end_ms = day_window_ms(day)
            httpx.post(  # warm the simulator's plan of the day (not measured)
                sim.base_url + "/teams/filtered-usage-events",
                auth=(sim.api_key, ""),
                timeout=300,
                json={"startDate": start_ms, "endDate": end_ms, "page": 1, "pageSize": 1},
            ).raise_for_status()
            runs = [measure(sim, day, Path(workdir)) for _ in range(repeats)]
            assert all(r["success"] and r["rows"] == n for r in runs), runs
            sizes.append(
                {
                    "events": n,
                    "day": day.isoformat(),
                    "runs": runs,
                    "median_peak_rss_mb": median([r["peak_rss_mb"] for r in runs]),
                    "median_baseline_rss_mb": median([r["baseline_rss_mb"] for r in runs]),
                    "median_seconds": median([r["seconds"] for r in runs]),
                }
            )
    return {"users": users, "repeats": repeats, "target_mb": TARGET_MB, "sizes": sizes}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## 4. Peak memory for one day of usage events",
        "",
        f"`dg.materialize` of `raw/usage_events` for one day ({result['users']}-user team, rate "
        "limits off) in a fresh process; peak RSS (VmHWM) of that process, the simulator's "
        f"memory not included. Medians of {result['repeats']} runs. Target: under "
        f"{result['target_mb']} MB and flat as the day grows.",
        "",
        "| events in the day | peak RSS | after imports | growth during the run | seconds |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in result["sizes"]:
        peak, base = s["median_peak_rss_mb"], s["median_baseline_rss_mb"]
        lines.append(
            f"| {s['events']:,} | **{peak:.0f} MB** | {base:.0f} MB | {peak - base:.0f} MB | "
            f"{s['median_seconds']:.1f} |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=int_list,
        default=[250_000, 500_000, 1_000_000],
        help="events per day, comma-separated",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per size")
    parser.add_argument("--users", type=int, default=200, help="simulated team size")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated team")


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2:])
    else:
        main(NAME, __doc__.split("\n\n")[0], add_arguments, run, markdown)
