"""The envelopes of paged responses: each endpoint wraps its records in a shape of its own (the
list's key, a pagination block or bare totals), and one parser per shape reads it into an
`_Envelope` the paging loop understands, refusing a missing or mistyped field with
UnexpectedResponseError. Also the field readers the endpoints share (`_key`, `_optional_int`)
and `_check_progress`, the guard against empty pages announcing more and repeated pages. Pure
functions over parsed JSON: no HTTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import UnexpectedResponseError
from .records import to_int


@dataclass
class _Envelope:
    items: list[Any]
    list_key: str
    has_next: bool | None  # None: no such flag, more pages while the page is below total_pages
    page: int | None = None
    total_pages: int | None = None
    total_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The sizes the server announces ({"totalUsers": 12, ...}): a change between pages of one
    # read means the data moved under the pages (records repeated or lost).
    announced: dict[str, int | None] = field(default_factory=dict)


def _key(data: Any, key: str, path: str, kind: type) -> Any:
    """data[key], which must exist and be of `kind`."""
    if not isinstance(data, dict):
        raise UnexpectedResponseError(
            f"expected a JSON object with {key!r}, got {type(data).__name__}", endpoint=path
        )
    if key not in data:
        raise UnexpectedResponseError(f"the response has no {key!r}", endpoint=path)
    value = data[key]
    if kind is int:
        try:
            value = to_int(value)
        except (ValueError, TypeError):
            value = None
        if value is None:
            raise UnexpectedResponseError(f"{key!r} is not a whole number", endpoint=path)
        return value
    if not isinstance(value, kind):
        raise UnexpectedResponseError(
            f"{key!r} should be a {kind.__name__}, got {type(data[key]).__name__}", endpoint=path
        )
    return value


def _optional_int(data: Any, key: str, path: str) -> int | None:
    if not isinstance(data, dict) or data.get(key) is None:
        return None
    return _key(data, key, path, int)


def _optional_dict(data: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UnexpectedResponseError(f"{key!r} should be an object", endpoint=path)
    return value


def _bool_field(data: dict[str, Any], key: str, path: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise UnexpectedResponseError(f"{key!r} should be true or false", endpoint=path)
    return value


def _daily_envelope(data: Any, path: str) -> _Envelope:
    items = _key(data, "data", path, list)
    pagination = _optional_dict(data, "pagination", path) or {}
    has_next = bool(_bool_field(pagination, "hasNextPage", path))
    total_pages = _optional_int(pagination, "totalPages", path)
    return _Envelope(
        items,
        "data",
        has_next,
        page=_optional_int(pagination, "page", path) if pagination else None,
        total_pages=total_pages,
        extra={"period": data.get("period")},
        # paged over users: rows per page vary, the number of users must not
        announced={"totalUsers": _optional_int(pagination, "totalUsers", path), "totalPages": total_pages},
    )


def _usage_envelope(data: Any, path: str) -> _Envelope:
    items = _key(data, "usageEvents", path, list)
    total = _optional_int(data, "totalUsageEventsCount", path)
    pagination = _optional_dict(data, "pagination", path)
    if pagination is not None and "hasNextPage" in pagination:
        has_next = bool(_bool_field(pagination, "hasNextPage", path))
    elif total is not None:  # no pagination block: fall back on the total
        has_next = False
    else:
        raise UnexpectedResponseError(
            "the response has neither 'pagination.hasNextPage' nor 'totalUsageEventsCount'",
            endpoint=path,
        )
    pagination = pagination or {}
    total_pages = _optional_int(pagination, "numPages", path)
    return _Envelope(
        items,
        "usageEvents",
        has_next,
        page=_optional_int(pagination, "currentPage", path),
        total_pages=total_pages,
        total_count=total,
        extra={"period": data.get("period")},
        announced={"totalUsageEventsCount": total, "numPages": total_pages},
    )


def _ai_code_envelope(data: Any, path: str) -> _Envelope:
    items = _key(data, "items", path, list)
    total = _key(data, "totalCount", path, int)
    page = _optional_int(data, "page", path)
    page_size = _optional_int(data, "pageSize", path)
    if page_size is None or page_size < 1:
        raise UnexpectedResponseError("'pageSize' is missing or not positive", endpoint=path)
    current = page if page is not None else 1
    return _Envelope(
        items,
        "items",
        current * page_size < total,
        page=page,
        total_pages=max(1, math.ceil(total / page_size)),
        total_count=total,
        announced={"totalCount": total},
    )


def _audit_envelope(data: Any, path: str) -> _Envelope:
    items = _key(data, "events", path, list)
    pagination = _key(data, "pagination", path, dict)
    total_pages = _optional_int(pagination, "totalPages", path)
    total = _optional_int(pagination, "totalCount", path)
    return _Envelope(
        items,
        "events",
        bool(_bool_field(pagination, "hasNextPage", path)),
        page=_optional_int(pagination, "page", path),
        total_pages=total_pages,
        total_count=total,
        announced={"totalCount": total, "totalPages": total_pages},
    )


def _spend_envelope(data: Any, path: str) -> _Envelope:
    items = _key(data, "teamMemberSpend", path, list)
    total_pages = _optional_int(data, "totalPages", path)
    total_members = _optional_int(data, "totalMembers", path)
    cycle_ms = _optional_int(data, "subscriptionCycleStart", path)
    return _Envelope(
        items,
        "teamMemberSpend",
        has_next=False if total_pages is None else None,
        total_pages=total_pages,
        extra={"subscription_cycle_start_ms": cycle_ms, "total_members": total_members},
        announced={"totalMembers": total_members, "totalPages": total_pages},
    )


def _check_progress(path: str, page: int, items: list[Any], previous: list[Any] | None, more: bool) -> None:
    """Refuse an empty page that announces more, and a page identical to the one before (a
    server bug, not drift: re-reading would not help)."""
    if more and not items:
        raise UnexpectedResponseError(f"page {page} is empty but announces more pages", endpoint=path)
    if items and previous is not None and items == previous:
        raise UnexpectedResponseError(f"page {page} repeats page {page - 1}", endpoint=path)


def _analytics_envelope(data: Any, path: str) -> _Envelope:
    """`/analytics/team/{metric}`: `{"data": [rows], "params": {...}}`, one page. `models` rows
    are flattened to one item per model of their `model_breakdown`."""
    items = _key(data, "data", path, list)
    if path.endswith("/models"):
        items = _flatten_models(items, path)
    return _Envelope(items, "data", False, extra={"params": data.get("params")})


def _flatten_models(rows: list[Any], path: str) -> list[Any]:
    out: list[Any] = []
    for row in rows:
        breakdown = row.get("model_breakdown") if isinstance(row, dict) else None
        if not isinstance(breakdown, dict):
            raise UnexpectedResponseError("a models row has no 'model_breakdown' object", endpoint=path)
        for model, counts in breakdown.items():
            if not isinstance(counts, dict):
                raise UnexpectedResponseError(f"model_breakdown[{model!r}] is not an object", endpoint=path)
            out.append({"date": row.get("date"), "model": model, **counts})
    return out


def _paged_over_users(items: list[Any], data: Any, path: str, extra: dict[str, Any]) -> _Envelope:
    """The envelope of an Analytics page of users: its `pagination` (`hasNextPage`, `page`,
    `totalPages`, `totalUsers`) around `items`, with `extra` after `total_users`."""
    pagination = _key(data, "pagination", path, dict)
    return _Envelope(
        items,
        "data",
        bool(_bool_field(pagination, "hasNextPage", path)),
        page=_optional_int(pagination, "page", path),
        total_pages=_optional_int(pagination, "totalPages", path),
        extra={"total_users": _optional_int(pagination, "totalUsers", path), **extra},
    )


def _by_user_envelope(data: Any, path: str) -> _Envelope:
    """`/analytics/by-user/{metric}`: `data` maps each email to its rows; pages are over users.
    Each item is a row with the `email` it is listed under and that user's id from
    `params.userMappings`."""
    by_email = _key(data, "data", path, dict)
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    ids = {m.get("email"): m.get("id") for m in params.get("userMappings") or () if isinstance(m, dict)}
    items: list[Any] = []
    for email, rows in by_email.items():
        if not isinstance(rows, list):
            raise UnexpectedResponseError(f"data[{email!r}] should be a list of rows", endpoint=path)
        if path.endswith("/models"):
            rows = _flatten_models(rows, path)
        items.extend(
            {**row, "email": email, "user_id": ids.get(email)} for row in rows if isinstance(row, dict)
        )
    return _paged_over_users(items, data, path, {"params": params})


def _leaderboard_envelope(data: Any, path: str) -> _Envelope:
    """`/analytics/team/leaderboard`: `data.tab_leaderboard.data` and `data.agent_leaderboard.data`,
    paged over users; each item gets `board` ("tab" or "agent")."""
    boards = _key(data, "data", path, dict)
    items: list[Any] = []
    totals: dict[str, int | None] = {}
    for board in ("tab", "agent"):
        section = _key(boards, f"{board}_leaderboard", path, dict)
        rows = _key(section, "data", path, list)
        items.extend({**row, "board": board} for row in rows if isinstance(row, dict))
        totals[f"{board}_total_users"] = _optional_int(section, "total_users", path)
    return _paged_over_users(items, data, path, {**totals, "params": data.get("params")})
