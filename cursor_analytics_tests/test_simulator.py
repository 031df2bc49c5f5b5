"""The simulated Cursor API, exercised with plain httpx, endpoint by endpoint.

These tests double as examples of the contract (`/work/shared/cursor-api.md`) as the simulator
reads it: envelopes, paging, limits, invariants between endpoints, faults and older variants.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from cursor_analytics.simulator import Faults, Simulator, Variants, run_simulator_cli
from cursor_analytics.simulator.server import RateLimiter

UTC = UTC
DAY_MS = 86_400_000
NOW = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)  # frozen clock: today = 2025-03-14, 15 hours done
TODAY = NOW.date()
DAY = TODAY - timedelta(days=3)  # a complete weekday (Tuesday)


def ms(d: date) -> int:
    """Midnight UTC of a day, epoch ms."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def end_ms(d: date) -> int:
    """Last millisecond of a day (the API's ranges are inclusive)."""
    return ms(d) + DAY_MS - 1


def client(sim: Simulator, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, auth=(key or sim.api_key, ""), timeout=10)


def all_events(api: httpx.Client, start: int, end: int, **filters) -> list[dict]:
    events, page = [], 1
    while True:
        body = api.post(
            "/teams/filtered-usage-events",
            json={"startDate": start, "endDate": end, "page": page, "pageSize": 1000, **filters},
        ).json()
        events += body["usageEvents"]
        if not body["pagination"]["hasNextPage"]:
            return events
        page += 1


@pytest.fixture
def frozen(make_sim) -> Simulator:
    """A simulator with a frozen clock and no rate limits (for consistency checks)."""
    return make_sim(now=NOW, rate_limits=False)


# --------------------------------------------------------------------------------------------
# Authentication and errors
# --------------------------------------------------------------------------------------------

READS = [
    ("GET", "/teams/members", None),
    ("POST", "/teams/daily-usage-data", {"startDate": 0, "endDate": DAY_MS - 1}),
    ("POST", "/teams/spend", {}),
    ("POST", "/teams/filtered-usage-events", {}),
    ("GET", "/settings/repo-blocklists/repos", None),
    ("GET", "/teams/audit-logs", None),
    ("GET", "/analytics/ai-code/commits", None),
    ("GET", "/analytics/ai-code/commits.csv", None),
    ("GET", "/analytics/ai-code/changes", None),
    ("GET", "/analytics/ai-code/changes.csv", None),
    ("GET", "/analytics/team/dau", None),
]


def test_bad_or_missing_key_gets_the_401_body(sim):
    expected = {"error": "Unauthorized", "message": "Invalid API key"}
    assert httpx.get(sim.base_url + "/teams/members").json() == expected
    for key in ("crsr_not-the-key", "nope", sim.api_key + "x"):
        r = httpx.get(sim.base_url + "/teams/members", auth=(key, ""))
        assert r.status_code == 401
        assert r.json() == expected
    r = httpx.get(sim.base_url + "/teams/members", headers={"Authorization": "Bearer " + sim.api_key})
    assert r.status_code == 401


@pytest.mark.parametrize("method,path,body", READS)
def test_no_access_key_gets_403_on_every_read(sim, method, path, body):
    assert sim.no_access_key.startswith("key_") and sim.api_key.startswith("crsr_")
    with client(sim, sim.no_access_key) as api:
        r = api.request(method, path, json=body)
    assert r.status_code == 403
    assert r.json() == {"error": "Forbidden", "message": "Enterprise access required"}


def test_unknown_path_and_wrong_method(sim):
    with client(sim) as api:
        r = api.get("/teams/nothing-here")
        assert r.status_code == 404 and r.json()["error"] == "Not Found"
        assert api.get("/teams/spend").status_code == 405


def test_non_enterprise_team_is_refused_on_ai_code_analytics_and_audit(make_sim):
    sim = make_sim(enterprise=False)
    with client(sim) as api:
        for path in (
            "/analytics/ai-code/commits",
            "/analytics/ai-code/changes.csv",
            "/analytics/team/dau",
            "/teams/audit-logs",
        ):
            r = api.get(path)
            assert r.status_code == 403
            assert r.json() == {"error": "Forbidden", "message": "Enterprise access required"}
        assert api.get("/teams/members").status_code == 200
    sim.variants = Variants(enterprise_code_error=True)
    with client(sim) as api:
        r = api.get("/analytics/ai-code/commits")
    assert r.status_code == 401
    assert r.json() == {"code": "error", "message": "Enterprise access required"}


# --------------------------------------------------------------------------------------------
# Admin API
# --------------------------------------------------------------------------------------------


def test_members(sim):
    with client(sim) as api:
        members = api.get("/teams/members").json()["teamMembers"]
    assert len(members) == 12
    assert all(set(m) == {"id", "name", "email", "role", "isRemoved"} for m in members)
    assert all(re.fullmatch(r"user_[A-Za-z0-9]{28}", m["id"]) for m in members)
    assert {m["role"] for m in members} == {"owner", "free-owner", "member"}
    assert any(m["isRemoved"] for m in members)
    assert len({m["email"] for m in members}) == 12
    assert members == sim.team.members()


