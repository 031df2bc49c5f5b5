"""Every column of every metric table, recomputed from the raw tables in plain Python (not the
metric SQL) and compared with what the assets wrote.

A seeded simulated team on a fixed clock (the data is the same every day the suite runs), loaded
by the real assets over loopback, with the edge cases present by construction: plan-included
usage that carries cents, a free-owner admin, a removed member, a user seen only in usage
events, events without a model, a billing cycle starting inside the loaded days, and spend limits
set through the API. Three scenarios load 7, 28 and 29 days, so a trailing window that is swapped
(7 for 28) or off by one day fails.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest

from cursor_analytics.defs.partitions import range_tags
from cursor_analytics.simulator import Simulator
from cursor_analytics.simulator.team import Team
from cursor_analytics.warehouse.finality import StaleDataSettings, as_of_tags
from cursor_analytics_tests.support import ALL_ASSETS, resources

TODAY = date(2025, 6, 20)  # the simulator's and the runs' clock: 12:00 UTC of this day
AS_OF = datetime.combine(TODAY, time(12), tzinfo=UTC)
END = TODAY - timedelta(days=3)  # the last loaded day: provisional; the day before it is final
USERS = 12


def _seed() -> int:
    """The first seed whose team's billing cycle starts inside even the 7 loaded days (by
    construction, not by luck: the cycle start is a function of the seed)."""
    for seed in range(1, 500):
        team = Team(seed=seed, users=USERS, days=40, today=TODAY)
        if END - timedelta(days=5) <= team.cycle_start <= END - timedelta(days=1):
            return seed
    raise AssertionError("no seed gives a cycle start inside the window")


SEED = _seed()


def rate(numerator: Any, denominator: Any) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def total(values: Iterable[Any]) -> Any:
    """SQL sum: None over no non-null value."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def zero(value: Any) -> Any:
    return 0 if value is None else value


def rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


# --- the independent computation -----------------------------------------------------------------


def day_finality(day: date) -> str:
    """Every dataset of every day is loaded once, at AS_OF: final when its settle window ended."""
    settle = StaleDataSettings.from_env().settle_days
    settled = datetime.combine(day + timedelta(days=1 + settle), time(), tzinfo=UTC)
    return "final" if settled <= AS_OF else "provisional"


