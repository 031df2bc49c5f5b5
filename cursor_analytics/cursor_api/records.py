"""Normalised records: the columns of every record type (FIELDS) and the tolerant parsing that
turns each variant of the API's answers into them.

A normalised record is a dict with every key of `FIELDS[record_type]` (None when the API
omitted the value or sent "" where the docs say null) plus "raw": the record exactly as sent.
Variants survived (see shared/cursor-api.md): ids as numbers or strings (always str here),
`kind` or `kindLabel`, file extensions with or without a leading dot (stored without), `day`
absent or `date` not at midnight (day = `day`, else the UTC date of `date`), `timestamp` as a
string of epoch milliseconds, ISO datetimes with `Z`, fractional cents, CSV exports with
snake_case columns in any order (values arrive as text and are parsed here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from .errors import UnexpectedResponseError

# record type -> {column: logical type}; logical types: str int float bool date datetime json
FIELDS: dict[str, dict[str, str]] = {
    "team_members": {
        "user_id": "str",
        "name": "str",
        "email": "str",
        "role": "str",
        "is_removed": "bool",
    },
    "daily_usage": {
        "day": "date",
        "user_id": "str",
        "email": "str",
        "date_ms": "int",
        "is_active": "bool",
        "total_lines_added": "int",
        "total_lines_deleted": "int",
        "accepted_lines_added": "int",
        "accepted_lines_deleted": "int",
        "total_applies": "int",
        "total_accepts": "int",
        "total_rejects": "int",
        "total_tabs_shown": "int",
        "total_tabs_accepted": "int",
        "composer_requests": "int",
        "chat_requests": "int",
        "agent_requests": "int",
        "cmdk_usages": "int",
        "subscription_included_reqs": "int",
        "api_key_reqs": "int",
        "usage_based_reqs": "int",
        "bugbot_usages": "int",
        "most_used_model": "str",
        "apply_most_used_extension": "str",
        "tab_most_used_extension": "str",
        "client_version": "str",
    },
    "usage_events": {
        "day": "date",
        "timestamp": "datetime",
        "user_email": "str",
        "model": "str",
        "kind": "str",
        "max_mode": "bool",
        "requests_costs": "float",
        "is_token_based_call": "bool",
        "is_chargeable": "bool",
        "is_headless": "bool",
        "charged_cents": "float",
        "input_tokens": "int",
        "output_tokens": "int",
        "cache_write_tokens": "int",
        "cache_read_tokens": "int",
        "total_cents": "float",
        "discount_percent_off": "float",
        "cursor_token_fee": "float",
        "conversation_id": "str",
        "service_account_id": "str",
        "service_account_name": "str",
        "cloud_agent_id": "str",
        "automation_id": "str",
        "is_free_bugbot": "bool",
    },
    "spend": {
        "user_id": "str",
        "name": "str",
        "email": "str",
        "role": "str",
        "spend_cents": "float",
        "overall_spend_cents": "float",
        "fast_premium_requests": "float",
        "hard_limit_override_dollars": "float",
        "monthly_limit_dollars": "float",
        "effective_per_user_limit_dollars": "float",
    },
    "ai_commits": {
        "day": "date",
        "commit_hash": "str",
        "user_id": "str",
        "user_email": "str",
        "repo_name": "str",
        "branch_name": "str",
        "is_primary_branch": "bool",
        "commit_source": "str",
        "total_lines_added": "int",
        "total_lines_deleted": "int",
        "tab_lines_added": "int",
        "tab_lines_deleted": "int",
        "composer_lines_added": "int",
        "composer_lines_deleted": "int",
        "non_ai_lines_added": "int",
        "non_ai_lines_deleted": "int",
        "message": "str",
        "commit_ts": "datetime",
        "created_at": "datetime",
    },
    "ai_changes": {
        "day": "date",
        "change_id": "str",
        "user_id": "str",
        "user_email": "str",
        "source": "str",
        "model": "str",
        "total_lines_added": "int",
        "total_lines_deleted": "int",
        "created_at": "datetime",
        "files": "json",
    },
    "audit_logs": {
        "day": "date",
        "event_id": "str",
        "timestamp": "datetime",
        "ip_address": "str",
        "user_email": "str",
        "event_type": "str",
        "event_data": "json",
    },
    "repo_blocklists": {
        "repo_id": "str",
        "url": "str",
        "patterns": "json",
    },
}


# --- Analytics API (/analytics/team/{metric}, /analytics/by-user/{metric}) --------------------
# Columns are the documented snake_case field names. Rows are dated by `event_date`, except dau
# and models (`date`). `models` rows are flattened: one record per (date, model) of
# `model_breakdown`. By-user records add the `email` they are listed under and its `user_id`
# (from `params.userMappings`).
_LINES = {
    "total_green_lines_accepted": "int",
    "total_red_lines_accepted": "int",
    "total_green_lines_rejected": "int",
    "total_red_lines_rejected": "int",
    "total_green_lines_suggested": "int",
    "total_red_lines_suggested": "int",
    "total_lines_suggested": "int",
    "total_lines_accepted": "int",
}
ANALYTICS_FIELDS: dict[str, dict[str, str]] = {
    "dau": {"date": "date", "dau": "int", "cli_dau": "int", "cloud_agent_dau": "int", "bugbot_dau": "int"},
    "agent-edits": {
        "event_date": "date",
        "total_suggested_diffs": "int",
        "total_accepted_diffs": "int",
        "total_rejected_diffs": "int",
        **_LINES,
    },
    "tabs": {
        "event_date": "date",
        "total_suggestions": "int",
        "total_accepts": "int",
        "total_rejects": "int",
        **_LINES,
    },
    "models": {"date": "date", "model": "str", "messages": "int", "users": "int"},
    "client-versions": {
        "event_date": "date",
        "client_version": "str",
        "user_count": "int",
        "percentage": "float",
    },
    "top-file-extensions": {
        "event_date": "date",
        "file_extension": "str",
        "total_files": "int",
        "total_accepts": "int",
        "total_rejects": "int",
        "total_lines_suggested": "int",
        "total_lines_accepted": "int",
        "total_lines_rejected": "int",
    },
    "mcp": {"event_date": "date", "tool_name": "str", "mcp_server_name": "str", "usage": "int"},
    "commands": {"event_date": "date", "command_name": "str", "usage": "int"},
    "plans": {"event_date": "date", "model": "str", "usage": "int"},
    "skills": {"event_date": "date", "skill_name": "str", "usage": "int"},
    "ask-mode": {"event_date": "date", "model": "str", "usage": "int"},
}
# The leaderboard ranks users over the whole requested range: no date; `board` is "tab" or
# "agent" (which of the two nested boards the row came from).
LEADERBOARD_FIELDS = {
    "board": "str",
    "rank": "int",
    "email": "str",
    "user_id": "str",
    "total_accepts": "int",
    "total_lines_accepted": "int",
    "total_lines_suggested": "int",
    "line_acceptance_ratio": "float",
    "accept_ratio": "float",
    "favorite_model": "str",
    "profile_picture_url": "str",
}
BY_USER = {"email": "str", "user_id": "str"}


def analytics_record_type(metric: str, by_user: bool = False) -> str:
    """`analytics_agent_edits`, or `analytics_by_user_agent_edits` for the by-user endpoint."""
    return f"analytics_{'by_user_' if by_user else ''}{metric.replace('-', '_')}"


def analytics_date_field(metric: str) -> str:
    """The documented date field of a metric's rows: `date` for dau and models, else `event_date`."""
    return next(iter(ANALYTICS_FIELDS[metric]))


