"""The one place that writes DuckDB.

Raw rows are staged page by page in a Parquet file on local disk (memory stays flat however
large a day is), then published in ONE transaction that deletes the partition range and inserts
the staged rows. A run that fails before the commit leaves the previous data untouched, and the
DuckDB file is locked only for the short publish, so API fetches of several assets or runs can
proceed side by side.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

SQL_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "json": "JSON",
}
ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),  # UTC: tz-aware values are converted, the zone dropped
    "json": pa.string(),
}


@dataclass(frozen=True, eq=False)  # identity: tables are module-level constants
class Table:
    """A DuckDB table: `schema.name` with typed columns (logical types of SQL_TYPES)."""

    schema: str
    name: str
    columns: Mapping[str, str]
    day_column: str | None = "day"
    descriptions: Mapping[str, str] = field(default_factory=dict)

    @property
    def fqn(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in self.columns.items()])

    def to_arrow(self, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
        json_columns = [c for c, kind in self.columns.items() if kind == "json"]
        prepared = []
        for row in rows:
            out = {c: row.get(c) for c in self.columns}
            for c in json_columns:
                if out[c] is not None:
                    out[c] = json.dumps(out[c], default=str, separators=(",", ":"))
            prepared.append(out)
        return pa.Table.from_pylist(prepared, schema=self.arrow_schema)


LOADED_AT = "_loaded_at"


def ensure_table(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the table (and schema) if missing; add columns that a newer version defines."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    columns = {**{c: SQL_TYPES[k] for c, k in table.columns.items()}, LOADED_AT: "TIMESTAMP"}
    body = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.fqn} ({body})")
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [table.schema, table.name],
        ).fetchall()
    }
    for column, sql_type in columns.items():
        if column not in existing:
            conn.execute(f'ALTER TABLE {table.fqn} ADD COLUMN "{column}" {sql_type}')


class Staging:
    """Rows for one or more tables, spooled to Parquet files in a private temporary folder."""

    def __init__(self, tables: Iterable[Table]):
        self._dir = tempfile.TemporaryDirectory(prefix="cursor-analytics-stage-")
        self._tables = {t.fqn: t for t in tables}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.row_counts: dict[str, int] = {fqn: 0 for fqn in self._tables}

    def path(self, table: Table) -> Path:
        return Path(self._dir.name) / f"{table.fqn}.parquet"

    def append(self, table: Table, rows: list[Mapping[str, Any]]) -> None:
        if not rows:
            return
        writer = self._writers.get(table.fqn)
        if writer is None:
            writer = pq.ParquetWriter(self.path(table), table.arrow_schema)
            self._writers[table.fqn] = writer
        writer.write_table(table.to_arrow(rows))
        self.row_counts[table.fqn] += len(rows)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def cleanup(self) -> None:
        self.close()
        self._dir.cleanup()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def publish(
        self,
        conn: duckdb.DuckDBPyConnection,
        window: tuple[date, date] | None,
        loaded_at: datetime | None = None,
    ) -> dict[str, int]:
        """In one transaction: delete `window` (inclusive days; None = append only) from every
        staged table and insert the staged rows that fall inside it. Returns rows per table."""
        self.close()
        loaded_at = (loaded_at or datetime.now(timezone.utc)).replace(tzinfo=None)
        for table in self._tables.values():
            ensure_table(conn, table)
        inserted: dict[str, int] = {}
        conn.execute("BEGIN TRANSACTION")
        try:
            for fqn, table in self._tables.items():
                in_window = ""
                params: list[Any] = [loaded_at]
                if window is not None and table.day_column:
                    conn.execute(
                        f'DELETE FROM {fqn} WHERE "{table.day_column}" BETWEEN ? AND ?',
                        list(window),
                    )
                    in_window = f' WHERE "{table.day_column}" BETWEEN ? AND ?'
                    params += list(window)
                if not self.row_counts[fqn]:
                    inserted[fqn] = 0
                    continue
                source = f"read_parquet('{self.path(table).as_posix()}')"
                inserted[fqn] = conn.execute(
                    f"INSERT INTO {fqn} BY NAME "
                    f"SELECT *, ?::TIMESTAMP AS {LOADED_AT} FROM {source}{in_window}",
                    params,
                ).fetchone()[0]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return inserted


def replace_days_from_sql(
    conn: duckdb.DuckDBPyConnection,
    fqn: str,
    select_sql: str,
    window: tuple[date, date],
    day_column: str = "day",
) -> int:
    """Recompute a derived table for the inclusive `window` in one transaction.

    `select_sql` may use the parameters `$start` and `$end`; it must return only rows whose
    `day_column` lies in the window. The table is created from the query's shape the first time.
    """
    schema = fqn.split(".")[0]
    params = {"start": window[0], "end": window[1]}
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {fqn} AS SELECT * FROM ({select_sql}) LIMIT 0", params)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f'DELETE FROM {fqn} WHERE "{day_column}" BETWEEN $start AND $end', params)
        count = conn.execute(f"INSERT INTO {fqn} BY NAME {select_sql}", params).fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return count


def replace_table_from_sql(conn: duckdb.DuckDBPyConnection, fqn: str, select_sql: str) -> int:
    """Rebuild a whole derived (unpartitioned) table atomically."""
    schema = fqn.split(".")[0]
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {fqn} AS {select_sql}")
        count = conn.execute(f"SELECT count(*) FROM {fqn}").fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return count


def table_exists(conn: duckdb.DuckDBPyConnection, fqn: str) -> bool:
    schema, name = fqn.split(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )
