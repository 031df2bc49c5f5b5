"""The one place that writes DuckDB.

Raw rows are staged page by page in a Parquet file on local disk (memory stays flat however
large a day is), then published in ONE transaction that deletes the partition range and inserts
the staged rows. A run that fails before the commit leaves the previous data untouched, and the
DuckDB file is locked only for the short publish, so API fetches of several assets or runs can
proceed side by side.

DuckDB admits one read-write process or many read-only ones at a time: `connect` waits, with
bounded retries, while another process (a parallel run, a notebook) holds the file, and then
fails with an error that names the holder.

`database` may instead name a DuckLake catalog in PostgreSQL, `ducklake:postgres:<libpq
connection string>`, with the Parquet files under CURSOR_ANALYTICS_DATA_PATH (a folder or an
object-store URL): many processes read and write it at once, so there is no file lock to wait
for; a write that conflicts with another process's commit is retried whole instead
(`run_transaction`). The same SQL runs on both.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from cursor_analytics.cursor_api import Page
from cursor_analytics.cursor_api.columnar import COLUMNAR, typed_query
from cursor_analytics.cursor_api.records import normalise_all
from cursor_analytics.warehouse.tables import SQL_TYPES, Table, quote_ident, sql_between, sql_literal

LOADED_AT = "_loaded_at"
DEFAULT_DB_PATH = "data/cursor.duckdb"

logger = logging.getLogger("cursor_analytics.warehouse")

# How long a writer waits for another process to release the DuckDB file before failing.
LOCK_TIMEOUT_SECONDS = 120.0
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+? \(PID \d+\))")


# Crash tests: the process kills itself (SIGKILL) at the named point of a load when this
# variable names it ("stage:after_page": a page was written to staging; "publish:before_commit":
# the publish transaction has deleted and inserted, not committed), so a test crashes a run
# exactly there instead of racing a kill against it. Unset, it does nothing.
FAULT_ENV = "CURSOR_ANALYTICS_FAULT"


def _fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        sys.stderr.write(f"{FAULT_ENV}: killing process {os.getpid()} at {name}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


class WarehouseLockedError(RuntimeError):
    """Another process held the DuckDB file for longer than the writer may wait."""


class WarehousePathError(ValueError):
    """The DuckDB path cannot hold a writable database file."""


class RepeatedRowsError(RuntimeError):
    """The API sent the same page of records twice within one load."""


LAKE_PREFIX = "ducklake:"
DATA_PATH_ENV = "CURSOR_ANALYTICS_DATA_PATH"
# (PyPI package, extension file name): loaded from the installed files, never downloaded.
_LAKE_EXTENSIONS = [
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    ("duckdb_extension_ducklake", "ducklake"),
]
_HTTPFS = ("duckdb_extension_httpfs", "httpfs")
# How often a DuckLake write (or DDL) that lost a race with another process's commit is retried.
CONFLICT_ATTEMPTS = 12

T = TypeVar("T")


def is_lake(database: str) -> bool:
    """Whether `database` names a DuckLake catalog rather than a DuckDB file."""
    return database.startswith(LAKE_PREFIX)


def is_in_memory(database: str) -> bool:
    """Whether `database` names an in-memory DuckDB ("", ":memory:" or ":memory:<name>")."""
    return database == "" or database.startswith(":memory:")


def warehouse_exists(database: str) -> bool:
    """False only for a DuckDB file that was never created (a DuckLake catalog may be shared)."""
    return is_lake(database) or is_in_memory(database) or Path(database).expanduser().exists()


def connect(
    database: str,
    *,
    read_only: bool = False,
    config: Mapping[str, Any] | None = None,
    lock_timeout_seconds: float = LOCK_TIMEOUT_SECONDS,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, retrying (jittered backoff, 0.05 s doubling up to 2 s) while another
    process holds its lock, for at most `lock_timeout_seconds`; then raise WarehouseLockedError
    naming the holder. Readers can use it too: `connect(path, read_only=True)`.

    A `ducklake:...` database is attached instead (`connect_lake`): no lock, no waiting."""
    if is_lake(database):
        return connect_lake(database, read_only=read_only, config=config)
    deadline = time.monotonic() + lock_timeout_seconds
    delay, waited = 0.05, False
    while True:
        try:
            return _attach_file(database, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            match = _LOCK_HOLDER.search(str(exc))
            if match is None:
                raise
            holder = match.group("holder")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WarehouseLockedError(
                f"The DuckDB file {database} stayed locked by another process ({holder}) for "
                f"{lock_timeout_seconds:g} s. DuckDB admits one writing process or many reading "
                "ones at a time: close the notebook or BI tool that keeps the file open (readers "
                "should open it read-only and briefly, see the README's Reliability section), or "
                "wait for the other run to finish, then re-run."
                + ("" if read_only else " Nothing was written to it.")
            )
        if not waited:  # say once why the step pauses
            logger.warning("%s is held by %s: waiting up to %g s", database, holder, lock_timeout_seconds)
            waited = True
        time.sleep(min(delay * (1 + random.random()), remaining))
        delay = min(delay * 2, 2.0)


# Rows per row group in the tables this code writes. DuckDB's default (122,880) makes a load
# hold a whole group of raw JSON (~85 MB of usage events) in memory before writing it: a day's
# publish grew the process by ~190 MB, ~80 MB at this size (bench/RESULTS.md, memory).
ROW_GROUP_SIZE = 16_384
_RESERVED_ALIASES = {"memory", "temp", "system", "main"}


def _attach_file(
    database: str, *, read_only: bool, config: Mapping[str, Any] | None
) -> duckdb.DuckDBPyConnection:
    """A connection with the DuckDB file `database` attached (ROW_GROUP_SIZE) and in use. The
    connections of one process to one file (and mode and config) share one in-memory DuckDB
    instance, as `duckdb.connect(path)` connections share the file's: a DuckDB file is open
    at most once per process."""
    if is_in_memory(database):
        return duckdb.connect(database, read_only=read_only, config=dict(config or {}))
    path = Path(database).expanduser().absolute()
    alias = path.stem if path.stem.lower() not in _RESERVED_ALIASES else "warehouse"
    mode = "read-only" if read_only else "read-write"
    instance = f":memory:cursor-analytics-{hashlib.sha256(f'{path}|{mode}'.encode()).hexdigest()[:16]}"
    # spills go beside the file, as DuckDB puts them for a file it opens (not in ./.tmp)
    conn = duckdb.connect(instance, config={"temp_directory": f"{path}.tmp", **(config or {})})
    try:
        options = [f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"] + (["READ_ONLY"] if read_only else [])
        conn.execute(
            f"ATTACH IF NOT EXISTS {sql_literal(path.as_posix())} AS {quote_ident(alias)} ({', '.join(options)})"
        )
        conn.execute(f"USE {quote_ident(alias)}")
    except BaseException:
        conn.close()
        raise
    return conn


def _extension_file(package: str, name: str) -> str:
    spec = importlib.util.find_spec(package)
    files = list(Path(spec.origin).parent.rglob(f"{name}.duckdb_extension")) if spec and spec.origin else []
    if not files:
        raise WarehousePathError(
            f"database: a DuckLake warehouse needs the DuckDB extension {name!r} from PyPI "
            f"({package.replace('_', '-')}): pip install 'cursor-analytics[production]'."
        )
    return files[0].as_posix()


def check_lake_database(database: str) -> None:
    """Refuse a DuckLake connection string that holds a password: DuckDB repeats the string in
    its error messages. libpq reads PGPASSWORD (or ~/.pgpass) instead."""
    if re.search(r"(^|[\s:;?&])password\s*=", database, re.IGNORECASE):
        raise WarehousePathError(
            "database: the DuckLake connection string in CURSOR_ANALYTICS_DB contains a password, "
            "which DuckDB would repeat in its error messages: remove `password=...` and set "
            "PGPASSWORD (or a ~/.pgpass file) for the catalog's PostgreSQL user instead."
        )


def connect_lake(
    database: str, *, read_only: bool = False, config: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the DuckLake catalog `database` (`ducklake:postgres:<libpq
    string>`) attached as `lake` and in use, its data under CURSOR_ANALYTICS_DATA_PATH.

    Extensions are LOADed from the files their PyPI packages installed, with auto-install off.
    The first processes to attach a fresh catalog race to create its tables in PostgreSQL: all
    but one fail, and retry the ATTACH, which then finds the catalog made (`cursor-analytics
    setup` creates it once, up front)."""
    check_lake_database(database)
    data_path = os.environ.get(DATA_PATH_ENV) or None
    conn = duckdb.connect(
        config={**(config or {}), "autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        extensions = _LAKE_EXTENSIONS + ([_HTTPFS] if data_path and "://" in data_path else [])
        for package, name in extensions:
            conn.execute(f"LOAD {sql_literal(_extension_file(package, name))}")
        options = [f"DATA_PATH {sql_literal(data_path)}"] if data_path else []
        if read_only:
            options.append("READ_ONLY")
        attach = f"ATTACH {sql_literal(database)} AS lake" + (f" ({', '.join(options)})" if options else "")
        delay = 0.05
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                conn.execute(attach)
                break
            except duckdb.Error as exc:
                if "Failed to initialize DuckLake" not in str(exc) or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
        conn.execute("USE lake")
    except BaseException:
        conn.close()
        raise
    return conn


def is_conflict(exc: BaseException) -> bool:
    """A DuckLake commit that lost to another process's commit on the same table or schema."""
    return isinstance(exc, duckdb.TransactionException) and "Transaction conflict" in str(exc)


def retry_on_conflict(work: Callable[[], T], what: str = "write") -> T:
    """Run `work`, again (jittered backoff, 0.05 s doubling up to 2 s, CONFLICT_ATTEMPTS tries)
    while DuckLake reports a transaction conflict. `work` must be safe to repeat whole."""
    delay = 0.05
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return work()
        except duckdb.TransactionException as exc:
            if not is_conflict(exc) or attempt == CONFLICT_ATTEMPTS - 1:
                raise
            logger.info("DuckLake %s conflicted with another process's commit: retrying", what)
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failed statement, keeping that statement's error as the one raised: a
    fatal error (a full disk: "No space left on device") or a failed DuckLake COMMIT has already
    ended the transaction, and a ROLLBACK would then replace the real cause with "cannot
    rollback - no transaction is active"."""
    try:
        conn.execute("ROLLBACK")
    except duckdb.Error as exc:
        logger.debug("ROLLBACK after a failed write: %s", exc)


def run_transaction(conn: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """`work()` between BEGIN and COMMIT; rolled back on any error, and run again whole when
    DuckLake reports that another process committed to the same table meanwhile."""

    def once() -> T:
        conn.execute("BEGIN TRANSACTION")
        try:
            result = work()
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return result

    return retry_on_conflict(once, "transaction")


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The first column of the one row `sql` returns (a count, a setting, an INSERT's row count)."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"expected one row, the query returned none: {sql}")
    return row[0]


# Sensors and schedules only wait briefly: a tick must finish well inside Dagster's 60 s limit.
BRIEF_LOCK_TIMEOUT_SECONDS = 15.0


def connect_briefly(database: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A short-lived connection for a sensor or schedule tick: `connect` waiting at most
    BRIEF_LOCK_TIMEOUT_SECONDS while a run holds the file. Use it in a `with` block."""
    return connect(database, read_only=read_only, lock_timeout_seconds=BRIEF_LOCK_TIMEOUT_SECONDS)


def check_database_path(database: str) -> Path | None:
    """Check that `database` can be a writable DuckDB file: not a folder, not some other kind
    of file, in a folder that exists or can be created and is writable (DuckDB also writes a
    .wal file next to it; probed with a temporary file that is removed at once). Returns the
    path, or None for an in-memory database."""
    if is_in_memory(database):
        return None
    if is_lake(database):
        check_lake_database(database)
        return None
    path = Path(database).expanduser()
    fix = "set CURSOR_ANALYTICS_DB (or the duckdb resource's `database`) to a file path in a writable folder, such as data/cursor.duckdb"
    if path.is_dir():
        raise WarehousePathError(f"database: {database!r} is a folder, not a DuckDB file: {fix}.")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise WarehousePathError(f"database: {database!r} is not writable by this user: {fix}.")
        with path.open("rb") as f:
            header = f.read(12)
        if header and header[8:12] != b"DUCK":
            raise WarehousePathError(f"database: {database!r} exists but is not a DuckDB file: {fix}.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise WarehousePathError(
            f"database: {database!r} cannot be created because {str(folder)!r} is a file, not a folder: {fix}."
        )
    try:  # a real probe: permissions alone do not tell (root, read-only mounts, ACLs)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(folder)
        tempfile.TemporaryFile(dir=folder, prefix=".cursor-analytics-probe-").close()
    except OSError:
        raise WarehousePathError(
            f"database: {database!r} cannot be written because the folder {str(folder)!r} is not writable: {fix}."
        ) from None
    return path


def ensure_table(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the table (and schema) if missing; add columns that a newer version defines."""
    retry_on_conflict(lambda: _ensure_table(conn, table), "DDL")


def _ensure_table(conn: duckdb.DuckDBPyConnection, table: Table) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(table.schema)}")
    columns = {**{c: SQL_TYPES[k] for c, k in table.columns.items()}, LOADED_AT: "TIMESTAMP"}
    body = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.ident} ({body})")
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = {sql_literal(table.schema)} AND table_name = {sql_literal(table.name)}"
        ).fetchall()
    }
    for column, sql_type in columns.items():
        if column not in existing:
            conn.execute(f"ALTER TABLE {table.ident} ADD COLUMN {quote_ident(column)} {sql_type}")


class Staging:
    """Rows for one or more tables, spooled to Parquet files in a private temporary folder.

    Rows are staged in segments (one per API read of a date chunk, `segment=` any hashable key):
    `discard(segment)` drops what one segment staged, when its read starts again.

    `append_page` keeps a page of a record type with a columnar reading (usage events, AI
    commits) as the response's own JSON; every TYPE_BATCH_PAGES pages (and at `close`) one
    DuckDB query (`cursor_api.columnar`) types them into Parquet, in a background thread while
    the caller goes on fetching (one batch in flight), and `records.normalise` reads only the
    records that query does not vouch for (which it reads too, or refuses naming the field)."""

    def __init__(self, tables: Iterable[Table]):
        self._dir = tempfile.TemporaryDirectory(prefix="cursor-analytics-stage-")
        self._tables = {t.fqn: t for t in tables}
        self._stager: duckdb.DuckDBPyConnection | None = None  # writes appended rows to Parquet
        self._files: dict[tuple[str, Any, str], Path] = {}  # (table, segment, file name) -> Parquet file
        self._pages_seen: dict[tuple[str, str], Any] = {}  # (table, page fingerprint) -> segment
        self._rows: dict[tuple[str, Any], int] = {}
        # (table, segment) -> the pages waiting to be typed: (file, records, page without them)
        self._pages: dict[tuple[str, Any], list[tuple[Path, int, Page]]] = {}
        self._page_files = 0
        # typed file's key -> the records the query vouched for
        self._typed: dict[tuple[str, Any, str], int] = {}
        self._typer: ThreadPoolExecutor | None = None  # types one batch of pages in the background
        self._typing: (
            tuple[Table, Any, list[tuple[Path, int, Page]], Path, Future[tuple[int, list[str]]]] | None
        ) = None
        # After publish: per table, (day, rows) staged outside the window, which are not stored.
        self.out_of_window: dict[str, list[tuple[date | None, int]]] = {fqn: [] for fqn in self._tables}

    @property
    def row_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self._tables, 0)
        for (fqn, _segment), n in self._rows.items():
            counts[fqn] += n
        return counts

    @property
    def typed_in_bulk(self) -> dict[str, int]:
        """Records per table that the columnar query typed (the others: records.normalise)."""
        counts: dict[str, int] = {}
        for key, n in self._typed.items():
            if key in self._files:
                counts[key[0]] = counts.get(key[0], 0) + n
        return counts

    def paths(self, table: Table) -> list[Path]:
        return [path for key, path in self._files.items() if key[0] == table.fqn]

    def append(self, table: Table, rows: Sequence[Mapping[str, Any]], segment: Any = None) -> None:
        """Rows (records.normalise's) for `table`, typed into a Parquet file of their own by an
        in-memory DuckDB from their JSON lines (`Table.json_lines`)."""
        if not rows:
            return
        lines = table.json_lines(rows)
        if "raw" in table.columns:
            self._refuse_repeated_page(table, lines, len(rows), segment)
        stem = f"{table.fqn}-{self._page_files}"
        self._page_files += 1
        source, path = Path(self._dir.name, f"{stem}.jsonl"), Path(self._dir.name, f"{stem}.parquet")
        source.write_text(lines, encoding="utf-8")
        types = ", ".join(
            f"{sql_literal(column)}: '{SQL_TYPES['str' if kind == 'json' else kind]}'"
            for column, kind in table.columns.items()
        )
        if self._stager is None:
            self._stager = duckdb.connect(config={"memory_limit": TYPING_MEMORY_LIMIT, "threads": 1})
        try:
            self._stager.execute(
                f"COPY (SELECT * FROM read_json({sql_literal(source.as_posix())}, format = 'newline_delimited', "
                f"columns = {{{types}}}, maximum_object_size = {MAX_PAGE_BYTES})) "
                f"TO {sql_literal(path.as_posix())} (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
            )
        finally:
            source.unlink()
        self._files[(table.fqn, segment, path.name)] = path
        self._rows[(table.fqn, segment)] = self._rows.get((table.fqn, segment), 0) + len(rows)
        _fault_point("stage:after_page")

    def append_page(self, table: Table, page: Page) -> None:
        """One page of API records for `table`, staged under the segment `page.window`. Pages
        of a columnar record type are typed TYPE_BATCH_PAGES at a time (while the client
        fetches the next page), and at `close`."""
        if page.body is None or page.record_type not in COLUMNAR or not page.items:
            self.append(table, page.records, segment=page.window)
            return
        key = (table.fqn, page.window)
        for other in [k for k in self._pages if k[0] == table.fqn and k != key]:
            self._type_pages(table, other[1])  # a new chunk: type what is left of the one before
        path = Path(self._dir.name) / f"{table.fqn}-page-{self._page_files}.json"
        self._page_files += 1
        path.write_bytes(page.body)
        pending = self._pages.setdefault(key, [])
        pending.append((path, len(page.items), replace(page, body=None, items=[])))  # no records kept
        self._rows[key] = self._rows.get(key, 0) + len(page.items)
        _fault_point("stage:after_page")
        if len(pending) >= TYPE_BATCH_PAGES:
            self._type_pages(table, page.window)

    def _type_pages(self, table: Table, segment: Any) -> None:
        """Start typing the staged JSON pages of one segment into a Parquet file, in the
        background thread, once the batch before is settled (one batch in flight)."""
        pages = self._pages.pop((table.fqn, segment), [])
        if not pages:
            return
        self._settle()
        typed = Path(self._dir.name) / f"{table.fqn}-typed-{self._page_files}.parquet"
        self._page_files += 1
        if self._typer is None:
            self._typer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cursor-analytics-typing")
        work = self._typer.submit(self._type_in_bulk, pages, typed, Path(self._dir.name, "duckdb-tmp"))
        self._typing = (table, segment, pages, typed, work)

    @staticmethod
    def _type_in_bulk(pages: list[tuple[Path, int, Page]], typed: Path, spill: Path) -> tuple[int, list[str]]:
        """One DuckDB query (columnar.typed_query) types the pages' records into `typed`;
        returns how many records it wrote and the raw JSON of those it could not vouch for.
        DuckDB releases the GIL while it works, so the caller's thread goes on fetching."""
        first = pages[0][2]
        files = ", ".join(sql_literal(path.as_posix()) for path, _n, _page in pages)
        # each body as one JSON value and its records' texts cut out of it: DuckDB does not
        # re-serialise them (8x faster here than read_json typing a JSON[] column)
        records = (
            f"SELECT unnest(json_extract(json, '$.\"{first.list_key}\"[*]')) AS r "
            f"FROM read_json_objects([{files}], format = 'auto', maximum_object_size = {MAX_PAGE_BYTES})"
        )
        local = duckdb.connect(
            # One thread: under the publish limit, two ran out of memory (a 20k-event day). Rows keep
            # the API's order, so that re-loading a day sums its doubles in the same order.
            config={"memory_limit": TYPING_MEMORY_LIMIT, "threads": 1}
        )
        try:
            local.execute(f"SET temp_directory = {sql_literal(spill.as_posix())}")
            # The COPY's own statistics say whether every record is clean (the least `_clean`
            # is true): reading the file back to find out kept ~80 MB in the process.
            _file, count, *_sizes, statistics, _keys = local.execute(
                f"COPY ({typed_query(first.record_type, records)}) TO {sql_literal(typed.as_posix())} "
                "(FORMAT parquet, RETURN_STATS true)"
            ).fetchall()[0]
            if statistics['"_clean"'].get("min") != "0":  # no record left to records.normalise
                return count, []
            return count, [
                r
                for (r,) in local.execute(
                    f"SELECT raw FROM read_parquet({sql_literal(typed.as_posix())}) WHERE NOT _clean"
                ).fetchall()
            ]
        finally:
            local.close()

    def _settle(self) -> None:
        """Wait for the batch being typed and keep its result: the typed file, and the records
        the query left to records.normalise. A batch DuckDB cannot type (JSON it will not read,
        such as a lone surrogate) is read record by record instead."""
        if self._typing is None:
            return
        table, segment, pages, typed, work = self._typing
        self._typing = None
        try:
            count, odd = work.result()
        except duckdb.Error as exc:
            logger.warning(
                "%s: typing the pages in bulk failed (%s); reading them record by record", table.fqn, exc
            )
            typed.unlink(missing_ok=True)
            key = (table.fqn, segment)
            self._rows[key] -= sum(n for _path, n, _page in pages)  # counted again as appended
            for path, _n, page in pages:
                items = json.loads(path.read_bytes())[page.list_key]
                self.append(
                    table,
                    normalise_all(page.record_type, items, endpoint=page.endpoint, key=page.list_key),
                    segment,
                )
                path.unlink()
            return
        for path, _n, _page in pages:
            path.unlink()
        self._files[(table.fqn, segment, typed.name)] = typed
        self._typed[(table.fqn, segment, typed.name)] = count - len(odd)
        if odd:  # the same checks and errors as any page: normalise reads them, or names the field
            first = pages[0][2]
            rows = normalise_all(
                first.record_type, [json.loads(r) for r in odd], endpoint=first.endpoint, key=first.list_key
            )
            self.append(table, rows, segment=segment)
            self._rows[(table.fqn, segment)] -= len(rows)  # already counted with their pages

    def discard(self, segment: Any) -> None:
        """Forget everything staged under `segment`, in every table."""
        self._settle()
        for key in [k for k in self._pages if k[1] == segment]:
            for path, _n, _page in self._pages.pop(key):
                path.unlink(missing_ok=True)
        for file in [k for k in self._files if k[1] == segment]:
            self._files.pop(file).unlink(missing_ok=True)
        for key in [k for k in self._rows if k[1] == segment]:
            del self._rows[key]
        self._pages_seen = {k: v for k, v in self._pages_seen.items() if v != segment}

    def _refuse_repeated_page(self, table: Table, lines: str, records: int, segment: Any = None) -> None:
        """A batch of API records (a page) identical to one already staged means the API
        repeated a page: loading it would double those rows and miss the page it replaced."""
        fingerprint = (table.fqn, hashlib.sha256(lines.encode()).hexdigest())
        if fingerprint in self._pages_seen:
            raise RepeatedRowsError(
                f"{table.fqn}: the API sent the same {records} records twice in this load "
                "(a page repeated an earlier page), so those rows would be doubled and the "
                "records of the page it replaced missed. Nothing was written: re-run the "
                "partitions, and report it to Cursor if it persists."
            )
        self._pages_seen[fingerprint] = segment

    def close(self) -> None:
        for fqn, segment in list(self._pages):
            self._type_pages(self._tables[fqn], segment)
        self._settle()
        if self._typer is not None:
            self._typer.shutdown()
            self._typer = None
        if self._stager is not None:
            self._stager.close()
            self._stager = None

    def cleanup(self) -> None:
        self._pages.clear()  # a failed load: nothing to type
        if self._typing is not None:  # wait for the batch being typed, and keep none of it
            wait([self._typing[-1]])
            self._typing = None
        self.close()
        self._dir.cleanup()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def source(self, table: Table) -> str:
        """SQL for the staged rows of `table`. The files' paths are literals, not a list
        parameter (see `sql_literal`)."""
        files = ", ".join(sql_literal(path.as_posix()) for path in self.paths(table))
        source = f"read_parquet([{files}], union_by_name = true)"
        if any(k[0] == table.fqn for k in self._typed if k in self._files):  # typed in bulk: leave out
            columns = ", ".join(quote_ident(c) for c in table.columns)  # the records normalise read
            source = f"(SELECT {columns} FROM {source} WHERE _clean IS NOT FALSE)"
        return source

    def publish(
        self,
        conn: duckdb.DuckDBPyConnection,
        window: tuple[date, date] | None,
        loaded_at: datetime | None = None,
    ) -> dict[str, int]:
        """In one transaction: delete `window` (inclusive days; None = append only) from every
        staged table and insert the staged rows that fall inside it. Returns rows per table;
        the rows left out, per day, are in `out_of_window`. A publish that outgrows
        PUBLISH_SETTINGS' memory limit is rolled back and runs once more at
        PUBLISH_RETRY_MEMORY_LIMIT."""
        self.close()
        limits = (PUBLISH_SETTINGS["memory_limit"], PUBLISH_RETRY_MEMORY_LIMIT)
        for attempt, limit in enumerate(limits):
            restore_settings = _lower_publish_settings(conn, {**PUBLISH_SETTINGS, "memory_limit": limit})
            try:
                return self._publish(conn, window, loaded_at)
            except duckdb.OutOfMemoryException as exc:  # rolled back: nothing was written
                if attempt == len(limits) - 1:
                    raise
                logger.warning(
                    "The publish of %s ran out of its %s DuckDB memory limit (%s); it was rolled "
                    "back and runs again at %s.",
                    ", ".join(self._tables),
                    limit,
                    str(exc).splitlines()[0],
                    limits[attempt + 1],
                )
            finally:
                restore_settings()
        raise AssertionError("unreachable")

    def _publish(
        self, conn: duckdb.DuckDBPyConnection, window: tuple[date, date] | None, loaded_at: datetime | None
    ) -> dict[str, int]:
        if window is not None:
            for fqn, table in self._tables.items():
                if table.day_column and self.row_counts[fqn]:
                    self.out_of_window[fqn] = conn.execute(
                        f"SELECT {quote_ident(table.day_column)} AS day, count(*) FROM {self.source(table)} "
                        f"WHERE day IS NULL OR NOT {sql_between('day', window)} GROUP BY day ORDER BY day"
                    ).fetchall()
        stamp = sql_literal((loaded_at or datetime.now(UTC)).replace(tzinfo=None))
        for table in self._tables.values():
            ensure_table(conn, table)
        inserted: dict[str, int] = {}
        row_counts = self.row_counts

        def write() -> None:
            for fqn, table in self._tables.items():
                in_window = ""
                if window is not None and table.day_column:
                    in_window = f" WHERE {sql_between(table.day_column, window)}"
                    owned = "".join(
                        f" AND {quote_ident(c)} = {sql_literal(v)}" for c, v in table.scope.items()
                    )
                    conn.execute(f"DELETE FROM {table.ident}{in_window}{owned}")
                if not row_counts[fqn]:
                    inserted[fqn] = 0
                    continue
                inserted[fqn] = scalar(
                    conn,
                    f"INSERT INTO {table.ident} BY NAME "
                    f"SELECT *, {stamp} AS {quote_ident(LOADED_AT)} FROM {self.source(table)}{in_window}",
                )
            _fault_point("publish:before_commit")  # tests kill the process here (CURSOR_ANALYTICS_FAULT)

        run_transaction(conn, write)
        return inserted


# Pages typed in one DuckDB query while the fetching goes on (25,000 usage events): DuckDB reads
# the bodies of a batch at once, and 100 pages of 1,000 events did not fit TYPING_MEMORY_LIMIT.
TYPE_BATCH_PAGES = 25

# The largest response body the columnar path reads (1,000 usage events are ~0.5 MB).
MAX_PAGE_BYTES = 16 * 2**20  # DuckDB reserves twice this; a larger page is read by Python

# DuckDB settings while a publish runs (each only lowered). DuckDB keeps the blocks a bulk
# insert writes cached up to its memory_limit (80% of RAM by default): publishing a day of 1M
# usage events grew the process by ~700 MB (bench/RESULTS.md). Under a lower limit it evicts
# them (or spills to a temporary file) instead; one thread, as two threads buffer two row
# groups (and ran out of memory at this limit). The allocator keeps freed memory for reuse
# until 128 MiB by default: returning it from 8 MiB cut the publish's peak by ~15 MB.
PUBLISH_SETTINGS = {
    "memory_limit": "64MiB",
    "threads": "1",
    "allocator_flush_threshold": "8MiB",
    "allocator_bulk_deallocation_flush_threshold": "8MiB",
}
# A publish that DuckDB cannot fit in PUBLISH_SETTINGS' memory_limit (it could not evict
# enough in 2 of 16 benchmark backfills at 64 MiB) is rolled back and run once more at this
# limit (or the connection's own, if lower) rather than failing the run.
PUBLISH_RETRY_MEMORY_LIMIT = "512MiB"
TYPING_MEMORY_LIMIT = "128MiB"
_UNITS = {
    "B": 1,
    "BYTES": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def _size_bytes(text: str) -> float | None:
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]+)\s*", text or "")
    if not match or match.group(2).upper() not in _UNITS:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).upper()]


