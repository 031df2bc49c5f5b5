"""Cursor's own documented example responses (cursor_analytics_tests/fixtures/) against our code.

1. The documented payloads, served over loopback by a small server that answers with them, go
   through the real client and raw assets into DuckDB and on into the metric tables, and the
   numbers are asserted exactly: the "Included in Business" event (`isChargeable: false`,
   `chargedCents: 8`) is included usage, not billed spend.
2. The simulator's answers are compared with every documented example it serves, key by key
   and type by type, so the simulator cannot drift from the docs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import httpx
import pytest

from cursor_analytics.defs.partitions import range_tags
from cursor_analytics.defs.resources import CursorApiResource, WarehouseResource
from cursor_analytics.simulator import Simulator, Variants
from cursor_analytics.warehouse.finality import as_of_tags
from cursor_analytics_tests.fixtures import FIXTURES, load, load_text
from cursor_analytics_tests.support import ALL_ASSETS, query

# --- 1. documented payloads through the client, the raw assets and the metrics ------------------

EVENTS = load("admin_filtered_usage_events")["response"]["usageEvents"]
DAILY = load("admin_daily_usage_data_paginated")["response"]["data"]
GET = {
    "/teams/members": load("admin_teams_members")["response"],
    "/settings/repo-blocklists/repos": load("admin_repo_blocklists")["response"],
}
# AI Code Tracking items and the field that dates them.
AI_CODE = {
    "/analytics/ai-code/commits": (load("ai_code_commits")["response"]["items"], "commitTs"),
    "/analytics/ai-code/changes": (load("ai_code_changes")["response"]["items"], "createdAt"),
}
CODE_DAY = date(2025, 7, 30)  # the day of the documented commit and change
# The day of the documented usage events (all three on 2025-06-26 UTC).
EVENTS_DAY = date(2025, 6, 26)
AS_OF = datetime(2025, 6, 27, 12, tzinfo=UTC)


def _one_page(records_key: str, records: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """The documented records of the requested window, as the only page of the answer."""
    period = {"startDate": body["startDate"], "endDate": body["endDate"]}
    if records_key == "usageEvents":
        return {
            "totalUsageEventsCount": len(records),
            "pagination": {
                "numPages": 1,
                "currentPage": 1,
                "pageSize": body.get("pageSize", 100),
                "hasNextPage": False,
                "hasPreviousPage": False,
            },
            "usageEvents": records,
            "period": period,
        }
    return {
        "data": records,
        "period": period,
        "pagination": {
            "page": 1,
            "pageSize": body.get("pageSize", 100),
            "totalUsers": len({r["email"] for r in records}),
            "totalPages": 1,
            "hasNextPage": False,
            "hasPreviousPage": False,
        },
    }


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _DocumentedApi(BaseHTTPRequestHandler):
    """Answers with the documented examples; ranged endpoints with the documented records whose
    time falls in the requested window."""

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = httpx.URL(self.path)
        if url.path in AI_CODE:
            items, field = AI_CODE[url.path]
            lo, hi = (_iso(url.params[k]) for k in ("startDate", "endDate"))
            hits = [i for i in items if lo <= _iso(i[field]) <= hi]
            page_size = int(url.params.get("pageSize", 100))
            self._send(200, {"items": hits, "totalCount": len(hits), "page": 1, "pageSize": page_size})
        elif url.path in GET:
            self._send(200, GET[url.path])
        else:
            self._send(404, {"error": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        lo, hi = body.get("startDate"), body.get("endDate")
        if self.path == "/teams/filtered-usage-events":
            events = [e for e in EVENTS if lo <= int(e["timestamp"]) <= hi]
            self._send(200, _one_page("usageEvents", events, body))
        elif self.path == "/teams/daily-usage-data":
            self._send(200, _one_page("data", [r for r in DAILY if lo <= r["date"] <= hi], body))
        elif self.path == "/teams/spend":
            self._send(200, load("admin_spend")["response"])
        else:
            self._send(404, {"error": "Not Found"})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def documented_db(tmp_path_factory) -> Iterator[Any]:
    """The documented usage events' day, then the documented snapshots, loaded by the real
    assets from the documented answers (as of the day after the events)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DocumentedApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    db = tmp_path_factory.mktemp("documented") / "cursor.duckdb"
    res = {
        "cursor_api": CursorApiResource(
            api_key="crsr_" + "d" * 48,
            base_url=f"http://127.0.0.1:{server.server_port}",
            backoff_base_seconds=0.01,
        ),
        "duckdb": WarehouseResource(database=str(db)),
    }
    keys = [
        ["raw", "daily_usage"],
        ["raw", "usage_events"],
        ["analytics", "user_daily_metrics"],
        ["analytics", "team_daily_metrics"],
        ["analytics", "model_usage_daily"],
    ]
    try:
        dg.materialize(
            ALL_ASSETS,
            selection=[dg.AssetKey(k) for k in keys],
            resources=res,
            tags={**range_tags(EVENTS_DAY, EVENTS_DAY), **as_of_tags(AS_OF)},
        )
        code = [["raw", "ai_commits"], ["raw", "ai_changes"], ["analytics", "ai_code_share_daily"]]
        dg.materialize(
            ALL_ASSETS,
            selection=[dg.AssetKey(k) for k in code],
            resources=res,
            tags={**range_tags(CODE_DAY, CODE_DAY), **as_of_tags(AS_OF)},
        )
        snapshots = [
            ["raw", "team_members"],
            ["raw", "spend_snapshots"],
            ["analytics", "spend_per_user"],
            ["analytics", "seat_utilization"],
        ]
        dg.materialize(
            ALL_ASSETS, selection=[dg.AssetKey(k) for k in snapshots], resources=res, tags=as_of_tags(AS_OF)
        )
        yield db
    finally:
        server.shutdown()
        thread.join()


