"""A plain Python client of Cursor's team APIs (no Dagster): paced, retried, tolerant.

    from cursor_analytics.cursor_api import CursorClient
    with CursorClient(api_key) as client:
        for page in client.usage_events(date(2025, 1, 1), date(2025, 1, 31)):
            ...  # page.records: normalised dicts with the keys of FIELDS["usage_events"]

See docs/interfaces.md for the full surface and shared/cursor-api.md for the API contract.
"""

from .client import (
    ACCESS_DATASETS,
    BY_USER_METRICS,
    DEFAULT_RATE_LIMITS,
    LEGACY_RATE_LIMITS,
    TEAM_METRICS,
    ConnectionCheck,
    CursorClient,
    DatasetAccess,
    can_probe,
)
from .dates import day_end_ms, day_start_ms, days_in, split_days
from .errors import (
    BadRequestError,
    CursorApiError,
    CursorConnectionError,
    InsufficientAccessError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from .etag import EtagCache
from .pacing import SlidingWindowLimiter
from .records import FIELDS, analytics_date_field, analytics_record_type, normalise
from .transport import DEFAULT_BASE_URL, KEY_PREFIXES, Page, RequestStats, key_problem

__all__ = [
    "ACCESS_DATASETS",
    "BY_USER_METRICS",
    "TEAM_METRICS",
    "analytics_date_field",
    "analytics_record_type",
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_LIMITS",
    "FIELDS",
    "KEY_PREFIXES",
    "LEGACY_RATE_LIMITS",
    "BadRequestError",
    "ConnectionCheck",
    "CursorApiError",
    "CursorClient",
    "CursorConnectionError",
    "DatasetAccess",
    "EtagCache",
    "InsufficientAccessError",
    "InvalidCredentialsError",
    "NotFoundError",
    "Page",
    "RateLimitError",
    "RequestStats",
    "ServerError",
    "SlidingWindowLimiter",
    "UnexpectedResponseError",
    "day_end_ms",
    "can_probe",
    "day_start_ms",
    "days_in",
    "key_problem",
    "normalise",
    "split_days",
]
