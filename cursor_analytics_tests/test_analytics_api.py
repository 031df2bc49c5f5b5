"""Cursor's Analytics API and billing groups, end to end.

- The client reads every documented example (served as printed by a local server) into the
  documented field names.
- The simulator answers in the documented shapes (key by key, type by type against the same
  examples), keeps its numbers consistent with its daily usage, accepts the docs' own 31-day
  example range, pages by-user data and the leaderboard, and refuses a key without access.
- The raw assets land every metric in raw.analytics_<metric> (a 90-day backfill costs 3 requests
  per team endpoint), the metrics derive from them, and the WARN checks name disagreeing days.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import httpx
import pytest

from cursor_analytics.cursor_api import (
    BY_USER_METRICS,
    FIELDS,
    TEAM_METRICS,
    CursorClient,
    InsufficientAccessError,
    analytics_record_type,
)
from cursor_analytics.definitions import defs
from cursor_analytics.defs.ingestion import analytics as raw_analytics
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.metrics import analytics as analytics_metrics
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.simulator import Simulator, Variants
from cursor_analytics.warehouse.tables import ANALYTICS_BY_USER_TABLES, ANALYTICS_TABLES
from cursor_analytics_tests.fixtures import FIXTURES, load
from cursor_analytics_tests.support import ALL_ASSETS, query, range_tags, resources

TODAY = date(2025, 6, 30)
ANALYTICS_FIXTURES = sorted(
    name
    for name in FIXTURES
    if name.startswith(("analytics_team_", "analytics_by_user_"))
    and (
        name.split("__")[0]
        .removeprefix("analytics_team_")
        .removeprefix("analytics_by_user_")
        .replace("_", "-")
    )
    in TEAM_METRICS
)


def client_for(base_url: str, key: str = "crsr_" + "x" * 40, **kwargs: Any) -> CursorClient:
    return CursorClient(key, base_url=base_url, rate_limits={}, backoff_base_seconds=0.001, **kwargs)


class FixtureServer:
    """Serves each documented example at its documented path, exactly as printed."""

    def __init__(self, names: list[str]) -> None:
        bodies = {load(n)["path"]: json.dumps(load(n)["response"]).encode() for n in names}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = bodies.get(urlsplit(self.path).path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def documented_rows(name: str) -> list[dict[str, Any]]:
    """The example's rows as the client should see them: by-user rows with their email,
    models flattened per model, leaderboard rows per board."""
    response = load(name)["response"]
    data = response["data"]
    if "leaderboard" in name:
        return [{**r, "board": b} for b in ("tab", "agent") for r in data[f"{b}_leaderboard"]["data"]]
    if isinstance(data, dict):
        data = [{**r, "email": email} for email, rows in data.items() for r in rows]
    if "models" in name:
        return [
            {"date": r["date"], "model": m, **counts, **({"email": r["email"]} if "email" in r else {})}
            for r in data
            for m, counts in r["model_breakdown"].items()
        ]
    return data


@pytest.mark.parametrize("name", ANALYTICS_FIXTURES)
def test_the_client_reads_every_documented_example(name):
    server = FixtureServer([name])
    doc = load(name)
    metric = doc["path"].rsplit("/", 1)[1]
    by_user = "/by-user/" in doc["path"]
    try:
        client = client_for(server.base_url)
        read = client.analytics_by_user if by_user else client.team_analytics
        page = next(iter(read(metric, date(2025, 1, 1), date(2025, 1, 30))))  # the documented page
    finally:
        server.close()
    record_type = (
        "analytics_leaderboard" if metric == "leaderboard" else analytics_record_type(metric, by_user)
    )
    columns = FIELDS[record_type]
    expected = documented_rows(name)
    assert len(page.records) == len(expected) > 0
    legacy = {"suggested_lines": "total_lines_suggested", "accepted_lines": "total_lines_accepted"}
    for record, row in zip(page.records, expected):
        assert set(record) == {*columns, "raw"}
        for key, value in row.items():
            column = legacy.get(key, key)
            assert column in columns, f"{name}: documented field {key!r} has no column"
            got = record[column]
            assert (got.isoformat() if isinstance(got, date) else got) == value, (name, key)
    if by_user:  # each row knows its member's id, from params.userMappings
        ids = {m["email"]: m["id"] for m in doc["response"]["params"]["userMappings"]}
        assert all(r["user_id"] == ids[r["email"]] for r in page.records)
    if metric == "leaderboard" or by_user:
        assert page.total_pages == doc["response"]["pagination"]["totalPages"]


def test_the_client_reads_the_documented_billing_groups():
    server = FixtureServer(["admin_groups"])
    try:
        groups = client_for(server.base_url).billing_groups()
    finally:
        server.close()
    doc = load("admin_groups")["response"]
    assert [g["group_id"] for g in groups.records] == [
        g["id"] for g in [*doc["groups"], doc["unassignedGroup"]]
    ]
    engineering = groups.records[0]
    assert engineering["name"] == "Engineering" and engineering["member_count"] == 12
    assert engineering["spend_cents"] == 245000 and engineering["directory_group_id"] is None
    assert engineering["daily_spend"] == [
        {"date": "2025-01-15", "spendCents": 8500},
        {"date": "2025-01-16", "spendCents": 9200},
    ]
    assert engineering["current_members"][0]["email"] == "alex@company.com"
    assert groups.extra["cycle_start"].date() == date(2025, 1, 1)


# --- the simulator against the documented examples -----------------------------------------------


def shape(value: Any, dynamic: bool = False) -> Any:
    """The JSON type structure of a value: numbers are one type, null matches anything, maps
    keyed by data (emails, model names) are compared by the shape of their values."""
    if isinstance(value, dict):
        if dynamic:
            return ("map", shape(next(iter(value.values()))) if value else None)
        return {
            k: shape(v, k in ("model_breakdown",) or (k == "data" and _by_email(v))) for k, v in value.items()
        }
    if isinstance(value, list):
        return ("list", shape(value[0]) if value else None)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return None if value is None else type(value).__name__


def _by_email(value: Any) -> bool:
    return isinstance(value, dict) and all("@" in k for k in value)


def same_shape(documented: Any, served: Any, where: str = "") -> None:
    if documented is None or served is None:
        return  # nullable, or an empty list on one side
    if isinstance(documented, dict):
        assert isinstance(served, dict), where
        assert set(served) == set(documented), f"{where}: keys {sorted(served)} != {sorted(documented)}"
        for key in documented:
            same_shape(documented[key], served[key], f"{where}.{key}")
    elif isinstance(documented, tuple):
        assert isinstance(served, tuple) and served[0] == documented[0], where
        same_shape(documented[1], served[1], where + "[]")
    else:
        assert served == documented, f"{where}: {served} != {documented}"


CURRENT_EXAMPLES = [n for n in ANALYTICS_FIXTURES if "__" not in n] + ["admin_groups"]
OLDER_EXAMPLES = [n for n in ANALYTICS_FIXTURES if "__" in n]  # served under Variants(legacy_analytics=True)


@pytest.fixture(scope="module")
def served():
    """Two small simulators (current docs, and the late-2025 Analytics API) answering each
    documented example's path over 10 days with data."""
    answers = {}
    for legacy, names in ((False, CURRENT_EXAMPLES), (True, OLDER_EXAMPLES)):
        with Simulator(
            seed=3,
            users=6,
            days=20,
            today=TODAY,
            rate_limits=False,
            variants=Variants(legacy_analytics=legacy),
        ) as sim:
            params = {"startDate": (TODAY - timedelta(days=10)).isoformat(), "endDate": TODAY.isoformat()}
            with httpx.Client(base_url=sim.base_url, auth=(sim.api_key, "")) as http:
                answers.update({n: http.get(load(n)["path"], params=params).json() for n in names})
    return answers


@pytest.mark.parametrize("name", CURRENT_EXAMPLES + OLDER_EXAMPLES)
def test_the_simulator_answers_in_the_documented_shape(served, name):
    documented, answer = load(name)["response"], served[name]
    same_shape(shape(documented), shape(answer), name)
    if isinstance(answer.get("data"), list):  # every row, not only the first
        for row in answer["data"]:
            same_shape(shape(documented["data"][0]), shape(row), name)
    assert answer.get("params", {}).get("metric") == documented.get("params", {}).get("metric")


# --- the simulator's numbers ---------------------------------------------------------------------


def test_the_simulator_is_consistent_with_its_daily_usage(make_sim):
    sim = make_sim(seed=3, users=8, days=20, today=TODAY, rate_limits=False)
    client = client_for(sim.base_url, sim.api_key, analytics_page_size=3)
    first, last = TODAY - timedelta(days=6), TODAY - timedelta(days=1)

    def rows(pages):
        return [r for p in pages for r in p.records]

    dau = {r["date"]: r for r in rows(client.team_analytics("dau", first, last))}
    tabs = {r["event_date"]: r for r in rows(client.team_analytics("tabs", first, last))}
    edits = {r["event_date"]: r for r in rows(client.team_analytics("agent-edits", first, last))}
    for day in (first + timedelta(days=i) for i in range(6)):
        usage = sim.team.daily_usage(day)
        assert dau[day]["dau"] == sim.ground_truth(day)["daily_usage"]["active_rows"]
        assert dau[day]["cli_dau"] + dau[day]["cloud_agent_dau"] <= 2 * dau[day]["dau"]
        if not dau[day]["dau"]:  # nobody active: no tab or agent-edit row that day
            assert day not in tabs and day not in edits
            continue
        assert tabs[day]["total_suggestions"] == sum(u["totalTabsShown"] for u in usage)
        assert tabs[day]["total_accepts"] == sum(u["totalTabsAccepted"] for u in usage)
        assert edits[day]["total_accepted_diffs"] == sum(u["totalAccepts"] for u in usage)
        for r in (tabs[day], edits[day]):  # the documented identities of the line fields
            assert (
                r["total_lines_accepted"] == r["total_green_lines_accepted"] + r["total_red_lines_accepted"]
            )
            assert (
                r["total_lines_suggested"]
                == r["total_green_lines_suggested"] + r["total_red_lines_suggested"]
            )
    # by-user rows add up to the team's, read 3 users a page (8 users: 3 pages per chunk)
    for metric, key, value in (
        ("tabs", ("event_date",), "total_accepts"),
        ("mcp", ("event_date", "tool_name"), "usage"),
    ):
        team = {tuple(r[k] for k in key): r[value] for r in rows(client.team_analytics(metric, first, last))}
        pages = list(client.analytics_by_user(metric, first, last))
        assert len(pages) == pages[0].total_pages > 1
        per_user: dict[tuple, int] = {}
        for r in rows(pages):
            per_user[tuple(r[k] for k in key)] = per_user.get(tuple(r[k] for k in key), 0) + r[value]
        assert per_user == team
    # `users` restricts the team numbers to those members: one member's team rows are their by-user rows
    member = rows(client.analytics_by_user("tabs", first, last))[0]
    mine = rows(client.team_analytics("tabs", first, last, users=[member["email"]]))
    by_user_rows = rows(client.analytics_by_user("tabs", first, last, users=member["user_id"]))
    assert [r["raw"] for r in mine] == [
        {k: v for k, v in r["raw"].items() if k not in ("email", "user_id")} for r in by_user_rows
    ]
    board = rows(client.team_analytics("leaderboard", first, last))
    assert [r["rank"] for r in board if r["board"] == "tab"] == list(range(1, len(board) // 2 + 1))
    # the docs' own example range (31 days, 2025-01-01..2025-01-31) is accepted, one more day is not
    with httpx.Client(base_url=sim.base_url, auth=(sim.api_key, "")) as http:
        ok = http.get("/analytics/team/dau", params={"startDate": "2025-01-01", "endDate": "2025-01-31"})
        too_long = http.get(
            "/analytics/team/dau", params={"startDate": "2025-01-01", "endDate": "2025-02-01"}
        )
    assert ok.status_code == 200 and len(ok.json()["data"]) == 31
    assert too_long.status_code == 400 and "30 days" in too_long.json()["message"]


def test_etags_and_a_key_without_analytics_access(make_sim):
    sim = make_sim(seed=3, users=4, days=10, today=TODAY, rate_limits=False)
    client = client_for(sim.base_url, sim.api_key)
    day = TODAY - timedelta(days=1)
    first = list(client.team_analytics("dau", day, day))
    again = list(client.team_analytics("dau", day, day))
    assert again[0].not_modified and again[0].records == first[0].records
    assert sim.request_count("/analytics/team/dau", status=304) == 1
    refusing = make_sim(seed=3, users=4, days=10, today=TODAY, rate_limits=False, enterprise=False)
    denied = client_for(refusing.base_url, refusing.api_key)
    for read in (
        lambda: list(denied.team_analytics("tabs", day, day)),
        lambda: list(denied.analytics_by_user("tabs", day, day)),
        denied.billing_groups,
    ):
        with pytest.raises(InsufficientAccessError):
            read()
    with pytest.raises(ValueError, match="dau"):  # no by-user dau is documented
        client.analytics_by_user("dau", day, day)


def test_a_key_without_analytics_access_leaves_the_assets_unmaterialized_and_the_run_green(
    make_sim, tmp_path
):
    refusing = make_sim(seed=3, users=4, days=10, today=TODAY, enterprise=False)
    day = TODAY - timedelta(days=1)
    result = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(
            raw_analytics.team_analytics_assets["dau"], raw_analytics.billing_groups
        ),
        resources=resources(refusing, tmp_path / "cursor.duckdb"),
        tags=range_tags(day, day),
    )
    assert result.success
    assert result.get_asset_materialization_events() == []


# --- Dagster: raw assets, metrics and checks -----------------------------------------------------


def test_a_90_day_backfill_is_one_run_of_3_requests_per_endpoint(make_sim, tmp_path):
    sim = make_sim(seed=4, users=2, days=95, today=TODAY)
    db = tmp_path / "cursor.duckdb"
    first, last = TODAY - timedelta(days=90), TODAY - timedelta(days=1)
    assets = [raw_analytics.team_analytics_assets["dau"], raw_analytics.team_analytics_assets["agent-edits"]]
    assets.append(raw_analytics.by_user_analytics_assets["tabs"])
    result = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(*assets),
        resources=resources(sim, db),
        tags=range_tags(first, last),
    )
    assert result.success
    assert sim.request_count("/analytics/team/dau") == sim.request_count("/analytics/team/agent-edits") == 3
    assert sim.request_count("/analytics/by-user/tabs") == 3
    assert query(db, "SELECT min(date), max(date), count(*) FROM raw.analytics_dau") == [(first, last, 90)]
    columns = [r[0] for r in query(db, "DESCRIBE raw.analytics_agent_edits")]
    assert columns == [*FIELDS["analytics_agent_edits"], "raw", "_loaded_at"]
    assert columns[:2] == ["event_date", "total_suggested_diffs"]
    emails = {e for (e,) in query(db, "SELECT DISTINCT email FROM raw.analytics_by_user_tabs")}
    assert emails and emails <= {m.email for m in sim.team.member_list}
    # every other endpoint reads the same 90 days in 3 requests through the same client methods
    sim.reset_requests()
    client = client_for(sim.base_url, sim.api_key)
    for metric in ANALYTICS_TABLES:
        assert len(list(client.team_analytics(metric, first, last))) == 3
        assert sim.request_count(f"/analytics/team/{metric}") == 3, metric
    for metric in BY_USER_METRICS:
        list(client.analytics_by_user(metric, first, last))
        assert sim.request_count(f"/analytics/by-user/{metric}") == 3, metric


