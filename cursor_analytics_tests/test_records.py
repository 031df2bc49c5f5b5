"""Tolerant parsing of every record variant the contract lists (pure functions, no HTTP)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from cursor_analytics.cursor_api import FIELDS, UnexpectedResponseError, normalise
from cursor_analytics.cursor_api.records import (
    ANALYTICS_FIELDS,
    analytics_date_field,
    analytics_record_type,
    to_bool,
    to_datetime,
    to_extension,
    to_id,
    to_int,
)

EP = "/test"


def test_every_record_type_has_every_field_plus_raw():
    minimal = {
        "team_members": {"email": "a@x.com"},
        "daily_usage": {"day": "2025-01-02", "userId": "user_1"},
        "usage_events": {"timestamp": "1735776000000"},
        "spend": {"email": "a@x.com"},
        "ai_commits": {"commitHash": "abc", "commitTs": "2025-01-02T03:04:05Z"},
        "ai_changes": {"changeId": "c1", "createdAt": "2025-01-02T03:04:05.123Z"},
        "audit_logs": {"event_id": "e1", "timestamp": "2025-01-02T03:04:05Z"},
        "repo_blocklists": {"id": "repo_1", "url": "https://github.com/o/r"},
        "analytics_leaderboard": {"email": "a@x.com", "board": "tab"},
        "billing_groups": {"id": "group_1"},
        # the Analytics API: a row needs only its documented date field (by-user: and its email)
        **{analytics_record_type(m): {analytics_date_field(m): "2025-01-02"} for m in ANALYTICS_FIELDS},
        **{
            analytics_record_type(m, by_user=True): {
                analytics_date_field(m): "2025-01-02",
                "email": "a@x.com",
            }
            for m in ANALYTICS_FIELDS
            if m != "dau"
        },
    }
    assert set(minimal) == set(FIELDS)
    for record_type, raw in minimal.items():
        out = normalise(record_type, raw, endpoint=EP)
        assert set(out) == set(FIELDS[record_type]) | {"raw"}
        assert out["raw"] == raw


@pytest.mark.parametrize(
    "value, expected",
    [(123, "123"), (123.0, "123"), ("user_abc", "user_abc"), ("", None), (None, None)],
)
def test_ids_are_strings(value, expected):
    assert to_id(value) == expected


@pytest.mark.parametrize("value, expected", [(".ts", "ts"), ("ts", "ts"), ("", None), (None, None)])
def test_extensions_without_dot(value, expected):
    assert to_extension(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [("true", True), ("False", False), ("1", True), (0, False), ("", None), (None, None)],
)
def test_booleans_from_json_and_csv(value, expected):
    assert to_bool(value) is expected


def test_int_refuses_fractions_but_reads_text():
    assert to_int("12") == 12 and to_int(12.0) == 12 and to_int("") is None
    with pytest.raises(ValueError):
        to_int(1.5)


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-02T03:04:05Z",
        "2025-01-02T03:04:05.000Z",
        "2025-01-02T04:04:05+01:00",
        1735787045000,
        "1735787045000",
        "2025-01-02T03:04:05",
    ],
)
def test_datetimes_are_utc_aware(value):
    assert to_datetime(value) == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_daily_usage_day_from_non_midnight_date_and_empty_strings():
    # no `day`, `date` = request start + 1 day at 13:00 UTC
    raw = {
        "userId": 42,
        "date": int(datetime(2025, 1, 3, 13, tzinfo=UTC).timestamp() * 1000),
        "email": "a@x.com",
        "isActive": True,
        "totalLinesAdded": 10,
        "mostUsedModel": "",
        "applyMostUsedExtension": ".tsx",
        "tabMostUsedExtension": "py",
        "somethingNew": 1,
    }
    out = normalise("daily_usage", raw, endpoint=EP)
    assert out["day"] == date(2025, 1, 3)
    assert out["user_id"] == "42"
    assert out["most_used_model"] is None
    assert out["apply_most_used_extension"] == "tsx"
    assert out["tab_most_used_extension"] == "py"
    assert out["client_version"] is None  # missing optional key
    assert out["raw"]["somethingNew"] == 1  # unknown fields stay in raw
    # `day` wins over `date` when both are there
    out = normalise("daily_usage", {**raw, "day": "2025-01-02"}, endpoint=EP)
    assert out["day"] == date(2025, 1, 2)


def test_usage_event_variants():
    event = {
        "timestamp": "1735787045000",
        "userEmail": "a@x.com",
        "model": "gpt-5",
        "kindLabel": "Usage-based",
        "maxMode": False,
        "requestsCosts": 0.5,
        "isTokenBasedCall": True,
        "isChargeable": True,
        "isHeadless": False,
        "chargedCents": 1.25,
        "tokenUsage": {
            "inputTokens": 10,
            "outputTokens": 20,
            "cacheWriteTokens": 0,
            "cacheReadTokens": 5,
            "totalCents": 1.25,
        },
    }
    out = normalise("usage_events", event, endpoint=EP)
    assert out["kind"] == "Usage-based"
    assert out["timestamp"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert out["day"] == date(2025, 1, 2)
    assert (out["input_tokens"], out["output_tokens"], out["cache_read_tokens"]) == (10, 20, 5)
    assert out["charged_cents"] == 1.25 and out["requests_costs"] == 0.5
    assert out["discount_percent_off"] is None and out["conversation_id"] is None
    no_tokens = normalise(
        "usage_events",
        {"timestamp": 1735787045000, "kind": "Included in Business", "isTokenBasedCall": False},
        endpoint=EP,
    )
    assert no_tokens["kind"] == "Included in Business" and no_tokens["input_tokens"] is None


def test_members_and_spend_legacy_shapes():
    member = normalise("team_members", {"name": "A", "email": "a@x.com", "role": "owner"}, endpoint=EP)
    assert member["user_id"] is None and member["is_removed"] is None
    numeric = normalise("team_members", {"id": 7, "email": "a@x.com"}, endpoint=EP)
    assert numeric["user_id"] == "7"
    spend = normalise(
        "spend",
        {
            "spendCents": 1234,
            "fastPremiumRequests": 3,
            "name": "A",
            "email": "a@x.com",
            "role": "member",
            "hardLimitOverrideDollars": 0,
        },
        endpoint=EP,
    )
    assert spend["spend_cents"] == 1234.0 and spend["overall_spend_cents"] is None
    assert spend["monthly_limit_dollars"] is None


def test_ai_commits_from_json_and_csv_agree():
    json_commit = {
        "commitHash": "abc123",
        "userId": "user_1",
        "userEmail": "a@x.com",
        "repoName": "api",
        "branchName": "main",
        "isPrimaryBranch": True,
        "totalLinesAdded": 10,
        "totalLinesDeleted": 2,
        "tabLinesAdded": 3,
        "tabLinesDeleted": 0,
        "composerLinesAdded": 4,
        "composerLinesDeleted": 1,
        "nonAiLinesAdded": None,
        "nonAiLinesDeleted": 1,
        "message": "fix",
        "commitTs": "2025-01-02T03:04:05Z",
        "createdAt": "2025-01-02T03:10:00Z",
    }
    text = (
        "created_at,commit_ts,message,non_ai_lines_deleted,non_ai_lines_added,composer_lines_deleted,"
        "composer_lines_added,tab_lines_deleted,tab_lines_added,total_lines_deleted,total_lines_added,"
        "is_primary_branch,branch_name,repo_name,user_email,user_id,commit_hash\n"
        "2025-01-02T03:10:00Z,2025-01-02T03:04:05Z,fix,1,,1,4,0,3,2,10,true,main,api,a@x.com,user_1,abc123\n"
    )
    row = next(csv.DictReader(io.StringIO(text)))
    a = normalise("ai_commits", json_commit, endpoint=EP)
    b = normalise("ai_commits", row, endpoint=EP)
    a.pop("raw"), b.pop("raw")
    assert a == b
    assert a["day"] == date(2025, 1, 2) and a["commit_source"] is None


def test_ai_changes_files_from_metadata_and_metadata_json():
    change = {
        "changeId": "c1",
        "userId": 5,
        "source": "TAB",
        "model": "",
        "totalLinesAdded": 3,
        "totalLinesDeleted": 0,
        "createdAt": "2025-01-02T00:00:00Z",
        "metadata": [{"fileExtension": ".py", "linesAdded": 3, "linesDeleted": 0}],
    }
    out = normalise("ai_changes", change, endpoint=EP)
    assert out["files"] == [{"file_name": None, "file_extension": "py", "lines_added": 3, "lines_deleted": 0}]
    assert out["model"] is None and out["user_id"] == "5"
    row = {
        "change_id": "c1",
        "user_id": "5",
        "user_email": "",
        "source": "TAB",
        "model": "",
        "total_lines_added": "3",
        "total_lines_deleted": "0",
        "created_at": "2025-01-02T00:00:00Z",
        "metadata_json": '[{"fileName": "a.py", "fileExtension": "py", "linesAdded": 3, "linesDeleted": 0}]',
    }
    out = normalise("ai_changes", row, endpoint=EP)
    assert out["files"][0]["file_name"] == "a.py" and out["total_lines_added"] == 3


def test_missing_identifying_field_names_endpoint_and_field():
    with pytest.raises(UnexpectedResponseError) as info:
        normalise(
            "ai_commits",
            {"commitTs": "2025-01-02T00:00:00Z"},
            endpoint="/analytics/ai-code/commits",
        )
    assert "commitHash" in str(info.value) and "/analytics/ai-code/commits" in str(info.value)
    with pytest.raises(UnexpectedResponseError) as info:
        normalise("usage_events", {"timestamp": "yesterday"}, endpoint="/teams/filtered-usage-events")
    assert "timestamp" in str(info.value)


# ------------------------------------------------------------------ values that cannot be stored


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("chargedCents", "NaN", "finite"),
        ("chargedCents", "Infinity", "finite"),
        ("requestsCosts", float("inf"), "finite"),  # JSON's 1e400, or Python's json `Infinity`
        ("requestsCosts", 10**400, "too large"),
        ("model", "\ud800", "surrogate"),
    ],
)
def test_a_value_that_cannot_be_stored_is_refused_naming_endpoint_field_and_record(field, value, says):
    raw = {"timestamp": "1735689600123", "userEmail": "a@x.com", "chargedCents": 1.5, field: value}
    with pytest.raises(UnexpectedResponseError) as caught:
        normalise("usage_events", raw, endpoint="/teams/filtered-usage-events")
    message = str(caught.value)
    assert caught.value.endpoint == "/teams/filtered-usage-events"
    assert f"field {field!r}" in message and "timestamp='1735689600123'" in message
    assert says in message


def test_a_whole_number_beyond_64_bits_is_refused_not_a_bare_arrow_error():
    raw = {"timestamp": "1735689600123", "tokenUsage": {"inputTokens": 2**70}}
    with pytest.raises(UnexpectedResponseError, match=r"'tokenUsage.inputTokens'.*64-bit range"):
        normalise("usage_events", raw, endpoint="/teams/filtered-usage-events")
    assert (
        normalise("usage_events", {**raw, "tokenUsage": {"inputTokens": 2**63 - 1}}, endpoint="e")[
            "input_tokens"
        ]
        == 2**63 - 1
    )
