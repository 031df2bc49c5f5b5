"""Benchmark 7: where the publish of a year's usage events goes. A range run inserts every
event of its days into DuckDB after the last page, in one transaction (a failed run writes
nothing), so the insert is the one cost of the usage-events step that the rate limit's waits
cannot hide. The events of `--days` days are fetched from the simulator (pacing off) and staged
as the asset stages them (`Staging.append_page`: typed in bulk into Parquet); then
`Staging.publish` inserts them into a fresh DuckDB file, and the same INSERT runs again with one
cost taken away or one setting changed at a time, each into a fresh file.

    python -m bench.publish --days 365 --repeats 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import backfill_window, main, median, resources, utc_today
from bench.ingestion import NO_PACING
from bench.sim_server import SimProcess

NAME = "publish"

# (label, DuckDB settings on top of the publish's, what the INSERT writes): each changes one
# thing against "the same INSERT" (as `Staging.publish` runs it, without the DELETE).
VARIANTS: list[tuple[str, dict[str, str], str]] = [
    ("the same INSERT", {}, "insert"),
    ("only reading the staged Parquet (no insert)", {}, "scan"),
    ("the INSERT without the `raw` column (NULL)", {}, "no_raw"),
    ("the INSERT, columns stored uncompressed", {"force_compression": "uncompressed"}, "insert"),
    (
        "the INSERT, DuckDB's allocator flush thresholds (128 / 512 MiB)",
        {"allocator_flush_threshold": "128MiB", "allocator_bulk_deallocation_flush_threshold": "512MiB"},
        "insert",
    ),
    (
        "the INSERT, 2 threads, 256 MiB, insertion order not kept",
        {"threads": "2", "memory_limit": "256MiB", "preserve_insertion_order": "false"},
        "insert",
    ),
]


def stage(sim: SimProcess, window, workdir: Path):
    """A Staging holding every usage event of `window`, fetched and typed as the asset does."""
    from cursor_analytics.warehouse import Staging
    from cursor_analytics.warehouse.tables import USAGE_EVENTS

    staging = Staging([USAGE_EVENTS])
    started = time.perf_counter()
    with resources(sim, workdir / "unused.duckdb", rate_limits=NO_PACING)[
        "cursor_api"
    ].get_client() as client:
        for page in client.usage_events(*window):
            if page.restarted:
                staging.discard(page.window)
            staging.append_page(USAGE_EVENTS, page)
    staging.close()
    return staging, time.perf_counter() - started


def publish_once(staging, window, db: Path) -> float:
    """`Staging.publish` (DELETE the window, INSERT, COMMIT) into a fresh DuckDB file."""
    from cursor_analytics import warehouse

    conn = warehouse.connect(str(db))
    try:
        started = time.perf_counter()
        staging.publish(conn, window)
        return time.perf_counter() - started
    finally:
        conn.close()


def variant_once(staging, db: Path, settings: dict[str, str], what: str) -> tuple[float, int]:
    """One variant into a fresh DuckDB file: seconds, and the rows it inserted or read."""
    from cursor_analytics import warehouse
    from cursor_analytics.warehouse.tables import USAGE_EVENTS

    conn = warehouse.connect(str(db))
    try:
        warehouse.ensure_table(conn, USAGE_EVENTS)
        for name, value in {**warehouse.PUBLISH_SETTINGS, **settings}.items():
            conn.execute(f"SET {name} = '{value}'")
        source = staging.source(USAGE_EVENTS)
        select = f"SELECT *{' REPLACE (NULL::JSON AS raw)' if what == 'no_raw' else ''}, now()::TIMESTAMP AS _loaded_at"
        sql = (
            f"SELECT count(*), max(COLUMNS(*)) FROM {source}"
            if what == "scan"
            else f"INSERT INTO {USAGE_EVENTS.ident} BY NAME {select} FROM {source}"
        )
        started = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        rows = warehouse.scalar(conn, sql)
        conn.execute("COMMIT")
        return time.perf_counter() - started, rows
    finally:
        conn.close()


def run(days: int, repeats: int, users: int, seed: int) -> dict[str, Any]:
    today = utc_today()
    window = backfill_window(days, today)
    with (
        SimProcess(seed=seed, users=users, days=days + 10, today=today, rate_limits=False) as sim,
        tempfile.TemporaryDirectory(prefix="cursor-bench-publish-") as workdir,
    ):
        work = Path(workdir)
        staging, staging_seconds = stage(sim, window, work)
        with staging:
            events = staging.row_counts["raw.usage_events"]
            shipped, variants = [], {label: [] for label, _s, _w in VARIANTS}
            rows: dict[str, int] = {}
            for i in range(repeats):
                shipped.append(publish_once(staging, window, work / f"shipped-{i}.duckdb"))
                for n, (label, settings, what) in enumerate(VARIANTS):
                    seconds, rows[label] = variant_once(
                        staging, work / f"variant-{i}-{n}.duckdb", settings, what
                    )
                    variants[label].append(seconds)
    return {
        "days": days,
        "users": users,
        "repeats": repeats,
        "events": events,
        "staging_seconds": staging_seconds,
        "publish_seconds": shipped,
        "median_publish_seconds": median(shipped),
        "variants": [
            {
                "label": label,
                "settings": settings,
                "rows": rows[label],
                "seconds": variants[label],
                "median_seconds": median(variants[label]),
            }
            for label, settings, _what in VARIANTS
        ],
    }


def markdown(result: dict[str, Any]) -> str:
    from cursor_analytics.warehouse import PUBLISH_SETTINGS

    settings = ", ".join(f"{k} {v}" for k, v in PUBLISH_SETTINGS.items())
    lines = [
        "## 7. The publish of a backfill's usage events",
        "",
        f"{result['events']:,} usage events of {result['days']} days ({result['users']}-user team), "
        f"staged as the asset stages them ({result['staging_seconds']:.1f} s to fetch unpaced and "
        "type), then inserted into a fresh DuckDB file in one transaction, under the publish's "
        f"settings ({settings}) unless a row says otherwise. Medians of {result['repeats']} runs.",
        "",
        "| what runs | seconds | µs per event |",
        "|---|---:|---:|",
        f"| `Staging.publish` as shipped (DELETE, INSERT, COMMIT) | {result['median_publish_seconds']:.2f} | "
        f"{1e6 * result['median_publish_seconds'] / max(result['events'], 1):.1f} |",
    ]
    lines += [
        f"| {v['label']} | {v['median_seconds']:.2f} | {1e6 * v['median_seconds'] / max(result['events'], 1):.1f} |"
        for v in result["variants"]
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=365, help="days of usage events to publish")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant")
    parser.add_argument("--users", type=int, default=200, help="simulated team size")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated team")


if __name__ == "__main__":
    main(NAME, __doc__.split("\n\n")[0], add_arguments, run, markdown)
