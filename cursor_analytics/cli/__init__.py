"""The `cursor-analytics` command: demo, ui, simulate, check-connection, spend-limits, blocklists."""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta

import click

from cursor_analytics.cli.environment import (
    prepare_dagster_home,
    prepare_instance,
    require_api_key,
    simulator_now,
)
from cursor_analytics.cursor_api.dates import utc_now

try:  # loading the commands reads settings such as CURSOR_ANALYTICS_START_DATE
    from cursor_analytics.cli.governance import blocklists_cli, spend_limits_cli
    from cursor_analytics.defs.partitions import daily_partitions
except ValueError as exc:
    if not getattr(exc, "setting", None):  # partitions.SettingError: one line, no traceback
        raise
    sys.exit(f"Error: {exc}")
from cursor_analytics.cli.ui import DEFAULT_TEAM, record_simulated_team, ui_cli
from cursor_analytics.defs.resources import DEFAULT_BASE_URL, DEFAULT_DB_PATH, check_base_url


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cursor team analytics on Dagster and DuckDB."""


main.add_command(spend_limits_cli)
main.add_command(blocklists_cli)
main.add_command(ui_cli)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Port (0 = any free port)."
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the simulated team.")
@click.option("--users", default=40, show_default=True, type=click.IntRange(1, 100_000), help="Team size.")
@click.option("--days", default=120, show_default=True, type=click.IntRange(1, 3650), help="Days of history.")
@click.option(
    "--minute-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Length of a rate-limit minute (scale the clock for demos and benchmarks).",
)
@click.option("--no-rate-limits", is_flag=True, help="Serve without rate limits.")
@click.option(
    "--legacy",
    is_flag=True,
    help="Serve the older documented variants (90-day range, numeric ids, kindLabel, ...).",
)
@click.option(
    "--not-enterprise",
    is_flag=True,
    help="Refuse the Enterprise-only endpoints (AI code, analytics, audit logs).",
)
def simulate(host, port, seed, users, days, minute_seconds, no_rate_limits, legacy, not_enterprise) -> None:
    """Serve a simulated Cursor API with a seeded team until interrupted."""
    from cursor_analytics.simulator import run_simulator_cli

    def ready(sim) -> None:
        click.echo(f"Simulated Cursor API for a team of {users} at {sim.base_url}")
        click.echo(f"  export CURSOR_API_BASE_URL={sim.base_url}")
        click.echo(f"  export CURSOR_API_KEY={sim.api_key}")
        click.echo("Press Ctrl-C to stop.")

    try:
        run_simulator_cli(
            host,
            port,
            seed,
            users,
            days,
            on_ready=ready,
            legacy=legacy,
            rate_limits=not no_rate_limits,
            minute_seconds=minute_seconds,
            enterprise=not not_enterprise,
        )
    except KeyboardInterrupt:
        pass


def _valid_base_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_base_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _writable_db(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from cursor_analytics.warehouse import WarehousePathError, check_database_path

    try:
        check_database_path(value)
    except WarehousePathError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


# check-connection's exit code per diagnosis (0 ok; 1 is left to crashes, 2 to usage errors).
CHECK_EXIT_CODES = {
    "ok": 0,
    "no_resources": 3,
    "malformed_key": 4,
    "invalid_credentials": 5,
    "not_found": 6,
    "rate_limited": 7,
    "server_error": 8,
    "dns": 9,
    "refused": 10,
    "tls": 11,
    "timeout": 12,
    "dropped": 13,
    "unexpected": 14,
}


@main.command("check-connection")
@click.option(
    "--base-url",
    envvar="CURSOR_API_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    callback=_valid_base_url,
    help="API base URL (env CURSOR_API_BASE_URL).",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds to wait for each answer.",
)
def check_connection(base_url: str, timeout: float) -> None:
    """Check that CURSOR_API_KEY reaches your team's data, and which datasets it may read.

    A failure is one line, `<diagnosis>: <what to do>`, with its own exit code: 3 no_resources,
    4 malformed_key, 5 invalid_credentials, 6 not_found (base URL), 7 rate_limited,
    8 server_error, 9 dns, 10 refused, 11 tls, 12 timeout, 13 dropped, 14 unexpected. On success
    (exit 0) it lists each dataset's access and suggests CURSOR_ANALYTICS_START_DATE."""
    from cursor_analytics.cursor_api import CursorApiError, CursorClient

    key = require_api_key()
    # One attempt per request: a diagnosis of what happens now, not a retried load.
    with CursorClient(key, base_url=base_url, timeout=timeout, max_attempts=1) as client:
        result = client.check_connection()
        if not result.ok:
            click.echo(f"{result.status}: {result.message}", err=True)
            sys.exit(CHECK_EXIT_CODES[result.status])
        click.echo(f"{result.status}: {result.message}")
        width = max(map(len, result.access))
        for access in result.access.values():
            click.echo(f"  {access.dataset:<{width}}  {access.describe()}")
        if result.access.get("daily_usage") and result.access["daily_usage"].readable:
            try:
                first = client.first_active_day(START_DATE_SEARCH_DAYS)
            except CursorApiError as exc:
                click.echo(f"Start date: not found ({' '.join(str(exc).split())})")
            else:
                click.echo(_start_date_advice(first))