def user_daily(raw: dict[str, list[dict[str, Any]]], start: date, end: date) -> dict[tuple, dict]:
    usage: dict[tuple, list[dict]] = defaultdict(list)
    for r in raw["daily_usage"]:
        if start <= r["day"] <= end and r["email"] is not None:
            usage[(r["day"], r["email"].lower())].append(r)
    events: dict[tuple, list[dict]] = defaultdict(list)
    for e in raw["usage_events"]:
        if start <= e["day"] <= end and e["user_email"] is not None:
            events[(e["day"], e["user_email"].lower())].append(e)
    out = {}
    for key in set(usage) | set(events):
        us, evs = usage.get(key), events.get(key)
        u: dict[str, Any] | None = None
        if us:
            requests = lambda r: sum(  # noqa: E731
                zero(r[c])
                for c in (
                    "chat_requests",
                    "composer_requests",
                    "agent_requests",
                    "cmdk_usages",
                    "bugbot_usages",
                )
            )
            named = sorted(
                (r for r in us if r["most_used_model"] is not None),
                key=lambda r: (-requests(r), r["most_used_model"]),
            )
            flags = [r["is_active"] for r in us if r["is_active"] is not None]
            u = {
                "user_id": max((r["user_id"] for r in us if r["user_id"] is not None), default=None),
                "is_active": any(flags) if flags else None,
                "most_used_model": named[0]["most_used_model"] if named else None,
                **{
                    name: total(r[column] for r in us)
                    for name, column in (
                        ("chat_requests", "chat_requests"), ("composer_requests", "composer_requests"),
                        ("agent_requests", "agent_requests"), ("cmdk_usages", "cmdk_usages"),
                        ("bugbot_usages", "bugbot_usages"), ("tabs_shown", "total_tabs_shown"),
                        ("tabs_accepted", "total_tabs_accepted"), ("accepts", "total_accepts"),
                        ("rejects", "total_rejects"), ("accepted_lines_added", "accepted_lines_added"),
                        ("total_lines_added", "total_lines_added"),
                    )
                },
            }  # fmt: skip
        by_model: dict[str, int] = defaultdict(int)
        for e in evs or ():
            if e["model"] is not None:
                by_model[e["model"]] += 1
        top = min(by_model, key=lambda m: (-by_model[m], m)) if by_model else None
        g = (u or {}).get
        row = {
            "user_id": g("user_id"),
            "is_active": g("is_active") if g("is_active") is not None else (len(evs) > 0 if evs else None),
            **{
                c: zero(g(c))
                for c in (
                    "chat_requests",
                    "composer_requests",
                    "agent_requests",
                    "cmdk_usages",
                    "bugbot_usages",
                    "tabs_shown",
                    "tabs_accepted",
                    "accepts",
                    "rejects",
                    "accepted_lines_added",
                    "total_lines_added",
                )
            },  # fmt: skip
            "tab_acceptance_rate": rate(g("tabs_accepted"), g("tabs_shown")),
            "suggestion_acceptance_rate": rate(
                g("accepts"), None if u is None else _add(g("accepts"), g("rejects"))
            ),
            "ai_line_share": rate(g("accepted_lines_added"), g("total_lines_added")),
            "most_used_model": top if top is not None else g("most_used_model"),
            "usage_events": len(evs or ()),
            "billed_cents": zero(total(e["charged_cents"] for e in evs or () if e["is_chargeable"] is True)),
            "included_usage_cents": zero(
                total(e["charged_cents"] for e in evs or () if e["is_chargeable"] is not True)
            ),
            "total_usage_cents": zero(total(e["charged_cents"] for e in evs or ())),
            **{
                c: zero(total(e[c] for e in evs or ()))
                for c in (
                    "requests_costs",
                    "input_tokens",
                    "output_tokens",
                    "cache_write_tokens",
                    "cache_read_tokens",
                )
            },  # fmt: skip
            "finality": day_finality(key[0]),
        }
        out[key] = row
    return out


def _add(a: Any, b: Any) -> Any:
    return None if a is None or b is None else a + b


def team_daily(users: dict[tuple, dict], agent_edits: list[dict]) -> dict[tuple, dict]:
    by_day: dict[date, list[dict]] = defaultdict(list)
    for (day, _), r in users.items():
        by_day[day].append(r)
    out = {}
    for day, rs in by_day.items():
        s = {c: sum(r[c] for r in rs) for c in (
            "tabs_shown", "tabs_accepted", "accepts", "rejects", "accepted_lines_added", "total_lines_added",
            "chat_requests", "composer_requests", "agent_requests", "cmdk_usages", "bugbot_usages",
            "usage_events", "billed_cents", "included_usage_cents", "total_usage_cents", "requests_costs",
        )}  # fmt: skip
        active = sum(1 for r in rs if r["is_active"] is True)
        edits = [r for r in agent_edits if r["event_date"] == day]
        suggested = total(r["total_lines_suggested"] for r in edits)
        accepted = total(r["total_lines_accepted"] for r in edits)
        out[(day,)] = {
            "active_users": active,
            "reporting_users": len(rs),
            **s,
            "tab_acceptance_rate": rate(s["tabs_accepted"], s["tabs_shown"]),
            "suggestion_acceptance_rate": rate(s["accepts"], s["accepts"] + s["rejects"]),
            "ai_line_share": rate(s["accepted_lines_added"], s["total_lines_added"]),
            "spend_per_active_user_cents": rate(s["billed_cents"], active),
            "agent_lines_suggested": suggested,
            "agent_lines_accepted": accepted,
            "line_acceptance_rate": rate(accepted, suggested),
            "finality": day_finality(day),
        }
    return out


def rolling(users: dict[tuple, dict], team: dict[tuple, dict], start: date, end: date) -> dict[tuple, dict]:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return {(day,): rolling_day(users, team, start, end, day) for day in days}


