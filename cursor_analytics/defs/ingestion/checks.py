"""Asset checks on the raw tables, run after every load in the same run. ERROR checks are
blocking: when one fails, the metrics of that run are not derived from the table.

In a partitioned run a check looks at the run's days; executed on its own (UI "Execute checks")
it looks at the whole table, or, for the checks that compare a day with the days before it, at
the latest day.

| check | asset | severity | fails when |
|---|---|---|---|
| `unique_natural_key` | every raw table | ERROR, blocking | two rows share the table's natural key |
| `non_negative_counters` | daily_usage, usage_events, ai_commits, ai_changes | ERROR, blocking | a counter is below 0 |
| `accepted_not_above_shown` | daily_usage | ERROR, blocking | accepted tabs or lines exceed those shown or written |
| `row_count_anomaly` | daily_usage | WARN | a day's rows deviate from the median of the 14 days before it by more than the tolerance |
| `schema_drift` | every raw table | WARN | the API sent fields the client does not know, or documented fields that always came stopped coming |
| `spend_reconciliation` | spend_snapshots | WARN | the cycle's chargeable events' summed `chargedCents` differ from `spendCents`, or all events' from `overallSpendCents`, of `/teams/spend` (the latest snapshot taken while the events were complete) by more than the tolerance, or days of the cycle are not loaded |

Natural keys: daily usage (day, user); usage events have no documented id, so the hash of the
record as sent, per day; commits (commit_hash, repo_name, created_at), since a hash legitimately
repeats across repositories and re-ingestions; changes `change_id`; audit events `event_id`;
snapshots (snapshot_at, member or repository id).
"""

import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from cursor_analytics.cursor_api import FIELDS, days_in
from cursor_analytics.ui.metadata import markdown_table
from cursor_analytics.warehouse import Table, scalar, table_exists, tables
from cursor_analytics.warehouse.finality import PARTITION_FINALITY, StaleDataSettings
from cursor_analytics.warehouse.tables import DAILY_USAGE_SUMS

UNIQUE_NATURAL_KEY = "unique_natural_key"
NON_NEGATIVE_COUNTERS = "non_negative_counters"
ACCEPTED_NOT_ABOVE_SHOWN = "accepted_not_above_shown"
ROW_COUNT_ANOMALY = "row_count_anomaly"
SCHEMA_DRIFT = "schema_drift"
SPEND_RECONCILIATION = "spend_reconciliation"

BASELINE_DAYS = 14  # days before a day that row counts and field sets are compared with
MIN_BASELINE_DAYS = 3
SAMPLE_ROWS = 10

Window = tuple[date, date] | None  # inclusive UTC days of the run; None = not a partitioned run


@dataclass(frozen=True)
class Outcome:
    passed: bool
    description: str
    metadata: dict[str, Any]
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    evaluate: Callable[[duckdb.DuckDBPyConnection, Table, Window], Outcome]
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    # Other raw tables the check reads (it runs after them when they are in the same run).
    reads: tuple[str, ...] = ()


def _where(table: Table, window: Window, extra: str | None = None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if window is not None and table.day_column:
        clauses.append(f'"{table.day_column}" BETWEEN ? AND ?')
        params += list(window)
    if extra:
        clauses.append(extra)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _scope(table: Table, window: Window) -> str:
    if window is not None and table.day_column:
        return f"{window[0]}..{window[1]}" if window[0] != window[1] else window[0].isoformat()
    return "the whole table"


# --- uniqueness ------------------------------------------------------------------------------

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "daily_usage": ("day", "coalesce(user_id, lower(email))"),
    "usage_events": ("day", "md5(CAST(raw AS VARCHAR))"),
    "ai_commits": ("commit_hash", "repo_name", "created_at"),
    "ai_changes": ("change_id",),
    "audit_logs": ("event_id",),
    "team_members": ("snapshot_at", "coalesce(user_id, lower(email))"),
    "spend_snapshots": ("snapshot_at", "coalesce(user_id, lower(email))"),
    "repo_blocklists": ("snapshot_at", "repo_id"),
}


