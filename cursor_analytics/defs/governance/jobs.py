"""Dagster jobs that plan (by default) or apply the governance files.

- `spend_limits_job`: governance/spend_limits.yaml against the latest spend snapshot.
- `repo_blocklists_job`: governance/repo_blocklists.yaml against the live blocklists.

Each job is one op whose output carries the plan as markdown metadata. It is a dry run unless
its config says `apply: true`; an apply records every write in governance.audit_log and then
materializes the snapshot asset that shows the effect (raw/spend_snapshots or
raw/repo_blocklists), so the asset's history and everything downstream of it see the change.
Two governance ops never interleave: each holds the governance lock of the warehouse (an
flock beside the DuckDB file, see governance.lock), which a killed process releases at once,
instead of a Dagster pool slot, which a killed in-process run would hold for ever. Each op first
settles the audit rows left `pending` by a write whose outcome was never recorded.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.resources import CursorApiResource
from cursor_analytics.governance import blocklists, spend_limits
from cursor_analytics.governance.audit import ACTOR_ENV, AuditLog, default_actor
from cursor_analytics.governance.files import Source
from cursor_analytics.governance.lock import LOCK_TIMEOUT_SECONDS, governance_lock


class SpendLimitsConfig(dg.Config):
    path: str = Field(
        default=spend_limits.DEFAULT_PATH,
        description="Spend limits file (relative paths resolve against the working directory).",
    )
    apply: bool = Field(
        default=False,
        description="false (default): plan only, nothing is written. true: set the limits that "
        "differ, after refreshing the members and spend snapshots.",
    )
    refresh: bool = Field(
        default=False,
        description="Take fresh raw/team_members and raw/spend_snapshots snapshots before "
        "planning (always done when applying).",
    )
    actor: str = Field(
        default="",
        description=f"Who is applying, for the audit log (default ${ACTOR_ENV}, else the OS user).",
    )


class RepoBlocklistsConfig(dg.Config):
    path: str = Field(
        default=blocklists.DEFAULT_PATH,
        description="Repo blocklists file (relative paths resolve against the working directory).",
    )
    apply: bool = Field(
        default=False,
        description="false (default): plan only. true: upsert the added and changed repositories.",
    )
    prune: bool = Field(
        default=False,
        description="Also delete blocklisted repositories that are not in the file (with apply).",
    )
    actor: str = Field(
        default="",
        description=f"Who is applying, for the audit log (default ${ACTOR_ENV}, else the OS user).",
    )


def _snapshot(
    asset: dg.AssetsDefinition, cursor_api: CursorApiResource, duckdb: DuckDBResource, why: str
) -> dg.AssetMaterialization:
    """Run a raw snapshot asset's own code and report it as that asset's materialization."""
    # Invoked outside a run, a snapshot asset returns its MaterializeResult (a refusal raises).
    result = cast(dg.MaterializeResult, asset(dg.build_asset_context(), cursor_api=cursor_api, duckdb=duckdb))
    assert result.metadata is not None  # every snapshot asset reports its metadata
    return dg.AssetMaterialization(asset_key=asset.key, metadata={**result.metadata, "governance": why})


def _taken_at(materialization: dg.AssetMaterialization) -> datetime:
    """The `snapshot_at` a snapshot asset stamped its rows with (its metadata)."""
    value: Any = materialization.metadata["snapshot_at"]
    return datetime.fromisoformat(str(getattr(value, "value", value)))


def _after(source: Source, applied: list[str]) -> str:
    return f"after applying {source.path} (sha256 {source.sha256[:12]}): {len(applied)} write(s)"


def _apply_then_snapshot(
    context: dg.OpExecutionContext,
    apply: Callable[[], Any],
    applied: list[str],
    snapshot: Callable[[], dg.AssetMaterialization],
) -> None:
    """Apply; then, when anything was written (even if a later write failed), materialize the
    snapshot that shows the new state. The apply's own error wins over a snapshot error."""
    failure: Exception | None = None
    try:
        apply()
    except Exception as exc:
        failure = exc
    if applied:
        try:
            context.log_event(snapshot())
        except Exception as exc:
            if failure is None:
                raise
            context.log.warning(f"The snapshot after the failed apply was not taken either: {exc}")
    if failure is not None:
        raise failure


def _plan_output(plan: Any, mode: str, applied: list[str]) -> dg.Output:
    return dg.Output(
        {"mode": mode, "plan": plan, "applied": applied},
        metadata={
            "mode": mode,
            "plan": dg.MetadataValue.md(plan.to_markdown()),
            "changes_planned": len(plan.actions),
            "writes_applied": len(applied),
            "file": plan.source.path,
            "file_sha256": plan.source.sha256,
        },
    )


def _audit(context: dg.OpExecutionContext, duckdb: DuckDBResource, actor: str, source: Source) -> AuditLog:
    return AuditLog(
        duckdb.get_connection, actor=actor or default_actor(), run_id=context.run_id, source=source
    )


def _one_at_a_time(duckdb: DuckDBResource):
    """The governance lock of the warehouse: released by the kernel however this process ends."""
    return governance_lock(duckdb.database, getattr(duckdb, "lock_timeout_seconds", LOCK_TIMEOUT_SECONDS))


