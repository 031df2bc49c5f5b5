"""What the benchmark scripts share: the machine's description, medians, peak RSS, a temporary
Dagster instance, our resources pointed at a simulator, and the JSON/CLI plumbing."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cursor_analytics.cursor_api.dates import utc_now

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"


def utc_today() -> date:
    return utc_now().date()


def backfill_window(days: int, today: date | None = None) -> tuple[date, date]:
    """The last `days` complete UTC days: yesterday and the days before it."""
    end = (today or utc_today()) - timedelta(days=1)
    return end - timedelta(days=days - 1), end


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "dagster": version("dagster"),
        "duckdb": version("duckdb"),
        "pandas": version("pandas"),
        "httpx": version("httpx"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's current resident set size (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextmanager
def dagster_home() -> Iterator[Path]:
    """A fresh DAGSTER_HOME with the repository's dagster.yaml (pools, concurrency), for the
    duration of the block; `dg.DagsterInstance.get()` then opens a real, persistent instance."""
    previous = os.environ.get("DAGSTER_HOME")
    with tempfile.TemporaryDirectory(prefix="cursor-bench-dagster-") as home:
        shutil.copy(REPO / "dagster.yaml", Path(home) / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = home
        try:
            yield Path(home)
        finally:
            if previous is None:
                os.environ.pop("DAGSTER_HOME", None)
            else:
                os.environ["DAGSTER_HOME"] = previous


def resources(sim: Any, db_path: Path, **cursor_api: Any) -> dict[str, Any]:
    """Our real resources pointed at a simulator, with its rate-limit window length."""
    from cursor_analytics.defs.resources import CursorApiResource, WarehouseResource

    settings = {
        "api_key": sim.api_key,
        "base_url": sim.base_url,
        "rate_limit_window_seconds": sim.minute_seconds,
        **cursor_api,
    }
    return {
        "cursor_api": CursorApiResource(**settings),
        "duckdb": WarehouseResource(database=str(db_path)),
    }


def int_list(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(
    name: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[..., dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
) -> None:
    """The command line of one benchmark script: run it, save its result as JSON (default
    bench/results/NAME.json) and print its section of RESULTS.md."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / f"{name}.json", help="where to write the result (JSON)"
    )
    add_arguments(parser)
    args = vars(parser.parse_args())
    out: Path = args.pop("out")
    result = {
        "benchmark": name,
        "command": " ".join(
            ["python -m", f"bench.{name}", *(a.replace(f"{REPO}/", "") for a in sys.argv[1:])]
        ),
        "machine": machine(),
        **run(**args),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(markdown(result))