# The documented figures, written out: chargeable events 21.36232 + 37.33 (developer@), the
# "Included in Business" event 8 (admin@).
DEVELOPER_BILLED = 21.36232 + 37.33
ADMIN_INCLUDED = 8


def test_documented_events_land_as_sent(documented_db):
    rows = query(
        documented_db,
        "SELECT user_email, kind, is_chargeable, charged_cents, requests_costs, model, day "
        'FROM raw.usage_events ORDER BY "timestamp" DESC',
    )
    assert rows == [
        ("developer@company.com", "Usage-based", True, 21.36232, 5.0, "claude-4.5-sonnet", EVENTS_DAY),
        ("developer@company.com", "Usage-based", True, 37.33, 10.0, "claude-4.5-sonnet", EVENTS_DAY),
        (
            "admin@company.com",
            "Included in Business",
            False,
            8.0,
            1.4,
            "claude-4-sonnet-thinking",
            EVENTS_DAY,
        ),
    ]


def test_billed_cents_exclude_the_included_event_per_user_and_team_day(documented_db):
    users = query(
        documented_db,
        "SELECT email, is_active, usage_events, billed_cents, included_usage_cents, total_usage_cents, "
        "most_used_model FROM analytics.user_daily_metrics WHERE day = ? ORDER BY email",
        [EVENTS_DAY],
    )
    assert users == [
        ("admin@company.com", True, 1, 0, ADMIN_INCLUDED, ADMIN_INCLUDED, "claude-4-sonnet-thinking"),
        ("developer@company.com", True, 2, DEVELOPER_BILLED, 0, DEVELOPER_BILLED, "claude-4.5-sonnet"),
    ]
    team = query(
        documented_db,
        "SELECT active_users, billed_cents, included_usage_cents, total_usage_cents, "
        "spend_per_active_user_cents FROM analytics.team_daily_metrics WHERE day = ?",
        [EVENTS_DAY],
    )
    assert team == [
        (2, DEVELOPER_BILLED, ADMIN_INCLUDED, DEVELOPER_BILLED + ADMIN_INCLUDED, DEVELOPER_BILLED / 2)
    ]
    # the old `charged_cents` counted the included event as spend: about 13.6% too high
    assert pytest.approx(1.1363, abs=1e-4) == (DEVELOPER_BILLED + ADMIN_INCLUDED) / DEVELOPER_BILLED
    models = query(
        documented_db,
        "SELECT model, requests, billed_cents, included_usage_cents, token_cost_cents, request_share "
        "FROM analytics.model_usage_daily WHERE day = ? ORDER BY model",
        [EVENTS_DAY],
    )
    assert models == [
        ("claude-4-sonnet-thinking", 1, 0, ADMIN_INCLUDED, None, 1 / 3),
        ("claude-4.5-sonnet", 2, DEVELOPER_BILLED, 0, 20.18232 + 40.167, 2 / 3),
    ]


def test_documented_spend_and_members_give_cycle_figures_and_billable_seats(documented_db):
    spend = query(
        documented_db,
        "SELECT email, role, spend_cents, overall_spend_cents, cycle_billed_cents, "
        "cycle_included_usage_cents, cycle_usage_events, cycle_start, projected_cycle_spend_cents "
        "FROM analytics.spend_per_user ORDER BY email",
    )
    cycle_start = datetime(2024, 2, 27)  # subscriptionCycleStart 1708992000000
    # The documented cycle started in 2024 and ended long before the documented events: the
    # projection to its end is the spend so far, never less.
    assert spend == [
        ("admin@company.com", "owner", 1875.500123, 3200.750456, 0, ADMIN_INCLUDED, 1, cycle_start, 1875.500123),
        ("developer@company.com", "member", 2450.125487, 2450.125487, DEVELOPER_BILLED, 0, 2, cycle_start, 2450.125487),
    ]  # fmt: skip
    seats = query(
        documented_db,
        "SELECT email, role, is_billable_seat, idle_28d FROM analytics.seat_utilization ORDER BY email",
    )
    assert seats == [
        ("admin@company.com", "owner", True, True),
        ("developer@company.com", "member", True, True),
    ]


def test_documented_commit_and_change_give_the_ai_share_of_committed_lines(documented_db):
    commits = query(
        documented_db,
        "SELECT day, commit_hash, user_id, user_email, repo_name, is_primary_branch, commit_source, "
        "total_lines_added, tab_lines_added, composer_lines_added, non_ai_lines_added FROM raw.ai_commits",
    )
    assert commits == [
        (
            CODE_DAY,
            "a1b2c3d4",
            "user_3k9x8q...",
            "developer@company.com",
            "company/repo",
            True,
            "ide",
            120,
            50,
            40,
            30,
        )
    ]
    changes = query(
        documented_db, "SELECT day, change_id, source, model, total_lines_added FROM raw.ai_changes"
    )
    assert changes == [(CODE_DAY, "749356201", "COMPOSER", None, 18)]
    files = query(
        documented_db,
        "SELECT file_name, file_extension, lines_added FROM raw.ai_change_files ORDER BY file_name",
    )
    assert files == [("src/analytics/report.ts", "ts", 12), ("src/analytics/ui.tsx", "tsx", 6)]
    share = query(
        documented_db,
        "SELECT day, email, repo_name, commits, ai_lines_added, total_lines_added, ai_share, "
        "primary_ai_lines_added, primary_total_lines_added, primary_ai_share FROM analytics.ai_code_share_daily",
    )
    # tab 50 + composer 40 of 120 lines added, on the primary branch
    assert share == [(CODE_DAY, "developer@company.com", "company/repo", 1, 90, 120, 0.75, 90, 120, 0.75)]


# --- 2. the simulator against every documented example it serves --------------------------------

# The Analytics API's examples key records by email and by model name: test_analytics_api.py
# compares them (and their older shapes) with a comparison that knows those maps.
ANALYTICS_FOR_ISSUE_15 = sorted(n for n in FIXTURES if n.startswith("analytics_"))
NOT_SERVED = {
    **{
        n: "billing-group writes: not served by the simulator"
        for n in FIXTURES
        if n.startswith("admin_group") and n != "admin_groups"
    },
    "ai_code_commit_details": "commit details (limited alpha): not served by the simulator",
    "admin_repo_blocklists_delete": "204 without a body: nothing to compare",
    "admin_user_spend_limit_error": "error body with no documented request",
    "admin_filtered_usage_events_service_account": "filtered by a documented service account id",
    "admin_filtered_usage_events__is_free_bugbot": "early-2026 shape (isFreeBugbot): not simulated",
    "admin_filtered_usage_events__no_charged_cents": "2025 shape (no chargedCents): not simulated",
    "admin_daily_usage_data__no_user_id": "2025 shape (no userId, no day): not simulated",
    "admin_audit_logs__no_ip_address": "2025 shape (no ip_address): not simulated",
    "ai_code_commits__no_commit_source.csv": "covered by ai_code_commits__no_commit_source",
}
# Older documented shapes the simulator serves under a variant.
VARIANT_OF = {
    "admin_teams_members__numeric_id": {"numeric_ids": True},
    "admin_teams_members__no_id": {"members_without_id": True},
    "admin_spend__numeric_user_id": {"numeric_ids": True},
    "admin_spend__basic_fields": {"legacy_spend": True},
    "ai_code_commits__no_commit_source": {"no_commit_source": True},
}
# Requests the docs describe only by their error message.
ERROR_REQUESTS = {
    "admin_remove_member_error_not_member": {"email": "nobody@company.com"},
    "admin_remove_member_error_no_identifier": {},
    "admin_remove_member_error_both_identifiers": {"userId": "user_x", "email": "a@company.com"},
}
# Documented as optional or free-form: "fileName (omitted in privacy mode)", "event_data (object,
# free-form)".
OPTIONAL_KEYS = {"fileName"}
FREE_FORM_KEYS = {"event_data"}
# Typed `... | null` by the docs although their examples print a value (FINDINGS.md).
NULLABLE_KEYS = {
    "mostUsedModel", "applyMostUsedExtension", "tabMostUsedExtension", "clientVersion",
    "monthlyLimitDollars", "repoName", "branchName", "isPrimaryBranch", "nonAiLinesAdded",
    "nonAiLinesDeleted", "message", "commitTs", "model",
}  # fmt: skip
# Known, stated deviations of the simulator (key: why).
DEVIATIONS = {
    "effectivePerUserLimitDollars": "null for a member without any limit: the docs' example "
    "shows a team-wide default (50) that no documented field or setting gives, so the simulator "
    "has none",
}
COMPARED = sorted(
    n for n in FIXTURES if n not in NOT_SERVED and n not in ANALYTICS_FOR_ISSUE_15 and not n.endswith(".csv")
) + sorted(n for n in FIXTURES if n.endswith(".csv") and n not in NOT_SERVED)

