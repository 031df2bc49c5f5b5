"""The API key never leaks: after the demo and a failing run launched the way the UI launches
runs (steps in their own processes, with compute logs), against a server that echoes the key
back in its errors, no file of the Dagster home (event log, compute logs, run storage) and no
byte of the DuckDB file holds the key, plain or Base64-encoded as in the Authorization header.
The UI shows the key only as the environment variable's name.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from cursor_analytics.simulator import Simulator

REPO = Path(__file__).resolve().parents[1]
DEMO_KEY = Simulator(seed=7, users=1, days=1).api_key  # the key `cursor-analytics demo` uses


class EchoingServer:
    """A hostile API: the first request gets a 500, every later one a 401, each echoing the
    caller's key in the body and in a header."""

    def __init__(self) -> None:
        self.keys_seen: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = (self.headers.get("Authorization") or " ").split(" ", 1)[1]
                key = base64.b64decode(token).decode().partition(":")[0]
                server.keys_seen.append(key)
                status = 500 if len(server.keys_seen) == 1 else 401
                body = json.dumps({"error": "Unauthorized", "message": f"Invalid API key {key}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Rejected-Key", key)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def files_containing(root: Path, secrets: list[bytes]) -> list[Path]:
    return [
        path for path in root.rglob("*")
        if path.is_file() and any(secret in path.read_bytes() for secret in secrets)
    ]  # fmt: skip


RESOURCE_QUERY = """
query Resource($selector: ResourceSelector!) {
  topLevelResourceDetailsOrError(resourceSelector: $selector) {
    ... on ResourceDetails { configuredValues { key value type } }
  }
}
"""
RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { runConfigYaml } } }
"""


def test_the_key_is_nowhere_in_the_dagster_home_the_warehouse_or_the_ui(tmp_path):
    secrets = [DEMO_KEY.encode(), base64.b64encode(f"{DEMO_KEY}:".encode())]
    home = tmp_path / ".dagster_home"
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), PYTHONPATH=str(REPO))

    demo = subprocess.run(
        [sys.executable, "-m", "cursor_analytics.cli", "demo", "--days", "2", "--users", "5"],
        cwd=tmp_path, env=env, capture_output=True, timeout=240,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr.decode()[-3000:]

    server = EchoingServer()
    try:
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        failing = subprocess.run(
            [str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
             "-m", "cursor_analytics.definitions", "--select", "raw/usage_events", "--partition", yesterday],
            cwd=tmp_path, capture_output=True, timeout=240,
            env={**env, "CURSOR_API_KEY": DEMO_KEY, "CURSOR_API_BASE_URL": server.base_url,
                 "CURSOR_ANALYTICS_DB": str(tmp_path / "data" / "cursor.duckdb")},
        )  # fmt: skip
    finally:
        server.close()
    assert failing.returncode != 0
    assert server.keys_seen[:2] == [DEMO_KEY, DEMO_KEY]  # it was sent, and echoed back twice

    # Where runs leave traces: the event logs and run storage (SQLite), compute logs, the
    # DuckDB file, and what both commands printed.
    assert list(home.glob("storage/*/compute_logs/*.err")), "no compute logs were captured"
    assert (tmp_path / "data" / "cursor.duckdb").stat().st_size > 0
    assert files_containing(tmp_path, secrets) == []
    for output in (demo.stdout, demo.stderr, failing.stdout, failing.stderr):
        assert not any(secret in output for secret in secrets)
    assert b"InvalidCredentialsError" in failing.stderr and b"Invalid API key <redacted>" in failing.stderr

    # What the UI shows (its GraphQL API): the resource's key as the variable's name, and the
    # runs' configuration naming the variable.
    instance = dg.DagsterInstance.from_config(str(home))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name="cursor_analytics.definitions"),
        location_name="cursor_analytics",
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget([origin])) as workspace:
        context = workspace.create_request_context()
        selector = {
            "repositoryLocationName": "cursor_analytics",
            "repositoryName": "__repository__",
            "resourceName": "cursor_api",
        }
        resource = execute_dagster_graphql(context, RESOURCE_QUERY, {"selector": selector}).data
        values = {v["key"]: v for v in resource["topLevelResourceDetailsOrError"]["configuredValues"]}
        # the variable's name; loaded where no key is set (as here under a clean test
        # environment), an empty value: the location loads and sensors skip saying what to set
        shown = (
            {"value": "CURSOR_API_KEY", "type": "ENV_VAR"}
            if os.environ.get("CURSOR_API_KEY")
            else {"value": '""', "type": "VALUE"}
        )
        assert values["api_key"] == {"key": "api_key", **shown}
        configs = [
            execute_dagster_graphql(context, RUN_QUERY, {"runId": run.run_id}).data["runOrError"][
                "runConfigYaml"
            ]
            for run in instance.get_runs()
        ]
        assert len(configs) >= 3  # the demo's two runs and the failing one
        assert all(DEMO_KEY not in config for config in configs)
        keys = [
            yaml.safe_load(config)["resources"]["cursor_api"]["config"]["api_key"]
            for config in configs
            if "cursor_api" in config
        ]
        assert keys and all(key == {"env": "CURSOR_API_KEY"} for key in keys), keys
