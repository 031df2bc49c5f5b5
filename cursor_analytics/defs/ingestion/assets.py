"""Raw Cursor API data, landed as it came: asset key ["raw", name] is DuckDB table raw.name.

Every row has typed snake_case columns for the documented fields, the record exactly as the API
sent it (`raw`, JSON: new fields are never dropped) and `_loaded_at`. Partitioned tables are
replaced per UTC-day range in one transaction; snapshot tables keep every snapshot.
"""

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from cursor_analytics.cursor_api import CursorClient, Page
from cursor_analytics.defs.ingestion.access import DATASET_TAG, unless_refused
from cursor_analytics.defs.partitions import (
    add_metadata_per_day,
    backfill_policy,
    daily_partitions,
    window_days,
)
from cursor_analytics.defs.resources import CursorApiResource
from cursor_analytics.ui.metadata import column_schema, preview, rows_per_day
from cursor_analytics.warehouse import Staging, Table, finality
from cursor_analytics.warehouse.tables import (
    AI_CHANGE_FILES,
    AI_CHANGES,
    AI_COMMITS,
    AUDIT_LOGS,
    DAILY_USAGE,
    REPO_BLOCKLISTS,
    SNAPSHOT_TABLES,
    SPEND_SNAPSHOTS,
    TEAM_MEMBERS,
    USAGE_EVENTS,
    sql_literal,
)

GROUP = "cursor_raw"
KINDS = {"duckdb", "python"}
# Who answers questions about loading Cursor's data (Dagster owners: emails or team:<name>).
OWNERS = ["team:data-platform"]


# A WARN check every partitioned load reports: the API sent rows dated outside the requested days.
ROWS_IN_WINDOW = "rows_in_window"
OUT_OF_WINDOW_SAMPLE = 10  # days listed by the check

Fetch = Callable[[CursorClient, date, date], Iterable[Page]]
Split = Callable[[list[dict[str, Any]]], dict[Table, list[dict[str, Any]]]]


def _api_metadata(client: CursorClient) -> dict[str, Any]:
    by_endpoint = dict(sorted(client.stats.requests.items()))
    return {
        "api_requests": sum(by_endpoint.values()),
        "api_requests_by_endpoint": dg.MetadataValue.json(by_endpoint),
        "api_pages": client.stats.pages,
        "api_retries": client.stats.retries,
        "api_rereads": client.stats.restarts,
    }


@unless_refused
def load_days(
    context: dg.AssetExecutionContext,
    cursor_api: CursorApiResource,
    duckdb: DuckDBResource,
    table: Table,
    fetch: Fetch,
    split: Split | None = None,
    children: tuple[Table, ...] = (),
) -> dg.MaterializeResult:
    """Fetch the run's partition range page by page into staging, then replace it in DuckDB.

    `split` turns a page into rows for `table` and its `children` tables (default: all rows
    go to `table`). A 403 leaves the asset unmaterialized and the step green (access.py)."""
    start, end = window_days(context)
    as_of = finality.run_as_of(context)
    verified, verifications = finality.load_verification(table.name, start, end, as_of)
    tables = [table, *children]
    with Staging([*tables, verified]) as staging, cursor_api.get_client() as client:
        for page in fetch(client, start, end):
            if page.restarted:  # the chunk's data moved while paging: it is being read again
                staging.discard(page.window)
            if split is None:  # usage events and AI commits: typed in bulk from the response JSON
                staging.append_page(table, page)
                continue
            for target, rows in split(page.records).items():
                staging.append(target, rows, segment=page.window)
        context.log.info(
            f"Fetched {staging.row_counts[table.fqn]} rows for {start}..{end} in {client.stats.pages} pages"
        )
        staging.append(verified, verifications)  # published with the rows, atomically
        with duckdb.get_connection() as conn:
            inserted = staging.publish(conn, (start, end))
            sample = preview(conn, table, (start, end))
            by_day, range_finality = finality.finality_metadata(conn, start, end, table.name)
            for t in tables:
                name = "dagster/row_count" if t == table else f"rows_{t.name}"
                for day, n in rows_per_day(conn, t.fqn, (start, end), t.day_column or "day").items():
                    by_day[day][name] = n
        api = _api_metadata(client)
    outside = staging.out_of_window[table.fqn]
    window_check = dg.AssetCheckKey(context.asset_key, ROWS_IN_WINDOW)
    add_metadata_per_day(context, by_day)  # each day: its rows and finality
    return dg.MaterializeResult(  # shared by the run's days: the range and its API cost
        check_results=(
            [_rows_in_window(table, start, end, outside)]
            if window_check in context.selected_asset_check_keys
            else []
        ),
        metadata={
            **range_finality,
            "range_rows": inserted[table.fqn],
            "rows_out_of_window": sum(n for _, n in outside),
            **api,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "days": (end - start).days + 1,
            "preview": dg.MetadataValue.md(sample),
            "dagster/column_schema": column_schema(table),
        },
    )