TODAY = date(2025, 6, 20)
# Query/body values naming the docs' own people or pages, replaced so the simulator has data.
PEOPLE_FILTERS = {"email", "users", "userId", "user", "searchTerm"}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", dict: "object", list: "array"}[type(value)]


def shape_mismatches(documented: Any, served: Any, where: str = "$") -> list[str]:
    """Where `served` lacks a documented key or has a documented key with another JSON type.

    Lists of records: a key of every documented record must be in every served record, a key of
    some documented records in at least one; a documented null accepts any type, a served null
    only where the docs print null for that key too."""
    if isinstance(documented, dict):
        if not isinstance(served, dict):
            return [f"{where}: documented object, served {json_type(served)}"]
        out = []
        for key, value in documented.items():
            if key not in served:
                out.append(f"{where}.{key}: documented, not served")
            elif key not in FREE_FORM_KEYS:
                out += shape_mismatches(value, served[key], f"{where}.{key}")
        return out
    if isinstance(documented, list):
        if not isinstance(served, list):
            return [f"{where}: documented array, served {json_type(served)}"]
        if not documented or not all(isinstance(d, dict) for d in documented):
            kinds = {json_type(d) for d in documented}
            return [
                f"{where}[]: served {json_type(s)}" for s in served if kinds and json_type(s) not in kinds
            ]
        if not served:
            return [f"{where}: documented records, served none"]
        return _records(documented, served, where)
    if documented is None or json_type(served) == json_type(documented):
        return []
    return [f"{where}: documented {json_type(documented)}, served {json_type(served)}"]


def _records(documented: list[dict[str, Any]], served: list[Any], where: str) -> list[str]:
    out: list[str] = []
    keys = {k for d in documented for k in d} - OPTIONAL_KEYS
    for key in sorted(keys):
        values = [d[key] for d in documented if key in d]
        nullable = key in NULLABLE_KEYS or key in DEVIATIONS or any(v is None for v in values)
        present = [s[key] for s in served if isinstance(s, dict) and key in s]
        if len(values) == len(documented) and len(present) < len(served):
            out.append(
                f"{where}[].{key}: in every documented record, missing in {len(served) - len(present)} served"
            )
        if not present:
            out.append(f"{where}[].{key}: documented, in no served record")
            continue
        if key in FREE_FORM_KEYS:
            continue
        typed = [v for v in values if v is not None]
        if not typed:
            continue
        if isinstance(typed[0], (dict, list)):
            merged = typed if isinstance(typed[0], dict) else [x for v in typed for x in v]
            sample = present if isinstance(typed[0], dict) else [x for v in present if v for x in v]
            if isinstance(typed[0], dict):
                out += _records(merged, [p for p in sample if p is not None], f"{where}[].{key}")
            elif merged and sample:
                out += shape_mismatches(merged, sample, f"{where}[].{key}")
            continue
        kinds = {json_type(v) for v in typed}
        for value in present:
            if value is None and nullable:
                continue
            if json_type(value) not in kinds:
                out.append(
                    f"{where}[].{key}: documented {'/'.join(sorted(kinds))}, served {json_type(value)}"
                )
                break
    return out