FIELDS.update({analytics_record_type(m): f for m, f in ANALYTICS_FIELDS.items()})
FIELDS.update(
    {analytics_record_type(m, True): {**BY_USER, **f} for m, f in ANALYTICS_FIELDS.items() if m != "dau"}
)
FIELDS["analytics_leaderboard"] = LEADERBOARD_FIELDS
FIELDS["billing_groups"] = {
    "group_id": "str",
    "name": "str",
    "type": "str",
    "directory_group_id": "str",
    "member_count": "int",
    "spend_cents": "float",
    "created_at": "datetime",
    "updated_at": "datetime",
    "current_members": "json",
    "former_members": "json",
    "daily_spend": "json",
}

# At least one column of each group must be present, or the record is rejected.
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "team_members": [("email", "user_id")],
    "daily_usage": [("day",), ("user_id", "email")],
    "usage_events": [("timestamp",)],
    "spend": [("email", "user_id")],
    "ai_commits": [("commit_hash",), ("commit_ts",)],
    "ai_changes": [("change_id",), ("created_at",)],
    "audit_logs": [("event_id",), ("timestamp",)],
    "repo_blocklists": [("repo_id",), ("url",)],
    "analytics_leaderboard": [("email", "user_id")],
    "billing_groups": [("group_id",)],
    **{analytics_record_type(m): [(analytics_date_field(m),)] for m in ANALYTICS_FIELDS},
    **{
        analytics_record_type(m, True): [(analytics_date_field(m),), ("email",)]
        for m in ANALYTICS_FIELDS
        if m != "dau"
    },
}


