"""Benchmarks 1 and 2: backfills against the Cursor API's request floor and rate-limit floor.

Each run is a real backfill: the product's `cursor_daily_job` (raw assets and partitioned
metrics) launched as ONE range run with `dg.execute_job` on the code location's own executor
(multiprocess: each asset a step process of its own, so endpoints with separate rate limits are
fetched side by side), against a real Dagster instance in a temporary DAGSTER_HOME, a fresh DuckDB file, and
the simulator in a process of its own with its documented rate limits on and its clock scaled
(`--minute-seconds`: one rate-limit minute lasts that many seconds).

1. Requests: what the simulator saw per endpoint, against the floor computed from its ground
   truth: daily usage ceil(days / 30); usage events and AI code the sum over 30-day chunks of
   max(1, ceil(items / 1000)) pages; audit logs the same at 500 a page.
2. Wall time against the rate-limit floor: an endpoint needs ceil(requests / limit) windows and
   endpoints proceed in parallel, so the floor of a backfill is the largest of them.

    python -m bench.backfill --days 30,90,365 --users 200 --minute-seconds 10 --repeats 3 --long-repeats 2
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import backfill_window, dagster_home, int_list, main, median, utc_today
from bench.sim_server import SimProcess
from cursor_analytics.cursor_api import days_in
from cursor_analytics.defs.partitions import range_tags

NAME = "backfill"
CHUNK_DAYS = 30  # the client's max_days_per_request (current docs)
PAGE_SIZE = 1000
AUDIT_PAGE_SIZE = 500
PEER_PAGE_SIZE = 100  # what tools that keep the API's default page size pay

# endpoint path -> (asset step key, ground-truth dataset, page size, documented limit per minute)
ENDPOINTS: dict[str, tuple[str, str | None, int, int]] = {
    "/teams/daily-usage-data": ("raw__daily_usage", None, PAGE_SIZE, 20),
    "/teams/filtered-usage-events": ("raw__usage_events", "usage_events", PAGE_SIZE, 60),
    "/analytics/ai-code/commits": ("raw__ai_commits", "ai_commits", PAGE_SIZE, 20),
    "/analytics/ai-code/changes": ("raw__ai_changes", "ai_changes", PAGE_SIZE, 20),
    "/teams/audit-logs": ("raw__audit_logs", "audit_logs", AUDIT_PAGE_SIZE, 20),
}


def chunks(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] as consecutive windows of CHUNK_DAYS days, worked out here rather than by
    the client's `split_days`: the floor must not come from the code it measures."""
    windows = []
    while start <= end:
        windows.append((start, min(end, start + timedelta(days=CHUNK_DAYS - 1))))
        start += timedelta(days=CHUNK_DAYS)
    return windows


def request_floor(
    start: date, end: date, users: int, truth: dict[date, dict[str, Any]]
) -> dict[str, dict[str, int]]:
    """Per endpoint: items, the fewest requests at our page size, and at a peer's 100."""
    floor: dict[str, dict[str, int]] = {}
    for path, (_, dataset, page_size, _) in ENDPOINTS.items():
        items = requests = peer = 0
        for lo, hi in chunks(start, end):
            days = days_in(lo, hi)
            if dataset is None:  # daily usage pages over users, not rows
                items += sum(truth[d]["daily_usage"]["rows"] for d in days)
                requests += max(1, math.ceil(users / page_size))
                peer += max(1, math.ceil(users / PEER_PAGE_SIZE))
                continue
            n = sum(truth[d][dataset]["rows"] for d in days)
            items += n
            requests += max(1, math.ceil(n / page_size))
            peer += max(1, math.ceil(n / min(page_size, PEER_PAGE_SIZE)))
        floor[path] = {"items": items, "requests": requests, "requests_at_page_size_100": peer}
    return floor