# How far back check-connection looks for the first day with daily usage (13 requests).
START_DATE_SEARCH_DAYS = 366


def _start_date_advice(first: date | None) -> str:
    if first is None:
        return f"Start date: no daily usage in the last {START_DATE_SEARCH_DAYS} days; keep the default."
    oldest = utc_now().date() - timedelta(days=START_DATE_SEARCH_DAYS - 1)
    since = "is at least as old as" if first <= oldest else "starts on"
    return (
        f"Start date: your team's daily usage {since} {first}: "
        f"export CURSOR_ANALYTICS_START_DATE={first.isoformat()} (partitions start there)."
    )


@main.command()
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 365),
    help="UTC days to load, ending today.",
)
@click.option(
    "--users",
    default=40,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Size of the simulated team.",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the simulated team.")
@click.option(
    "--db",
    envvar="CURSOR_ANALYTICS_DB",
    default=DEFAULT_DB_PATH,
    show_default=True,
    callback=_writable_db,
    help="DuckDB file (env CURSOR_ANALYTICS_DB).",
)
def demo(days: int, users: int, seed: int, db: str) -> None:
    """Start the simulator, materialize every asset for the last DAYS days through Dagster into
    DuckDB and the local Dagster instance, and print a summary."""

    if daily_partitions.start.date() > utc_now().date() - timedelta(days=days - 1):
        raise click.UsageError(
            f"CURSOR_ANALYTICS_START_DATE={daily_partitions.start.date()} is after the first day "
            "the demo loads: unset it, or lower --days."
        )
    from cursor_analytics.simulator import Simulator

    home = prepare_dagster_home()
    today = utc_now().date()
    start = today - timedelta(days=days - 1)
    history = max(days, DEFAULT_TEAM["days"])
    record_simulated_team(home, seed, users, history)  # `ui` serves the same team without a key
    with Simulator(seed=seed, users=users, days=history, minute_seconds=1.0, now=simulator_now()) as sim:
        os.environ.update(
            CURSOR_API_KEY=sim.api_key,
            CURSOR_API_BASE_URL=sim.base_url,
            CURSOR_ANALYTICS_DB=db,
        )
        click.echo(f"Simulated Cursor API for a team of {users} at {sim.base_url}")
        click.echo(f"Loading {start} .. {today} into {db} (Dagster home {home}) ...")
        run_demo_jobs(start, today)
    click.echo()
    click.echo(summary(db, start, today))
    click.echo()
    click.echo("Browse the runs, partitions and metadata: make ui  (then open http://127.0.0.1:3000)")


@main.command()
@click.option(
    "--db",
    envvar="CURSOR_ANALYTICS_DB",
    default=DEFAULT_DB_PATH,
    show_default=True,
    callback=_writable_db,
    help="DuckDB file or ducklake:postgres:<libpq string> catalog (env CURSOR_ANALYTICS_DB).",
)
def setup(db: str) -> None:
    """Prepare the Dagster instance ($DAGSTER_HOME) and the warehouse before the first runs:
    create every pool's row (needed on a PostgreSQL instance), and create a DuckLake catalog
    (data under CURSOR_ANALYTICS_DATA_PATH) once, so parallel runs never race to make it."""
    import dagster as dg

    from cursor_analytics.warehouse import connect, is_lake

    home = prepare_dagster_home()
    instance = dg.DagsterInstance.get()
    pools = prepare_instance(instance)
    click.echo(f"Dagster instance {home}: {len(pools)} pools ready ({', '.join(pools)}).")
    if is_lake(db):
        connect(db).close()
        click.echo(f"DuckLake catalog ready: {db}")