def test_daily_usage_rows_and_period(frozen):
    with client(frozen) as api:
        body = api.post("/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}).json()
    assert set(body) == {"data", "period"}
    assert body["period"] == {"startDate": ms(DAY), "endDate": end_ms(DAY)}
    rows = body["data"]
    assert rows == frozen.team.daily_usage(DAY)
    row = next(r for r in rows if r["isActive"])
    assert list(row) == [
        "userId", "day", "date", "email", "isActive", "totalLinesAdded", "totalLinesDeleted",
        "acceptedLinesAdded", "acceptedLinesDeleted", "totalApplies", "totalAccepts", "totalRejects",
        "totalTabsShown", "totalTabsAccepted", "composerRequests", "chatRequests", "agentRequests",
        "cmdkUsages", "subscriptionIncludedReqs", "apiKeyReqs", "usageBasedReqs", "bugbotUsages",
        "mostUsedModel", "applyMostUsedExtension", "tabMostUsedExtension", "clientVersion",
    ]  # fmt: skip
    assert row["day"] == DAY.isoformat() and row["date"] == ms(DAY)
    inactive = [r for r in rows if not r["isActive"]]
    assert inactive and all(r["mostUsedModel"] is None and r["agentRequests"] == 0 for r in inactive)
    assert row["acceptedLinesAdded"] <= row["totalLinesAdded"]
    assert row["totalTabsAccepted"] <= row["totalTabsShown"]


def test_daily_usage_paging_is_over_users(frozen):
    start, end = ms(DAY - timedelta(days=6)), end_ms(DAY)
    seen = []
    with client(frozen) as api:
        unpaged = api.post("/teams/daily-usage-data", json={"startDate": start, "endDate": end}).json()[
            "data"
        ]
        for page in (1, 2, 3):
            body = api.post(
                "/teams/daily-usage-data",
                json={"startDate": start, "endDate": end, "page": page, "pageSize": 5},
            ).json()
            p = body["pagination"]
            assert p["page"] == page and p["pageSize"] == 5 and p["totalPages"] == 3
            assert p["hasNextPage"] == (page < 3) and p["hasPreviousPage"] == (page > 1)
            users = {r["userId"] for r in body["data"]}
            assert len(users) <= 5
            seen += body["data"]
    assert p["totalUsers"] == len({r["userId"] for r in unpaged})
    key = lambda r: (r["day"], r["userId"])  # noqa: E731
    assert sorted(seen, key=key) == sorted(unpaged, key=key)


def test_daily_usage_validation(frozen):
    with client(frozen) as api:
        r = api.post("/teams/daily-usage-data", json={"endDate": end_ms(DAY)})
        assert r.status_code == 400 and "startDate" in r.json()["message"]
        ok = api.post(
            "/teams/daily-usage-data",
            json={"startDate": ms(DAY - timedelta(days=29)), "endDate": end_ms(DAY)},
        )
        assert ok.status_code == 200
        r = api.post(
            "/teams/daily-usage-data",
            json={"startDate": ms(DAY - timedelta(days=30)), "endDate": end_ms(DAY)},
        )
        assert r.status_code == 400
        assert r.json() == {"error": "Bad Request", "message": "Date range cannot exceed 30 days"}
        assert (
            api.post(
                "/teams/daily-usage-data",
                json={"startDate": ms(DAY), "endDate": end_ms(DAY), "page": 1, "pageSize": 1001},
            ).status_code
            == 400
        )
        assert (
            api.post(
                "/teams/daily-usage-data", content=b"{not json", headers={"Content-Type": "application/json"}
            ).status_code
            == 400
        )


def test_usage_events_envelope_and_paging(frozen):
    start, end = ms(DAY), end_ms(DAY)
    with client(frozen) as api:
        first = api.post("/teams/filtered-usage-events", json={"startDate": start, "endDate": end}).json()
        assert set(first) == {"totalUsageEventsCount", "pagination", "usageEvents", "period"}
        total = first["totalUsageEventsCount"]
        assert first["pagination"] == {
            "numPages": -(-total // 100), "currentPage": 1, "pageSize": 100,
            "hasNextPage": total > 100, "hasPreviousPage": False,
        }  # fmt: skip
        assert len(first["usageEvents"]) == 100
        r = api.post("/teams/filtered-usage-events", json={"pageSize": 1001})
        assert r.status_code == 400 and "1000" in r.json()["message"]
        pages = []
        page = 1
        while True:
            body = api.post(
                "/teams/filtered-usage-events",
                json={"startDate": start, "endDate": end, "page": page, "pageSize": 250},
            ).json()
            pages += body["usageEvents"]
            if not body["pagination"]["hasNextPage"]:
                break
            page += 1
    assert len(pages) == total == frozen.ground_truth(DAY)["usage_events"]["rows"]
    assert pages == list(frozen.team.usage_events(DAY))
    stamps = [int(e["timestamp"]) for e in pages]
    assert all(isinstance(e["timestamp"], str) for e in pages)
    assert stamps == sorted(stamps, reverse=True)
    assert start <= min(stamps) and max(stamps) <= end
    e = next(e for e in pages if e["isTokenBasedCall"])
    assert set(e["tokenUsage"]) <= {
        "inputTokens",
        "outputTokens",
        "cacheWriteTokens",
        "cacheReadTokens",
        "totalCents",
        "discountPercentOff",
    }
    assert set(e["tokenUsage"]) >= {
        "inputTokens",
        "outputTokens",
        "cacheWriteTokens",
        "cacheReadTokens",
        "totalCents",
    }
    assert all(("tokenUsage" in e) == e["isTokenBasedCall"] for e in pages)
    # as in Cursor's documented example: plan-included events carry cents, not chargeable
    assert all(e["isChargeable"] == (e["kind"] == "Usage-based") for e in pages)
    assert all((e["chargedCents"] > 0) == (e["kind"] != "User API Key") for e in pages)
    assert any(e["chargedCents"] > 0 and not e["isChargeable"] for e in pages)


def test_usage_events_filters_and_inclusive_window(frozen):
    with client(frozen) as api:
        events = all_events(api, ms(DAY), end_ms(DAY))
        email = Counter(e["userEmail"] for e in events).most_common(1)[0][0]
        member = next(m for m in frozen.team.members() if m["email"] == email)
        by_email = all_events(api, ms(DAY), end_ms(DAY), email=email)
        by_id = all_events(api, ms(DAY), end_ms(DAY), userId=member["id"])
        both_wrong = all_events(api, ms(DAY), end_ms(DAY), userId=member["id"], email="someone@else.dev")
        # Both ends inclusive: a window of exactly one event's timestamp returns it.
        t = int(events[5]["timestamp"])
        exact = api.post("/teams/filtered-usage-events", json={"startDate": t, "endDate": t}).json()
    assert by_email == by_id == [e for e in events if e["userEmail"] == email]
    assert both_wrong == []
    assert exact["totalUsageEventsCount"] >= 1
    assert all(int(e["timestamp"]) == t for e in exact["usageEvents"])


def test_events_per_user_day_equal_daily_request_counters(frozen):
    with client(frozen) as api:
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY - timedelta(days=6)), "endDate": end_ms(DAY)}
        ).json()["data"]
        events = all_events(api, ms(DAY - timedelta(days=6)), end_ms(DAY))
    per = Counter()
    usage_based = Counter()
    for e in events:
        key = (datetime.fromtimestamp(int(e["timestamp"]) / 1000, UTC).date().isoformat(), e["userEmail"])
        per[key] += 1
        usage_based[key] += e["kind"] == "Usage-based"
    for r in rows:
        key = (r["day"], r["email"])
        requests = (
            r["composerRequests"]
            + r["chatRequests"]
            + r["agentRequests"]
            + r["cmdkUsages"]
            + r["bugbotUsages"]
        )
        assert per[key] == requests == r["subscriptionIncludedReqs"] + r["usageBasedReqs"] + r["apiKeyReqs"]
        assert usage_based[key] == r["usageBasedReqs"]
    assert sum(per.values()) == len(events) > 0