def _rows_in_window(
    table: Table, start: date, end: date, outside: list[tuple[date | None, int]]
) -> dg.AssetCheckResult:
    """WARN when the API answered with rows dated outside the requested days: they are not
    stored (the run replaces only its own days), so the check names them instead."""
    rows = sum(n for _, n in outside)
    days = ", ".join(f"{day or 'no day'} ({n})" for day, n in outside[:OUT_OF_WINDOW_SAMPLE])
    more = (
        f" and {len(outside) - OUT_OF_WINDOW_SAMPLE} more days" if len(outside) > OUT_OF_WINDOW_SAMPLE else ""
    )
    return dg.AssetCheckResult(
        check_name=ROWS_IN_WINDOW,
        passed=not outside,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"every row the API sent is dated {start}..{end}"
            if not outside
            else f"{rows} rows the API sent for {start}..{end} are dated outside it and were not "
            f"stored: {days}{more}"
        ),
        metadata={
            "rows_out_of_window": rows,
            "days_out_of_window": dg.MetadataValue.json({str(d): n for d, n in outside}),
        },
    )


@unless_refused
def load_snapshot(
    context: dg.AssetExecutionContext,
    cursor_api: CursorApiResource,
    duckdb: DuckDBResource,
    table: Table,
    fetch: Callable[[CursorClient], tuple[list[dict[str, Any]], dict[str, Any]]],
) -> dg.MaterializeResult:
    """Append one snapshot (all rows stamped with the same snapshot_at: the run's as-of time)
    to a history table."""
    snapshot_at = finality.run_as_of(context)
    with Staging([table]) as staging, cursor_api.get_client() as client:
        rows, extra = fetch(client)
        staging.append(table, [{**r, **extra, "snapshot_at": snapshot_at} for r in rows])
        with duckdb.get_connection() as conn:
            inserted = staging.publish(conn, None)
            sample = preview(
                conn, table, None, where=f"snapshot_at = {sql_literal(snapshot_at.replace(tzinfo=None))}"
            )
        api = _api_metadata(client)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": inserted[table.fqn],
            **api,
            "snapshot_at": snapshot_at.isoformat(),
            "preview": dg.MetadataValue.md(sample),
            "dagster/column_schema": column_schema(table),
        }
    )


def _definition_metadata(name: str) -> dict[str, Any]:
    """The column schema of table raw.<name>, shown in the UI before the first run."""
    tables = (DAILY_USAGE, USAGE_EVENTS, AI_COMMITS, AI_CHANGES, AUDIT_LOGS, *SNAPSHOT_TABLES)
    return {"dagster/column_schema": column_schema(next(t for t in tables if t.name == name))}


def _partitioned(name: str, dataset: str | None = None, **kwargs: Any):
    """A daily-partitioned raw asset of `dataset` (default: `name`); not materialized when the
    key may not read it (see `load_days`)."""
    return dg.asset(
        key=["raw", name],
        group_name=GROUP,
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy,
        kinds=KINDS,
        owners=OWNERS,
        metadata=_definition_metadata(name),
        pool=f"cursor_api_{name}",
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_IN_WINDOW,
                asset=["raw", name],
                description="Every row the API sent is dated within the requested days (rows "
                "outside them are not stored; WARN names their days).",
            )
        ],
        tags={DATASET_TAG: dataset or name},
        output_required=False,
        **kwargs,
    )


