"""What the commands read from their environment: the Cursor API key, and the Dagster instance
folder they run in ($DAGSTER_HOME, else .dagster_home/ with the repository's dagster.yaml
copied in: the same instance `make ui` shows)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import click

from cursor_analytics.cursor_api.dates import NOW_ENV, utc_now

API_KEY_ENV = "CURSOR_API_KEY"


def require_api_key() -> str:
    """The Cursor API key from CURSOR_API_KEY; a usage error saying what to set when missing."""
    key = os.environ.get(API_KEY_ENV, "")
    if not key:
        raise click.UsageError(
            f"{API_KEY_ENV} is not set: export your Cursor team API key (crsr_... or key_...; "
            "an Admin API key for spend-limits and blocklists)."
        )
    return key


def prepare_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and Path("dagster.yaml").exists():
        shutil.copy("dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prepare_instance(instance) -> list[str]:
    """Create the row of every pool the code location uses, at the instance's default limit,
    before any run: on a PostgreSQL instance two runs that first claim the same pool at once
    collide creating its row (duplicate key), and a changed default limit makes claims on
    existing default rows fail. Run from one process (setup, demo). Returns the pool names."""
    from cursor_analytics.definitions import defs

    pools = sorted(
        {
            op.pool
            for job in defs.get_repository_def().get_all_jobs()
            for op in job.graph.iterate_op_defs()
            if op.pool
        }
    )
    storage = instance.event_log_storage
    limit = instance.global_op_concurrency_default_limit or 1
    existing = {p.name: p.limit for p in storage.get_pool_limits()}
    for pool in pools:
        if existing.get(pool) != limit:
            storage.set_concurrency_slots(pool, limit)
    return pools


def simulator_now() -> datetime | None:
    """The bundled simulator's clock: fixed at `CURSOR_ANALYTICS_NOW` when it is set (a replay,
    the tests), so that the simulated team and the code agree on today; else the system clock."""
    return utc_now() if os.environ.get(NOW_ENV, "").strip() else None