def test_spend_equals_billed_and_overall_equals_all_charged_cents_over_the_cycle(frozen):
    cycle_start = frozen.team.cycle_start
    with client(frozen) as api:
        body = api.post("/teams/spend", json={"pageSize": 1000}).json()
        events = all_events(api, ms(cycle_start), frozen.team.now_ms())
    assert set(body) == {"teamMemberSpend", "subscriptionCycleStart", "totalMembers", "totalPages"}
    assert body["subscriptionCycleStart"] == ms(cycle_start)
    assert body["totalMembers"] == len(body["teamMemberSpend"]) and body["totalPages"] == 1
    billed, overall = defaultdict(float), defaultdict(float)
    for e in events:
        billed[e["userEmail"]] += e["chargedCents"] if e["isChargeable"] else 0
        overall[e["userEmail"]] += e["chargedCents"]
    for row in body["teamMemberSpend"]:
        assert set(row) == {
            "userId", "spendCents", "overallSpendCents", "fastPremiumRequests", "name", "email",
            "role", "hardLimitOverrideDollars", "monthlyLimitDollars", "effectivePerUserLimitDollars",
        }  # fmt: skip
        assert row["spendCents"] == pytest.approx(billed[row["email"]], abs=1e-6)
        assert row["overallSpendCents"] == pytest.approx(overall[row["email"]], abs=1e-6)
    assert sum(r["spendCents"] for r in body["teamMemberSpend"]) > 0


