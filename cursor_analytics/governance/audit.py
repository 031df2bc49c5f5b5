"""The audit log of governance writes: table governance.audit_log in DuckDB.

One row per write attempted against the Cursor API (a spend limit set, a repository blocklist
upserted or deleted): who, what, the value before and after, the outcome, the Dagster run and
the governance file (path and SHA-256) it came from. Each row is committed right after its API
call, through the warehouse's one writer, so a run that fails half-way still leaves a record of
every write it made.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import duckdb

from cursor_analytics.governance.files import Source
from cursor_analytics.warehouse import Staging, Table

ACTOR_ENV = "CURSOR_ANALYTICS_ACTOR"

AUDIT_LOG = Table(
    "governance",
    "audit_log",
    {
        "recorded_at": "datetime",
        "actor": "str",
        "action": "str",
        "target": "str",
        "before": "json",
        "after": "json",
        "outcome": "str",
        "message": "str",
        "run_id": "str",
        "source_file": "str",
        "source_sha256": "str",
    },
    day_column=None,
    descriptions={
        "recorded_at": "UTC time the API answered",
        "actor": f"who applied the file: the actor setting, else ${ACTOR_ENV}, else the OS user",
        "action": "set_user_spend_limit | upsert_repo_blocklist | delete_repo_blocklist",
        "target": "member email or repository URL",
        "before": "value before the write (NULL: none, or not known)",
        "after": "value written (NULL for a deletion)",
        "outcome": "success | error",
        "message": "the API's message, or the error",
        "run_id": "Dagster run that made the write",
        "source_file": "governance file applied",
        "source_sha256": "SHA-256 of the file's bytes as applied",
    },
)

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def default_actor() -> str:
    """Who is applying: $CURSOR_ANALYTICS_ACTOR, else the operating-system user."""
    actor = os.environ.get(ACTOR_ENV, "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (e.g. a container without passwd)
        return "unknown"


class AuditLog:
    """Records governance writes, one committed row per API write."""

    def __init__(self, connect: Connect, *, actor: str, run_id: str, source: Source):
        self._connect = connect
        self.actor = actor
        self.run_id = run_id
        self.source = source

    def record(
        self,
        action: str,
        target: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        outcome: str,
        message: str,
    ) -> None:
        row = {
            "recorded_at": datetime.now(UTC),
            "actor": self.actor,
            "action": action,
            "target": target,
            "before": before,
            "after": after,
            "outcome": outcome,
            "message": message,
            "run_id": self.run_id,
            "source_file": self.source.path,
            "source_sha256": self.source.sha256,
        }
        with Staging([AUDIT_LOG]) as staging:
            staging.append(AUDIT_LOG, [row])
            with self._connect() as conn:
                staging.publish(conn, None)


class WriteFailed(RuntimeError):
    """An apply that stopped at a failed write. `applied` lists the writes made before it (each
    one is in the audit log, as is the failure)."""

    def __init__(self, target: str, error: Exception, applied: list[str]):
        self.target = target
        self.applied = applied
        done = f"{len(applied)} write(s) were made before it and are recorded in governance.audit_log"
        super().__init__(f"writing {target} failed: {error}. {done}; the rest were not attempted.")