def _lower_publish_settings(
    conn: duckdb.DuckDBPyConnection, settings: Mapping[str, str]
) -> Callable[[], None]:
    """Lower each of DuckDB's `settings` that is higher; returns what restores them."""
    lowered: dict[str, str] = {}  # setting -> its value before
    for name, wanted in settings.items():
        previous = str(scalar(conn, f"SELECT current_setting('{name}')"))
        size = _count if wanted.isdigit() else _size_bytes
        before, after = size(previous), size(wanted)
        if before is not None and after is not None and before > after:
            conn.execute(f"SET {name} = '{wanted}'")
            lowered[name] = previous

    def restore() -> None:
        try:
            for name, previous in lowered.items():
                conn.execute(f"RESET {name}")
                if str(scalar(conn, f"SELECT current_setting('{name}')")) != previous:  # someone's setting
                    conn.execute(f"SET {name} = '{previous}'")
        except duckdb.Error as exc:  # the database was invalidated by the error being raised
            logger.debug("publish settings not restored: %s", exc)

    return restore


def _count(text: str) -> float | None:
    return float(text) if text.isdigit() else None


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
    table = quote_ident(fqn)
    params = {"start": window[0], "end": window[1]}

    def create() -> None:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(fqn.split('.')[0])}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM ({select_sql}) LIMIT 0", params)
        _add_new_columns(conn, fqn, select_sql, params)

    def replace() -> int:
        conn.execute(f"DELETE FROM {table} WHERE {quote_ident(day_column)} BETWEEN $start AND $end", params)
        return scalar(conn, f"INSERT INTO {table} BY NAME {select_sql}", params)

    retry_on_conflict(create, "DDL")
    return run_transaction(conn, replace)