def test_metrics_and_checks_follow_the_analytics_api(make_sim, tmp_path):
    sim = make_sim(seed=4, users=4, days=12, today=TODAY)
    db = tmp_path / "cursor.duckdb"
    first, last = TODAY - timedelta(days=6), TODAY - timedelta(days=4)  # Tuesday to Thursday
    team, by_user = raw_analytics.team_analytics_assets, raw_analytics.by_user_analytics_assets
    adoption = ("mcp", "commands", "plans", "ask-mode")
    selection = dg.AssetSelection.assets(
        raw.daily_usage,
        raw.usage_events,
        metrics.user_daily_metrics,
        metrics.team_daily_metrics,
        *(team[m] for m in ("dau", "tabs", "agent-edits", *adoption)),
        *(by_user[m] for m in adoption),
        *analytics_metrics.analytics_api_metric_assets,
    ) | dg.AssetSelection.checks(*raw_analytics.analytics_checks)
    result = dg.materialize(
        [*ALL_ASSETS, *raw_analytics.analytics_checks],
        selection=selection,
        resources=resources(sim, db),
        tags=range_tags(first, last),
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["dau_matches_daily_usage"].passed and checks["tab_acceptance_matches_daily_usage"].passed

    agent = query(
        db,
        "SELECT day, accepted_lines, suggested_lines, line_acceptance_rate, diff_acceptance_rate "
        "FROM analytics.agent_acceptance_daily ORDER BY day",
    )
    raw_rows = query(
        db,
        "SELECT event_date, total_lines_accepted, total_lines_suggested, total_accepted_diffs, "
        "total_suggested_diffs FROM raw.analytics_agent_edits ORDER BY 1",
    )
    assert [r[0] for r in agent] == [first + timedelta(days=i) for i in range(3)]
    for (day, accepted, suggested, line_rate, diff_rate), r in zip(agent, raw_rows):
        assert (day, accepted, suggested) == (r[0], r[1], r[2])
        assert line_rate == pytest.approx(r[1] / r[2]) and diff_rate == pytest.approx(r[3] / r[4])
    # the same line acceptance rate, joined into team_daily_metrics next to the AI line share
    team_rates = query(
        db, "SELECT day, line_acceptance_rate, ai_line_share FROM analytics.team_daily_metrics ORDER BY day"
    )
    assert [(d, pytest.approx(rate)) for d, rate, _ in team_rates] == [(a[0], a[3]) for a in agent]
    assert all(share is not None for *_, share in team_rates)

    adoption = query(
        db,
        "SELECT feature, sum(usage), max(users) FROM analytics.feature_adoption_daily GROUP BY 1 ORDER BY 1",
    )
    assert [f for f, *_ in adoption] == ["ask_mode", "command", "mcp", "plan"]
    mcp_uses = query(db, "SELECT sum(usage) FROM raw.analytics_mcp")[0][0]
    assert dict((f, u) for f, u, _ in adoption)["mcp"] == mcp_uses

    active = query(
        db,
        "SELECT day, dau, cli_dau, cloud_agent_dau, wau, mau FROM analytics.active_users_daily ORDER BY day",
    )
    for day, dau, cli, cloud, wau, mau in active:
        truth = sim.ground_truth(day)["daily_usage"]["active_rows"]
        assert dau == truth and cli <= dau and cloud <= dau and dau <= wau <= mau

    # a day whose DAU disagrees with daily usage is named by the WARN check
    with duckdb.connect(str(db)) as conn:
        conn.execute("UPDATE raw.analytics_dau SET dau = dau + 1 WHERE date = ?", [last])
        outcome = raw_analytics.dau_matches_daily_usage(conn, ANALYTICS_TABLES["dau"], (first, last))
        conn.execute("UPDATE raw.analytics_tabs SET total_accepts = 0 WHERE event_date = ?", [first])
        tabs = raw_analytics.tab_acceptance_matches_daily_usage(conn, ANALYTICS_TABLES["tabs"], None)
    assert not outcome.passed and outcome.severity == dg.AssetCheckSeverity.WARN
    assert outcome.description.endswith(f"disagree on 1 day(s): {last}")
    assert not tabs.passed and tabs.description.endswith(f"disagree on 1 day(s): {first}")


def test_snapshots_of_the_leaderboard_and_the_billing_groups(make_sim, tmp_path):
    sim = make_sim(seed=4, users=4, days=40, today=date.today())
    db = tmp_path / "cursor.duckdb"
    result = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(*raw_analytics.snapshot_analytics_assets),
        resources=resources(sim, db),
    )
    assert result.success
    boards = query(
        db,
        "SELECT board, count(*), min(rank), max(end_date) - min(start_date) FROM raw.analytics_leaderboard GROUP BY 1 ORDER BY 1",
    )
    assert [(b, n, r, span) for b, n, r, span in boards] == [
        ("agent", boards[0][1], 1, 29),
        ("tab", boards[1][1], 1, 29),
    ]
    groups = query(db, "SELECT name, member_count FROM raw.billing_groups ORDER BY name")
    assert [g for g, _ in groups] == ["Design", "Engineering", "Product", "Unassigned"]
    spend = httpx.post(f"{sim.base_url}/teams/spend", json={}, auth=(sim.api_key, "")).json()
    grouped = query(db, "SELECT sum(spend_cents) FROM raw.billing_groups")[0][0]
    assert grouped == pytest.approx(sum(r["spendCents"] for r in spend["teamMemberSpend"]))


