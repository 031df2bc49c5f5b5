"""The first hour without a Cursor key: the code location loads, sensors and schedules skip
saying what to set, a run that cannot start names the missing variable, and a refused key skips
the stale-data sensor with the API's answer, never a traceback."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from cursor_analytics.definitions import defs
from cursor_analytics.defs.resources import MISSING_KEY, CursorApiResource, build_resources
from cursor_analytics.simulator import Simulator
from cursor_analytics_tests.support import NOW

SCHEDULES = ["cursor_daily_schedule", "cursor_snapshot_schedule"]


@pytest.fixture
def no_key(monkeypatch, tmp_path):
    """The resources exactly as the code location binds them when CURSOR_API_KEY is unset."""
    monkeypatch.delenv("CURSOR_API_KEY", raising=False)
    monkeypatch.setenv("CURSOR_ANALYTICS_DB", str(tmp_path / "cursor.duckdb"))
    return build_resources()


def test_without_a_key_every_sensor_and_schedule_skips_and_says_what_to_set(no_key):
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources=no_key, definitions=defs) as context:
        tick = defs.resolve_sensor_def("stale_partitions_sensor").evaluate_tick(context)
    assert not tick.run_requests
    assert tick.skip_message == MISSING_KEY
    assert tick.skip_message.startswith("CURSOR_API_KEY is not set: export your Cursor team Admin API key")
    for name in SCHEDULES:
        context = dg.build_schedule_context(
            instance=instance,
            resources=no_key,
            scheduled_execution_time=datetime(2025, 6, 2, 1, 30, tzinfo=UTC),
        )
        tick = defs.resolve_schedule_def(name).evaluate_tick(context)
        assert not tick.run_requests and tick.skip_message == MISSING_KEY, name


def test_a_run_without_a_key_fails_before_any_request_naming_the_variable(no_key, tmp_path):
    result = dg.materialize(
        list(defs.assets),
        selection=[dg.AssetKey(["raw", "team_members"])],
        resources=no_key,
        raise_on_error=False,
    )
    assert not result.success
    errors = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            errors.append(error.message)
            error = error.cause
    assert any(message.strip() == f"ValueError: {MISSING_KEY}" for message in errors), errors
    assert not (tmp_path / "cursor.duckdb").exists()  # nothing written


@pytest.mark.parametrize("key", ["crsr_" + "0" * 48, "not-a-cursor-key"])
def test_a_refused_key_skips_the_stale_data_sensor_with_the_reason(key, tmp_path):
    with Simulator(seed=3, users=4, days=10, minute_seconds=1.0, now=NOW) as sim:
        resources = {
            "cursor_api": CursorApiResource(api_key=key, base_url=sim.base_url),
            "duckdb": build_resources()["duckdb"].model_copy(update={"database": str(tmp_path / "c.duckdb")}),
        }
        with dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(), resources=resources, definitions=defs
        ) as context:
            tick = defs.resolve_sensor_def("stale_partitions_sensor").evaluate_tick(context)
    assert not tick.run_requests
    assert tick.skip_message.startswith("The API refused the key: ")
    assert "CURSOR_API_KEY" in tick.skip_message and key not in tick.skip_message