def rolling_day(users: dict[tuple, dict], team: dict[tuple, dict], start: date, end: date, day: date) -> dict:
    def window(n: int) -> list[dict]:
        return [r for (d,), r in team.items() if day - timedelta(days=n - 1) <= d <= day]

    def ratio(n: int, num: str, *den: str) -> float | None:
        w = window(n)
        return rate(total(r[num] for r in w), total(sum(r[c] for c in den) for r in w))

    def active(n: int) -> int:
        first = day - timedelta(days=n - 1)
        return len({e for (d, e), r in users.items() if first <= d <= day and r["is_active"] is True})

    loaded = [start <= day - timedelta(days=i) <= end for i in range(28)]
    final = all(loaded) and all(day_finality(day - timedelta(days=i)) == "final" for i in range(28))
    return {
        **{f"tab_acceptance_rate_{n}d": ratio(n, "tabs_accepted", "tabs_shown") for n in (7, 28)},
        **{f"suggestion_acceptance_rate_{n}d": ratio(n, "accepts", "accepts", "rejects") for n in (7, 28)},
        **{f"ai_line_share_{n}d": ratio(n, "accepted_lines_added", "total_lines_added") for n in (7, 28)},
        **{f"billed_cents_{n}d": zero(total(r["billed_cents"] for r in window(n))) for n in (7, 28)},
        **{
            f"included_usage_cents_{n}d": zero(total(r["included_usage_cents"] for r in window(n)))
            for n in (7, 28)
        },
        "active_users_7d": active(7),
        "active_users_28d": active(28),
        "days_loaded_7d": sum(loaded[:7]),
        "days_loaded_28d": sum(loaded),
        "finality": "final" if final else "provisional",
    }


def ai_share(raw: dict[str, list[dict]], start: date, end: date) -> dict[tuple, dict]:
    latest: dict[tuple, dict] = {}
    for c in raw["ai_commits"]:
        if not start <= c["day"] <= end:
            continue
        key = (c["day"], c["commit_hash"], c["repo_name"])
        best = latest.get(key)
        if best is None or (
            c["created_at"] is not None
            and (best["created_at"] is None or c["created_at"] > best["created_at"])
        ):
            latest[key] = c
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in latest.values():
        groups[(c["day"], lower(c["user_email"]), c["repo_name"])].append(c)
    out = {}
    for key, cs in groups.items():
        ai = lambda c: zero(c["tab_lines_added"]) + zero(c["composer_lines_added"])  # noqa: E731
        primary = [c for c in cs if c["is_primary_branch"] is True]
        p_ai = total(ai(c) for c in primary)
        p_total = total(zero(c["total_lines_added"]) for c in primary)
        out[key] = {
            "commits": len(cs),
            "ai_lines_added": sum(ai(c) for c in cs),
            "total_lines_added": sum(zero(c["total_lines_added"]) for c in cs),
            "ai_share": rate(sum(ai(c) for c in cs), sum(zero(c["total_lines_added"]) for c in cs)),
            "primary_ai_lines_added": p_ai,
            "primary_total_lines_added": p_total,
            "primary_ai_share": rate(p_ai, p_total),
            "finality": day_finality(key[0]),
        }
    return out


def model_usage(raw: dict[str, list[dict]], start: date, end: date) -> dict[tuple, dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    per_day: dict[date, int] = defaultdict(int)
    for e in raw["usage_events"]:
        if start <= e["day"] <= end:
            groups[(e["day"], e["model"] if e["model"] is not None else "unknown")].append(e)
            per_day[e["day"]] += 1
    out = {}
    for key, evs in groups.items():
        out[key] = {
            "requests": len(evs),
            "requests_costs": total(e["requests_costs"] for e in evs),
            "billed_cents": zero(total(e["charged_cents"] for e in evs if e["is_chargeable"] is True)),
            "included_usage_cents": zero(
                total(e["charged_cents"] for e in evs if e["is_chargeable"] is not True)
            ),
            "total_usage_cents": zero(total(e["charged_cents"] for e in evs)),
            "token_cost_cents": total(e["total_cents"] for e in evs),
            **{
                c: total(e[c] for e in evs)
                for c in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
            },
            "users": len({e["user_email"].lower() for e in evs if e["user_email"] is not None}),
            "request_share": len(evs) / per_day[key[0]],
            "finality": day_finality(key[0]),
        }
    return out


def _plus_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=min(t.day, calendar.monthrange(year, month)[1]))