def test_the_analytics_api_assets_form_a_group_with_lineage_to_their_metrics():
    graph = defs.resolve_asset_graph()
    group = {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if graph.get(k).group_name == "cursor_analytics_api"
    }
    assert group == {
        f"raw/{t.name}" for t in (*ANALYTICS_TABLES.values(), *ANALYTICS_BY_USER_TABLES.values())
    } | {
        "raw/analytics_leaderboard",
        "raw/billing_groups",
    }
    parents = {
        name: {k.to_user_string() for k in graph.get(dg.AssetKey(["analytics", name])).parent_keys}
        for name in ("agent_acceptance_daily", "feature_adoption_daily", "active_users_daily")
    }
    assert parents["agent_acceptance_daily"] == {"raw/analytics_agent_edits"}
    assert {"raw/analytics_mcp", "raw/analytics_by_user_mcp", "raw/analytics_ask_mode"} <= parents[
        "feature_adoption_daily"
    ]
    assert parents["active_users_daily"] == {"raw/analytics_dau", "raw/daily_usage"}
    pools = [
        graph.assets_def_for_key(dg.AssetKey(["raw", t.name])).op.pool for t in ANALYTICS_TABLES.values()
    ]
    assert pools == [f"cursor_api_{t.name}" for t in ANALYTICS_TABLES.values()]  # one pool per endpoint


def test_the_analytics_api_schedule_asks_for_the_settle_window_in_one_range_run():
    from cursor_analytics.defs.freshness.analytics_api import cursor_analytics_api_schedule

    tick = cursor_analytics_api_schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=datetime(2025, 6, 30, 2, tzinfo=UTC))
    )
    (request,) = tick.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2025-06-26"  # settle_days = 3
    assert request.tags["dagster/asset_partition_range_end"] == "2025-06-29"
    assert defs.resolve_job_def("cursor_analytics_api_job").partitions_def is not None
