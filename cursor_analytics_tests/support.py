"""Helpers for tests that run the real Dagster assets against a simulator and a DuckDB file,
and the suite's one clock.

The suite's clock: every test runs at `NOW` (default 2025-06-23 12:00 UTC, a Monday). It is set
as `CURSOR_ANALYTICS_NOW` before the code under test is imported, so the code (today's date,
snapshot times, runs without an as-of tag) and every simulator made with `now=NOW` agree on the
date, and the data is the same on every calendar day. Set `CURSOR_ANALYTICS_NOW` to run the
suite at another time (`test_clock.py` does, for a cycle start and month ends).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from cursor_analytics.cursor_api.dates import NOW_ENV

SUITE_NOW = "2025-06-23T12:00:00+00:00"
os.environ.setdefault(NOW_ENV, SUITE_NOW)  # before the definitions load: their partitions read it
NOW = datetime.fromisoformat(os.environ[NOW_ENV].replace("Z", "+00:00"))
TODAY = NOW.date()

from cursor_analytics.definitions import defs  # noqa: E402
from cursor_analytics.defs.jobs import daily_assets, snapshot_assets  # noqa: E402
from cursor_analytics.defs.partitions import range_tags  # noqa: E402
from cursor_analytics.defs.resources import CursorApiResource, WarehouseResource  # noqa: E402
from cursor_analytics.warehouse import connect  # noqa: E402

ALL_ASSETS = list(defs.assets)


def resources(sim: Any, db_path: Path, **cursor_api: Any) -> dict[str, Any]:
    """Our real resources, pointed at `sim` with its scaled rate-limit clock and fast retries."""
    settings = {
        "api_key": sim.api_key,
        "base_url": sim.base_url,
        "rate_limit_window_seconds": sim.minute_seconds,
        "backoff_base_seconds": 0.01,
        **cursor_api,
    }
    return {
        "cursor_api": CursorApiResource(**settings),
        "duckdb": WarehouseResource(database=str(db_path)),
    }


def materialize_days(
    res: dict[str, Any],
    start: date,
    end: date,
    selection: dg.AssetSelection = daily_assets,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """One single-run backfill of [start, end] for the partitioned assets in `selection`."""
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources=res,
        instance=instance,
        tags=range_tags(start, end),
        raise_on_error=raise_on_error,
    )


def materialize_snapshots(
    res: dict[str, Any], instance: dg.DagsterInstance | None = None, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ALL_ASSETS,
        selection=snapshot_assets,
        resources=res,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def query(db_path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Read the warehouse as a notebook should: read-only, waiting while a run (or the UI's
    sensor) holds the file."""
    with connect(str(db_path), read_only=True, lock_timeout_seconds=120) as conn:
        return conn.execute(sql, params or []).fetchall()


def table_contents(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the raw and analytics schemas, rows sorted, load timestamps left out."""
    with duckdb.connect(str(db_path), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'analytics') ORDER BY 1"
        ).fetchall()
        contents = {}
        for (fqn,) in tables:
            columns = [
                (r[0], r[1])
                for r in conn.execute(f"DESCRIBE {fqn}").fetchall()
                if r[0] not in ("_loaded_at", "snapshot_at")
            ]
            # floats to 9 decimals: DuckDB's parallel sums may add in another order (last bits)
            select = ", ".join(
                f'CAST(round("{c}", 9) AS VARCHAR)'
                if kind in ("DOUBLE", "FLOAT")
                else f'CAST("{c}" AS VARCHAR)'
                for c, kind in columns
            )
            contents[fqn] = sorted(
                conn.execute(f"SELECT {select} FROM {fqn}").fetchall(),
                key=lambda row: tuple("" if v is None else v for v in row),
            )
        return contents
