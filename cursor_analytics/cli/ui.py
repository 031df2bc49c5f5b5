"""`cursor-analytics ui` (what `make ui` runs): the Dagster UI on the demo's instance.

With CURSOR_API_KEY set, `dagster dev` runs against Cursor's API. Without it, the bundled
simulator is started first with the demo's team (the seed, size and history `demo` recorded in
$DAGSTER_HOME), the code location is pointed at it (CURSOR_API_BASE_URL, the simulator's key,
CURSOR_ANALYTICS_SIMULATED) and its partitions start at the simulator's first day. Ctrl-C (or
SIGTERM) stops both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from cursor_analytics.cli.environment import prepare_dagster_home, simulator_now
from cursor_analytics.defs.resources import SIMULATED_ENV

TEAM_FILE = "simulated_team.json"  # in $DAGSTER_HOME, written by `demo`
DEFAULT_TEAM = {"seed": 7, "users": 40, "days": 90}  # the demo's team; 90 days of history


def record_simulated_team(home: Path, seed: int, users: int, days: int) -> None:
    """Remember the demo's simulated team, so `ui` serves the same data the demo loaded."""
    (home / TEAM_FILE).write_text(json.dumps({"seed": seed, "users": users, "days": days}) + "\n")


def simulated_team(home: Path) -> dict[str, int]:
    try:
        recorded = json.loads((home / TEAM_FILE).read_text())
    except (OSError, ValueError):
        return dict(DEFAULT_TEAM)
    return {k: int(recorded.get(k, v)) for k, v in DEFAULT_TEAM.items()}


def dagster_dev_command(host: str, port: int, workspace: Path) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the UI listens on.")
@click.option(
    "--port",
    envvar="PORT",
    default=3000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the UI (env PORT).",
)
@click.option(
    "--workspace",
    default="workspace.yaml",
    show_default=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Dagster workspace file.",
)
def ui_cli(host: str, port: int, workspace: Path) -> None:
    """Start the Dagster UI on $DAGSTER_HOME: against Cursor's API when CURSOR_API_KEY is set,
    else against the bundled simulator (the demo's team), started and stopped with it."""
    home = prepare_dagster_home()
    env = dict(os.environ)
    simulator = None
    if not env.get("CURSOR_API_KEY", "").strip():
        from cursor_analytics.simulator import Simulator

        team = simulated_team(home)
        # The rate-limit minute runs 60x faster, as in the demo (the resource paces to match).
        simulator = Simulator(
            seed=team["seed"], users=team["users"], days=team["days"], minute_seconds=1.0, now=simulator_now()
        ).start()
        first_day = simulator.team.first_day.isoformat()
        env.update(
            CURSOR_API_KEY=simulator.api_key,
            CURSOR_API_BASE_URL=simulator.base_url,
            CURSOR_ANALYTICS_START_DATE=first_day,
            **{SIMULATED_ENV: "1"},
        )
        click.echo(
            f"CURSOR_API_KEY is not set: using the bundled simulator at {simulator.base_url} "
            f"(simulated team of {team['users']}, seed {team['seed']}, {team['days']} days from {first_day})."
        )
        click.echo("  For your own team: export CURSOR_API_KEY=crsr_... and run `make ui` again.")
    else:
        click.echo(f"Using Cursor's API at {env.get('CURSOR_API_BASE_URL') or 'https://api.cursor.com'}.")
    click.echo(f"Dagster UI: http://{host}:{port}  (instance {home}; Ctrl-C stops it)")
    # dagster dev in a session of its own: stopped as a whole (webserver, daemon, code servers)
    # by a signal to its process group, which it honours even when started in the background.
    server = subprocess.Popen(dagster_dev_command(host, port, workspace), env=env, start_new_session=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if simulator is not None:
            simulator.stop()
        click.echo("Stopped the Dagster UI" + (" and the simulator." if simulator is not None else "."))
    sys.exit(code)
