"""Dagster resources: the Cursor API client and the DuckDB warehouse, configured from the
environment (see the README's configuration reference)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from cursor_analytics.cursor_api import CursorClient

DEFAULT_BASE_URL = "https://api.cursor.com"
DEFAULT_DB_PATH = "data/cursor.duckdb"


class CursorApiResource(dg.ConfigurableResource):
    """Cursor's Admin API and AI Code Tracking API (or the bundled simulator at another base URL).

    Requests are paced per endpoint below Cursor's documented rate limits and retried with
    backoff on 429, 5xx and dropped connections. The key is only ever shown as the name of the
    environment variable it comes from.
    """

    api_key: str = Field(
        description="Team API key (starts with crsr_ or key_). Pass dg.EnvVar('CURSOR_API_KEY')."
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

    def get_client(self) -> CursorClient:
        from cursor_analytics.cursor_api import DEFAULT_RATE_LIMITS

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


def _env_or_default(name: str, default: str) -> str | dg.EnvVar:
    """An EnvVar when the variable is set (so the UI shows its name), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def database_path() -> str:
    path = os.environ.get("CURSOR_ANALYTICS_DB") or DEFAULT_DB_PATH
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return path


def build_resources() -> dict[str, dg.ConfigurableResource]:
    database_path()  # create the folder of the DuckDB file
    return {
        "cursor_api": CursorApiResource(
            api_key=dg.EnvVar("CURSOR_API_KEY"),
            base_url=_env_or_default("CURSOR_API_BASE_URL", DEFAULT_BASE_URL),
        ),
        "duckdb": DuckDBResource(database=_env_or_default("CURSOR_ANALYTICS_DB", DEFAULT_DB_PATH)),
    }
