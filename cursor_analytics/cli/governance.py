"""The `cursor-analytics spend-limits` and `cursor-analytics blocklists` commands.

`plan` shows what would change. `apply` prints the same plan and is a dry run unless `--yes`
is given; with it, the apply runs the Dagster job in-process against the local Dagster
instance, so every apply is a recorded run whose snapshot materialization shows the effect.
The run takes no Dagster pool slot: the governance lock (governance.lock), which the kernel
releases however the process ends, keeps two applies apart, and a run left STARTED by a killed
command is marked failed by the next one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import click

from cursor_analytics.cli.environment import prepare_dagster_home, require_api_key
from cursor_analytics.cursor_api import CursorApiError
from cursor_analytics.defs.resources import DEFAULT_BASE_URL, DEFAULT_DB_PATH
from cursor_analytics.governance import blocklists, spend_limits
from cursor_analytics.governance.audit import ACTOR_ENV, AuditIncomplete, WriteFailed, pending_writes
from cursor_analytics.governance.files import GovernanceFileError
from cursor_analytics.governance.lock import GovernanceBusyError
from cursor_analytics.ui.metadata import plain_text
from cursor_analytics.warehouse import WarehouseLockedError, connect, warehouse_exists

T = TypeVar("T")
DRY_RUN = "Dry run: nothing was changed. Re-run with --yes to apply."
PID_TAG, HOST_TAG = "cursor_analytics/pid", "cursor_analytics/host"  # of the process running the command


def _guard(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn`, turning the errors a user can fix into one clean message (exit code 1)."""
    try:
        return fn(*args)
    except (
        GovernanceFileError,
        spend_limits.MissingSnapshot,
        WriteFailed,
        AuditIncomplete,
        GovernanceBusyError,
        WarehouseLockedError,
        CursorApiError,
    ) as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # e.g. a key with the wrong prefix, refused before any request
        raise click.ClickException(str(exc)) from None


def _run_job(job: str, op: str, config: dict[str, Any], db: str, base_url: str) -> dict[str, Any]:
    """Run a governance job in-process against the local Dagster instance; its op's output."""
    import dagster as dg

    from cursor_analytics.definitions import defs

    require_api_key()
    prepare_dagster_home()
    run_config = {
        "ops": {op: {"config": config}},
        "resources": {
            "cursor_api": {"config": {"api_key": {"env": "CURSOR_API_KEY"}, "base_url": base_url}},
            "duckdb": {"config": {"database": db}},
        },
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    with dg.DagsterInstance.get() as instance:
        _fail_runs_of_ended_processes(instance)
        result = _guard(
            lambda: defs.resolve_job_def(job).execute_in_process(
                run_config=run_config,
                instance=instance,
                raise_on_error=True,
                tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
            )
        )
    click.echo(f"Run {result.run_id} of {job} succeeded (see it with `make ui`).")
    return result.output_for_node(op)


def _fail_runs_of_ended_processes(instance: Any) -> None:
    """A command killed mid-run (SIGKILL, a closed terminal) leaves its in-process run STARTED
    for ever: no daemon watches it. Mark such runs of this machine failed, so the UI does not
    show them running (what they held, the governance lock, ended with their process)."""
    import dagster as dg

    started = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={HOST_TAG: socket.gethostname()})
    )
    for run in started:
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid and not _alive(pid):
            instance.report_run_failed(
                run, message=f"Its process (PID {pid}) ended without finishing the run (killed)."
            )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def file_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--file",
        "path",
        default=default,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Governance file (YAML).",
    )


db_option = click.option(
    "--db",
    envvar="CURSOR_ANALYTICS_DB",
    default=DEFAULT_DB_PATH,
    show_default=True,
    help="DuckDB file (env CURSOR_ANALYTICS_DB).",
)
base_url_option = click.option(
    "--base-url",
    envvar="CURSOR_API_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="API base URL (env CURSOR_API_BASE_URL).",
)
yes_option = click.option(
    "--yes", is_flag=True, help="Really apply. Without it, apply only prints the plan (a dry run)."
)
actor_option = click.option(
    "--actor",
    envvar=ACTOR_ENV,
    default="",
    help=f"Who applies, for the audit log (env {ACTOR_ENV}; default: the OS user).",
)


def _show(plan: spend_limits.SpendLimitPlan | blocklists.BlocklistPlan) -> None:
    click.echo(plain_text(plan.to_markdown()))


def _apply(
    plan: spend_limits.SpendLimitPlan | blocklists.BlocklistPlan,
    yes: bool,
    run: Callable[[], dict[str, Any]],
    done: str,
) -> None:
    """Print the plan; with --yes, `run` the governance job and say what it wrote (`done`, with
    `{n}` for how many)."""
    _show(plan)
    if not yes:
        click.echo(f"\n{DRY_RUN}")
        return
    output = run()
    click.echo(
        f"{done.format(n=len(output['applied']))}: " + (", ".join(output["applied"]) or "none needed.")
    )


# ------------------------------------------------------------------ spend limits


