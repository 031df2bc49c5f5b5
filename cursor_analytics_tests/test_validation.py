"""Bad input everywhere a user types it: environment settings, resource fields (in code or in a
run's configuration from the launchpad), the DuckDB path, and CLI arguments. Each gets one
clear error that names the field and the expected form, before any API request or write.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pydantic
import pytest
from click.testing import CliRunner

from cursor_analytics.cli import main
from cursor_analytics.definitions import defs
from cursor_analytics.defs import partitions
from cursor_analytics.defs.resources import CursorApiResource, WarehouseResource
from cursor_analytics.simulator import Simulator
from cursor_analytics_tests.support import NOW, range_tags

REPO = Path(__file__).resolve().parents[1]

BAD_API_SETTINGS = [
    # field, value, what the error must say
    ("base_url", "api.cursor.com", "must be an http:// or https:// URL with a host"),
    ("base_url", "ftp://api.cursor.com", "must be an http:// or https:// URL with a host"),
    ("base_url", "https://", "must be an http:// or https:// URL with a host"),
    ("max_days_per_request", 0, "must be a whole number from 1 to 90"),
    ("max_days_per_request", 91, "must be a whole number from 1 to 90"),
    ("page_size", 0, "must be a whole number from 1 to 1000"),
    ("page_size", 1001, "must be a whole number from 1 to 1000"),
    ("rate_limits", {"/teams/filtered-usage-events": 0}, "whole numbers of requests per window (at least 1)"),
    ("rate_limits", {"teams/spend": 20}, "is not a path starting with /"),
    ("rate_limit_window_seconds", 0, "must be a number of seconds greater than 0"),
    ("rate_limit_window_seconds", -60, "must be a number of seconds greater than 0"),
    ("timeout_seconds", 0, "must be a number of seconds greater than 0"),
    ("max_attempts", 0, "must be a whole number from 1 to 20"),
    ("backoff_base_seconds", -1, "must be a number of seconds 0 or more"),
]


@pytest.mark.parametrize("field, value, expected", BAD_API_SETTINGS)
def test_a_bad_api_setting_in_code_fails_when_the_definitions_load(field, value, expected):
    with pytest.raises(pydantic.ValidationError) as caught:
        CursorApiResource(api_key=dg.EnvVar("CURSOR_API_KEY"), **{field: value})
    [error] = caught.value.errors()
    del caught
    assert error["loc"] == (field,)
    assert field in error["msg"] and expected in error["msg"]


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=41, users=5, days=10, minute_seconds=1.0, now=NOW) as simulator:
        yield simulator


def launch(sim, tmp_path, cursor_api=None, database=None, key=None, monkeypatch=None):
    """Launch cursor_daily_job for yesterday with this run configuration, as the launchpad does."""
    monkeypatch.setenv("CURSOR_API_KEY", key or sim.api_key)
    sim.reset_requests()
    config = {"api_key": {"env": "CURSOR_API_KEY"}, "base_url": sim.base_url, **(cursor_api or {})}
    day = sim.team.today - timedelta(days=1)
    return defs.resolve_job_def("cursor_daily_job").execute_in_process(
        run_config={
            "resources": {
                "cursor_api": {"config": config},
                "duckdb": {"config": {"database": database or str(tmp_path / "cursor.duckdb")}},
            }
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags=range_tags(day, day),
        raise_on_error=False,
    )


def the_one_error(result: dg.ExecuteInProcessResult) -> str:
    """The run failed with exactly one distinct root error: return it."""
    assert not result.success
    roots = set()
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            roots.add(error.message.strip())
    assert len(roots) == 1, roots
    return roots.pop()


@pytest.mark.parametrize(
    "field, value, expected",
    [BAD_API_SETTINGS[i] for i in (0, 4, 6, 7, 9)],
)
def test_a_bad_api_setting_in_the_run_config_fails_the_run_before_any_request(
    sim, tmp_path, monkeypatch, field, value, expected
):
    result = launch(sim, tmp_path, cursor_api={field: value}, monkeypatch=monkeypatch)
    message = the_one_error(result)
    assert field in message and expected in message
    assert sim.request_count() == 0
    assert list(tmp_path.iterdir()) == []  # no DuckDB file, no folder


def test_a_key_without_the_cursor_prefix_fails_the_run_before_any_request_without_showing_it(
    sim, tmp_path, monkeypatch
):
    result = launch(sim, tmp_path, key="sk-live-0123456789abcdef", monkeypatch=monkeypatch)
    message = the_one_error(result)
    assert "CURSOR_API_KEY" in message and "crsr_ or key_" in message
    assert "sk-live" not in message
    assert sim.request_count() == 0
    assert list(tmp_path.iterdir()) == []


def unwritable_folder(tmp_path: Path) -> str:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder / "cursor.duckdb")


BAD_PATHS = [
    # how to make the path, what the error must say
    (lambda tmp: str(tmp), "is a folder, not a DuckDB file"),
    (lambda tmp: str(_file(tmp / "notes.txt", b"hello") / "cursor.duckdb"), "is a file, not a folder"),
    (
        lambda tmp: str(_file(tmp / "usage.csv", b"day,users\n2025-01-01,3\n")),
        "exists but is not a DuckDB file",
    ),
    (lambda tmp: "/proc/cursor-analytics/cursor.duckdb", "is not writable"),  # even for root
    pytest.param(
        unwritable_folder,
        "is not writable",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere"),
    ),
]


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make_path, expected", BAD_PATHS)
def test_a_duckdb_path_that_cannot_be_written_fails_the_run_before_any_request(
    sim, tmp_path, monkeypatch, make_path, expected
):
    place = tmp_path / "place"
    place.mkdir()
    path = make_path(place)
    before = sorted(p.name for p in place.rglob("*"))
    result = launch(sim, tmp_path, database=path, monkeypatch=monkeypatch)
    message = the_one_error(result)
    assert "database" in message and expected in message and "CURSOR_ANALYTICS_DB" in message
    assert sim.request_count() == 0
    assert sorted(p.name for p in place.rglob("*")) == before


def test_a_bad_lock_timeout_fails_when_the_definitions_load():
    with pytest.raises(pydantic.ValidationError, match="lock_timeout_seconds must be a number of seconds"):
        WarehouseResource(database="data/cursor.duckdb", lock_timeout_seconds=-1)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-13-01", "is not a date"),
        ("20250601", "is not a date"),
        ("2025-W22-1", "is not a date"),
        ("June 1st", "is not a date"),
        ("2999-01-01", "is in the future"),
        ("1999-12-31", "is before 2020-01-01"),
    ],
)
def test_a_bad_start_date_is_refused_naming_the_variable_and_the_form(monkeypatch, value, expected):
    monkeypatch.setenv("CURSOR_ANALYTICS_START_DATE", value)
    with pytest.raises(ValueError) as caught:
        partitions.start_date()
    message = str(caught.value)
    assert message.startswith(f"CURSOR_ANALYTICS_START_DATE={value!r}")
    assert expected in message and "YYYY-MM-DD" in message


def test_a_bad_start_date_stops_the_command_with_one_line_before_anything_is_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "DAGSTER_"))}
    env.update(CURSOR_ANALYTICS_START_DATE="2025-02-30", DAGSTER_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-m", "cursor_analytics.cli", "demo", "--days", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: CURSOR_ANALYTICS_START_DATE='2025-02-30' is not a date: set it to the first UTC "
        "day to load, as YYYY-MM-DD (for example 2025-01-01)."
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, option, expected",
    [
        (["demo", "--days", "0"], "--days", "0 is not in the range 1<=x<=365"),
        (["demo", "--days", "400"], "--days", "400 is not in the range 1<=x<=365"),
        (["demo", "--users", "0"], "--users", "0 is not in the range 1<=x<=10000"),
        (["demo", "--seed", "seven"], "--seed", "'seven' is not a valid integer"),
        (["demo", "--db", "."], "--db", "is a folder, not a DuckDB file"),
        (["demo", "--db", "notes.txt/cursor.duckdb"], "--db", "is a file, not a folder"),
        (["simulate", "--port", "70000"], "--port", "70000 is not in the range 0<=x<=65535"),
        (["simulate", "--minute-seconds", "0"], "--minute-seconds", "0.0 is not in the range x>=0.01"),
        (
            ["check-connection", "--base-url", "api.cursor.com"],
            "--base-url",
            "must be an http:// or https:// URL with a host",
        ),
    ],
)
def test_a_bad_cli_argument_gets_one_error_naming_the_option_before_anything_runs(
    tmp_path, monkeypatch, args, option, expected
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CURSOR_API_KEY", "crsr_" + "0" * 40)
    monkeypatch.delenv("CURSOR_ANALYTICS_DB", raising=False)
    monkeypatch.delenv("CURSOR_API_BASE_URL", raising=False)
    (tmp_path / "notes.txt").write_text("not a folder")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"Invalid value for '{option}'" in errors[0] and expected in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing started or written


def test_check_connection_refuses_a_base_url_without_scheme_before_any_request(sim):
    result = CliRunner().invoke(
        main, ["check-connection", "--base-url", sim.base_url.removeprefix("http://")],
        env={"CURSOR_API_KEY": sim.api_key},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for '--base-url'" in result.output and "http:// or https://" in result.output
    assert sim.request_count() == 0