def run_once(sim: SimProcess, start: date, end: date, minute_seconds: float, workdir: Path) -> dict[str, Any]:
    """One backfill of [start, end] through Dagster; wall times and the simulator's counts."""
    import dagster as dg

    from bench.jobs import cursor_daily_job
    from cursor_analytics.defs.resources import run_config_from_env

    db = workdir / f"cursor-{start}-{end}-{time.time_ns()}.duckdb"
    os.environ.update(
        CURSOR_API_KEY=sim.api_key, CURSOR_API_BASE_URL=sim.base_url, CURSOR_ANALYTICS_DB=str(db)
    )
    run_config = run_config_from_env(rate_limit_window_seconds=minute_seconds)
    sim.reset()
    instance = dg.DagsterInstance.get()
    load_before = os.getloadavg()[0]
    started = time.time()
    result = dg.execute_job(
        dg.reconstructable(cursor_daily_job),
        instance=instance,
        run_config=run_config,
        tags=range_tags(start, end),
        raise_on_error=True,
    )
    wall = time.time() - started
    if not result.success:  # a failed step does not raise from its own process
        raise SystemExit(
            f"The {start}..{end} backfill failed (run {result.run_id}): its steps' errors are logged above."
        )
    counts = sim.counts()
    run_stats = instance.get_run_stats(result.run_id)
    steps = {s.step_key: s for s in instance.get_run_step_stats(result.run_id)}
    raw_steps = [steps[key] for key, *_ in ENDPOINTS.values()]
    api_end = max(s.end_time for s in raw_steps)
    fetched = {  # when each raw step logged its last page ("Fetched N rows ..."): the rest is the publish
        e.step_key: e.timestamp - started
        for e in instance.all_logs(result.run_id)
        if e.step_key and e.user_message.startswith("Fetched ")
    }
    db.unlink(missing_ok=True)
    return {
        "wall_seconds": wall,
        "run_seconds": run_stats.end_time - run_stats.start_time,
        # from the launch to the end of the last raw (API) step: the part bound by rate limits
        "api_phase_seconds": api_end - started,
        "first_step_start_seconds": min(s.start_time for s in steps.values()) - started,
        "steps": {
            key: {
                "start": s.start_time - started,
                "seconds": s.end_time - s.start_time,
                "fetched": fetched.get(key),
            }
            for key, s in sorted(steps.items())
        },
        "requests": {path: sum(by_status.values()) for path, by_status in counts.items()},
        "rate_limited_429": sum(by_status.get("429", 0) for by_status in counts.values()),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


# Dagster's own switch: a range run plans ONE "materialization planned" event per asset instead
# of one per asset and day (3,678 events for 365 days of cursor_daily_job), at the price that a
# failed range run does not mark its days failed. Read by the process that creates the run.
PLANNED_AS_RANGES = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def run(
    days: list[int],
    users: int,
    minute_seconds: float,
    repeats: int,
    long_repeats: int,
    seed: int,
    planned_events_as_ranges: bool,
) -> dict[str, Any]:
    today = utc_today()
    if planned_events_as_ranges:
        os.environ[PLANNED_AS_RANGES] = "1"
    from cursor_analytics.cursor_api.pacing import MARGIN_SECONDS, MARGIN_SHARE, default_margin

    backfills = []
    with (
        SimProcess(
            seed=seed,
            users=users,
            days=max(days) + 10,
            today=today,
            rate_limits=True,
            minute_seconds=minute_seconds,
        ) as sim,
        dagster_home(),
        tempfile.TemporaryDirectory(prefix="cursor-bench-") as workdir,
    ):
        first, last = backfill_window(max(days), today)
        # Ground truth of every day (this also warms the simulator's caches for every run).
        truth = {
            first + timedelta(days=i): sim.ground_truth(first + timedelta(days=i))
            for i in range((last - first).days + 1)
        }
        for n_days in days:
            start, end = backfill_window(n_days, today)
            floor = request_floor(start, end, users, truth)
            windows = {path: math.ceil(floor[path]["requests"] / ENDPOINTS[path][3]) for path in ENDPOINTS}
            floor_seconds = max(windows.values()) * minute_seconds
            n_runs = repeats if n_days <= 90 else long_repeats
            runs = [run_once(sim, start, end, minute_seconds, Path(workdir)) for _ in range(n_runs)]
            backfills.append(
                {
                    "days": n_days,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "floor": floor,
                    "floor_windows": windows,
                    "floor_seconds": floor_seconds,
                    "runs": runs,
                    "median_wall_seconds": median([r["wall_seconds"] for r in runs]),
                    "median_api_phase_seconds": median([r["api_phase_seconds"] for r in runs]),
                    "median_step_seconds": {
                        key: median([r["steps"][key]["seconds"] for r in runs]) for key in runs[0]["steps"]
                    },
                }
            )
    return {
        "users": users,
        "seed": seed,
        "minute_seconds": minute_seconds,
        "pacing_margin_seconds": default_margin(minute_seconds),
        "pacing_margin_formula": f"{MARGIN_SHARE:.0%} + {MARGIN_SECONDS * 1000:.0f} ms",
        "pacing_margin_seconds_at_60": default_margin(60.0),
        "repeats": repeats,
        "long_repeats": long_repeats,
        "planned_events_as_ranges": planned_events_as_ranges,
        "backfills": backfills,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## 1. Requests per endpoint against the floor",
        "",
        f"{result['users']}-user simulated team (seed {result['seed']}), backfills ending yesterday, "
        "requests as counted by the simulator in every timed run below (all runs alike; "
        "429 answers included). Floor: daily usage ceil(days / 30); usage events and AI code "
        "the sum over 30-day chunks of max(1, ceil(items / 1000)); audit logs the same at 500.",
        "",
        "| days | endpoint | items | floor | measured (every run) | 429s | at pageSize 100 |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for b in result["backfills"]:
        for path, f in b["floor"].items():
            measured = sorted({r["requests"].get(path, 0) for r in b["runs"]})
            shown = ", ".join(str(m) for m in measured)
            mark = "" if measured == [f["requests"]] else " **(off the floor)**"
            lines.append(
                f"| {b['days']} | `{path}` | {f['items']:,} | {f['requests']:,} | {shown}{mark} | "
                f"{max(r['rate_limited_429'] for r in b['runs'])} | {f['requests_at_page_size_100']:,} |"
            )
    return "\n".join(lines + ["", wall_table(result, "## 2. Wall time against the rate-limit floor")])


def wall_table(result: dict[str, Any], heading: str) -> str:
    w = result["minute_seconds"]
    margin = result["pacing_margin_seconds"]
    lines = [
        heading,
        "",
        f"The same backfills: `cursor_daily_job` (raw assets, their checks, partitioned metrics) "
        f"as one range run on the code location's executor (multiprocess, forkserver, up to 8 "
        f"steps side by side: the endpoints in parallel), a real instance in a temporary "
        f"DAGSTER_HOME, documented limits on, one rate-limit minute = {w:g} s. Floor = the "
        "largest over endpoints of ceil(requests / limit) windows. *API phase* = launch to the "
        "end of the last raw step (what rate limits bound); *whole run* adds the metric steps. "
        f"Medians of {result['repeats']} runs ({result.get('long_repeats', result['repeats'])} "
        "for backfills over 90 days); the machine's load average is in each run's JSON. "
        "*Launch to first step*: Dagster creating the run (one planned event per asset and day"
        + (
            f"; here with {PLANNED_AS_RANGES}=1, one per asset"
            if result.get("planned_events_as_ranges")
            else ""
        )
        + ") and starting it.",
        "",
        "| days | floor windows (events / changes / commits / daily / audit) | floor | launch to first step | API phase | ratio | whole run | ratio | usage-events step / its floor | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in result["backfills"]:
        fw = b["floor_windows"]
        order = [
            "/teams/filtered-usage-events",
            "/analytics/ai-code/changes",
            "/analytics/ai-code/commits",
            "/teams/daily-usage-data",
            "/teams/audit-logs",
        ]
        api, wall, floor = b["median_api_phase_seconds"], b["median_wall_seconds"], b["floor_seconds"]
        ev = b["median_step_seconds"].get("raw__usage_events", float("nan"))
        ev_floor = fw["/teams/filtered-usage-events"] * w
        load = median([r["load_average"][0] for r in b["runs"] if "load_average" in r] or [float("nan")])
        created = median([r["first_step_start_seconds"] for r in b["runs"]])
        lines.append(
            f"| {b['days']} | {' / '.join(str(fw[p]) for p in order)} | {floor:.0f} s | {created:.1f} s | "
            f"{api:.1f} s | **{api / floor:.2f}** | {wall:.1f} s | {wall / floor:.2f} | "
            f"{ev:.1f} s / {ev_floor:.0f} s | {load:.1f} |"
        )
    lines += [
        "",
        f"Pacing margin: the client allows at most `limit` requests in any `window + margin` "
        f"seconds (margin {result.get('pacing_margin_formula', '5% + 50 ms')}: {margin:.2f} s per {w:g} s window here, "
        f"{result['pacing_margin_seconds_at_60']:.2f} s per real 60 s minute), so that no request "
        f"lands in a server window that is already full: a paced endpoint needs at least "
        f"(windows - 1) x (window + margin) plus its last burst.",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days", type=int_list, default=[30, 90, 365], help="backfill lengths, comma-separated"
    )
    parser.add_argument("--users", type=int, default=200, help="simulated team size")
    parser.add_argument(
        "--minute-seconds", type=float, default=10.0, help="length of one rate-limit minute, in seconds"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backfill of up to 90 days")
    parser.add_argument("--long-repeats", type=int, default=2, help="timed runs per longer backfill")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated team")
    parser.add_argument(
        "--planned-events-as-ranges",
        action="store_true",
        help=f"set {PLANNED_AS_RANGES}=1: one planned event per asset for a range run",
    )


if __name__ == "__main__":
    main(NAME, __doc__.split("\n\n")[0], add_arguments, run, markdown)
