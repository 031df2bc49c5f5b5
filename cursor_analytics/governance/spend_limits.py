"""Per-member spend limits as code: governance/spend_limits.yaml, its plan and its apply.

The file:

    default: 100            # whole dollars for every member without a role or user entry; null = no limit
    roles:                  # optional: owner, free-owner, member
      owner: null
    users:                  # optional: member email -> whole dollars or null
      ana@example.com: 250

A member's limit is their `users` entry, else their role's, else `default`.

The plan compares the file with the limits in the latest spend snapshot in DuckDB
(raw.spend_snapshots, `monthlyLimitDollars`), not with a live `/teams/spend` read: planning then
needs no API key and no request, every email is checked against the team before anything is
sent, and the plan shows the same cycle-to-date spend and projection as analytics.spend_per_user.
An apply refreshes the snapshots first (see governance.jobs), so it never acts on stale limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from cursor_analytics.cursor_api import CursorClient
from cursor_analytics.governance.audit import (
    NOT_WRITTEN,
    SUCCESS,
    UNKNOWN,
    AuditLog,
    Intent,
    PendingWrite,
)
from cursor_analytics.governance.files import GovernanceFileError, Problem, Reader, Source
from cursor_analytics.ui.metadata import markdown_table
from cursor_analytics.warehouse import Table, ensure_table, metrics, table_exists, tables

DEFAULT_PATH = "governance/spend_limits.yaml"
ROLES = ("owner", "free-owner", "member")
KEYS = ("default", "roles", "users")
EXPECTED = "a mapping with `default` (whole dollars or null) and optional `roles` and `users`"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SET_LIMIT = "set_user_spend_limit"


# ------------------------------------------------------------------ the file


@dataclass(frozen=True)
class Limit:
    """A limit in the file: whole dollars (None = no limit), and where it is written."""

    dollars: int | None
    field: str
    line: int

    @property
    def origin(self) -> str:
        return f"{self.field} (line {self.line})"


@dataclass(frozen=True)
class SpendLimitsFile:
    source: Source
    default: Limit
    roles: Mapping[str, Limit]
    users: Mapping[str, Limit]  # lower-cased email -> limit

    def limit_for(self, email: str, role: str | None) -> Limit:
        """The member's `users` entry, else their role's, else the default."""
        return self.users.get(email.lower()) or self.roles.get(role or "") or self.default


def load_spend_limits(path: str | Path = DEFAULT_PATH) -> SpendLimitsFile:
    """Read and validate a spend limits file. Raises GovernanceFileError listing every problem
    with its line and field; reads nothing but the file."""
    reader = Reader(path)
    root, source = reader.load(EXPECTED)
    default: Limit | None = None
    roles: dict[str, Limit] = {}
    users: dict[str, Limit] = {}
    if root is not None:
        keys = set()
        for key, key_node, value in reader.mapping(root, "settings (default, roles, users)"):
            keys.add(key)
            if key == "default":
                ok, dollars = reader.whole_dollars(value)
                if ok:
                    default = Limit(dollars, "default", value.line)
            elif key == "roles":
                roles = _entries(reader, value, "role: whole dollars or null", _role_problem)
            elif key == "users":
                users = _entries(reader, value, "member email: whole dollars or null", _email_problem)
            else:
                reader.problem(
                    key_node.line,
                    key,
                    f"unknown key: a spend limits file has only {', '.join(KEYS)} "
                    "(check the spelling and the indentation)",
                )
        if "default" not in keys and not reader.problems:
            reader.problem(
                root.line,
                "default",
                "is missing: add `default: <whole dollars>` (or `default: null` for no limit), "
                "the limit of members without a roles or users entry",
            )
    reader.raise_if_problems()
    assert default is not None
    return SpendLimitsFile(source, default, roles, users)


def _entries(reader: Reader, node, what: str, key_problem) -> dict[str, Limit]:
    entries: dict[str, Limit] = {}
    if node.is_null:
        return entries
    lines: dict[str, int] = {}
    for key, key_node, value in reader.mapping(node, what):
        problem = key_problem(key)
        if problem:
            reader.problem(key_node.line, key_node.field, problem)
            continue
        name = key.strip().lower()
        if name in lines:
            reader.problem(
                key_node.line, key_node.field, f"is the same as line {lines[name]} (case differs): keep one"
            )
            continue
        lines[name] = key_node.line
        ok, dollars = reader.whole_dollars(value)
        if ok:
            entries[name] = Limit(dollars, value.field, value.line)
    return entries


def _role_problem(role: str) -> str | None:
    if role in ROLES:
        return None
    return f"unknown role {role!r}: the roles are {', '.join(ROLES)}"


def _email_problem(email: str) -> str | None:
    if EMAIL.match(email.strip()):
        return None
    return f"{email!r} is not an email address: list members by their Cursor login email"


# ------------------------------------------------------------------ the team, from the warehouse


class MissingSnapshot(RuntimeError):
    pass


MISSING_SNAPSHOT = (
    "There is no spend snapshot in the warehouse to plan against: materialize raw/spend_snapshots "
    "and raw/team_members first (cursor_snapshot_job in Dagster, or `cursor-analytics demo`), "
    "or plan with refresh (`spend-limits plan --refresh`, or spend_limits_job with refresh: true)."
)


@dataclass(frozen=True)
class MemberSpend:
    email: str
    name: str | None
    role: str | None
    limit: float | None  # current monthlyLimitDollars; None = no limit (when limit_known)
    limit_known: bool  # False when the API's answer had no monthlyLimitDollars (older responses)
    spend_cents: float | None
    projected_cents: float | None


@dataclass(frozen=True)
class TeamSpend:
    """Current members with their limit and spend, from the latest snapshots in DuckDB."""

    snapshot_at: datetime
    cycle_start: datetime | None
    members: Mapping[str, MemberSpend]  # lower-cased email -> member (removed members left out)
    removed: frozenset[str]


def read_team_spend(
    conn: duckdb.DuckDBPyConnection,
    spend_at: datetime | None = None,
    members_at: datetime | None = None,
) -> TeamSpend | None:
    """The latest spend snapshot (raw.spend_snapshots) with each member's projection from
    analytics.spend_per_user's formula, minus members the latest raw.team_members snapshot shows
    as removed. None when there is no spend snapshot yet.

    `spend_at` / `members_at`: read the snapshot stamped with that time instead of the latest
    one, e.g. the snapshot a run has just taken. "Latest" is the largest `snapshot_at`, which is
    a run's as-of time and not necessarily the last snapshot taken (an as-of tag, a fixed clock).
    (The projection's SQL always reads the latest spend snapshot.)"""
    if not table_exists(conn, tables.SPEND_SNAPSHOTS.fqn):
        return None
    rows = conn.execute(
        f"""
        SELECT lower(email), name, role, spend_cents, raw, snapshot_at, subscription_cycle_start
        FROM {tables.SPEND_SNAPSHOTS.ident}
        WHERE snapshot_at = {_snapshot_at(tables.SPEND_SNAPSHOTS, spend_at)}
          AND email IS NOT NULL
        ORDER BY 1
        """,
        _params(spend_at),
    ).fetchall()
    if not rows:
        return None
    projected: dict[str, float] = {}
    joined = (tables.USAGE_EVENTS, tables.DAILY_USAGE)  # by the projection's SQL
    missing = [t for t in joined if not table_exists(conn, t.fqn)]
    if not missing or not _read_only(conn):  # read-only without events: no projection
        for table in missing:
            ensure_table(conn, table)
        projected = dict(
            conn.execute(
                f"SELECT email, projected_cycle_spend_cents FROM ({metrics.SPEND_PER_USER_SQL})"
            ).fetchall()
        )
    removed: set[str] = set()
    if table_exists(conn, tables.TEAM_MEMBERS.fqn):
        removed = {
            r[0]
            for r in conn.execute(
                f"""
                SELECT lower(email) FROM {tables.TEAM_MEMBERS.ident}
                WHERE snapshot_at = {_snapshot_at(tables.TEAM_MEMBERS, members_at)}
                  AND is_removed AND email IS NOT NULL
                """,
                _params(members_at),
            ).fetchall()
        }
    members = {}
    for email, name, role, spend_cents, raw_json, _, _ in rows:
        if email in removed:
            continue
        record: dict[str, Any] = json.loads(raw_json) if isinstance(raw_json, str) else (raw_json or {})
        known = "monthlyLimitDollars" in record
        limit = record.get("monthlyLimitDollars") if known else None
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        members[email] = MemberSpend(email, name, role, limit, known, spend_cents, projected.get(email))
    return TeamSpend(rows[0][5], rows[0][6], members, frozenset(removed))


def _read_only(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return bool(row and row[0])


def check_members(file: SpendLimitsFile, team: TeamSpend) -> None:
    """Every `users` entry must be a current member of the team in the snapshot."""
    problems = []
    for email, limit in file.users.items():
        if email in team.members:
            continue
        if email in team.removed:
            why = "has been removed from the team: delete this line"
        else:
            why = (
                f"is not a member of the team in the spend snapshot of {_when(team.snapshot_at)} "
                f"({len(team.members)} members): check the spelling, or if they joined since, "
                "refresh the snapshot (cursor_snapshot_job) and plan again"
            )
        problems.append(Problem(limit.line, limit.field, f"{email} {why}"))
    if problems:
        raise GovernanceFileError(file.source.path, problems)


# ------------------------------------------------------------------ plan


@dataclass(frozen=True)
class SpendLimitChange:
    email: str
    name: str | None
    role: str | None
    before: float | None
    before_known: bool
    after: int | None
    origin: Limit
    spend_cents: float | None
    projected_cents: float | None


@dataclass(frozen=True)
class SpendLimitPlan:
    source: Source
    snapshot_at: datetime
    cycle_start: datetime | None
    members: int
    changes: tuple[SpendLimitChange, ...]

    @property
    def actions(self) -> list[SpendLimitChange]:
        """What an apply would do: one POST /teams/user-spend-limit per change."""
        return list(self.changes)

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_markdown(self) -> str:
        head = (
            f"**Spend limits plan** for `{self.source.path}` (sha256 `{self.source.sha256[:12]}`) "
            f"against the spend snapshot of {_when(self.snapshot_at)}"
            + (f", billing cycle from {self.cycle_start:%Y-%m-%d}" if self.cycle_start else "")
            + f": {len(self.changes)} change(s), {self.members - len(self.changes)} of "
            f"{self.members} members unchanged."
        )
        if self.empty:
            return head + "\n\nNo changes: every member already has the limit in the file."
        rows = [
            (
                c.email,
                c.role or "",
                dollars(c.before) if c.before_known else "unknown (older API)",
                dollars(c.after),
                c.origin.origin,
                cents(c.spend_cents),
                cents(c.projected_cents),
            )
            for c in self.changes
        ]
        table = markdown_table(
            [
                "member",
                "role",
                "limit now",
                "limit in file",
                "set by",
                "spend this cycle",
                "projected at cycle end",
            ],
            rows,
        )
        return f"{head}\n\n{table}"


def plan_spend_limits(file: SpendLimitsFile, team: TeamSpend) -> SpendLimitPlan:
    """The members whose current limit differs from the file's (or is not known)."""
    check_members(file, team)
    changes = []
    for email, m in sorted(team.members.items()):
        want = file.limit_for(email, m.role)
        if m.limit_known and _same(m.limit, want.dollars):
            continue
        changes.append(
            SpendLimitChange(
                email,
                m.name,
                m.role,
                m.limit,
                m.limit_known,
                want.dollars,
                want,
                m.spend_cents,
                m.projected_cents,
            )
        )
    return SpendLimitPlan(file.source, team.snapshot_at, team.cycle_start, len(team.members), tuple(changes))


def _snapshot_at(table: Table, at: datetime | None) -> str:
    return "?" if at is not None else f"(SELECT max(snapshot_at) FROM {table.ident})"


def _params(at: datetime | None) -> list[Any]:
    if at is None:
        return []
    return [(at.astimezone(UTC) if at.tzinfo else at).replace(tzinfo=None)]  # stored naive UTC


def plan_from_warehouse(file: SpendLimitsFile, conn: duckdb.DuckDBPyConnection) -> SpendLimitPlan:
    team = read_team_spend(conn)
    if team is None:
        raise MissingSnapshot(MISSING_SNAPSHOT)
    return plan_spend_limits(file, team)


def _same(current: float | None, wanted: int | None) -> bool:
    return current == wanted if (current is None or wanted is None) else float(current) == float(wanted)


# ------------------------------------------------------------------ apply


def apply_spend_limits(
    client: CursorClient, plan: SpendLimitPlan, audit: AuditLog, applied: list[str] | None = None
) -> list[str]:
    """POST /teams/user-spend-limit for each change, in the plan's order (the client paces the
    calls to the endpoint's rate limit). Each write's audit row is committed before the call and
    completed after it; the first failure stops the apply with WriteFailed (or AuditIncomplete).
    Returns (and appends to `applied`) the emails set."""
    applied = [] if applied is None else applied
    for change in plan.changes:
        before = {"spend_limit_dollars": change.before} if change.before_known else None
        after = {"spend_limit_dollars": change.after}
        audit.write(
            [Intent(SET_LIMIT, change.email, before, after)],
            partial(client.set_user_spend_limit, change.email, change.after),
            applied,
            change.email,
            lambda reply: reply["message"],
        )
    return applied


def settle_pending(
    audit: AuditLog, team: TeamSpend, *, fresh: bool = False
) -> list[tuple[PendingWrite, str]]:
    """Settle the pending spend-limit writes made before `team`'s snapshot was taken: the
    snapshot shows whether each limit was set.

    `fresh`: the snapshot was just taken by this run while holding the governance lock, so it
    is certainly later than every pending row (rows are only written under that lock): all of
    them are settled, whatever the clocks say. Otherwise (a stored snapshot) only the rows
    recorded before its `snapshot_at` are. That comparison mixes two clocks (`recorded_at` is the
    real time of the write, `snapshot_at` the snapshot run's as-of time from
    `cursor_api.dates.utc_now()` or an as-of tag), so it is only trusted one way: a snapshot
    that looks older than the write (a past as-of time, a fixed clock) settles nothing."""
    taken = team.snapshot_at.replace(tzinfo=None)
    when = _when(team.snapshot_at)

    def judge(row: PendingWrite) -> tuple[str, str] | None:
        if row.action != SET_LIMIT or (not fresh and row.recorded_at >= taken):
            return None
        member = team.members.get(row.target.lower())
        if member is None or not member.limit_known:
            return UNKNOWN, f"the spend snapshot of {when} shows no limit for {row.target}"
        wanted = (row.after or {}).get("spend_limit_dollars")
        if _same(member.limit, wanted):
            return SUCCESS, f"the spend snapshot of {when} shows the limit written ({dollars(wanted)})"
        if row.before is not None and _same(member.limit, row.before.get("spend_limit_dollars")):
            return (
                NOT_WRITTEN,
                f"the spend snapshot of {when} still shows the limit before ({dollars(member.limit)})",
            )
        return UNKNOWN, (
            f"the spend snapshot of {when} shows {dollars(member.limit)}, neither the limit before "
            "nor the one written (changed since?)"
        )

    return audit.settle(judge)


# ------------------------------------------------------------------ formatting


def dollars(value: float | None) -> str:
    if value is None:
        return "no limit"
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"


def cents(value: float | None) -> str:
    return "n/a" if value is None else f"${value / 100:,.2f}"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