def _adapt(name: str, fixture: dict[str, Any], sim: Simulator) -> tuple[str, dict[str, Any] | None]:
    """The documented request, pointed at the simulator's team: its history instead of the
    docs' dates, no filters naming the docs' people, the first page, large pages."""
    if name in ERROR_REQUESTS:
        return fixture["path"], ERROR_REQUESTS[name]
    request = dict(fixture["request"] or {})
    members = [m for m in sim.team.members() if m["role"] == "member" and not m.get("isRemoved")]
    if "userEmail" in request:
        request["userEmail"] = members[0]["email"]
    if fixture["path"] == "/teams/remove-member":
        return fixture["path"], {"email": members[-1]["email"]}
    for key in PEOPLE_FILTERS & set(request):
        del request[key]
    end = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    start = end - timedelta(days=6)
    for key, when in (("startDate", start), ("endDate", end), ("startTime", start), ("endTime", end)):
        if key in request:
            request[key] = (
                when.date().isoformat() if isinstance(request[key], str) else int(when.timestamp() * 1000)
            )
    if fixture["path"] == "/teams/audit-logs":
        request["startTime"], request["endTime"] = start.date().isoformat(), end.date().isoformat()
    if "page" in request:
        request["page"] = 1
    if "pageSize" in request:
        request["pageSize"] = 500
    return fixture["path"], request


def _served(name: str, sim: Simulator) -> httpx.Response:
    fixture = load(name.removesuffix(".csv").removesuffix(".json"))
    path, request = _adapt(name, fixture, sim)
    if name.endswith(".csv"):
        path += ".csv"
    method = fixture["method"]
    with httpx.Client(base_url=sim.base_url, auth=(sim.api_key, ""), timeout=30) as api:
        if method == "GET":
            return api.get(path, params=request)
        return api.request(method, path, json=request)


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Simulator]]:
    """The simulator with the current docs' shapes, and one per older variant compared."""
    made: dict[str, Simulator] = {}
    try:
        for key, flags in [
            ("current", {}),
            *((json.dumps(f, sort_keys=True), f) for f in VARIANT_OF.values()),
        ]:
            if key not in made:
                made[key] = Simulator(
                    seed=3, users=12, days=14, today=TODAY, minute_seconds=1.0, rate_limits=False,
                    variants=Variants(**flags),
                ).start()  # fmt: skip
        yield made
    finally:
        for sim in made.values():
            sim.stop()


@pytest.mark.parametrize("name", COMPARED)
def test_the_simulator_serves_every_documented_field_in_its_documented_type(sims, name):
    flags = VARIANT_OF.get(name.removesuffix(".csv"))
    sim = sims[json.dumps(flags, sort_keys=True) if flags else "current"]
    served = _served(name, sim)
    if name.endswith(".csv"):
        documented = load_text(name).splitlines()[0].split(",")
        header = served.text.splitlines()[0].split(",")
        assert served.status_code == 200
        assert sorted(set(documented) - set(header)) == []
        return
    fixture = load(name)
    if fixture["status"] is not None:
        assert served.status_code == fixture["status"], served.text[:300]
    else:
        assert served.status_code >= 400, served.text[:300]
    assert shape_mismatches(fixture["response"], served.json()) == []


def test_the_comparison_fails_on_a_missing_or_retyped_field():
    documented = load("admin_filtered_usage_events")["response"]
    retyped = json.loads(json.dumps(documented))
    retyped["usageEvents"][0]["chargedCents"] = "21.36"
    del retyped["usageEvents"][2]["isChargeable"]
    assert shape_mismatches(documented, documented) == []
    assert shape_mismatches(documented, retyped) == [
        "$.usageEvents[].chargedCents: documented number, served string",
        "$.usageEvents[].isChargeable: in every documented record, missing in 1 served",
    ]


def test_audit_event_types_are_documented_ones(sims):
    documented = {
        "login",
        "logout",
        "add_user",
        "remove_user",
        "update_user_role",
        "team_settings",
        "mcp_server_config",
        "team_api_key",
        "user_api_key",
        "privacy_mode",
        "user_spend_limit",
        "team_rule",
        "team_repo",
        "team_hook",
        "team_command",
    }  # fmt: skip (FINDINGS.md, GET /teams/audit-logs, eventTypes)
    sim = sims["current"]
    with httpx.Client(base_url=sim.base_url, auth=(sim.api_key, ""), timeout=30) as api:
        events = api.get(
            "/teams/audit-logs", params={"startTime": "2025-06-01", "endTime": "2025-06-20", "pageSize": 500}
        ).json()["events"]
    served = {e["event_type"] for e in events}
    assert len(served) >= 5
    assert served <= documented
