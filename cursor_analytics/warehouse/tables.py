"""Every table cursor-analytics writes, defined once: the `Table` type, its column types, and
the raw tables (one per Cursor dataset). Derived tables are defined by their SQL
(`warehouse.metrics`); downstream teams read docs/tables.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cursor_analytics.cursor_api import (
    BY_USER_METRICS,
    FIELDS,
    TEAM_METRICS,
    analytics_date_field,
    analytics_record_type,
)

SQL_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "json": "JSON",
}


def quote_ident(*parts: str) -> str:
    """SQL for an identifier: each dotted part double-quoted (quotes inside doubled), so a
    table or column name is never read as SQL. `quote_ident("raw.daily_usage")` and
    `quote_ident("raw", "daily_usage")` both give `"raw"."daily_usage"`."""
    names = [name for part in parts for name in part.split(".")] if len(parts) == 1 else list(parts)
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def sql_literal(value: str | date | int | None) -> str:
    """SQL for a value: NULL, an integer, DATE '...', TIMESTAMP '...' (TIMESTAMPTZ when aware)
    or a string with its quotes doubled. The ingestion steps write their values this way
    rather than bind them: DuckDB's Python binding imports numpy and pandas (~40 MB) at the
    first bound value (duckdb#11871), which a day's load has no other use for."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        raise TypeError("sql_literal takes no booleans; write TRUE or FALSE in the SQL")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"{'TIMESTAMP' if value.tzinfo is None else 'TIMESTAMPTZ'} '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"sql_literal takes str, date, datetime, int or None, not {type(value).__name__}")


def sql_between(column: str, window: tuple[date, date]) -> str:
    """SQL for `column` BETWEEN the window's first and last day (inclusive)."""
    return f"{quote_ident(column)} BETWEEN {sql_literal(window[0])} AND {sql_literal(window[1])}"


@dataclass(frozen=True, eq=False)  # identity: tables are module-level constants
class Table:
    """A DuckDB table: `schema.name` with typed columns (logical types of SQL_TYPES)."""

    schema: str
    name: str
    columns: Mapping[str, str]
    day_column: str | None = "day"
    descriptions: Mapping[str, str] = field(default_factory=dict)
    # For a table written by several writers: the column values this writer's rows carry.
    # Publishing a window then replaces only the rows with these values (e.g. one dataset's).
    scope: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fqn(self) -> str:
        """`schema.name`: the table's name as users write it (keys, messages)."""
        return f"{self.schema}.{self.name}"

    @property
    def ident(self) -> str:
        """The table's name quoted for SQL."""
        return quote_ident(self.schema, self.name)

    def json_lines(self, rows: Iterable[Mapping[str, Any]]) -> str:
        """The rows as JSON lines of this table's columns, for DuckDB's read_json: `json`
        values as their JSON text, dates and datetimes as ISO text, zone-aware datetimes in
        naive UTC (the TIMESTAMP columns hold UTC)."""
        dump = json.JSONEncoder(default=str, separators=(",", ":")).encode
        texts = [c for c, kind in self.columns.items() if kind == "json"]
        times = [c for c, kind in self.columns.items() if kind == "datetime"]
        lines = []
        for row in rows:
            record = {column: row.get(column) for column in self.columns}
            for column in texts:
                if record[column] is not None:
                    record[column] = dump(record[column])
            for column in times:
                record[column] = _naive_utc(record[column])
            lines.append(dump(record))
        return "\n".join(lines)


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


# --- raw tables: raw.<dataset>, typed columns of the documented fields plus the record as sent ---


def raw_table(
    name: str, record_type: str | None = None, *, drop=(), extra=None, day: bool | str = True
) -> Table:
    """raw.<name>: the columns of FIELDS[record_type or name], then `extra`, then `raw`; `day`:
    the date column partitions are replaced by (True = "day", False = none)."""
    columns = {c: t for c, t in FIELDS[record_type or name].items() if c not in drop}
    day_column = day if isinstance(day, str) else ("day" if day else None)
    return Table("raw", name, {**columns, **(extra or {}), "raw": "json"}, day_column)


DAILY_USAGE = raw_table("daily_usage")
USAGE_EVENTS = raw_table("usage_events")
AI_COMMITS = raw_table("ai_commits")
AI_CHANGES = raw_table("ai_changes", drop=("files",))
AI_CHANGE_FILES = Table(
    "raw",
    "ai_change_files",
    {
        "day": "date",
        "change_id": "str",
        "file_name": "str",
        "file_extension": "str",
        "lines_added": "int",
        "lines_deleted": "int",
    },
)
AUDIT_LOGS = raw_table("audit_logs")
SNAPSHOT = {"snapshot_at": "datetime"}
TEAM_MEMBERS = raw_table("team_members", extra=SNAPSHOT, day=False)
SPEND_SNAPSHOTS = raw_table(
    "spend_snapshots", "spend", extra={**SNAPSHOT, "subscription_cycle_start": "datetime"}, day=False
)
REPO_BLOCKLISTS = raw_table("repo_blocklists", extra=SNAPSHOT, day=False)
SNAPSHOT_TABLES = (TEAM_MEMBERS, SPEND_SNAPSHOTS, REPO_BLOCKLISTS)

BILLING_GROUPS = raw_table(
    "billing_groups", extra={**SNAPSHOT, "cycle_start": "datetime", "cycle_end": "datetime"}, day=False
)

# Analytics API: raw.analytics_<metric> and raw.analytics_by_user_<metric> (hyphens become
# underscores), the documented field names as columns, partitioned by the rows' documented date
# field (`event_date`, or `date` for dau and models). The leaderboard ranks users over a range
# (no date): snapshots of the trailing 30 days.
ANALYTICS_TABLES: dict[str, Table] = {
    m: raw_table(analytics_record_type(m), day=analytics_date_field(m))
    for m in TEAM_METRICS
    if m != "leaderboard"
}
ANALYTICS_BY_USER_TABLES: dict[str, Table] = {
    m: raw_table(analytics_record_type(m, by_user=True), day=analytics_date_field(m)) for m in BY_USER_METRICS
}
ANALYTICS_LEADERBOARD = raw_table(
    "analytics_leaderboard", extra={**SNAPSHOT, "start_date": "date", "end_date": "date"}, day=False
)

# Daily usage's counters: summed per day to fingerprint a day and compare it with the API.
DAILY_USAGE_SUMS = tuple(c for c, kind in FIELDS["daily_usage"].items() if kind == "int" and c != "date_ms")
