"""Dagster resources: the Cursor API client and the DuckDB warehouse, configured from the
environment (see the README's configuration reference)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from cursor_analytics.cursor_api import DEFAULT_BASE_URL, DEFAULT_RATE_LIMITS, CursorClient, key_problem
from cursor_analytics.warehouse import (
    DEFAULT_DB_PATH,
    LOCK_TIMEOUT_SECONDS,
    check_database_path,
    connect,
    is_in_memory,
    is_lake,
)

API_KEY_ENV, BASE_URL_ENV = "CURSOR_API_KEY", "CURSOR_API_BASE_URL"
# Set by `cursor-analytics ui` when it serves the bundled simulator (no CURSOR_API_KEY).
SIMULATED_ENV = "CURSOR_ANALYTICS_SIMULATED"
MISSING_KEY = (
    f"{API_KEY_ENV} is not set: export your Cursor team Admin API key (crsr_...) and restart, or "
    "run `make ui` without a key to use the bundled simulator. No request was sent."
)


class CursorApiResource(dg.ConfigurableResource):
    """Cursor's Admin API and AI Code Tracking API (or the bundled simulator at another base URL).

    Requests are paced per endpoint below Cursor's documented rate limits and retried with
    backoff on 429, 5xx and dropped connections. The key is only ever shown as the name of the
    environment variable it comes from.
    """

    # Validation errors never echo an input: a mistyped key must not reach a log.
    model_config = ConfigDict(hide_input_in_errors=True)

    api_key: str = Field(
        description="Team API key (starts with crsr_ or key_). Pass dg.EnvVar('CURSOR_API_KEY').",
        repr=False,
    )
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base URL, with scheme.")
    max_days_per_request: int = Field(
        default=30,
        description="Largest date range per ranged request: 30 (current docs) or up to 90 (older plans).",
    )
    page_size: int = Field(
        default=1000, description="Page size for usage events and AI code (API maximum 1000)."
    )
    rate_limits: dict[str, int] = Field(
        default={},
        description="Per-endpoint overrides of requests per window, e.g. "
        "{'/teams/filtered-usage-events': 20}. Unlisted endpoints keep the documented limits.",
    )
    rate_limit_window_seconds: float = Field(
        default=60.0, description="Length of one rate-limit window (Cursor: one minute)."
    )
    timeout_seconds: float = Field(default=30.0, description="HTTP timeout per request.")
    max_attempts: int = Field(
        default=6, description="Attempts per request on 429, 5xx, timeouts and dropped connections."
    )
    backoff_base_seconds: float = Field(
        default=1.0, description="First retry delay; doubles each attempt (1, 2, 4, 8, 16 s)."
    )

    # Field checks run when the resource is built (a literal value: at load) and again when a
    # run resolves its environment variables and run config: before any request. Values read
    # from an environment variable are checked once resolved.
    @field_validator("base_url", mode="before")
    @classmethod
    def _check_base_url(cls, value: Any) -> Any:
        return value if _from_env(value) else check_base_url(value)

    WHOLE_NUMBER_FIELDS: ClassVar[dict[str, tuple[int, int, str]]] = {
        "max_days_per_request": (1, 90, "30 in the current docs, up to 90 on older plans"),
        "page_size": (1, 1000, "the API maximum, 1000, is the default"),
        "max_attempts": (1, 20, "6 by default"),
    }

    @field_validator(*WHOLE_NUMBER_FIELDS, mode="before")
    @classmethod
    def _check_whole_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None  # a validator of named fields always has one
        low, high, hint = cls.WHOLE_NUMBER_FIELDS[info.field_name]
        return _whole_number(value, info.field_name, low, high, hint)

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _check_rate_limits(cls, value: Any) -> Any:
        if _from_env(value) or value is None:
            return value
        expected = (
            "rate_limits must map endpoint paths to whole numbers of requests per window "
            "(at least 1), such as {'/teams/filtered-usage-events': 20}"
        )
        if not isinstance(value, dict):
            raise ValueError(f"{expected}; got {value!r}")
        for path, limit in value.items():
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"{expected}; the key {path!r} is not a path starting with /")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"{expected}; got {limit!r} for {path!r}")
        return value

    @field_validator("rate_limit_window_seconds", "timeout_seconds", mode="before")
    @classmethod
    def _check_positive_seconds(cls, value: Any, info: Any) -> Any:
        return _seconds(value, info.field_name, positive=True)

    @field_validator("backoff_base_seconds", mode="before")
    @classmethod
    def _check_backoff(cls, value: Any) -> Any:
        return _seconds(value, "backoff_base_seconds", positive=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run fails here, before any request, naming the variable; a sensor or schedule (no
        # run) skips instead, saying the same (freshness/sensors.py, freshness/schedules.py).
        if context.dagster_run is None:
            return
        # The key itself is never echoed: only the variable it should come from.
        if not self.api_key:
            raise ValueError(MISSING_KEY)
        problem = key_problem(self.api_key)
        if problem is not None:
            raise ValueError(
                f"api_key (CURSOR_API_KEY) must be a Cursor team API key, crsr_ or key_ then "
                f"letters, digits, '-' or '_', but {problem} (the value is not shown): create one "
                "in Cursor's dashboard under Settings > Advanced > Admin API keys. No request was sent."
            )

    def get_client(self) -> CursorClient:
        return CursorClient(
            self.api_key,
            base_url=self.base_url,
            timeout=self.timeout_seconds,
            max_days_per_request=self.max_days_per_request,
            page_size=self.page_size,
            rate_limits={**DEFAULT_RATE_LIMITS, **self.rate_limits},
            rate_limit_window_seconds=self.rate_limit_window_seconds,
            max_attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
        )


class SimulatedCursorApiResource(CursorApiResource):
    """SIMULATED: the bundled Cursor API simulator (a seeded demo team, not your team's data),
    started by `cursor-analytics ui` because CURSOR_API_KEY is not set. Its rate-limit minute
    lasts one second, as in the demo. Set CURSOR_API_KEY and restart for your team's data."""

    rate_limit_window_seconds: float = Field(
        default=1.0, description="Length of one rate-limit window (the simulator's: one second)."
    )


def check_base_url(value: Any) -> str:
    """The API base URL, which must be http(s) with a host; else a ValueError saying so."""
    parts = urlsplit(str(value).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "base_url (CURSOR_API_BASE_URL) must be an http:// or https:// URL with a host, "
            f"such as {DEFAULT_BASE_URL}; got {value!r}"
        )
    return str(value).strip()


def _from_env(value: Any) -> bool:
    """An unresolved dg.EnvVar / EnvVar.int: checked once the run resolves it."""
    return hasattr(value, "env_var_name")


def _whole_number(value: Any, field: str, low: int, high: int, note: str) -> Any:
    if _from_env(value):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field} must be a whole number from {low} to {high} ({note}); got {value!r}")
    return value