def test_spend_search_sort_and_paging(frozen):
    with client(frozen) as api:
        everyone = api.post(
            "/teams/spend", json={"sortBy": "amount", "sortDirection": "asc", "pageSize": 1000}
        ).json()
        amounts = [r["spendCents"] for r in everyone["teamMemberSpend"]]
        assert amounts == sorted(amounts)
        pages = [
            api.post("/teams/spend", json={"sortBy": "user", "page": p, "pageSize": 4}).json()
            for p in (1, 2, 3)
        ]
        assert pages[0]["totalPages"] == -(-everyone["totalMembers"] // 4)
        names = [r["name"].lower() for p in pages for r in p["teamMemberSpend"]]
        assert names == sorted(names, reverse=True)
        target = everyone["teamMemberSpend"][0]["email"]
        found = api.post("/teams/spend", json={"searchTerm": target.split("@")[0].upper()}).json()
        assert [r["email"] for r in found["teamMemberSpend"]] == [target]
        assert api.post("/teams/spend", json={"sortBy": "height"}).status_code == 400


def test_user_spend_limit_is_validated_and_shows_in_spend(frozen):
    email = next(m["email"] for m in frozen.team.members() if not m["isRemoved"] and m["role"] == "member")
    with client(frozen) as api:
        r = api.post("/teams/user-spend-limit", json={"userEmail": email, "spendLimitDollars": 100})
        assert r.json() == {"outcome": "success", "message": f"Spend limit set to $100 for user {email}"}
        row = api.post("/teams/spend", json={"searchTerm": email}).json()["teamMemberSpend"][0]
        assert row["monthlyLimitDollars"] == 100 and row["effectivePerUserLimitDollars"] == 100
        assert (
            api.post("/teams/user-spend-limit", json={"userEmail": email, "spendLimitDollars": 0}).status_code
            == 200
        )
        assert (
            api.post("/teams/spend", json={"searchTerm": email}).json()["teamMemberSpend"][0][
                "monthlyLimitDollars"
            ]
            == 0
        )
        assert (
            api.post("/teams/user-spend-limit", json={"userEmail": email, "spendLimitDollars": None}).json()[
                "outcome"
            ]
            == "success"
        )
        assert (
            api.post("/teams/spend", json={"searchTerm": email}).json()["teamMemberSpend"][0][
                "monthlyLimitDollars"
            ]
            is None
        )
        for bad in (
            {"userEmail": email, "spendLimitDollars": 10.5},
            {"userEmail": email, "spendLimitDollars": "10"},
            {"userEmail": email},
            {"userEmail": "stranger@example.com", "spendLimitDollars": 10},
        ):
            r = api.post("/teams/user-spend-limit", json=bad)
            assert r.status_code == 400 and r.json()["outcome"] == "error"


def test_repo_blocklists_read_upsert_delete(sim):
    with client(sim) as api:
        repos = api.get("/settings/repo-blocklists/repos").json()["repos"]
        assert repos and all(set(r) == {"id", "url", "patterns"} for r in repos)
        kept, changed = repos[0], repos[1]
        body = api.post(
            "/settings/repo-blocklists/repos/upsert",
            json={
                "repos": [
                    {"url": changed["url"], "patterns": ["*.pem"]},
                    {"url": "https://github.com/x/new", "patterns": ["*"]},
                ]
            },
        ).json()
        by_url = {r["url"]: r for r in body["repos"]}
        assert by_url[kept["url"]] == kept
        assert by_url[changed["url"]] == {**changed, "patterns": ["*.pem"]}
        new_id = by_url["https://github.com/x/new"]["id"]
        r = api.delete(f"/settings/repo-blocklists/repos/{new_id}")
        assert r.status_code == 204 and r.content == b""
        assert api.delete(f"/settings/repo-blocklists/repos/{new_id}").status_code == 404
        assert len(api.get("/settings/repo-blocklists/repos").json()["repos"]) == 2
        assert (
            api.post("/settings/repo-blocklists/repos/upsert", json={"repos": [{"url": "x"}]}).status_code
            == 400
        )


def test_remove_member(sim):
    target = next(m for m in sim.team.members() if m["role"] == "member" and not m["isRemoved"])
    with client(sim) as api:
        assert api.post("/teams/remove-member", json={}).status_code == 400
        assert (
            api.post(
                "/teams/remove-member", json={"userId": target["id"], "email": target["email"]}
            ).status_code
            == 400
        )
        body = api.post("/teams/remove-member", json={"email": target["email"]}).json()
        assert body["success"] is True and body["userId"] == target["id"]
        assert isinstance(body["hasBillingCycleUsage"], bool)
        members = api.get("/teams/members").json()["teamMembers"]
        assert next(m for m in members if m["id"] == target["id"])["isRemoved"] is True
        assert api.post("/teams/remove-member", json={"userId": "user_" + "x" * 28}).status_code == 404


def test_audit_logs(frozen):
    start = f"{(DAY - timedelta(days=6)).isoformat()}T00:00:00.000Z"
    end = f"{DAY.isoformat()}T23:59:59.999Z"
    with client(frozen) as api:
        body = api.get(
            "/teams/audit-logs", params={"startTime": start, "endTime": end, "pageSize": 500}
        ).json()
        events = body["events"]
        assert body["pagination"]["totalCount"] == len(events) > 0
        assert set(events[0]) == {
            "event_id",
            "timestamp",
            "ip_address",
            "user_email",
            "event_type",
            "event_data",
        }
        expected = sum(frozen.ground_truth(DAY - timedelta(days=i))["audit_logs"]["rows"] for i in range(7))
        assert len(events) == expected
        logins = api.get(
            "/teams/audit-logs", params={"startTime": start, "endTime": end, "eventTypes": "login"}
        ).json()
        assert {e["event_type"] for e in logins["events"]} == {"login"}
        paged = api.get(
            "/teams/audit-logs", params={"startTime": start, "endTime": end, "pageSize": 2, "page": 2}
        ).json()
        assert paged["events"] == events[2:4] and paged["pagination"]["hasPreviousPage"] is True
        by_ms = api.get(
            "/teams/audit-logs", params={"startTime": ms(DAY), "endTime": end_ms(DAY), "pageSize": 500}
        ).json()
        assert by_ms["events"] == frozen.team.audit_events(DAY)
        assert api.get("/teams/audit-logs", params={"pageSize": 501}).status_code == 400
        r = api.get(
            "/teams/audit-logs",
            params={"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-02-15T00:00:00Z"},
        )
        assert r.status_code == 400


# --------------------------------------------------------------------------------------------
# AI Code Tracking API
# --------------------------------------------------------------------------------------------


def code_params(first: date, last: date, **extra) -> dict:
    return {
        "startDate": f"{first.isoformat()}T00:00:00.000Z",
        "endDate": f"{last.isoformat()}T23:59:59.999Z",
        **extra,
    }


def test_ai_commits_envelope_and_paging(frozen):
    with client(frozen) as api:
        body = api.get("/analytics/ai-code/commits", params=code_params(DAY, DAY, pageSize=10)).json()
        assert set(body) == {"items", "totalCount", "page", "pageSize"}
        assert body["totalCount"] == frozen.ground_truth(DAY)["ai_commits"]["rows"] > 10
        items = []
        page = 1
        while True:
            b = api.get(
                "/analytics/ai-code/commits", params=code_params(DAY, DAY, page=page, pageSize=10)
            ).json()
            items += b["items"]
            if page * b["pageSize"] >= b["totalCount"]:
                break
            page += 1
        assert api.get("/analytics/ai-code/commits", params={"pageSize": 1001}).status_code == 400
    assert items == frozen.team.commits(DAY)
    c = items[0]
    assert list(c) == [
        "commitHash", "userId", "userEmail", "repoName", "branchName", "isPrimaryBranch", "commitSource",
        "totalLinesAdded", "totalLinesDeleted", "tabLinesAdded", "tabLinesDeleted", "composerLinesAdded",
        "composerLinesDeleted", "nonAiLinesAdded", "nonAiLinesDeleted", "message", "commitTs", "createdAt",
    ]  # fmt: skip
    assert all(i["commitTs"].startswith(DAY.isoformat()) for i in items)
    for i in items:
        assert i["totalLinesAdded"] == i["tabLinesAdded"] + i["composerLinesAdded"] + i["nonAiLinesAdded"]
    assert {i["commitSource"] for i in items} <= {"ide", "cli", "cloud"}


def test_ai_changes_lines_equal_accepted_lines_and_bound_commit_lines(frozen):
    first = DAY - timedelta(days=6)
    with client(frozen) as api:
        changes = api.get("/analytics/ai-code/changes", params=code_params(first, DAY, pageSize=1000)).json()[
            "items"
        ]
        commits = api.get("/analytics/ai-code/commits", params=code_params(first, DAY, pageSize=1000)).json()[
            "items"
        ]
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(first), "endDate": end_ms(DAY)}
        ).json()["data"]
    assert set(changes[0]) == {
        "changeId",
        "userId",
        "userEmail",
        "source",
        "model",
        "totalLinesAdded",
        "totalLinesDeleted",
        "createdAt",
        "metadata",
    }
    lines = Counter()
    by_source = Counter()
    for ch in changes:
        assert sum(f["linesAdded"] for f in ch["metadata"]) == ch["totalLinesAdded"]
        # by email: daily usage's userId is a number, as documented; AI code's a user_... string
        key = (ch["createdAt"][:10], ch["userEmail"])
        lines[key] += ch["totalLinesAdded"]
        by_source[key + (ch["source"],)] += ch["totalLinesAdded"]
    for r in rows:
        assert lines[(r["day"], r["email"])] == r["acceptedLinesAdded"]
    committed = Counter()
    for c in commits:
        key = (c["commitTs"][:10], c["userEmail"])
        committed[key + ("TAB",)] += c["tabLinesAdded"]
        committed[key + ("COMPOSER",)] += c["composerLinesAdded"]
    assert commits and all(committed[k] <= by_source[k] for k in committed)