def _snapshot(name: str, dataset: str | None = None):
    """A snapshot raw asset of `dataset` (default: `name`); see `load_snapshot`."""
    return dg.asset(
        key=["raw", name],
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNERS,
        metadata=_definition_metadata(name),
        pool=f"cursor_api_{name}",
        tags={DATASET_TAG: dataset or name},
        output_required=False,
    )


@_partitioned("daily_usage")
def daily_usage(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """One row per user and UTC day from `POST /teams/daily-usage-data`: activity flag, lines
    added and accepted, tab and suggestion accepts, requests by feature, most-used model and
    extensions. A backfill costs ceil(days / max_days_per_request) API calls."""
    return load_days(context, cursor_api, duckdb, DAILY_USAGE, CursorClient.daily_usage)


@_partitioned("usage_events")
def usage_events(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Every billable request from `POST /teams/filtered-usage-events`: time, user, model,
    billing kind, request cost, charged cents and token usage. Streamed 1,000 events a page to
    disk, so memory does not grow with the size of a day."""
    return load_days(context, cursor_api, duckdb, USAGE_EVENTS, CursorClient.usage_events)


@_partitioned("ai_commits")
def ai_commits(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Commits with their AI attribution from `GET /analytics/ai-code/commits` (Enterprise):
    lines added by Tab, by Composer/agent and by hand, per repository and branch, dated by
    commit time. Commit hashes can repeat (amended or re-ingested commits); all rows are kept."""
    return load_days(context, cursor_api, duckdb, AI_COMMITS, CursorClient.ai_commits)


def _split_changes(records: list[dict[str, Any]]) -> dict[Table, list[dict[str, Any]]]:
    files = [{**f, "day": r["day"], "change_id": r["change_id"]} for r in records for f in r["files"] or ()]
    return {AI_CHANGES: records, AI_CHANGE_FILES: files}


@_partitioned("ai_changes")
def ai_changes(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Accepted AI edits from `GET /analytics/ai-code/changes` (Enterprise): source (TAB or
    COMPOSER), model and lines, one row per change; the files each change touched land in the
    child table raw.ai_change_files (file name omitted under privacy mode)."""
    return load_days(
        context,
        cursor_api,
        duckdb,
        AI_CHANGES,
        CursorClient.ai_changes,
        _split_changes,
        children=(AI_CHANGE_FILES,),
    )


@_partitioned("audit_logs")
def audit_logs(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Team audit events from `GET /teams/audit-logs`: who did what (logins, settings and
    member changes), when and from which IP address."""
    return load_days(context, cursor_api, duckdb, AUDIT_LOGS, CursorClient.audit_logs)


@_snapshot("team_members")
def team_members(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Snapshots of `GET /teams/members`: every member with role and removal flag, stamped with
    `snapshot_at`. History is kept; the latest snapshot is the current team."""
    return load_snapshot(context, cursor_api, duckdb, TEAM_MEMBERS, lambda c: (c.team_members(), {}))


def _spend(client: CursorClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    report = client.spend()
    return report.records, {"subscription_cycle_start": report.extra["subscription_cycle_start"]}


@_snapshot("spend_snapshots", dataset="spend")
def spend_snapshots(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Snapshots of `POST /teams/spend` for the current billing cycle: one row per member per
    snapshot with on-demand spend (`spend_cents`), total spend including included usage
    (`overall_spend_cents`), limits, and the cycle start."""
    return load_snapshot(context, cursor_api, duckdb, SPEND_SNAPSHOTS, _spend)


@_snapshot("repo_blocklists")
def repo_blocklists(
    context: dg.AssetExecutionContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Snapshots of `GET /settings/repo-blocklists/repos`: each blocked repository URL with the
    glob patterns Cursor ignores in it."""
    return load_snapshot(context, cursor_api, duckdb, REPO_BLOCKLISTS, lambda c: (c.repo_blocklists(), {}))


partitioned_raw_assets = [daily_usage, usage_events, ai_commits, ai_changes, audit_logs]
snapshot_raw_assets = [team_members, spend_snapshots, repo_blocklists]