def unique_natural_key(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    key = NATURAL_KEYS[table.name]
    where, params = _where(table, window)
    columns = ", ".join(f"{expr} AS k{i}" for i, expr in enumerate(key))
    duplicates = conn.execute(
        f"SELECT {columns}, count(*) AS n FROM {table.ident}{where} GROUP BY ALL HAVING count(*) > 1 "
        "ORDER BY n DESC",
        params,
    ).fetchall()
    extra_rows = sum(row[-1] - 1 for row in duplicates)
    return Outcome(
        passed=not duplicates,
        description=(
            f"({', '.join(key)}) is unique in {_scope(table, window)}"
            if not duplicates
            else f"{len(duplicates)} keys of ({', '.join(key)}) repeat ({extra_rows} extra rows) "
            f"in {_scope(table, window)}"
        ),
        metadata={
            "natural_key": ", ".join(key),
            "duplicate_keys": len(duplicates),
            "duplicate_rows": extra_rows,
            "duplicates": dg.MetadataValue.md(markdown_table([*key, "rows"], duplicates[:SAMPLE_ROWS])),
        },
    )


# --- counters --------------------------------------------------------------------------------

COUNTERS: dict[str, tuple[str, ...]] = {
    "daily_usage": DAILY_USAGE_SUMS,
    "usage_events": (
        "requests_costs", "charged_cents", "input_tokens", "output_tokens",
        "cache_write_tokens", "cache_read_tokens", "total_cents",
    ),
    "ai_commits": tuple(c for c in FIELDS["ai_commits"] if c.endswith(("_added", "_deleted"))),
    "ai_changes": ("total_lines_added", "total_lines_deleted"),
}  # fmt: skip


def non_negative_counters(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    columns = COUNTERS[table.name]
    negative = _rows_breaking(conn, table, window, {c: f'"{c}" < 0' for c in columns})
    return Outcome(
        passed=not negative,
        description=(
            f"no negative counter in {_scope(table, window)}"
            if not negative
            else "negative values in " + ", ".join(f"{c} ({n} rows)" for c, n in negative.items())
        ),
        metadata={
            "columns_checked": len(columns),
            "negative_rows_by_column": dg.MetadataValue.json(negative),
        },
    )


def _rows_breaking(
    conn: duckdb.DuckDBPyConnection, table: Table, window: Window, rules: dict[str, str]
) -> dict[str, int]:
    """Rows of the table (within the window) matching each SQL condition: {label: count},
    only the labels with at least one row."""
    where, params = _where(table, window)
    counts = conn.execute(
        "SELECT "
        + ", ".join(f"count(*) FILTER (WHERE {sql})" for sql in rules.values())
        + f" FROM {table.ident}{where}",
        params,
    ).fetchone()
    assert counts is not None  # an aggregate without GROUP BY returns one row
    return {label: n for label, n in zip(rules, counts) if n}


ACCEPTED_PAIRS = (
    ("total_tabs_accepted", "total_tabs_shown"),
    ("accepted_lines_added", "total_lines_added"),
    ("accepted_lines_deleted", "total_lines_deleted"),
)


def accepted_not_above_shown(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    violations = _rows_breaking(conn, table, window, {f"{a} > {b}": f"{a} > {b}" for a, b in ACCEPTED_PAIRS})
    return Outcome(
        passed=not violations,
        description=(
            f"accepted never exceeds shown/written in {_scope(table, window)}"
            if not violations
            else "rows where " + "; ".join(f"{rule} ({n})" for rule, n in violations.items())
        ),
        metadata={"violations": dg.MetadataValue.json(violations)},
    )


# --- row counts ------------------------------------------------------------------------------


def _days_to_check(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> list[date]:
    if window is not None:
        return days_in(*window)
    latest = scalar(conn, f"SELECT max(day) FROM {table.ident}")
    return [latest] if latest else []


def row_count_anomaly(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    tolerance = StaleDataSettings.from_env().row_count_tolerance_pct
    days = _days_to_check(conn, table, window)
    if not days:
        return Outcome(True, "no rows yet", {}, dg.AssetCheckSeverity.WARN)
    counts = dict(
        conn.execute(
            f"SELECT day, count(*) FROM {table.ident} WHERE day BETWEEN ? AND ? GROUP BY day",
            [days[0] - timedelta(days=BASELINE_DAYS), days[-1]],
        ).fetchall()
    )
    anomalies, compared = [], 0
    for day in days:
        baseline = [
            counts[d] for i in range(1, BASELINE_DAYS + 1) if (d := day - timedelta(days=i)) in counts
        ]
        if len(baseline) < MIN_BASELINE_DAYS:
            continue
        compared += 1
        median = statistics.median(baseline)
        rows = counts.get(day, 0)
        deviation = abs(rows - median) / median * 100 if median else (100.0 if rows else 0.0)
        if deviation > tolerance:
            anomalies.append((day.isoformat(), rows, median, f"{deviation:.0f}%"))
    if not compared:
        description = f"not enough history: fewer than {MIN_BASELINE_DAYS} earlier days loaded"
    elif anomalies:
        description = "rows deviate from the median of the previous days by more than " + (
            f"{tolerance:g}%: " + ", ".join(f"{d} ({r} rows vs {m:g})" for d, r, m, _ in anomalies)
        )
    else:
        description = f"{compared} days within {tolerance:g}% of the median of their previous days"
    return Outcome(
        passed=not anomalies,
        description=description,
        metadata={
            "tolerance_pct": tolerance,
            "days_compared": compared,
            "anomalies": dg.MetadataValue.md(
                markdown_table(["day", "rows", "median before", "deviation"], anomalies)
            ),
        },
        severity=dg.AssetCheckSeverity.WARN,
    )


# --- schema drift ----------------------------------------------------------------------------

RECORD_TYPES = {"spend_snapshots": "spend"}
# Documented names that are not the camelCase of a column (see cursor_api/records.py).
ALIASES: dict[str, set[str]] = {
    "team_members": {"id"},
    "daily_usage": {"date"},
    "usage_events": {"kindLabel", "tokenUsage"},
    "spend": {"id"},
    "ai_changes": {"metadata"},
    "audit_logs": {"eventId", "id", "createdAt"},
    "repo_blocklists": {"id"},
}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def known_fields(record_type: str) -> set[str]:
    """Field names the client reads for a record type: each column's camelCase and snake_case
    name, and the documented aliases."""
    columns = FIELDS[record_type]
    return {_camel(c) for c in columns} | set(columns) | ALIASES.get(record_type, set())


def _field_counts(
    conn: duckdb.DuckDBPyConnection, table: Table, where: str, params: list[Any]
) -> tuple[int, dict[str, int]]:
    rows = scalar(conn, f"SELECT count(*) FROM {table.ident}{where}", params)
    counts = conn.execute(
        f"SELECT k, count(*) FROM (SELECT unnest(json_keys(raw)) AS k FROM {table.ident}{where}) GROUP BY k",
        params,
    ).fetchall()
    return rows, dict(counts)


def schema_drift(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    record_type = RECORD_TYPES.get(table.name, table.name)
    known = known_fields(record_type)
    if table.day_column:
        days = _days_to_check(conn, table, window)
        if not days:
            return Outcome(True, "no rows yet", {}, dg.AssetCheckSeverity.WARN)
        current = (' WHERE "day" BETWEEN ? AND ?', [days[0], days[-1]])
        before = (' WHERE "day" >= ? AND "day" < ?', [days[0] - timedelta(days=BASELINE_DAYS), days[0]])
        scope = f"{days[0]}..{days[-1]}" if days[0] != days[-1] else days[0].isoformat()
    else:
        latest = scalar(conn, f"SELECT max(snapshot_at) FROM {table.ident}")
        if latest is None:
            return Outcome(True, "no rows yet", {}, dg.AssetCheckSeverity.WARN)
        current = (" WHERE snapshot_at = ?", [latest])
        before = (" WHERE snapshot_at < ? AND snapshot_at >= ?", [latest, latest - timedelta(days=7)])
        scope = f"the snapshot of {latest.isoformat(timespec='seconds')}"
    rows, seen = _field_counts(conn, table, *current)
    base_rows, base_seen = _field_counts(conn, table, *before)
    unknown = sorted(set(seen) - known)
    # documented fields present in every earlier record that no current record carries
    stopped = (
        sorted(k for k, n in base_seen.items() if k in known and n == base_rows and k not in seen)
        if rows
        else []
    )
    problems = []
    if unknown:
        problems.append("fields the API sent that the client does not know: " + ", ".join(unknown))
    if stopped:
        problems.append("documented fields that stopped coming: " + ", ".join(stopped))
    return Outcome(
        passed=not problems,
        description="; ".join(problems) + f" ({scope})" if problems else f"no drift in {scope}",
        metadata={
            "unknown_fields": dg.MetadataValue.text(", ".join(unknown) or "none"),
            "stopped_fields": dg.MetadataValue.text(", ".join(stopped) or "none"),
            "records_checked": rows,
            "baseline_records": base_rows,
        },
        severity=dg.AssetCheckSeverity.WARN,
    )


# --- spend -----------------------------------------------------------------------------------


def _events_complete_until(
    conn: duckdb.DuckDBPyConnection, cycle_start: datetime, until: date
) -> tuple[datetime, list[date]]:
    """Up to when the usage events of the cycle are complete in DuckDB (from its start, every
    day loaded after it ended; a day loaded while in progress counts up to its load), and the
    days of the cycle up to `until` that were never loaded."""
    loads: dict[date, datetime] = {}
    if table_exists(conn, PARTITION_FINALITY.fqn):
        loads = dict(
            conn.execute(
                f"SELECT day, verified_at FROM {PARTITION_FINALITY.ident} "
                "WHERE dataset = 'usage_events' AND day BETWEEN ? AND ?",
                [cycle_start.date(), until],
            ).fetchall()
        )
    cycle_days = [
        cycle_start.date() + timedelta(days=i) for i in range((until - cycle_start.date()).days + 1)
    ]
    complete = cycle_start
    for day in cycle_days:
        if day not in loads:
            break
        day_end = datetime.combine(day + timedelta(days=1), time())
        complete = max(complete, min(loads[day], day_end))
        if loads[day] < day_end:
            break
    return complete, [d for d in cycle_days if d not in loads]


def _gap_pct(events: float, reported: float) -> float:
    gap = abs(events - reported)
    return gap / reported * 100 if reported else (100.0 if events else 0.0)


def spend_reconciliation(conn: duckdb.DuckDBPyConnection, table: Table, window: Window) -> Outcome:
    """A spend snapshot of the current cycle, taken while the usage events in DuckDB were
    complete, against the events from the cycle start to it: the chargeable events' summed
    `chargedCents` against `spendCents` (billed spend), and all events' against
    `overallSpendCents` (billed plus included usage; skipped when the API did not send it)."""
    tolerance = StaleDataSettings.from_env().spend_tolerance_pct
    snapshot = conn.execute(
        f"SELECT max(subscription_cycle_start), max(snapshot_at) FROM {table.ident} "
        f"WHERE snapshot_at = (SELECT max(snapshot_at) FROM {table.ident})"
    ).fetchone()
    assert snapshot is not None  # an aggregate without GROUP BY returns one row
    cycle_start, latest = snapshot
    if latest is None or cycle_start is None:
        return Outcome(True, "no spend snapshot with a cycle start yet", {}, dg.AssetCheckSeverity.WARN)
    complete, missing = _events_complete_until(conn, cycle_start, latest.date())
    snapshot_at, reported, reported_overall = conn.execute(
        f"SELECT snapshot_at, sum(spend_cents), sum(overall_spend_cents) FROM {table.ident} "
        "WHERE subscription_cycle_start = ? AND snapshot_at <= ? "
        "GROUP BY snapshot_at ORDER BY snapshot_at DESC LIMIT 1",
        [cycle_start, complete],
    ).fetchone() or (None, None, None)
    metadata: dict[str, Any] = {
        "cycle_start": cycle_start.isoformat(),
        "events_complete_until": complete.isoformat(),
        "tolerance_pct": tolerance,
    }
    if snapshot_at is None:
        if missing:
            why = (
                f"the usage events of {len(missing)} day{'s' if len(missing) > 1 else ''} of the "
                f"cycle are not loaded ({missing[0]}..{missing[-1]}); load them (cursor_daily_job)"
            )
        else:
            why = (
                f"no spend snapshot of the cycle was taken while the usage events were complete "
                f"(until {complete.isoformat(timespec='minutes')}); the next snapshot after a load reconciles"
            )
        return Outcome(
            False,
            "cannot reconcile: " + why,
            {**metadata, "days_not_loaded": len(missing)},
            dg.AssetCheckSeverity.WARN,
        )
    billed = total = 0.0
    if table_exists(conn, tables.USAGE_EVENTS.fqn):
        sums = conn.execute(
            "SELECT coalesce(sum(charged_cents) FILTER (WHERE is_chargeable), 0), "
            f"coalesce(sum(charged_cents), 0) FROM {tables.USAGE_EVENTS.ident} "
            'WHERE "timestamp" >= ? AND "timestamp" <= ?',
            [cycle_start, snapshot_at],
        ).fetchone()
        assert sums is not None  # an aggregate without GROUP BY returns one row
        billed, total = (float(v) for v in sums)
    reported = float(reported or 0)
    billed_pct = _gap_pct(billed, reported)
    overall_pct = None if reported_overall is None else _gap_pct(total, float(reported_overall))
    worst = max(billed_pct, overall_pct or 0.0)
    description = (
        f"billed events {billed:,.2f} vs spendCents {reported:,.2f} ({billed_pct:.2f}% apart)"
        + (
            ""
            if overall_pct is None
            else f"; all events {total:,.2f} vs overallSpendCents {float(reported_overall):,.2f} "
            f"({overall_pct:.2f}% apart)"
        )
        + f" at {snapshot_at.isoformat(timespec='minutes')} (tolerance {tolerance:g}%)"
    )
    return Outcome(
        passed=worst <= tolerance,
        description=description,
        metadata={
            **metadata,
            "snapshot_at": snapshot_at.isoformat(),
            "spend_cents": dg.MetadataValue.float(reported),
            "billed_cents_from_events": dg.MetadataValue.float(billed),
            "gap_pct": dg.MetadataValue.float(billed_pct),
            **(
                {}
                if overall_pct is None
                else {
                    "overall_spend_cents": dg.MetadataValue.float(float(reported_overall)),
                    "total_usage_cents_from_events": dg.MetadataValue.float(total),
                    "overall_gap_pct": dg.MetadataValue.float(overall_pct),
                }
            ),
        },
        severity=dg.AssetCheckSeverity.WARN,
    )


# --- the check definitions -------------------------------------------------------------------

UNIQUE = Check(UNIQUE_NATURAL_KEY, "No two rows share the table's natural key.", unique_natural_key)
NON_NEGATIVE = Check(NON_NEGATIVE_COUNTERS, "No counter is below zero.", non_negative_counters)
ACCEPTED = Check(
    ACCEPTED_NOT_ABOVE_SHOWN,
    "Accepted tab completions never exceed those shown; accepted lines never exceed the lines "
    "added or deleted.",
    accepted_not_above_shown,
)
ROW_COUNT = Check(
    ROW_COUNT_ANOMALY,
    f"A day's row count stays within the tolerance (CURSOR_ANALYTICS_ROW_COUNT_TOLERANCE_PCT) of "
    f"the median of the {BASELINE_DAYS} days before it.",
    row_count_anomaly,
    dg.AssetCheckSeverity.WARN,
)
DRIFT = Check(
    SCHEMA_DRIFT,
    "Names the fields the API sent that the client does not know, and the documented fields "
    "that came in every earlier record but stopped coming.",
    schema_drift,
    dg.AssetCheckSeverity.WARN,
)
SPEND = Check(
    SPEND_RECONCILIATION,
    "The billing cycle's usage events match /teams/spend within the tolerance "
    "(CURSOR_ANALYTICS_SPEND_TOLERANCE_PCT): chargeable events' summed chargedCents against "
    "spendCents, all events' against overallSpendCents.",
    spend_reconciliation,
    dg.AssetCheckSeverity.WARN,
)

CHECKS_BY_TABLE: dict[str, tuple[Table, tuple[Check, ...]]] = {
    "daily_usage": (tables.DAILY_USAGE, (UNIQUE, NON_NEGATIVE, ACCEPTED, ROW_COUNT, DRIFT)),
    "usage_events": (tables.USAGE_EVENTS, (UNIQUE, NON_NEGATIVE, DRIFT)),
    "ai_commits": (tables.AI_COMMITS, (UNIQUE, NON_NEGATIVE, DRIFT)),
    "ai_changes": (tables.AI_CHANGES, (UNIQUE, NON_NEGATIVE, DRIFT)),
    "audit_logs": (tables.AUDIT_LOGS, (UNIQUE, DRIFT)),
    "team_members": (tables.TEAM_MEMBERS, (UNIQUE, DRIFT)),
    "spend_snapshots": (tables.SPEND_SNAPSHOTS, (UNIQUE, DRIFT, SPEND)),
    "repo_blocklists": (tables.REPO_BLOCKLISTS, (UNIQUE, DRIFT)),
}


def run_window(context: dg.AssetCheckExecutionContext) -> Window:
    """The run's days when it is a partitioned run (a range run, one day, or a checks-only run
    tagged with a range), else None."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    keys = context.partition_key_range
    return date.fromisoformat(keys.start), date.fromisoformat(keys.end)


T = TypeVar("T")


def run_checks(
    context: dg.AssetCheckExecutionContext,
    resource: DuckDBResource,
    checks: Iterable[
        tuple[
            dg.AssetCheckKey,
            str,
            T,
            Callable[[duckdb.DuckDBPyConnection, T, Window], Outcome],
            dg.AssetCheckSeverity,
        ]
    ],
) -> Iterator[dg.AssetCheckResult]:
    """The results of the selected `checks`, in their order, over one DuckDB connection, on the
    run's days. Each check is (its key, the table it looks at, what its evaluate function is
    given besides the connection and the days, that function, its severity); a check of a table
    that does not exist yet passes, saying so."""
    window = run_window(context)
    selected = set(context.selected_asset_check_keys)
    with resource.get_connection() as conn:
        for key, fqn, target, evaluate, severity in checks:
            if key not in selected:
                continue
            outcome = (
                evaluate(conn, target, window)
                if table_exists(conn, fqn)
                else Outcome(True, f"{fqn} does not exist yet", {}, severity)
            )
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=outcome.passed,
                severity=outcome.severity,
                description=outcome.description,
                metadata=outcome.metadata,
            )


def table_checks(table: Table, checks: Sequence[Check]) -> dg.AssetChecksDefinition:
    """One step that runs `checks` on raw.<table> over one DuckDB connection."""
    asset_key = dg.AssetKey(["raw", table.name])

    @dg.multi_asset_check(
        name=f"{table.name}_checks",
        # ERROR checks block: the metrics of the run are not derived from a table that failed one
        specs=[
            dg.AssetCheckSpec(
                c.name,
                asset=asset_key,
                description=c.description,
                blocking=c.severity == dg.AssetCheckSeverity.ERROR,
                additional_deps=[dg.AssetKey(["raw", name]) for name in c.reads],
            )
            for c in checks
        ],
        can_subset=True,
        pool="duckdb",
    )
    def _checks(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
        yield from run_checks(
            context,
            duckdb,
            ((dg.AssetCheckKey(asset_key, c.name), table.fqn, table, c.evaluate, c.severity) for c in checks),
        )

    return _checks


asset_checks = [table_checks(table, checks) for table, checks in CHECKS_BY_TABLE.values()]