@click.group("spend-limits")
def spend_limits_cli() -> None:
    """Per-member spend limits as code (governance/spend_limits.yaml): plan, then apply."""


spend_file_option = file_option(spend_limits.DEFAULT_PATH)


def _spend_plan(path: str, db: str) -> spend_limits.SpendLimitPlan:
    """The plan against the warehouse, opened read-only (waiting like every reader while a run
    writes to it); says so when earlier writes are still pending in the audit log."""
    file = _guard(spend_limits.load_spend_limits, path)
    if not warehouse_exists(db):
        raise click.ClickException(
            f"There is no warehouse at {db} to plan against: load it first (cursor_snapshot_job, "
            "or `cursor-analytics demo`), or pass --db."
        )
    with _guard(lambda: connect(db, read_only=True)) as conn:
        plan = _guard(spend_limits.plan_from_warehouse, file, conn)
        pending = pending_writes(conn)
    if pending:
        click.echo(
            f"{len(pending)} earlier write(s) have no recorded outcome (pending in "
            f"governance.audit_log: {', '.join(sorted({p.target for p in pending}))}); the plan "
            "below assumes the stored snapshot. `apply` (or `plan --refresh`) checks them against "
            "a fresh snapshot first.\n"
        )
    return plan


@spend_limits_cli.command("plan")
@spend_file_option
@db_option
@click.option(
    "--refresh",
    is_flag=True,
    help="First take fresh members and spend snapshots (needs CURSOR_API_KEY; runs "
    "spend_limits_job without applying).",
)
@base_url_option
def spend_limits_plan(path: str, db: str, refresh: bool, base_url: str) -> None:
    """Show which members' limits would change, from what to what, with their spend this cycle
    and its projection. Compares the file with the latest spend snapshot in DuckDB: no API key
    or request needed (unless --refresh)."""
    if refresh:
        _guard(spend_limits.load_spend_limits, path)  # the file's own errors: before any request
        output = _run_job(
            "spend_limits_job", "governance_spend_limits", {"path": path, "refresh": True}, db, base_url
        )
        _show(output["plan"])
        return
    _show(_spend_plan(path, db))


@spend_limits_cli.command("apply")
@spend_file_option
@db_option
@base_url_option
@yes_option
@actor_option
def spend_limits_apply(path: str, db: str, base_url: str, yes: bool, actor: str) -> None:
    """Set the limits that differ from the file (POST /teams/user-spend-limit per change).

    Prints the plan; changes nothing unless --yes. With --yes, runs spend_limits_job: it
    refreshes the members and spend snapshots, re-plans, sets only the limits that still
    differ, records each write in governance.audit_log and takes a new spend snapshot."""
    run = partial(
        _run_job,
        "spend_limits_job",
        "governance_spend_limits",
        {"path": path, "apply": True, "actor": actor},
        db,
        base_url,
    )
    _apply(_spend_plan(path, db), yes, run, "Set {n} spend limit(s)")


# ------------------------------------------------------------------ repo blocklists


@click.group("blocklists")
def blocklists_cli() -> None:
    """Repository blocklists as code (governance/repo_blocklists.yaml): plan, then apply."""


blocklists_file_option = file_option(blocklists.DEFAULT_PATH)
prune_option = click.option(
    "--prune", is_flag=True, help="Also delete blocklisted repositories that are not in the file."
)


def _blocklist_plan(path: str, base_url: str, prune: bool) -> blocklists.BlocklistPlan:
    from cursor_analytics.cursor_api import CursorClient

    file = _guard(blocklists.load_repo_blocklists, path)  # before any request

    def read() -> list[dict[str, Any]]:
        with CursorClient(require_api_key(), base_url=base_url) as client:
            return client.repo_blocklists()

    return blocklists.plan_blocklists(file, _guard(read), prune)


@blocklists_cli.command("plan")
@blocklists_file_option
@base_url_option
@prune_option
def blocklists_plan(path: str, base_url: str, prune: bool) -> None:
    """Show the repositories to add, the pattern changes and the repositories not in the file,
    against GET /settings/repo-blocklists/repos (needs CURSOR_API_KEY)."""
    _show(_blocklist_plan(path, base_url, prune))


@blocklists_cli.command("apply")
@blocklists_file_option
@db_option
@base_url_option
@prune_option
@yes_option
@actor_option
def blocklists_apply(path: str, db: str, base_url: str, prune: bool, yes: bool, actor: str) -> None:
    """Upsert the added and changed repositories in one call; with --prune also delete the ones
    not in the file. Prints the plan; changes nothing unless --yes. With --yes, runs
    repo_blocklists_job: each write is recorded in governance.audit_log and raw/repo_blocklists
    is materialized."""
    run = partial(
        _run_job,
        "repo_blocklists_job",
        "governance_repo_blocklists",
        {"path": path, "apply": True, "prune": prune, "actor": actor},
        db,
        base_url,
    )
    _apply(_blocklist_plan(path, base_url, prune), yes, run, "Wrote {n} repository blocklist(s)")