def _log_settled(context: dg.OpExecutionContext, settled: list) -> None:
    for row, outcome in settled:
        context.log.warning(
            f"A pending {row.action} of {row.target} (run {row.run_id}, {row.recorded_at:%Y-%m-%d %H:%M} "
            f"UTC) was settled against the live state: {outcome}."
        )


@dg.op(
    name="governance_spend_limits",
    description="Plan (default) or apply governance/spend_limits.yaml: per-member spend limits "
    "from a default, role limits and user overrides.",
)
def spend_limits_op(
    context: dg.OpExecutionContext,
    config: SpendLimitsConfig,
    cursor_api: CursorApiResource,
    duckdb: DuckDBResource,
):
    file = spend_limits.load_spend_limits(config.path)  # file errors: before any request
    refresh = config.apply or config.refresh
    audit = _audit(context, duckdb, config.actor, file.source)
    with _one_at_a_time(duckdb):
        with duckdb.get_connection() as conn:
            team = spend_limits.read_team_spend(conn)
        if team is None and not refresh:
            raise spend_limits.MissingSnapshot(spend_limits.MISSING_SNAPSHOT)
        if team is not None and not config.refresh:
            # Checks every email against the stored snapshot (before an apply too): no request yet.
            plan = spend_limits.plan_spend_limits(file, team)
        if refresh:
            why = f"refreshed before planning {file.source.path}"
            members = _snapshot(raw.team_members, cursor_api, duckdb, why)
            yield members
            spend = _snapshot(raw.spend_snapshots, cursor_api, duckdb, why)
            yield spend
            with duckdb.get_connection() as conn:  # the snapshots just taken, not the largest as-of
                team = spend_limits.read_team_spend(conn, _taken_at(spend), _taken_at(members))
            if team is None:
                raise spend_limits.MissingSnapshot(spend_limits.MISSING_SNAPSHOT)
            plan = spend_limits.plan_spend_limits(file, team)
        assert team is not None  # refused above, or just refreshed
        # A refreshed snapshot was taken under the governance lock, after every pending row.
        _log_settled(context, spend_limits.settle_pending(audit, team, fresh=refresh))
        context.log.info(plan.to_markdown())
        if not config.apply:
            yield _plan_output(plan, "plan (dry run: set apply: true to write)", [])
            return
        applied: list[str] = []
        with cursor_api.get_client() as client:
            _apply_then_snapshot(
                context,
                lambda: spend_limits.apply_spend_limits(client, plan, audit, applied),
                applied,
                lambda: _snapshot(raw.spend_snapshots, cursor_api, duckdb, _after(file.source, applied)),
            )
    context.log.info(f"Set {len(applied)} spend limit(s).")
    yield _plan_output(plan, "apply", applied)


@dg.op(
    name="governance_repo_blocklists",
    description="Plan (default) or apply governance/repo_blocklists.yaml: repository URL -> glob "
    "patterns Cursor ignores.",
)
def repo_blocklists_op(
    context: dg.OpExecutionContext,
    config: RepoBlocklistsConfig,
    cursor_api: CursorApiResource,
    duckdb: DuckDBResource,
):
    file = blocklists.load_repo_blocklists(config.path)  # file errors: before any request
    audit = _audit(context, duckdb, config.actor, file.source)
    with _one_at_a_time(duckdb), cursor_api.get_client() as client:
        current = client.repo_blocklists()
        _log_settled(context, blocklists.settle_pending(audit, current))
        plan = blocklists.plan_blocklists(file, current, config.prune)
        context.log.info(plan.to_markdown())
        if not config.apply:
            yield _plan_output(plan, "plan (dry run: set apply: true to write)", [])
            return
        applied: list[str] = []
        _apply_then_snapshot(
            context,
            lambda: blocklists.apply_blocklists(client, plan, audit, applied),
            applied,
            lambda: _snapshot(raw.repo_blocklists, cursor_api, duckdb, _after(file.source, applied)),
        )
        if not applied:  # nothing to write: still record what the server holds
            yield _snapshot(raw.repo_blocklists, cursor_api, duckdb, _after(file.source, applied))
    context.log.info(f"Wrote {len(applied)} repository blocklist(s).")
    yield _plan_output(plan, "apply", applied)


@dg.job(
    description="Spend limits as code: plans governance/spend_limits.yaml against the latest "
    "spend snapshot (dry run by default; run config `ops: {governance_spend_limits: {config: {apply: true}}}` "
    "applies it and materializes a new raw/spend_snapshots).",
    tags={"cursor_analytics/area": "governance"},
)
def spend_limits_job():
    spend_limits_op()


@dg.job(
    description="Repository blocklists as code: plans governance/repo_blocklists.yaml against "
    "GET /settings/repo-blocklists/repos (dry run by default; `ops: {governance_repo_blocklists: "
    "{config: {apply: true}}}` upserts, `prune: true` also deletes repositories not in the file) "
    "and materializes raw/repo_blocklists.",
    tags={"cursor_analytics/area": "governance"},
)
def repo_blocklists_job():
    repo_blocklists_op()


governance_jobs = [spend_limits_job, repo_blocklists_job]