# ---------------------------------------------------------------- value parsers


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def to_str(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return to_id(value) if isinstance(value, (int, float)) else _text(str(value))


def _text(text: str) -> str:
    """Text that can be stored: a lone UTF-16 surrogate (JSON "\\ud800") cannot be UTF-8."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("holds a lone UTF-16 surrogate, which is not text") from None
    return text


def to_id(value: Any) -> str | None:
    """Ids are strings everywhere: 123 and 123.0 become "123"."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected an id, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value.strip()) if isinstance(value, str) else str(value)


# DuckDB's BIGINT: a whole number outside it is refused rather than stored wrong.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _in_range(number: int) -> int:
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError(f"{number} is outside the 64-bit range of whole numbers")
    return number


def to_int(value: Any) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _in_range(value)
    if isinstance(value, float):
        if value.is_integer():
            return _in_range(int(value))
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            return _in_range(int(text))
        except ValueError as exc:
            if "64-bit" in str(exc):
                raise
            number = float(text)
            if number.is_integer():
                return _in_range(int(number))
            raise ValueError(f"expected a whole number, got {value!r}") from None
    raise ValueError(f"expected a whole number, got {type(value).__name__}")


def to_float(value: Any) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, (int, float)):
        number = float(value)  # 2**1100 raises OverflowError (caught with the ValueErrors)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):  # "NaN", "Infinity", 1e400: never a real amount or count
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


def to_bool(value: Any) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text in {"null", "none"}:
            return None
    raise ValueError(f"expected a boolean, got {value!r}")