def _add_new_columns(
    conn: duckdb.DuckDBPyConnection, fqn: str, select_sql: str, params: Mapping[str, Any]
) -> None:
    """Add the columns a newer version of a derived table's query returns (older rows: NULL)."""
    existing = {r[0] for r in conn.execute(f"DESCRIBE {quote_ident(fqn)}").fetchall()}
    for name, sql_type, *_ in conn.execute(f"DESCRIBE {select_sql}", params).fetchall():
        if name not in existing:
            conn.execute(f"ALTER TABLE {quote_ident(fqn)} ADD COLUMN {quote_ident(name)} {sql_type}")


def replace_table_from_sql(conn: duckdb.DuckDBPyConnection, fqn: str, select_sql: str) -> int:
    """Rebuild a whole derived (unpartitioned) table atomically."""
    retry_on_conflict(
        lambda: conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(fqn.split('.')[0])}"), "DDL"
    )

    def rebuild() -> int:
        conn.execute(f"CREATE OR REPLACE TABLE {quote_ident(fqn)} AS {select_sql}")
        return scalar(conn, f"SELECT count(*) FROM {quote_ident(fqn)}")

    return run_transaction(conn, rebuild)


def table_exists(conn: duckdb.DuckDBPyConnection, fqn: str) -> bool:
    schema, name = fqn.split(".")
    return bool(
        scalar(
            conn,
            "SELECT count(*) FROM information_schema.tables "
            f"WHERE table_schema = {sql_literal(schema)} AND table_name = {sql_literal(name)}",
        )
    )
