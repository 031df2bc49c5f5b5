"""The audit log of governance writes: table governance.audit_log in DuckDB.

One row per write attempted against the Cursor API (a spend limit set, a repository blocklist
upserted or deleted): who, what, the value before and after, the outcome, the Dagster run and
the governance file (path and SHA-256) it came from.

Audit first, then write: the row is committed as `pending` BEFORE the API call, and its outcome
(`success` or `error`) is recorded when the API answers. A write is never made without its row:
if DuckDB cannot take the row, the write is not attempted. A row that stays `pending` (the
process was killed mid-call, the answer never came, or DuckDB refused the outcome) is settled
by the next plan or apply, which compares it with the live state and records what really
happened: `success` (the value written is there), `not_written` (the value before is still
there) or `unknown` (neither: someone else changed it since).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb

from cursor_analytics.cursor_api import (
    BadRequestError,
    CursorApiError,
    InsufficientAccessError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitError,
)
from cursor_analytics.governance.files import Source
from cursor_analytics.warehouse import Staging, Table, ensure_table, table_exists

ACTOR_ENV = "CURSOR_ANALYTICS_ACTOR"
PENDING, SUCCESS, ERROR, NOT_WRITTEN, UNKNOWN = "pending", "success", "error", "not_written", "unknown"

logger = logging.getLogger(__name__)

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
        "write_id": "str",
        "completed_at": "datetime",
    },
    day_column=None,
    descriptions={
        "recorded_at": "UTC time the write was about to be made (the row is committed before the API call)",
        "actor": f"who applied the file: the actor setting, else ${ACTOR_ENV}, else the OS user",
        "action": "set_user_spend_limit | upsert_repo_blocklist | delete_repo_blocklist",
        "target": "member email or repository URL",
        "before": "value before the write (NULL: none, or not known)",
        "after": "value written (NULL for a deletion)",
        "outcome": "pending (no answer recorded yet) | success | error (refused by the API) | "
        "not_written | unknown (the last two, and success, also as settled against the live state)",
        "message": "the API's message, or the error, or how a pending write was settled",
        "run_id": "Dagster run that made the write",
        "source_file": "governance file applied",
        "source_sha256": "SHA-256 of the file's bytes as applied",
        "write_id": "identifier of the write (NULL for rows recorded before intents existed)",
        "completed_at": "UTC time the outcome was recorded (NULL while pending)",
    },
)

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
T = TypeVar("T")

# API errors that say the write was refused, so it was certainly not made. Any other failure
# (a 5xx, a timeout, a dropped connection) may have happened after Cursor made the change.
REFUSALS = (
    BadRequestError,
    InvalidCredentialsError,
    InsufficientAccessError,
    NotFoundError,
    RateLimitError,
    ValueError,
)


def default_actor() -> str:
    """Who is applying: $CURSOR_ANALYTICS_ACTOR, else the operating-system user."""
    actor = os.environ.get(ACTOR_ENV, "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (e.g. a container without passwd)
        return "unknown"


@dataclass(frozen=True)
class Intent:
    """A write about to be made."""

    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class PendingWrite:
    """A row still `pending`: the write may or may not have reached Cursor."""

    write_id: str
    recorded_at: datetime  # naive UTC, as stored
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    run_id: str


def pending_writes(conn: duckdb.DuckDBPyConnection) -> list[PendingWrite]:
    """The rows of governance.audit_log still `pending`, oldest first (read-only)."""
    if not table_exists(conn, AUDIT_LOG.fqn):
        return []
    columns = {r[0] for r in conn.execute(f"DESCRIBE {AUDIT_LOG.ident}").fetchall()}
    if "write_id" not in columns:  # a table from before intents: nothing can be pending
        return []
    rows = conn.execute(
        f"SELECT write_id, recorded_at, action, target, before, after, run_id FROM {AUDIT_LOG.ident} "
        "WHERE outcome = ? ORDER BY recorded_at",
        [PENDING],
    ).fetchall()
    return [
        PendingWrite(w, at, action, target, _json(before), _json(after), run)
        for w, at, action, target, before, after, run in rows
    ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class AuditLog:
    """Records governance writes: a committed `pending` row before each API write, its outcome
    after it."""

    def __init__(self, connect: Connect, *, actor: str, run_id: str, source: Source):
        self._connect = connect
        self.actor = actor
        self.run_id = run_id
        self.source = source

    def write(
        self,
        intents: list[Intent],
        call: Callable[[], T],
        applied: list[str],
        describe: str,
        message: Callable[[T], str],
    ) -> T:
        """Audit first, then write: commit a `pending` row per intent, make the API call (one
        call may carry several intents, as one upsert does), then record its outcome. On
        success the targets are appended to `applied` before the outcome is recorded.

        Raises WriteFailed when the rows cannot be committed (the call is then not made) or
        the call fails, and AuditIncomplete when the call succeeded but its outcome could not
        be recorded (the rows stay `pending` until the next plan or apply settles them)."""
        try:
            ids = self._intend(intents)
        except Exception as exc:
            raise WriteFailed(describe, exc, list(applied), attempted=False) from exc
        try:
            result = call()
        except (CursorApiError, ValueError) as exc:
            refused = isinstance(exc, REFUSALS)
            note = "" if refused else f"{NO_ANSWER}: "
            self._complete_quietly(ids, ERROR if refused else PENDING, note + str(exc))
            raise WriteFailed(describe, exc, list(applied), attempted=not refused) from exc
        applied.extend(i.target for i in intents)
        try:
            self._complete(ids, SUCCESS, message(result))
        except Exception as exc:
            raise AuditIncomplete(describe, exc, list(applied)) from exc
        return result

    def settle(
        self, judge: Callable[[PendingWrite], tuple[str, str] | None]
    ) -> list[tuple[PendingWrite, str]]:
        """Settle the `pending` rows that `judge` can tell apart against the live state:
        judge(row) returns (outcome, why) or None (cannot tell yet). Returns what was settled."""
        with self._connect() as conn:
            rows = pending_writes(conn)
        settled = []
        for row in rows:
            verdict = judge(row)
            if verdict is None:
                continue
            outcome, why = verdict
            self._complete([row.write_id], outcome, f"settled by run {self.run_id}: {why}")
            settled.append((row, outcome))
        return settled

    def _intend(self, intents: Iterable[Intent]) -> list[str]:
        now = datetime.now(UTC)
        rows: list[Mapping[str, Any]] = [
            {
                "recorded_at": now,
                "actor": self.actor,
                "action": i.action,
                "target": i.target,
                "before": i.before,
                "after": i.after,
                "outcome": PENDING,
                "message": "about to write; the outcome is recorded when the API answers",
                "run_id": self.run_id,
                "source_file": self.source.path,
                "source_sha256": self.source.sha256,
                "write_id": uuid.uuid4().hex,
                "completed_at": None,
            }
            for i in intents
        ]
        with Staging([AUDIT_LOG]) as staging:
            staging.append(AUDIT_LOG, rows)
            with self._connect() as conn:
                staging.publish(conn, None)
        return [r["write_id"] for r in rows]

    def _complete(self, ids: list[str], outcome: str, message: str) -> None:
        with self._connect() as conn:
            ensure_table(conn, AUDIT_LOG)
            conn.execute(
                f"UPDATE {AUDIT_LOG.ident} SET outcome = ?, message = ?, completed_at = ? "
                "WHERE write_id IN (SELECT unnest(?::VARCHAR[]))",
                [outcome, message, datetime.now(UTC).replace(tzinfo=None), ids],
            )

    def _complete_quietly(self, ids: list[str], outcome: str, message: str) -> None:
        try:
            self._complete(ids, outcome, message)
        except Exception as exc:  # the row stays pending: the next plan or apply settles it
            logger.warning(f"The outcome of a failed write was not recorded ({exc}); it stays pending.")


NO_ANSWER = "no definite answer (the write may have reached Cursor; the next plan or apply checks)"


class WriteFailed(RuntimeError):
    """An apply that stopped at a write that failed or was not attempted. `applied` lists the
    writes made before it (each one is in the audit log)."""

    def __init__(self, target: str, error: Exception, applied: list[str], attempted: bool = True):
        self.target = target
        self.applied = applied
        if applied:
            done = f"{len(applied)} write(s) were made before it and are recorded in governance.audit_log"
        else:
            done = "No earlier write was made"
        if not attempted:
            head = f"{target} was not written: its audit row could not be recorded first ({error})"
        elif isinstance(error, REFUSALS):
            head = f"writing {target} failed: {error}"
        else:
            head = (
                f"writing {target} failed: {error}. Whether it reached Cursor is not known: its "
                "audit row stays pending and the next plan or apply records what really happened"
            )
        super().__init__(f"{head}. {done}; the rest were not attempted.")


class AuditIncomplete(RuntimeError):
    """A write that was made, but whose outcome the audit log could not record."""

    def __init__(self, target: str, error: Exception, applied: list[str]):
        self.target = target
        self.applied = applied
        super().__init__(
            f"{target} was written to Cursor, but its outcome could not be recorded in "
            f"governance.audit_log ({error}). Its row stays pending and the next plan or apply "
            f"records what really happened. {len(applied)} write(s) were made in this apply; "
            "the rest were not attempted."
        )