def test_amended_commits_repeat_a_hash(make_sim):
    sim = make_sim(now=NOW, users=30, rate_limits=False)
    commits = [c for d in sim.team.history() for c in sim.team.commits(d)]
    assert max(Counter(c["commitHash"] for c in commits).values()) >= 2
    assert {c["isPrimaryBranch"] for c in commits} >= {True, False}
    assert {c["commitSource"] for c in commits} == {"ide", "cli", "cloud"}
    assert len({c["repoName"] for c in commits}) > 3


def test_ai_code_csv(frozen):
    with client(frozen) as api:
        r = api.get("/analytics/ai-code/commits.csv", params=code_params(DAY, DAY))
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        changes = list(
            csv.DictReader(
                io.StringIO(api.get("/analytics/ai-code/changes.csv", params=code_params(DAY, DAY)).text)
            )
        )
    assert [x["commit_hash"] for x in rows] == [c["commitHash"] for c in frozen.team.commits(DAY)]
    assert "commit_source" in rows[0] and "non_ai_lines_added" in rows[0]
    assert list(changes[0]) == [
        "change_id", "user_id", "user_email", "source", "model", "total_lines_added",
        "total_lines_deleted", "created_at", "metadata_json",
    ]  # fmt: skip
    meta = json.loads(changes[0]["metadata_json"])
    assert sum(f["linesAdded"] for f in meta) == int(changes[0]["total_lines_added"])


def test_ai_code_user_filter_and_relative_dates(frozen):
    with client(frozen) as api:
        everything = api.get(
            "/analytics/ai-code/changes", params={"startDate": "7d", "endDate": "now", "pageSize": 1000}
        ).json()
        email = everything["items"][0]["userEmail"]
        user_id = everything["items"][0]["userId"]
        by_email = api.get(
            "/analytics/ai-code/changes",
            params={"startDate": "7d", "endDate": "now", "pageSize": 1000, "user": email},
        ).json()
        by_id = api.get(
            "/analytics/ai-code/changes",
            params={"startDate": "7d", "endDate": "now", "pageSize": 1000, "user": user_id},
        ).json()
        bare = api.get(
            "/analytics/ai-code/changes",
            params={"startDate": DAY.isoformat(), "endDate": DAY.isoformat(), "pageSize": 1000},
        ).json()
    assert by_email == by_id
    assert by_email["items"] == [i for i in everything["items"] if i["userEmail"] == email]
    assert bare["totalCount"] == frozen.ground_truth(DAY)["ai_changes"]["rows"]


def test_etag_304_has_no_body_and_does_not_count(make_sim):
    sim = make_sim(now=NOW, rate_limits={"/analytics/ai-code/commits": 2}, minute_seconds=3600)
    params = code_params(DAY, DAY)
    with client(sim) as api:
        r = api.get("/analytics/ai-code/commits", params=params)
        assert r.headers["cache-control"] == "public, max-age=900"
        etag = r.headers["etag"]
        for _ in range(5):
            again = api.get("/analytics/ai-code/commits", params=params, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
        assert api.get("/analytics/ai-code/commits", params=code_params(DAY, DAY, page=2)).status_code == 200
        limited = api.get("/analytics/ai-code/commits", params=code_params(DAY, DAY, page=3))
        assert limited.status_code == 429
        assert api.get("/teams/members").headers.get("etag") is None  # the Admin API has no ETags
    assert sim.request_count("/analytics/ai-code/commits", status=304) == 5


# --------------------------------------------------------------------------------------------
# Analytics API
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metric",
    ["dau", "models", "agent-edits", "tabs", "client-versions", "top-file-extensions", "mcp", "commands",
     "plans", "skills", "ask-mode"],
)  # fmt: skip
def test_team_analytics_metrics(frozen, metric):
    with client(frozen) as api:
        r = api.get(
            f"/analytics/team/{metric}",
            params={"startDate": (DAY - timedelta(days=6)).isoformat(), "endDate": DAY.isoformat()},
        )
    body = r.json()
    assert r.status_code == 200 and "etag" in r.headers
    assert body["params"] == {
        "metric": "top-files" if metric == "top-file-extensions" else metric,
        "teamId": frozen.team.team_id,
        "startDate": (DAY - timedelta(days=6)).isoformat(),
        "endDate": DAY.isoformat(),
    }
    assert body["data"]
    if metric == "dau":
        row = next(x for x in body["data"] if x["date"] == DAY.isoformat())
        assert set(row) == {"date", "dau", "cli_dau", "cloud_agent_dau", "bugbot_dau"}
        assert row["dau"] == frozen.ground_truth(DAY)["daily_usage"]["active_rows"]


def test_analytics_unknown_metric_and_range(frozen):
    with client(frozen) as api:
        r = api.get("/analytics/team/teleport")
        assert r.status_code == 404 and "teleport" in r.json()["message"]
        assert (
            api.get(
                "/analytics/team/dau", params={"startDate": "2025-01-01", "endDate": "2025-03-01"}
            ).status_code
            == 400
        )
        assert api.get("/analytics/team/dau", params={"startDate": "7d"}).status_code == 200


# --------------------------------------------------------------------------------------------
# Rate limits
# --------------------------------------------------------------------------------------------


def test_rate_limit_429_within_a_window_and_recovery_in_the_next(make_sim):
    sim = make_sim(rate_limits={"/teams/members": 3, "/teams/spend": 3}, minute_seconds=2.0)
    clock = [1_000.0]  # the limiter's windows, moved by hand
    sim.limiter = RateLimiter(sim.limiter.limits, 2.0, clock=lambda: clock[0])
    with client(sim) as api:
        assert [api.get("/teams/members").status_code for _ in range(4)] == [200, 200, 200, 429]
        r = api.get("/teams/members")
        assert r.status_code == 429
        assert r.json() == {
            "error": "Too Many Requests",
            "message": "Rate limit exceeded. Please try again later.",
        }
        assert "retry-after" not in r.headers
        assert api.post("/teams/spend", json={}).status_code == 200  # counters are per endpoint
        clock[0] += 1.99
        assert api.get("/teams/members").status_code == 429  # the same 2-second window
        clock[0] += 0.01
        assert api.get("/teams/members").status_code == 200  # the next one