def spend_per_user(raw: dict[str, list[dict]]) -> dict[tuple, dict]:
    snapshot_at = max(r["snapshot_at"] for r in raw["spend_snapshots"])
    latest = [r for r in raw["spend_snapshots"] if r["snapshot_at"] == snapshot_at]
    cycle_start = max(r["subscription_cycle_start"] for r in latest)
    cycle_end = _plus_month(cycle_start)
    events: dict[str | None, list[dict]] = defaultdict(list)
    for e in raw["usage_events"]:
        if cycle_start <= e["timestamp"] <= snapshot_at:
            events[lower(e["user_email"])].append(e)
    lines: dict[str | None, int] = defaultdict(int)
    for d in raw["daily_usage"]:
        if cycle_start.date() <= d["day"] <= snapshot_at.date() and d["accepted_lines_added"] is not None:
            lines[lower(d["email"])] += d["accepted_lines_added"]
    elapsed = (snapshot_at - cycle_start).total_seconds()
    length = (cycle_end - cycle_start).total_seconds()
    out = {}
    for s in latest:
        email = lower(s["email"])
        evs = events.get(email, [])
        spend = s["spend_cents"]
        member_lines = lines.get(email)
        out[(email,)] = {
            **{
                c: s[c]
                for c in (
                    "name",
                    "role",
                    "user_id",
                    "spend_cents",
                    "overall_spend_cents",
                    "monthly_limit_dollars",
                    "hard_limit_override_dollars",
                    "effective_per_user_limit_dollars",
                )
            },  # fmt: skip
            "cycle_start": cycle_start,
            "cycle_end": cycle_end,
            "snapshot_at": snapshot_at,
            "cycle_billed_cents": zero(total(e["charged_cents"] for e in evs if e["is_chargeable"] is True)),
            "cycle_included_usage_cents": zero(
                total(e["charged_cents"] for e in evs if e["is_chargeable"] is not True)
            ),
            "cycle_usage_events": len(evs),
            "cycle_accepted_lines_added": zero(member_lines),
            "cost_per_accepted_line_cents": rate(
                s["overall_spend_cents"] if s["overall_spend_cents"] is not None else spend, member_lines
            ),
            "projected_cycle_spend_cents": (
                None if elapsed <= 0 or spend is None else max(spend, spend * length / elapsed)
            ),
        }
    return out


def seat_utilization(raw: dict[str, list[dict]]) -> dict[tuple, dict]:
    snapshot_at = max(r["snapshot_at"] for r in raw["team_members"])
    as_of_day = max((d["day"] for d in raw["daily_usage"]), default=None)
    active_days: dict[str | None, set[date]] = defaultdict(set)
    for d in raw["daily_usage"]:
        if d["is_active"] is True:
            active_days[lower(d["email"])].add(d["day"])
    out = {}
    for m in raw["team_members"]:
        if m["snapshot_at"] != snapshot_at:
            continue
        days = active_days.get(lower(m["email"]), set())
        in_7 = sum(1 for d in days if d > as_of_day - timedelta(days=7))
        in_28 = sum(1 for d in days if d > as_of_day - timedelta(days=28))
        billable = not m["is_removed"] and m["role"] != "free-owner"
        out[(lower(m["email"]),)] = {
            "name": m["name"],
            "role": m["role"],
            "user_id": m["user_id"],
            "is_billable_seat": billable,
            "as_of_day": as_of_day,
            "last_active_day": max(days, default=None),
            "active_days_7d": in_7,
            "active_days_28d": in_28,
            "idle_7d": billable and in_7 == 0,
            "idle_28d": billable and in_28 == 0,
        }
    return out