def run_demo_jobs(start: date, end: date, rate_limit_window_seconds: float = 1.0) -> None:
    """Run the daily job over [start, end] as one range run, then the snapshot job, in-process
    against the persistent Dagster instance."""
    import dagster as dg

    from cursor_analytics.definitions import defs
    from cursor_analytics.defs.partitions import range_tags
    from cursor_analytics.defs.resources import run_config_from_env

    # the demo's simulator runs its rate-limit clock 60x faster
    run_config = run_config_from_env(rate_limit_window_seconds=rate_limit_window_seconds)
    instance = dg.DagsterInstance.get()
    prepare_instance(instance)
    daily = defs.resolve_job_def("cursor_daily_job").execute_in_process(
        run_config=run_config,
        instance=instance,
        tags=range_tags(start, end),
        raise_on_error=True,
    )
    snapshot = defs.resolve_job_def("cursor_snapshot_job").execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=True
    )
    click.echo(
        f"Runs {daily.run_id[:8]} (daily, {start}..{end}) and {snapshot.run_id[:8]} (snapshots) succeeded."
    )


def summary(db: str, start: date, end: date) -> str:
    """A readable summary of the window, read back from the metric tables."""
    from cursor_analytics.warehouse import connect, scalar

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    with connect(db, read_only=True) as conn:
        team = conn.execute(
            """
            SELECT max(active_users), avg(active_users),
                   sum(tabs_accepted) / NULLIF(sum(tabs_shown), 0),
                   sum(accepts) / NULLIF(sum(accepts) + sum(rejects), 0),
                   sum(accepted_lines_added) / NULLIF(sum(total_lines_added), 0),
                   sum(billed_cents) / NULLIF(sum(active_users), 0)
            FROM analytics.team_daily_metrics WHERE day BETWEEN ? AND ?
            """,
            [start, end],
        ).fetchone()
        assert team is not None  # an aggregate without GROUP BY returns one row
        models = conn.execute(
            """
            SELECT model, sum(requests) AS requests, sum(requests) / sum(sum(requests)) OVER () AS share
            FROM analytics.model_usage_daily WHERE day BETWEEN ? AND ?
            GROUP BY model ORDER BY requests DESC, model LIMIT 5
            """,
            [start, end],
        ).fetchall()
        seats = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT idle_28d), "
            "list(email ORDER BY email) FILTER (WHERE idle_28d) FROM analytics.seat_utilization "
            "WHERE is_billable_seat"
        ).fetchone()
        assert seats is not None  # an aggregate without GROUP BY returns one row
        ai_share = scalar(
            conn,
            "SELECT sum(ai_lines_added) / NULLIF(sum(total_lines_added), 0) "
            "FROM analytics.ai_code_share_daily WHERE day BETWEEN ? AND ?",
            [start, end],
        )
    peak, mean, tab, suggestion, ai_lines, spend = team
    idle = seats[2] or []
    lines = [
        f"Cursor usage {start} .. {end}",
        f"  active users per day      peak {peak or 0}, mean {mean or 0:.1f}",
        f"  tab acceptance rate       {pct(tab)}",
        f"  suggestion acceptance     {pct(suggestion)}",
        f"  AI share of edited lines  {pct(ai_lines)}",
        f"  AI share of committed     {pct(ai_share)}",
        f"  billed / active user-day  ${(spend or 0) / 100:.2f}",
        "  top models                " + ", ".join(f"{m} {pct(s)}" for m, _, s in models),
        f"  paid seats                {seats[0]}, {seats[1]} active in 28 days, {len(idle)} idle",
    ]
    if idle:
        lines.append("  idle seats                " + ", ".join(idle))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