def test_documented_limits_apply_per_window_of_minute_seconds(sim):
    limits = sim.limiter.limits
    assert limits["/teams/members"] == 20 and limits["/teams/filtered-usage-events"] == 60
    assert limits["/teams/user-spend-limit"] == 250 and limits["/analytics/ai-code/changes.csv"] == 20
    assert sim.limiter.window == 1.0


def test_rate_limits_can_be_off_or_custom(make_sim):
    off = make_sim(rate_limits=False)
    custom = make_sim(rate_limits={"/teams/members": 3}, minute_seconds=3600)
    with client(off) as a, client(custom) as b:
        assert all(a.get("/teams/members").status_code == 200 for _ in range(30))
        assert [b.get("/teams/members").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert all(b.post("/teams/spend", json={}).status_code == 200 for _ in range(30))


# --------------------------------------------------------------------------------------------
# Determinism, ground truth, late data, partial today, scale
# --------------------------------------------------------------------------------------------


def _snapshot(sim: Simulator) -> list[bytes]:
    with client(sim) as api:
        return [
            api.get("/teams/members").content,
            api.post(
                "/teams/daily-usage-data",
                json={"startDate": ms(DAY - timedelta(days=9)), "endDate": end_ms(DAY)},
            ).content,
            api.post(
                "/teams/filtered-usage-events",
                json={
                    "startDate": ms(DAY - timedelta(days=2)),
                    "endDate": end_ms(DAY),
                    "page": 2,
                    "pageSize": 300,
                },
            ).content,
            api.post("/teams/spend", json={}).content,
            api.get("/analytics/ai-code/changes", params=code_params(DAY, DAY)).content,
            api.get("/teams/audit-logs", params={"startTime": ms(DAY), "endTime": end_ms(DAY)}).content,
        ]


def test_same_seed_same_bytes_other_seed_other_data(make_sim):
    a = _snapshot(make_sim(now=NOW, rate_limits=False))
    b = _snapshot(make_sim(now=NOW, rate_limits=False))
    c = _snapshot(make_sim(now=NOW, rate_limits=False, seed=8))
    assert a == b
    assert all(x != y for x, y in zip(a, c))


def test_ground_truth_matches_what_is_served(frozen):
    gt = frozen.ground_truth(DAY)
    with client(frozen) as api:
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["data"]
        events = all_events(api, ms(DAY), end_ms(DAY))
        commits = api.get("/analytics/ai-code/commits", params=code_params(DAY, DAY, pageSize=1000)).json()[
            "items"
        ]
        changes = api.get("/analytics/ai-code/changes", params=code_params(DAY, DAY, pageSize=1000)).json()[
            "items"
        ]
    assert gt["daily_usage"]["rows"] == len(rows)
    assert gt["daily_usage"]["accepted_lines_added"] == sum(r["acceptedLinesAdded"] for r in rows)
    assert gt["daily_usage"]["agent_requests"] == sum(r["agentRequests"] for r in rows)
    ev = gt["usage_events"]
    assert ev["rows"] == len(events)
    assert ev["charged_cents"] == pytest.approx(sum(e["chargedCents"] for e in events))
    assert ev["requests_costs"] == pytest.approx(sum(e["requestsCosts"] for e in events))
    assert ev["input_tokens"] == sum(e["tokenUsage"]["inputTokens"] for e in events if "tokenUsage" in e)
    assert ev["output_tokens"] == sum(e["tokenUsage"]["outputTokens"] for e in events if "tokenUsage" in e)
    assert ev["total_cents"] == pytest.approx(
        sum(e["tokenUsage"]["totalCents"] for e in events if "tokenUsage" in e)
    )
    assert gt["ai_commits"]["rows"] == len(commits)
    assert gt["ai_commits"]["tab_lines_added"] == sum(c["tabLinesAdded"] for c in commits)
    assert gt["ai_commits"]["non_ai_lines_added"] == sum(c["nonAiLinesAdded"] for c in commits)
    assert gt["ai_changes"] == {
        "rows": len(changes),
        "total_lines_added": sum(c["totalLinesAdded"] for c in changes),
        "total_lines_deleted": sum(c["totalLinesDeleted"] for c in changes),
        "files": sum(len(c["metadata"]) for c in changes),
    }


def test_late_data_changes_a_day_and_keeps_the_invariants(frozen):
    before = frozen.ground_truth(DAY)
    other_before = frozen.ground_truth(DAY - timedelta(days=1))
    spend_before = frozen.team.spend_rows()
    frozen.change_day(DAY)
    after = frozen.ground_truth(DAY)
    assert after["revision"] == 1
    assert after["usage_events"] != before["usage_events"]
    assert after["daily_usage"] != before["daily_usage"]
    assert frozen.ground_truth(DAY - timedelta(days=1)) == other_before
    with client(frozen) as api:
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["data"]
        events = all_events(api, ms(DAY), end_ms(DAY))
        changes = api.get("/analytics/ai-code/changes", params=code_params(DAY, DAY, pageSize=1000)).json()[
            "items"
        ]
    assert len(events) == after["usage_events"]["rows"]
    assert sum(c["totalLinesAdded"] for c in changes) == sum(r["acceptedLinesAdded"] for r in rows)
    if frozen.team.cycle_start <= DAY:
        assert frozen.team.spend_rows() != spend_before


def test_today_is_partial(frozen):
    with client(frozen) as api:
        events = all_events(api, ms(TODAY), end_ms(TODAY))
        commits = api.get(
            "/analytics/ai-code/commits", params=code_params(TODAY, TODAY, pageSize=1000)
        ).json()["items"]
    last_hour = ms(TODAY) + NOW.hour * 3_600_000
    assert events and max(int(e["timestamp"]) for e in events) < last_hour
    assert all(c["commitTs"] < f"{TODAY.isoformat()}T{NOW.hour:02d}" for c in commits)
    assert len(events) == frozen.ground_truth(TODAY)["usage_events"]["rows"]
    assert frozen.ground_truth(TODAY + timedelta(days=1))["usage_events"]["rows"] == 0


def test_a_day_of_a_million_events_is_served_page_by_page(make_sim):
    sim = make_sim(now=NOW, users=40, rate_limits=False, events_per_day={DAY: 1_000_000})
    assert sim.ground_truth(DAY)["usage_events"]["rows"] == 1_000_000
    with client(sim) as api:
        body = api.post(
            "/teams/filtered-usage-events",
            json={"startDate": ms(DAY), "endDate": end_ms(DAY), "page": 500, "pageSize": 1000},
        ).json()
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["data"]
    assert body["totalUsageEventsCount"] == 1_000_000 and body["pagination"]["numPages"] == 1000
    assert len(body["usageEvents"]) == 1000
    stamps = [int(e["timestamp"]) for e in body["usageEvents"]]
    assert stamps == sorted(stamps, reverse=True)
    requests = sum(
        r["composerRequests"] + r["chatRequests"] + r["agentRequests"] + r["cmdkUsages"] + r["bugbotUsages"]
        for r in rows
    )
    assert requests == 1_000_000


def test_run_simulator_cli_blocks_until_stopped():
    ready = []
    thread = threading.Thread(
        target=run_simulator_cli,
        kwargs={
            "host": "127.0.0.1",
            "port": 0,
            "seed": 3,
            "users": 5,
            "days": 10,
            "on_ready": ready.append,
            "numeric_ids": True,
        },
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    sim = ready[0]
    members = httpx.get(sim.base_url + "/teams/members", auth=(sim.api_key, "")).json()["teamMembers"]
    assert len(members) == 5 and isinstance(members[0]["id"], int)
    sim.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_request_log(sim):
    with client(sim) as api:
        api.get("/teams/members")
        api.post("/teams/spend", json={"pageSize": 5})
    assert sim.request_count() == 2
    assert sim.request_count("/teams/spend", status=200) == 1
    last = sim.requests[-1]
    assert (last.method, last.path, last.status, last.body) == ("POST", "/teams/spend", 200, {"pageSize": 5})
    sim.reset_requests()
    assert sim.request_count() == 0


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


def test_fault_server_errors_apply_only_after_auth(sim):
    sim.faults = Faults(error_rate=1.0)
    with client(sim) as api:
        r = api.get("/teams/members")
        assert r.status_code == 500 and r.json()["error"] == "Internal Server Error"
    assert httpx.get(sim.base_url + "/teams/members", auth=("crsr_wrong", "")).status_code == 401
    sim.faults = Faults()
    with client(sim) as api:
        assert api.get("/teams/members").status_code == 200


def test_fault_spurious_429_with_retry_after_seconds_or_date(sim):
    sim.faults = Faults(rate_limit_rate=1.0, retry_after=2)
    with client(sim) as api:
        r = api.get("/teams/members")
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        sim.faults = Faults(rate_limit_rate=1.0, retry_after="date")
        r = api.get("/teams/members")
        assert parsedate_to_datetime(r.headers["retry-after"]).tzinfo is not None


def test_fault_dropped_connection(sim):
    sim.faults = Faults(drop_rate=1.0)
    with client(sim) as api, pytest.raises(httpx.TransportError):
        api.get("/teams/members")
    assert sim.requests[-1].fault == "drop" and sim.requests[-1].status == 0


def test_fault_truncated_body(sim):
    sim.faults = Faults(truncate_rate=1.0)
    with client(sim) as api, api.stream("GET", "/teams/members") as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) > 0
        with pytest.raises(httpx.TransportError):
            r.read()


def test_fault_slow_response(sim):
    sim.faults = Faults(slow_rate=1.0, slow_seconds=0.3)
    with client(sim) as api:
        t = time.monotonic()
        assert api.get("/teams/members").status_code == 200
        assert time.monotonic() - t >= 0.3


def test_faults_are_deterministic_given_their_seed(make_sim):
    runs = []
    for _ in range(2):
        sim = make_sim(rate_limits=False, faults=Faults(error_rate=0.3, rate_limit_rate=0.1, seed=5))
        with client(sim) as api:
            runs.append([api.get("/teams/members").status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {200, 500, 429} <= set(runs[0])


# --------------------------------------------------------------------------------------------
# Older variants
# --------------------------------------------------------------------------------------------


def test_variant_max_range_days_90(make_sim):
    sim = make_sim(now=NOW, variants=Variants(max_range_days=90))
    with client(sim) as api:
        assert (
            api.post(
                "/teams/daily-usage-data",
                json={"startDate": ms(TODAY - timedelta(days=89)), "endDate": end_ms(TODAY)},
            ).status_code
            == 200
        )
        r = api.post(
            "/teams/daily-usage-data",
            json={"startDate": ms(TODAY - timedelta(days=90)), "endDate": end_ms(TODAY)},
        )
    assert r.json()["message"] == "Date range cannot exceed 90 days"


def test_variant_numeric_ids(make_sim):
    sim = make_sim(now=NOW, rate_limits=False, variants=Variants(numeric_ids=True))
    with client(sim) as api:
        members = api.get("/teams/members").json()["teamMembers"]
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["data"]
        spend = api.post("/teams/spend", json={}).json()["teamMemberSpend"]
        commits = api.get("/analytics/ai-code/commits", params=code_params(DAY, DAY)).json()["items"]
        by_numeric = api.get(
            "/analytics/ai-code/commits", params=code_params(DAY, DAY, user=commits[0]["userId"])
        ).json()
    for records, key in ((members, "id"), (rows, "userId"), (spend, "userId"), (commits, "userId")):
        assert all(isinstance(r[key], int) and not isinstance(r[key], bool) for r in records)
    assert by_numeric["totalCount"] >= 1 and all(
        c["userId"] == commits[0]["userId"] for c in by_numeric["items"]
    )


def test_variant_members_without_id(make_sim):
    sim = make_sim(variants=Variants(members_without_id=True))
    with client(sim) as api:
        members = api.get("/teams/members").json()["teamMembers"]
    assert members and all(set(m) == {"name", "email", "role"} for m in members)


def test_variant_kind_label_and_legacy_page_size(make_sim):
    sim = make_sim(now=NOW, variants=Variants(kind_label=True, legacy_events_page_size=True))
    with client(sim) as api:
        body = api.post(
            "/teams/filtered-usage-events", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()
    assert body["pagination"]["pageSize"] == 10 and len(body["usageEvents"]) == 10
    assert all("kindLabel" in e and "kind" not in e for e in body["usageEvents"])


def test_variant_empty_strings(make_sim):
    sim = make_sim(now=NOW, variants=Variants(empty_strings=True))
    with client(sim) as api:
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["data"]
        changes = api.get("/analytics/ai-code/changes", params=code_params(DAY, DAY, pageSize=1000)).json()[
            "items"
        ]
    inactive = next(r for r in rows if not r["isActive"])
    assert inactive["mostUsedModel"] == inactive["clientVersion"] == inactive["applyMostUsedExtension"] == ""
    assert all(c["model"] is not None for c in changes) and any(c["model"] == "" for c in changes)


def test_variant_non_midnight_date(make_sim):
    sim = make_sim(now=NOW, variants=Variants(non_midnight_date=True))
    start = ms(DAY - timedelta(days=2)) + 5 * 3_600_000 + 123
    with client(sim) as api:
        rows = api.post("/teams/daily-usage-data", json={"startDate": start, "endDate": end_ms(DAY)}).json()[
            "data"
        ]
    assert all("day" not in r for r in rows)
    assert {r["date"] for r in rows} == {start, start + DAY_MS, start + 2 * DAY_MS}


def test_variant_inactive_without_paging(make_sim):
    sim = make_sim(now=NOW, variants=Variants(inactive_without_paging=True))
    body = {"startDate": ms(DAY), "endDate": end_ms(DAY)}
    with client(sim) as api:
        unpaged = api.post("/teams/daily-usage-data", json=body).json()["data"]
        paged = api.post("/teams/daily-usage-data", json={**body, "page": 1, "pageSize": 100}).json()["data"]
    assert all(r["isActive"] for r in unpaged)
    assert len(unpaged) < len(paged) == sim.ground_truth(DAY)["daily_usage"]["rows"]
    assert len(unpaged) == sim.ground_truth(DAY)["daily_usage"]["unpaged_rows"]


def test_variant_legacy_spend(make_sim):
    sim = make_sim(now=NOW, variants=Variants(legacy_spend=True))
    with client(sim) as api:
        rows = api.post("/teams/spend", json={}).json()["teamMemberSpend"]
    assert all(
        set(r) == {"spendCents", "fastPremiumRequests", "name", "email", "role", "hardLimitOverrideDollars"}
        for r in rows
    )
    assert all(isinstance(r["spendCents"], int) for r in rows)


def test_variant_no_commit_source_and_csv_alt_order(make_sim):
    sim = make_sim(now=NOW)

    def csv_header(api: httpx.Client, kind: str) -> list[str]:
        served = api.get(f"/analytics/ai-code/{kind}.csv", params=code_params(DAY, DAY))
        return served.text.splitlines()[0].split(",")

    with client(sim) as api:
        default_header, default_changes = csv_header(api, "commits"), csv_header(api, "changes")
        sim.variants = Variants(no_commit_source=True, csv_alt_order=True)
        commits = api.get("/analytics/ai-code/commits", params=code_params(DAY, DAY)).json()["items"]
        alt_header, alt_changes = csv_header(api, "commits"), csv_header(api, "changes")
    assert all("commitSource" not in c for c in commits)
    assert set(alt_header) == set(default_header) - {"commit_source"} and alt_header != default_header
    assert set(alt_changes) == set(default_changes) and alt_changes != default_changes


def test_variant_dotted_extensions(make_sim):
    sim = make_sim(now=NOW, variants=Variants(dotted_extensions=True))
    exts = [f["fileExtension"] for c in sim.team.changes(DAY) for f in c["metadata"]]
    assert any(e.startswith(".") for e in exts) and any(not e.startswith(".") for e in exts)


def test_variant_error_status_code(make_sim):
    sim = make_sim(variants=Variants(error_status_code=True))
    r = httpx.get(sim.base_url + "/teams/members", auth=("crsr_wrong", ""))
    assert r.json() == {"error": "Unauthorized", "message": "Invalid API key", "statusCode": 401}


def test_variant_schema_drift_extra_and_dropped_fields(make_sim):
    sim = make_sim(
        now=NOW,
        variants=Variants(
            extra_fields={"usage_events": {"billingRegion": "eu"}, "ai_commits": {"reviewState": "approved"}},
            dropped_fields={"daily_usage": ["clientVersion", "bugbotUsages"]},
        ),
    )
    with client(sim) as api:
        events = api.post(
            "/teams/filtered-usage-events", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["usageEvents"]
        rows = api.post(
            "/teams/daily-usage-data", json={"startDate": ms(DAY), "endDate": end_ms(DAY)}
        ).json()["data"]
        header = api.get("/analytics/ai-code/commits.csv", params=code_params(DAY, DAY)).text.splitlines()[0]
    assert all(e["billingRegion"] == "eu" for e in events)
    assert all("clientVersion" not in r and "bugbotUsages" not in r for r in rows)
    assert "review_state" in header.split(",")


def test_variant_legacy_rate_limits(make_sim):
    sim = make_sim(variants=Variants(legacy_rate_limits=True), minute_seconds=3600)
    with client(sim) as api:
        statuses = [
            api.get("/analytics/ai-code/commits", params={"page": p}).status_code for p in range(1, 7)
        ]
    assert statuses == [200] * 5 + [429]


def test_legacy_variants_all_on():
    v = Variants.legacy()
    assert v.max_range_days == 90
    assert all(getattr(v, name) for name in Variants.flag_names())
    assert Variants.legacy(numeric_ids=False).numeric_ids is False