def epoch_ms_to_datetime(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_datetime(value: Any) -> datetime | None:
    """ISO 8601 (with `Z`, an offset, or naive = UTC) or epoch milliseconds (number or string)."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a timestamp, got {value!r}")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)):
        return epoch_ms_to_datetime(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return epoch_ms_to_datetime(int(text))
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError(f"expected a timestamp, got {type(value).__name__}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_date(value: Any) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return to_datetime(value).date()  # type: ignore[union-attr]
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        return date.fromisoformat(value.strip())
    parsed = to_datetime(value)
    return parsed.date() if parsed else None


def to_extension(value: Any) -> str | None:
    """File extensions are stored without the leading dot: ".ts" and "ts" are both "ts"."""
    text = to_str(value)
    if text is None:
        return None
    text = text.strip().lstrip(".")
    return text or None


def to_json(value: Any) -> Any:
    """Lists and dicts as they are; JSON text (as in CSV exports) parsed; "" -> None."""
    if _blank(value):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# ---------------------------------------------------------------- record specs

Parser = Callable[[Any], Any]
# column -> (source keys in order of preference, parser); sources cover camelCase (JSON) and
# snake_case (CSV exports)
Spec = dict[str, tuple[tuple[str, ...], Parser]]


def _spec(record_type: str, overrides: Mapping[str, tuple[tuple[str, ...], Parser]]) -> Spec:
    parsers: dict[str, Parser] = {
        "str": to_str,
        "int": to_int,
        "float": to_float,
        "bool": to_bool,
        "date": to_date,
        "datetime": to_datetime,
        "json": to_json,
    }
    spec: Spec = {}
    for column, kind in FIELDS[record_type].items():
        if column in overrides:
            spec[column] = overrides[column]
        else:
            spec[column] = ((_camel(column), column), parsers[kind])
    return spec


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


_SPECS: dict[str, Spec] = {
    "team_members": _spec(
        "team_members",
        {"user_id": (("id", "userId", "user_id"), to_id)},
    ),
    "daily_usage": _spec(
        "daily_usage",
        {
            "day": (("day",), to_date),
            "user_id": (("userId", "user_id"), to_id),
            "date_ms": (("date", "date_ms"), to_int),
            "apply_most_used_extension": (
                ("applyMostUsedExtension", "apply_most_used_extension"),
                to_extension,
            ),
            "tab_most_used_extension": (
                ("tabMostUsedExtension", "tab_most_used_extension"),
                to_extension,
            ),
        },
    ),
    "usage_events": _spec(
        "usage_events",
        {
            "day": ((), to_date),  # derived from timestamp
            "kind": (("kind", "kindLabel", "kind_label"), to_str),
            "service_account_id": (("serviceAccountId", "service_account_id"), to_id),
            "cloud_agent_id": (("cloudAgentId", "cloud_agent_id"), to_id),
            "automation_id": (("automationId", "automation_id"), to_id),
            "conversation_id": (("conversationId", "conversation_id"), to_id),
        },
    ),
    "spend": _spec("spend", {"user_id": (("userId", "user_id", "id"), to_id)}),
    "ai_commits": _spec(
        "ai_commits",
        {
            "day": ((), to_date),  # derived from commit_ts
            "commit_hash": (("commitHash", "commit_hash"), to_id),
            "user_id": (("userId", "user_id"), to_id),
        },
    ),
    "ai_changes": _spec(
        "ai_changes",
        {
            "day": ((), to_date),  # derived from created_at
            "change_id": (("changeId", "change_id"), to_id),
            "user_id": (("userId", "user_id"), to_id),
            "files": (("metadata", "metadata_json", "files"), to_json),
        },
    ),
    "audit_logs": _spec(
        "audit_logs",
        {
            "day": ((), to_date),  # derived from timestamp
            "event_id": (("event_id", "eventId", "id"), to_id),
            "timestamp": (("timestamp", "createdAt", "created_at"), to_datetime),
            "ip_address": (("ip_address", "ipAddress"), to_str),
            "user_email": (("user_email", "userEmail"), to_str),
            "event_type": (("event_type", "eventType"), to_str),
            "event_data": (("event_data", "eventData"), to_json),
        },
    ),
    "repo_blocklists": _spec(
        "repo_blocklists",
        {
            "repo_id": (("id", "repoId", "repo_id"), to_id),
            "patterns": (("patterns",), to_json),
        },
    ),
}

# Analytics fields are snake_case already; older by-user agent-edits rows said `suggested_lines`
# and `accepted_lines`.
_ANALYTICS_OVERRIDES: dict[str, tuple[tuple[str, ...], Parser]] = {
    "total_lines_suggested": (("total_lines_suggested", "suggested_lines"), to_int),
    "total_lines_accepted": (("total_lines_accepted", "accepted_lines"), to_int),
    "file_extension": (("file_extension",), to_extension),
    "user_id": (("user_id", "userId", "id"), to_id),
}
for _type, _fields in FIELDS.items():
    if _type.startswith("analytics_"):
        _SPECS[_type] = _spec(_type, {c: o for c, o in _ANALYTICS_OVERRIDES.items() if c in _fields})
_SPECS["billing_groups"] = _spec("billing_groups", {"group_id": (("id", "groupId", "group_id"), to_id)})

_TOKEN_USAGE = {
    "input_tokens": ("inputTokens", to_int),
    "output_tokens": ("outputTokens", to_int),
    "cache_write_tokens": ("cacheWriteTokens", to_int),
    "cache_read_tokens": ("cacheReadTokens", to_int),
    "total_cents": ("totalCents", to_float),
    "discount_percent_off": ("discountPercentOff", to_float),
}

_DAY_FROM = {
    "usage_events": "timestamp",
    "ai_commits": "commit_ts",
    "ai_changes": "created_at",
    "audit_logs": "timestamp",
}


def _first(raw: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in raw:
            return key, raw[key]
    return None, None


# What a value that cannot be read raises (fromtimestamp: OverflowError or OSError when out of range).
_UNREADABLE = (ValueError, TypeError, OverflowError, OSError)


def _bad(
    endpoint: str, field: str, detail: str, raw: Any = None, record_type: str = ""
) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"field {field!r} of {_which(record_type, raw)} {detail}; nothing of this read was stored",
        endpoint=endpoint,
        hint="The API sent a value that is not what its documentation describes: report it to "
        "Cursor with the record named here",
    )


def _which(record_type: str, raw: Any) -> str:
    """Names a record by its identifying fields (REQUIRED), as sent: 'the record with timestamp
    '1735...'', so that a refused value can be found in the API's answer."""
    if not isinstance(raw, Mapping) or record_type not in _SPECS:
        return "a record"
    named = []
    for group in REQUIRED[record_type]:
        for column in group:
            key, value = _first(raw, _SPECS[record_type][column][0])
            if key is not None and not _blank(value) and not isinstance(value, (dict, list)):
                named.append(f"{key}={str(value)[:80]!r}")
                break
    return f"the record with {', '.join(named)}" if named else "a record"


def normalise(record_type: str, raw: Any, *, endpoint: str) -> dict[str, Any]:
    """One API record (a JSON object or a CSV row) -> a dict of FIELDS[record_type] plus "raw"."""
    if not isinstance(raw, Mapping):
        raise UnexpectedResponseError(
            f"expected each record to be a JSON object, got {type(raw).__name__}", endpoint=endpoint
        )
    out: dict[str, Any] = {}
    for column, (sources, parse) in _SPECS[record_type].items():
        key, value = _first(raw, sources)
        try:
            out[column] = parse(value)
        except _UNREADABLE as exc:
            raise _bad(endpoint, key or column, f"could not be read: {exc}", raw, record_type) from None

    if record_type == "usage_events":
        usage = raw.get("tokenUsage")
        if usage is not None and not isinstance(usage, Mapping):
            raise _bad(
                endpoint, "tokenUsage", f"is not an object but {type(usage).__name__}", raw, record_type
            )
        for column, (key, parse) in _TOKEN_USAGE.items():
            value = usage.get(key) if usage else None
            if value is None:
                value = raw.get(key, raw.get(column))  # flattened variant
            try:
                out[column] = parse(value)
            except _UNREADABLE as exc:
                raise _bad(
                    endpoint, f"tokenUsage.{key}", f"could not be read: {exc}", raw, record_type
                ) from None
    if record_type == "daily_usage" and out["day"] is None and out["date_ms"] is not None:
        out["day"] = epoch_ms_to_datetime(out["date_ms"]).date()
    if record_type in _DAY_FROM:
        moment = out[_DAY_FROM[record_type]]
        out["day"] = moment.date() if moment is not None else None
    if record_type == "ai_changes":
        out["files"] = _files(out["files"], endpoint, raw)
    if record_type == "audit_logs" and isinstance(out["event_data"], str):
        out["event_data"] = {"text": out["event_data"]}

    for group in REQUIRED.get(record_type, ()):
        if all(out[column] is None for column in group):
            names = " or ".join((_SPECS[record_type][c][0] or (c,))[0] for c in group)
            raise UnexpectedResponseError(
                f"a record has no {names!r}, which identifies it", endpoint=endpoint
            )
    out["raw"] = dict(raw)
    return out


def _files(metadata: Any, endpoint: str, raw: Any) -> list[dict[str, Any]] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, list):
        raise _bad(endpoint, "metadata", f"is not a list but {type(metadata).__name__}", raw, "ai_changes")
    files = []
    for item in metadata:
        if not isinstance(item, Mapping):
            raise _bad(endpoint, "metadata", "holds an entry that is not an object", raw, "ai_changes")
        try:
            files.append(
                {
                    "file_name": to_str(_first(item, ("fileName", "file_name"))[1]),
                    "file_extension": to_extension(_first(item, ("fileExtension", "file_extension"))[1]),
                    "lines_added": to_int(_first(item, ("linesAdded", "lines_added"))[1]),
                    "lines_deleted": to_int(_first(item, ("linesDeleted", "lines_deleted"))[1]),
                }
            )
        except _UNREADABLE as exc:
            raise _bad(endpoint, "metadata", f"could not be read: {exc}", raw, "ai_changes") from None
    return files


def normalise_all(record_type: str, raws: Any, *, endpoint: str, key: str) -> list[dict[str, Any]]:
    """Normalise the list found under envelope key `key` (already extracted)."""
    if not isinstance(raws, list):
        raise UnexpectedResponseError(
            f"envelope key {key!r} should hold a list, got {type(raws).__name__}",
            endpoint=endpoint,
        )
    return [normalise(record_type, raw, endpoint=endpoint) for raw in raws]