def spend_budget(spend: dict[tuple, dict]) -> dict[tuple, dict]:
    out = {}
    for key, s in spend.items():
        override = s["hard_limit_override_dollars"] or None
        candidates = (s["effective_per_user_limit_dollars"], s["monthly_limit_dollars"], override)
        limit = next((v for v in candidates if v is not None), None)
        if limit is None:
            continue
        projected = s["projected_cycle_spend_cents"]
        out[key] = {
            "name": s["name"],
            "role": s["role"],
            "limit_dollars": limit,
            "spend_cents": s["spend_cents"],
            "projected_cycle_spend_cents": projected,
            "projected_overage_cents": None if projected is None else projected - limit * 100,
            "projected_share_of_limit": rate(projected, limit * 100),
            "projected_over_limit": projected is not None and projected > limit * 100,
            "at_limit_now": s["spend_cents"] is not None and s["spend_cents"] >= limit * 100,
            "cycle_start": s["cycle_start"],
            "cycle_end": s["cycle_end"],
            "snapshot_at": s["snapshot_at"],
        }
    return out


# --- the scenarios -------------------------------------------------------------------------------

KEYS = {
    "user_daily_metrics": ("day", "email"),
    "team_daily_metrics": ("day",),
    "team_rolling_metrics": ("day",),
    "ai_code_share_daily": ("day", "email", "repo_name"),
    "model_usage_daily": ("day", "model"),
    "spend_per_user": ("email",),
    "seat_utilization": ("email",),
    "spend_budget": ("email",),
}


def _key(*names: str):
    return lambda r: tuple(r[n] for n in names)


