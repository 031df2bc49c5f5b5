"""Materialization metadata shared by raw and metric assets: previews and column schemas."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import dagster as dg
import duckdb

from cursor_analytics.cursor_api import days_in
from cursor_analytics.ui.columns import describe
from cursor_analytics.warehouse.tables import SQL_TYPES, Table, quote_ident, sql_between

PREVIEW_ROWS = 5
PREVIEW_WIDTH = 8  # columns; the raw JSON column is never previewed


# Characters that markdown (CommonMark + GitHub's extensions, as the UI renders it) could read as
# syntax: links and images ([ ] !), raw HTML and autolinks (< > & and the : of https://, the @ of
# an email, the . of www.), emphasis, code and strikethrough (* _ ` ~), table cells (|) and the
# escape itself (\).
_MARKDOWN_SYNTAX = re.compile(r"[\\`*_\[\]<>!|~&:@]|(?<=www)\.", re.IGNORECASE)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ESCAPED = re.compile(r"\\([\\`*_\[\]<>!|~&:@.])")


def escape_markdown(value: Any) -> str:
    """`value` as literal text in markdown: every character markdown could read as syntax is
    backslash-escaped and a line break is shown as \\n, so API text (a commit message, a
    repository name) renders as the text it is: never an image, a link, HTML or extra rows."""
    return _NEWLINE.sub(r"\\\\n", _MARKDOWN_SYNTAX.sub(r"\\\g<0>", str(value)))


def plain_text(markdown: str) -> str:
    """Markdown produced here, for a terminal: the escapes removed (the inverse of
    escape_markdown, line breaks still shown as \\n)."""
    return _ESCAPED.sub(r"\1", markdown)


def markdown_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A markdown table whose cells are shown as text, whatever they contain."""
    if not rows:
        return "_no rows_"

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else escape_markdown(value)

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def preview(
    conn: duckdb.DuckDBPyConnection,
    table: Table | str,
    window: tuple[date, date] | None,
    where: str | None = None,
    day_column: str | None = None,
) -> str:
    """The first rows of a table (within the window: `day_column`, by default the table's own,
    else "day") as a markdown table. `where` is an extra SQL condition, its values written
    with `sql_literal`."""
    ident = table.ident if isinstance(table, Table) else quote_ident(table)
    day_column = day_column or (table.day_column if isinstance(table, Table) else None) or "day"
    columns = [
        r[0] for r in conn.execute(f"DESCRIBE {ident}").fetchall() if r[0] not in ("raw", "_loaded_at")
    ][:PREVIEW_WIDTH]
    clauses = ([sql_between(day_column, window)] if window is not None else []) + ([where] if where else [])
    sql = f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM {ident}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return markdown_table(columns, conn.execute(f"{sql} LIMIT {PREVIEW_ROWS}").fetchall())


def column_schema(table: Table) -> dg.TableSchema:
    """The table's declared columns with their descriptions (`Table.descriptions`, else
    columns.py)."""
    columns = {**{c: SQL_TYPES[k] for c, k in table.columns.items()}, "_loaded_at": "TIMESTAMP"}
    descriptions = {**describe(table.fqn), **table.descriptions}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, sql_type, description=descriptions.get(name))
            for name, sql_type in columns.items()
        ]
    )


def table_column_schema(conn: duckdb.DuckDBPyConnection, fqn: str, descriptions=None) -> dg.TableSchema:
    """Column schema read from DuckDB (for derived tables whose shape comes from SQL), with the
    column descriptions of columns.py unless `descriptions` are given."""
    descriptions = descriptions or describe(fqn)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(r[0], r[1], description=descriptions.get(r[0]))
            for r in conn.execute(f"DESCRIBE {quote_ident(fqn)}").fetchall()
        ]
    )


def rows_per_day(
    conn: duckdb.DuckDBPyConnection, fqn: str, window: tuple[date, date], day_column: str = "day"
) -> dict[date, int]:
    """Rows of each day of the window (0 for a day without rows)."""
    counts = dict(
        conn.execute(
            f"SELECT {quote_ident(day_column)}, count(*) FROM {quote_ident(fqn)} "
            f"WHERE {sql_between(day_column, window)} GROUP BY 1"
        ).fetchall()
    )
    return {d: counts.get(d, 0) for d in days_in(*window)}
