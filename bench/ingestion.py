"""Benchmark 3: ingestion overhead. Usage events per second from the simulator into DuckDB
through our `raw/usage_events` asset (one partition, `dg.materialize`), against a bare script
that fetches the same pages with httpx and bulk-inserts them with DuckDB's own JSON reader (the
local floor), alternately in one run, rate limits off. The simulator runs in a process of its
own; its caches are warmed first so that both sides pay the same for it.

    python -m bench.ingestion --events 1000000 --repeats 2
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx

from bench.common import main, median, resources, utc_today
from bench.sim_server import SimProcess

NAME = "ingestion"
PATH = "/teams/filtered-usage-events"
NO_PACING = {PATH: 1_000_000}  # requests per window: the simulator has no limits here


def day_window_ms(day) -> tuple[int, int]:
    from cursor_analytics.cursor_api import day_end_ms, day_start_ms

    return day_start_ms(day), day_end_ms(day)


def bare_load(sim: SimProcess, day, workdir: Path) -> dict[str, Any]:
    """Fetch every page (pageSize 1000), keep the bodies as files, load them with one
    `CREATE TABLE ... AS SELECT unnest(usageEvents) FROM read_json(...)`."""
    pages = workdir / f"pages-{time.time_ns()}"
    pages.mkdir()
    start_ms, end_ms = day_window_ms(day)
    started, cpu, sim_cpu = time.perf_counter(), time.process_time(), sim.cpu_seconds()
    with httpx.Client(base_url=sim.base_url, auth=(sim.api_key, ""), timeout=60) as http:
        page, last = 1, 1
        while page <= last:
            response = http.post(
                PATH,
                json={"startDate": start_ms, "endDate": end_ms, "page": page, "pageSize": 1000},
            )
            response.raise_for_status()
            (pages / f"{page:06d}.json").write_bytes(response.content)
            if page == 1:  # the number of pages, from the first page's envelope
                last = response.json()["pagination"]["numPages"]
            page += 1
    fetched = time.perf_counter() - started
    with duckdb.connect(str(workdir / f"bare-{time.time_ns()}.duckdb")) as conn:
        conn.execute(
            "CREATE TABLE usage_events AS SELECT unnest(usageEvents, recursive := true) "
            f"FROM read_json('{pages.as_posix()}/*.json', maximum_object_size = 67108864)"
        )
        rows = conn.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "fetch_seconds": fetched,
        "rows": rows,
        "pages": last,
        "cpu_seconds": time.process_time() - cpu,
        "simulator_cpu_seconds": sim.cpu_seconds() - sim_cpu,
    }


def our_load(sim: SimProcess, day, workdir: Path, profile: bool = False) -> dict[str, Any]:
    """The product's asset, one partition, in-process Dagster run with an ephemeral instance."""
    import dagster as dg

    from cursor_analytics.defs.ingestion.assets import usage_events

    db = workdir / f"ours-{time.time_ns()}.duckdb"
    res = resources(sim, db, rate_limits=NO_PACING)
    profiler = cProfile.Profile() if profile else None
    started, cpu, sim_cpu = time.perf_counter(), time.process_time(), sim.cpu_seconds()
    if profiler:
        profiler.enable()
    result = dg.materialize(
        [usage_events], partition_key=day.isoformat(), resources=res, instance=dg.DagsterInstance.ephemeral()
    )
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    assert result.success
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0]
    out: dict[str, Any] = {
        "seconds": seconds,
        "rows": rows,
        "cpu_seconds": time.process_time() - cpu,  # every thread of this process
        "simulator_cpu_seconds": sim.cpu_seconds() - sim_cpu,
    }
    if profiler:
        out["profile"] = breakdown(profiler, seconds)
    return out


# Where the time of our path goes: cumulative seconds of these functions in the caller's thread,
# under cProfile. Fetching runs in the fetching thread and typing in the typing thread: here they
# show only as the waits for them; each body is parsed in the caller's thread.
STAGES = {
    "paging loop: parsing each body, its checks, and the wait for the page fetched ahead": ("_read",),
    "staging each page's response body (a file per page)": ("append_page",),
    "waiting for the batch being typed (DuckDB, typing thread)": ("_settle",),
    "normalising records in Python (only those the bulk query leaves)": ("normalise_all",),
    "publish to DuckDB (one transaction)": ("publish",),
}


def breakdown(profiler: cProfile.Profile, seconds: float) -> dict[str, float]:
    stats = pstats.Stats(profiler).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    out = {}
    for label, names in STAGES.items():
        total = 0.0
        for (_file, _line, func), (_cc, _nc, _tt, ct, callers) in stats.items():
            matches = func in names or any(
                func.endswith(f".{n}'>") or func == f"<method '{n}' of '_socket.socket' objects>"
                for n in names
            )
            # count only top-level entries of recursive or nested calls
            if matches and not any(c[2] in names for c in callers):
                total += ct
        out[label] = round(total, 3)
    out["total (profiled)"] = round(seconds, 3)
    return out


def run(events: int, repeats: int, users: int, seed: int) -> dict[str, Any]:
    today = utc_today()
    day = today - timedelta(days=1)
    ours, bare = [], []
    with (
        SimProcess(
            seed=seed, users=users, days=30, today=today, rate_limits=False, events_per_day={day: events}
        ) as sim,
        tempfile.TemporaryDirectory(prefix="cursor-bench-") as workdir,
    ):
        work = Path(workdir)
        bare_load(sim, day, work)  # warm the simulator's plan of the day (not counted)
        for i in range(repeats):  # alternate the order: neither side always goes first
            pair = [
                lambda: ours.append(our_load(sim, day, work)),
                lambda: bare.append(bare_load(sim, day, work)),
            ]
            for step in pair if i % 2 == 0 else reversed(pair):
                step()
        profile = our_load(sim, day, work, profile=True)["profile"]
    assert all(r["rows"] == events for r in ours + bare), (ours, bare)
    ours_s, bare_s = median([r["seconds"] for r in ours]), median([r["seconds"] for r in bare])
    return {
        "events": events,
        "users": users,
        "repeats": repeats,
        "ours": ours,
        "bare": bare,
        "median_ours_seconds": ours_s,
        "median_bare_seconds": bare_s,
        "median_bare_fetch_seconds": median([r["fetch_seconds"] for r in bare]),
        "ours_rows_per_second": events / ours_s,
        "bare_rows_per_second": events / bare_s,
        "ratio": ours_s / bare_s,
        "median_ours_cpu_seconds": median([r["cpu_seconds"] for r in ours]),
        "median_bare_cpu_seconds": median([r["cpu_seconds"] for r in bare]),
        "median_simulator_cpu_seconds": median([r["simulator_cpu_seconds"] for r in ours + bare]),
        "profile": profile,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## 3. Ingestion overhead against a bare fetch + DuckDB bulk insert",
        "",
        f"One day of {result['events']:,} usage events ({result['users']}-user team), rate limits "
        "off, simulator in its own process. *Ours*: `dg.materialize` of `raw/usage_events` for the "
        "day (client paging with its checks and one page prefetched, each response body staged, "
        "every record typed in bulk by DuckDB, one publish transaction, metadata). "
        "*Bare*: httpx fetches the same 1,000-event pages, DuckDB `read_json` loads them in one "
        f"statement. Medians of {result['repeats']} alternating runs.",
        "",
        "| path | seconds | rows/s | CPU seconds of the loading process (all threads) |",
        "|---|---:|---:|---:|",
        f"| ours | {result['median_ours_seconds']:.2f} | {result['ours_rows_per_second']:,.0f} | "
        f"{result.get('median_ours_cpu_seconds', float('nan')):.1f} |",
        f"| bare (of which fetching {result['median_bare_fetch_seconds']:.2f} s) | "
        f"{result['median_bare_seconds']:.2f} | {result['bare_rows_per_second']:,.0f} | "
        f"{result.get('median_bare_cpu_seconds', float('nan')):.1f} |",
        f"| **ours / bare** | **{result['ratio']:.2f}x** | | |",
        "",
        f"The simulator (the server, a process of its own on the same {os.cpu_count()} cores) "
        f"used {result.get('median_simulator_cpu_seconds', float('nan')):.1f} CPU seconds per load.",
        "",
        "Where our time goes (one more run under cProfile, which inflates Python-heavy parts; "
        "cumulative seconds, stages may nest):",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {label} | {value:.2f} |" for label, value in result["profile"].items()]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="usage events in the day")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side")
    parser.add_argument("--users", type=int, default=200, help="simulated team size")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated team")


if __name__ == "__main__":
    main(NAME, __doc__.split("\n\n")[0], add_arguments, run, markdown)
