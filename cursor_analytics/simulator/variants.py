"""Older shapes of the Cursor API, switchable one by one.

The documentation of the Cursor API changed several times, and integrators report field
behaviour that the docs do not mention. The simulator serves the current documented shape by
default; each flag of `Variants` switches one older or observed behaviour on, so that tests can
show the client survives it. `Variants.legacy()` turns all of them on at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Dataset names used by `Variants.extra_fields` / `Variants.dropped_fields` (the record types
#: of docs/interfaces.md).
DATASETS = (
    "team_members",
    "daily_usage",
    "usage_events",
    "spend",
    "ai_commits",
    "ai_changes",
    "audit_logs",
    "repo_blocklists",
)


@dataclass
class Variants:
    """Which version of the API the simulator speaks. Defaults are the current docs.

    - `max_range_days`: daily-usage range limit in inclusive calendar days (older docs: 90).
    - `numeric_ids`: user ids are numbers everywhere (members, daily usage, spend, AI code).
    - `members_without_id`: members carry no `id` and no `isRemoved` (and removed members are
      not listed, since nothing would mark them).
    - `kind_label`: usage events carry `kindLabel` instead of `kind`.
    - `empty_strings`: `""` where the docs say null (mostUsedModel, extensions, clientVersion,
      commit message/branch, change model).
    - `non_midnight_date`: daily rows have no `day`; `date` = request startDate + N whole days.
    - `inactive_without_paging`: rows of inactive users are omitted when the request is not paged.
    - `legacy_spend`: spend rows carry only spendCents (integer), fastPremiumRequests, name,
      email, role, hardLimitOverrideDollars.
    - `no_commit_source`: AI commits have no `commitSource`.
    - `dotted_extensions`: file extensions come with a leading dot, mixed (some with, some without).
    - `csv_alt_order`: the CSV endpoints use a different column order.
    - `error_status_code`: error bodies carry an extra `"statusCode"`.
    - `enterprise_code_error`: the enterprise refusal is `{"code": "error", "message": ...}`
      with status 401 instead of the 403 error body.
    - `legacy_events_page_size`: filtered-usage-events defaults to pageSize 10 (current: 100).
    - `legacy_rate_limits`: older documented limits (usage events 20, user-spend-limit 60,
      AI code 5 per minute); only used when the simulator's `rate_limits=True`.
    - `code_window_spill_hours`: AI code endpoints widen the asked date range by this many hours
      on each side (as a server reading the dates in another time zone would), so records dated
      the day before and after come back too.
    - `legacy_analytics`: the late-2025 Analytics API: by-user agent-edits rows are only
      `{event_date, suggested_lines, accepted_lines}`, top-file-extensions echoes
      `params.metric` "top-file-extensions", leaderboard rows have no `profile_picture_url`,
      ratios rounded to 3 decimals and agent rows a `favorite_model`.
    - `extra_fields`: dataset name (see `DATASETS`) -> extra unknown fields added to every record.
    - `dropped_fields`: dataset name -> documented fields that stop coming.
    """

    max_range_days: int = 30
    numeric_ids: bool = False
    members_without_id: bool = False
    kind_label: bool = False
    empty_strings: bool = False
    non_midnight_date: bool = False
    inactive_without_paging: bool = False
    legacy_spend: bool = False
    no_commit_source: bool = False
    dotted_extensions: bool = False
    csv_alt_order: bool = False
    error_status_code: bool = False
    enterprise_code_error: bool = False
    legacy_events_page_size: bool = False
    legacy_rate_limits: bool = False
    code_window_spill_hours: int = 0
    legacy_analytics: bool = False
    extra_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped_fields: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def legacy(cls, **overrides: Any) -> Variants:
        """Every older behaviour on (90-day range, numeric ids, legacy spend, ...)."""
        values: dict[str, Any] = {f.name: True for f in dataclasses.fields(cls) if f.type in ("bool", bool)}
        values["max_range_days"] = 90
        values.update(overrides)
        return cls(**values)

    @classmethod
    def flag_names(cls) -> list[str]:
        """Names of the boolean flags (for a CLI)."""
        return [f.name for f in dataclasses.fields(cls) if f.type in ("bool", bool)]

    @property
    def events_default_page_size(self) -> int:
        return 10 if self.legacy_events_page_size else 100

    def null(self, value: Any) -> Any:
        """`None` as served: `""` under `empty_strings`."""
        if value is None and self.empty_strings:
            return ""
        return value

    def finish(self, dataset: str, record: dict[str, Any]) -> dict[str, Any]:
        """Apply `dropped_fields` and `extra_fields` of `dataset` to one record (in place)."""
        for name in self.dropped_fields.get(dataset, ()):
            record.pop(name, None)
        extra = self.extra_fields.get(dataset)
        if extra:
            record.update(extra)
        return record