def _seconds(value: Any, field: str, *, positive: bool) -> Any:
    if _from_env(value):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if (
        isinstance(value, bool)
        or number is None
        or number != number
        or (number <= 0 if positive else number < 0)
    ):
        bound = "greater than 0" if positive else "0 or more"
        raise ValueError(f"{field} must be a number of seconds {bound}; got {value!r}")
    return value


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse file: a DuckDBResource whose connections wait (with bounded
    retries) while another process holds the file, then fail naming that process; its path is
    checked before a run touches the API."""

    lock_timeout_seconds: float = Field(
        default=LOCK_TIMEOUT_SECONDS,
        description="How long to wait for another process (a parallel run, a notebook) to "
        "release the DuckDB file before failing.",
    )

    @field_validator("lock_timeout_seconds", mode="before")
    @classmethod
    def _check_lock_timeout(cls, value: Any) -> Any:
        return _seconds(value, "lock_timeout_seconds", positive=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        check_database_path(self.database)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if not is_in_memory(self.database) and not is_lake(self.database):  # checked at setup
            Path(self.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = connect(
            self.database,
            config={"custom_user_agent": "dagster", **self.connection_config},
            lock_timeout_seconds=self.lock_timeout_seconds,
        )
        try:
            yield conn
        finally:
            conn.close()


def _env_or_default(name: str, default: str) -> str | dg.EnvVar:
    """An EnvVar when the variable is set (so the UI shows its name), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:
    # The DuckDB file's folder is created by WarehouseResource when a run first writes, after
    # its path was checked: a bad CURSOR_ANALYTICS_DB fails the run clearly, not the load.
    return {
        # With no key in the environment the location still loads: sensors and schedules skip
        # saying what to set, and a run fails before any request naming the variable.
        "cursor_api": (
            # the simulator's URL is shown as such in the UI (it holds no secret)
            SimulatedCursorApiResource(api_key=dg.EnvVar(API_KEY_ENV), base_url=os.environ[BASE_URL_ENV])
            if os.environ.get(SIMULATED_ENV) and os.environ.get(BASE_URL_ENV)
            else CursorApiResource(
                api_key=_env_or_default(API_KEY_ENV, ""),
                base_url=_env_or_default(BASE_URL_ENV, DEFAULT_BASE_URL),
            )
        ),
        "duckdb": WarehouseResource(database=_env_or_default("CURSOR_ANALYTICS_DB", DEFAULT_DB_PATH)),
    }


def run_config_from_env(database: str | None = None, **cursor_api: Any) -> dict[str, Any]:
    """A run config whose `cursor_api` reads CURSOR_API_KEY and CURSOR_API_BASE_URL as
    environment references (the UI shows their names, never the key), plus `cursor_api` field
    overrides such as the simulator's scaled `rate_limit_window_seconds`; `database` sets the
    DuckDB file. Console logs at WARNING, for commands that print their own summary."""
    resources: dict[str, Any] = {
        "cursor_api": {
            "config": {
                "api_key": {"env": "CURSOR_API_KEY"},
                "base_url": {"env": "CURSOR_API_BASE_URL"},
                **cursor_api,
            }
        }
    }
    if database is not None:
        resources["duckdb"] = {"config": {"database": database}}
    return {"resources": resources, "loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dg.definitions
def resources() -> dg.Definitions:
    """The resources, bound once for every asset, check, sensor and job of the code location."""
    return dg.Definitions(resources=build_resources())