def load(sim: Simulator, db: Path, days: int) -> tuple[date, dict[str, list[dict[str, Any]]]]:
    """One scenario: `days` days ending at END through the real assets, with the edge cases
    the simulator does not produce on its own made in the raw tables before the metrics run."""
    start = END - timedelta(days=days - 1)
    res = resources(sim, db, page_size=1000)
    tags = {**range_tags(start, END), **as_of_tags(AS_OF)}
    # raw.analytics_agent_edits (the Analytics API) is not loaded: the agent-line columns are NULL
    raw_keys = [["raw", "daily_usage"], ["raw", "usage_events"], ["raw", "ai_commits"]]
    dg.materialize(ALL_ASSETS, selection=[dg.AssetKey(k) for k in raw_keys], resources=res, tags=tags)
    with duckdb.connect(str(db)) as conn:
        busiest = (
            "SELECT lower(user_email) FROM raw.usage_events WHERE day = ? "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
        # The busiest user of the first day: no daily-usage row that day (seen only in usage
        # events). The busiest of the second day: events without a model.
        (first,) = conn.execute(busiest, [start]).fetchone()
        conn.execute("DELETE FROM raw.daily_usage WHERE day = ? AND lower(email) = ?", [start, first])
        (second,) = conn.execute(busiest, [start + timedelta(days=1)]).fetchone()
        conn.execute(
            "UPDATE raw.usage_events SET model = NULL WHERE day = ? AND lower(user_email) = ?",
            [start + timedelta(days=1), second],
        )
    metrics = [["analytics", n] for n in ("user_daily_metrics", "team_daily_metrics", "team_rolling_metrics",
                                          "ai_code_share_daily", "model_usage_daily")]  # fmt: skip
    dg.materialize(ALL_ASSETS, selection=[dg.AssetKey(k) for k in metrics], resources=res, tags=tags)
    snapshots = [["raw", "team_members"], ["raw", "spend_snapshots"], ["analytics", "spend_per_user"],
                 ["analytics", "seat_utilization"], ["analytics", "spend_budget"]]  # fmt: skip
    dg.materialize(
        ALL_ASSETS, selection=[dg.AssetKey(k) for k in snapshots], resources=res, tags=as_of_tags(AS_OF)
    )
    with duckdb.connect(str(db), read_only=True) as conn:
        raw = {t: rows(conn, f"SELECT * FROM raw.{t}") for t in (
            "daily_usage", "usage_events", "ai_commits", "analytics_agent_edits", "team_members",
            "spend_snapshots")}  # fmt: skip
    return start, raw


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=SEED, users=USERS, days=40, today=TODAY, minute_seconds=1.0) as simulator:
        spenders = sorted(
            (r for r in simulator.team.spend_rows() if r["spendCents"] > 0 and r["role"] == "member"),
            key=lambda r: (-r["spendCents"], r["email"]),
        )
        # Spend limits in range: one just above the spend so far (projected over it), one with
        # room to spare.
        limits = {spenders[0]["email"]: int(spenders[0]["spendCents"] // 100) + 1, spenders[1]["email"]: 400}
        with httpx.Client(base_url=simulator.base_url, auth=(simulator.api_key, "")) as api:
            for email, dollars in limits.items():
                api.post("/teams/user-spend-limit", json={"userEmail": email, "spendLimitDollars": dollars})
        yield simulator


def assert_same(table: str, got: list[dict[str, Any]], expected: dict[tuple, dict]) -> None:
    key = _key(*KEYS[table])
    by_key = {key(r): r for r in got}
    assert len(by_key) == len(got), f"{table}: a key repeats"
    assert sorted(by_key, key=repr) == sorted(expected, key=repr), table
    for k, want in expected.items():
        have = {c: v for c, v in by_key[k].items() if c not in KEYS[table]}
        assert set(have) == set(want), f"{table}: columns {sorted(set(have) ^ set(want))} not recomputed"
        for column, value in want.items():
            if isinstance(value, float) or isinstance(have[column], float):
                assert have[column] == pytest.approx(value, rel=1e-9, abs=1e-9), (table, k, column)
            else:
                assert have[column] == value, (table, k, column)


@pytest.mark.parametrize("days", [7, 28, 29])
def test_every_metric_column_equals_a_plain_python_recomputation(sim, tmp_path, days):
    db = tmp_path / "cursor.duckdb"
    start, raw = load(sim, db, days)

    # the edge cases, present by construction
    events = raw["usage_events"]
    assert any(e["charged_cents"] > 0 and e["is_chargeable"] is False for e in events), "included usage cents"
    assert any(e["model"] is None for e in events), "events without a model"
    members = raw["team_members"]
    assert any(m["role"] == "free-owner" for m in members) and any(m["is_removed"] for m in members)
    seen_in_usage = {(d["day"], d["email"].lower()) for d in raw["daily_usage"]}
    assert any((e["day"], e["user_email"].lower()) not in seen_in_usage for e in events), "events-only user"
    cycle_start = max(s["subscription_cycle_start"] for s in raw["spend_snapshots"])
    assert start < cycle_start.date() < END, "a billing cycle starting inside the loaded days"

    users = user_daily(raw, start, END)
    team = team_daily(users, raw["analytics_agent_edits"])
    spend = spend_per_user(raw)
    expected = {
        "user_daily_metrics": users,
        "team_daily_metrics": team,
        "team_rolling_metrics": rolling(users, team, start, END),
        "ai_code_share_daily": ai_share(raw, start, END),
        "model_usage_daily": model_usage(raw, start, END),
        "spend_per_user": spend,
        "seat_utilization": seat_utilization(raw),
        "spend_budget": spend_budget(spend),
    }
    with duckdb.connect(str(db), read_only=True) as conn:
        for table, want in expected.items():
            got = rows(conn, f"SELECT * FROM analytics.{table}")
            assert_same(table, got, want)

    # the windows say what they hold: partial until 28 days are loaded, final only when full
    rolling_rows = expected["team_rolling_metrics"]
    assert rolling_rows[(start,)]["days_loaded_7d"] == rolling_rows[(start,)]["days_loaded_28d"] == 1
    assert rolling_rows[(END,)]["days_loaded_7d"] == 7
    assert rolling_rows[(END,)]["days_loaded_28d"] == min(days, 28)
    finals = [d for (d,), r in rolling_rows.items() if r["finality"] == "final"]
    assert finals == ([END - timedelta(days=1)] if days == 29 else [])
    budget = expected["spend_budget"]
    assert {r["projected_over_limit"] for r in budget.values()} == {True, False}
    assert all(0 < r["limit_dollars"] < 1_000_000 for r in budget.values())
