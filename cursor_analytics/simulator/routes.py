"""The endpoints of the simulated Cursor API: request in, `Response` out.

Each handler takes the `Simulator` and a parsed `Request` and returns a `Response`, or raises
`ApiError` for a 4xx. Authentication, faults, rate limits and ETags are applied around the
handlers by `server.Simulator`; here lives what each endpoint does with its parameters.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .team import DAY_MS, MODELS, Member, _snake, day_start_ms, ms_to_day

if TYPE_CHECKING:  # pragma: no cover
    from .server import Simulator

MAX_PAGE_SIZE = 1000
AUDIT_MAX_PAGE_SIZE = 500
AUDIT_MAX_DAYS = 30
ANALYTICS_MAX_DAYS = 30


class ApiError(Exception):
    """A 4xx answer: `{"error": error, "message": message}` (or a custom body)."""

    def __init__(self, status: int, error: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.body = body


def bad_request(message: str) -> ApiError:
    return ApiError(400, "Bad Request", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "Not Found", message)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_body: bytes
    headers: Any
    params: dict[str, str] = field(default_factory=dict)

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def q_list(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def json_object(self) -> dict[str, Any]:
        """The JSON body as a dict (empty body = {}); anything else is a 400."""
        if not self.raw_body.strip():
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError:
            raise bad_request("Request body must be valid JSON") from None
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        return body


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, dumps(obj))


# --------------------------------------------------------------------------------------------
# Parameter parsing
# --------------------------------------------------------------------------------------------


def _number(value: Any, name: str) -> int:
    """An integer-valued body/query field (int, integral float or digit string)."""
    if isinstance(value, bool):
        raise bad_request(f"{name} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise bad_request(f"{name} must be a number")


def _page_params(page: Any, page_size: Any, default_size: int, max_size: int) -> tuple[int, int]:
    p = 1 if page is None else _number(page, "page")
    s = default_size if page_size is None else _number(page_size, "pageSize")
    if p < 1:
        raise bad_request("page must be >= 1")
    if s < 1:
        raise bad_request("pageSize must be >= 1")
    if s > max_size:
        raise bad_request(f"pageSize cannot exceed {max_size}")
    return p, s


def _pages(total: int, size: int) -> int:
    return math.ceil(total / size) if total else 0


_REL = re.compile(r"^(\d+)d$")


def parse_when(value: str | None, now_ms: int, *, end: bool, default_ms: int, name: str) -> int:
    """ISO date or datetime, `now`, `Nd` (N days ago) or epoch ms -> epoch ms.

    A bare date is the start of that day, or its last millisecond when `end` is true.
    """
    if value is None or value == "":
        return default_ms
    text = value.strip()
    if text.lower() == "now":
        return now_ms
    m = _REL.match(text)
    if m:
        return now_ms - int(m.group(1)) * DAY_MS
    if re.fullmatch(r"\d{10,}", text):
        return int(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise bad_request(f"Invalid {name}: {value}") from None
        return day_start_ms(d) + (DAY_MS - 1 if end else 0)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(f"Invalid {name}: {value}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(round(dt.timestamp() * 1000))


def _span_days(start_ms: int, end_ms: int) -> int:
    """Inclusive calendar days covered by [start_ms, end_ms]."""
    return (ms_to_day(end_ms) - ms_to_day(start_ms)).days + 1


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --------------------------------------------------------------------------------------------
# Admin API
# --------------------------------------------------------------------------------------------


def members(sim: Simulator, req: Request) -> Response:
    return json_response({"teamMembers": sim.team.members()})


def daily_usage(sim: Simulator, req: Request) -> Response:
    body = req.json_object()
    team, v = sim.team, sim.team.variants
    if body.get("startDate") is None or body.get("endDate") is None:
        raise bad_request("startDate and endDate are required")
    start = _number(body["startDate"], "startDate")
    end = _number(body["endDate"], "endDate")
    if end < start:
        raise bad_request("endDate must not be before startDate")
    if _span_days(start, end) > v.max_range_days:
        raise bad_request(f"Date range cannot exceed {v.max_range_days} days")
    s_day, e_day = ms_to_day(start), ms_to_day(end)
    days = [d for d in _days(s_day, e_day) if team.in_history(d)]
    paged = body.get("page") is not None and body.get("pageSize") is not None
    rows: list[dict[str, Any]] = []
    out: dict[str, Any]
    if paged:
        page, size = _page_params(body["page"], body["pageSize"], 100, MAX_PAGE_SIZE)
        seen: dict[int, Member] = {}
        for d in days:
            for ud in team.user_days(d):
                seen.setdefault(ud.member.index, ud.member)
        users = [seen[i] for i in sorted(seen)]
        shift, grown = _drift(sim, req, page)
        chosen = {m.index for m in users[max(0, (page - 1) * size - shift) : page * size - shift]}
        for d in days:
            for ud in team.user_days(d):
                if ud.member.index in chosen:
                    rows.append(team.daily_row(ud, d, start_ms=start, start_day=s_day))
        total_pages = _pages(len(users) + grown, size)
        out = {
            "data": rows,
            "period": {"startDate": body["startDate"], "endDate": body["endDate"]},
            "pagination": {
                "page": page,
                "pageSize": size,
                "totalUsers": len(users) + grown,
                "totalPages": total_pages,
                "hasNextPage": page < total_pages,
                "hasPreviousPage": page > 1,
            },
        }
    else:
        for d in days:
            for ud in team.user_days(d):
                if v.inactive_without_paging and not ud.active:
                    continue
                rows.append(team.daily_row(ud, d, start_ms=start, start_day=s_day))
        out = {"data": rows, "period": {"startDate": body["startDate"], "endDate": body["endDate"]}}
    return json_response(out)


SPEND_SORTS = ("amount", "date", "user")


def spend(sim: Simulator, req: Request) -> Response:
    body = req.json_object()
    team = sim.team
    sort_by = body.get("sortBy") or "date"
    direction = body.get("sortDirection") or "desc"
    if sort_by not in SPEND_SORTS:
        raise bad_request(f"sortBy must be one of {', '.join(SPEND_SORTS)}")
    if direction not in ("asc", "desc"):
        raise bad_request("sortDirection must be asc or desc")
    page, size = _page_params(body.get("page"), body.get("pageSize"), 100, MAX_PAGE_SIZE)
    search = body.get("searchTerm")
    if search is not None and not isinstance(search, str):
        raise bad_request("searchTerm must be a string")
    with sim.state_lock:
        pairs = list(zip(team.spend_members(), team.spend_rows()))
    if search:
        needle = search.lower()
        pairs = [(m, r) for m, r in pairs if needle in m.name.lower() or needle in m.email]
    keys: dict[str, Callable[[tuple[Member, dict[str, Any]]], Any]] = {
        "amount": lambda p: p[1]["spendCents"],
        "date": lambda p: p[0].joined_ms,
        "user": lambda p: p[0].name.lower(),
    }
    pairs.sort(key=lambda p: p[0].email)
    pairs.sort(key=keys[sort_by], reverse=direction == "desc")
    shift, grown = _drift(sim, req, page)
    rows = [r for _, r in pairs[max(0, (page - 1) * size - shift) : page * size - shift]]
    return json_response(
        {
            "teamMemberSpend": rows,
            "subscriptionCycleStart": day_start_ms(team.cycle_start),
            "totalMembers": len(pairs) + grown,
            "totalPages": _pages(len(pairs) + grown, size),
        }
    )


def usage_events(sim: Simulator, req: Request) -> Response:
    body = req.json_object()
    team, v = sim.team, sim.team.variants
    now = team.now_ms()
    start = (
        _number(body["startDate"], "startDate") if body.get("startDate") is not None else now - 30 * DAY_MS
    )
    end = _number(body["endDate"], "endDate") if body.get("endDate") is not None else now
    page, size = _page_params(
        body.get("page"), body.get("pageSize"), v.events_default_page_size, MAX_PAGE_SIZE
    )
    member: Member | None = None
    filtered = False
    for key, finder in (("userId", team.member_by_id), ("email", team.member_by_email)):
        value = body.get(key)
        if value is None or value == "":
            continue
        found = finder(str(value))
        if filtered and found is not member:
            found = None
        member, filtered = found, True
    segments = team.event_segments(start, end, member, only_member=filtered)
    shift, grown = _drift(sim, req, page)
    total = sum(len(s) for _, s in segments) + grown
    events = team.events_page(segments, max(0, (page - 1) * size - shift), size)
    num_pages = _pages(total, size)
    return json_response(
        {
            "totalUsageEventsCount": total,
            "pagination": {
                "numPages": num_pages,
                "currentPage": page,
                "pageSize": size,
                "hasNextPage": page < num_pages,
                "hasPreviousPage": page > 1,
            },
            "usageEvents": events,
            "period": {"startDate": start, "endDate": end},
        }
    )


def _drift(sim: Simulator, req: Request, page: int) -> tuple[int, int]:
    """Faults.drift: (records this page is shifted by, records added to the announced total)."""
    return sim._faults.drift(req.path, page)


def _outcome_error(message: str) -> ApiError:
    return ApiError(400, "Bad Request", message, body={"outcome": "error", "message": message})


def user_spend_limit(sim: Simulator, req: Request) -> Response:
    try:
        body = req.json_object()
    except ApiError as exc:
        raise _outcome_error(exc.message) from None
    email = body.get("userEmail")
    if not isinstance(email, str) or "@" not in email:
        raise _outcome_error("userEmail is required and must be a valid email")
    if "spendLimitDollars" not in body:
        raise _outcome_error("spendLimitDollars is required (an integer, or null to remove the limit)")
    dollars = body["spendLimitDollars"]
    if dollars is not None and (isinstance(dollars, bool) or not isinstance(dollars, int)):
        raise _outcome_error("spendLimitDollars must be an integer or null")
    if dollars is not None and dollars < 0:
        raise _outcome_error("spendLimitDollars must not be negative")
    with sim.state_lock:
        m = sim.team.member_by_email(email)
        if m is None or m.removed:
            raise _outcome_error(f"User {email} is not a member of this team")
        m.monthly_limit = dollars
    if dollars is None:
        message = f"Spend limit removed for user {m.email}"
    else:
        message = f"Spend limit set to ${dollars} for user {m.email}"
    return json_response({"outcome": "success", "message": message})


def repo_blocklists(sim: Simulator, req: Request) -> Response:
    with sim.state_lock:
        repos = [
            sim.team.variants.finish("repo_blocklists", dict(r, patterns=list(r["patterns"])))
            for r in sim.blocklists
        ]
    return json_response({"repos": repos})


def upsert_repo_blocklists(sim: Simulator, req: Request) -> Response:
    body = req.json_object()
    repos = body.get("repos")
    if not isinstance(repos, list) or not repos:
        raise bad_request("repos must be a non-empty array")
    for r in repos:
        if not isinstance(r, dict) or not isinstance(r.get("url"), str) or not r["url"].strip():
            raise bad_request("each repo needs a url")
        patterns = r.get("patterns")
        if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
            raise bad_request("patterns must be an array of non-empty strings")
    with sim.state_lock:
        for r in repos:
            existing = next((x for x in sim.blocklists if x["url"] == r["url"]), None)
            if existing is None:
                sim.blocklists.append(
                    {"id": sim.new_repo_id(), "url": r["url"], "patterns": list(r["patterns"])}
                )
            else:
                existing["patterns"] = list(r["patterns"])
    return repo_blocklists(sim, req)


def delete_repo_blocklist(sim: Simulator, req: Request) -> Response:
    repo_id = req.params["repoId"]
    with sim.state_lock:
        for i, r in enumerate(sim.blocklists):
            if r["id"] == repo_id:
                del sim.blocklists[i]
                return Response(204, b"", content_type=None)
    raise not_found(f"Repository blocklist {repo_id} not found")


def remove_member(sim: Simulator, req: Request) -> Response:
    body = req.json_object()
    team = sim.team
    has_id = body.get("userId") not in (None, "")
    has_email = body.get("email") not in (None, "")
    if has_id == has_email:
        raise bad_request("Provide exactly one of userId or email")
    m = team.member_by_id(body["userId"]) if has_id else team.member_by_email(str(body["email"]))
    if m is None:
        raise not_found("User not found in this team")
    with sim.state_lock:
        if m.removed:
            raise bad_request("User has already been removed from the team")
        if m.role == "owner":
            raise bad_request("The team owner cannot be removed")
        m.removed = True
        totals = team.cycle_totals().get(m.index, {"overall": 0})
    return json_response(
        {"success": True, "userId": team.user_id_value(m), "hasBillingCycleUsage": totals["overall"] > 0}
    )


def audit_logs(sim: Simulator, req: Request) -> Response:
    team = sim.team
    now = team.now_ms()
    end = parse_when(req.q("endTime"), now, end=True, default_ms=now, name="endTime")
    start = parse_when(req.q("startTime"), now, end=False, default_ms=end - 7 * DAY_MS, name="startTime")
    if end < start:
        raise bad_request("endTime must not be before startTime")
    if _span_days(start, end) > AUDIT_MAX_DAYS:
        raise bad_request(f"Date range cannot exceed {AUDIT_MAX_DAYS} days")
    page, size = _page_params(req.q("page"), req.q("pageSize"), 100, AUDIT_MAX_PAGE_SIZE)
    types = set(req.q_list("eventTypes"))
    users = req.q_list("users")
    wanted = {team.find_member(u) for u in users} if users else None
    search = (req.q("search") or "").lower()
    items = []
    for e in team.audit_items(start, end):
        if types and e["event_type"] not in types:
            continue
        if wanted is not None and e["_member"] not in wanted:
            continue
        if search:
            hay = " ".join(
                (e["user_email"], e["event_type"], e["ip_address"], json.dumps(e["event_data"]))
            ).lower()
            if search not in hay:
                continue
        items.append(e)
    shift, grown = _drift(sim, req, page)
    total_pages = _pages(len(items) + grown, size)
    first = max(0, (page - 1) * size - shift)
    return json_response(
        {
            "events": [team.audit_record(e) for e in items[first : first + size]],
            "pagination": {
                "page": page,
                "pageSize": size,
                "totalCount": len(items) + grown,
                "totalPages": total_pages,
                "hasNextPage": page < total_pages,
                "hasPreviousPage": page > 1,
            },
            "params": {"teamId": team.team_id, "startDate": start, "endDate": end},
        }
    )


# --------------------------------------------------------------------------------------------
# AI Code Tracking API
# --------------------------------------------------------------------------------------------

COMMIT_CSV_ALT_ORDER = (
    "user_id", "user_email", "commit_hash", "repo_name", "branch_name", "commit_ts", "created_at",
    "message", "total_lines_added", "total_lines_deleted", "composer_lines_added",
    "composer_lines_deleted", "tab_lines_added", "tab_lines_deleted", "non_ai_lines_added",
    "non_ai_lines_deleted", "is_primary_branch", "commit_source",
)  # fmt: skip
CHANGE_CSV_ALT_ORDER = (
    "created_at", "change_id", "user_email", "user_id", "source", "model", "metadata_json",
    "total_lines_added", "total_lines_deleted",
)  # fmt: skip


def _code_window(sim: Simulator, req: Request) -> tuple[int, int, Member | None, bool]:
    team = sim.team
    now = team.now_ms()
    end = parse_when(req.q("endDate"), now, end=True, default_ms=now, name="endDate")
    start = parse_when(req.q("startDate"), now, end=False, default_ms=now - 7 * DAY_MS, name="startDate")
    if end < start:
        raise bad_request("endDate must not be before startDate")
    spill = team.variants.code_window_spill_hours * DAY_MS // 24
    start, end = start - spill, end + spill
    user = req.q("user")
    member = team.find_member(user) if user else None
    return start, end, member, bool(user)


def _code_items(sim: Simulator, req: Request, kind: str) -> list[dict[str, Any]]:
    start, end, member, filtered = _code_window(sim, req)
    if filtered and member is None:
        return []
    return sim.team.code_items(kind, start, end, member)


def _code_json(sim: Simulator, req: Request, kind: str) -> Response:
    page, size = _page_params(req.q("page"), req.q("pageSize"), 100, MAX_PAGE_SIZE)
    items = _code_items(sim, req, kind)
    render = sim.team.commit_record if kind == "commits" else sim.team.change_record
    shift, grown = _drift(sim, req, page)
    first = max(0, (page - 1) * size - shift)
    return json_response(
        {
            "items": [render(i) for i in items[first : first + size]],
            "totalCount": len(items) + grown,
            "page": page,
            "pageSize": size,
        }
    )


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _code_csv(sim: Simulator, req: Request, kind: str) -> Response:
    items = _code_items(sim, req, kind)
    team = sim.team
    if kind == "commits":
        records = [team.commit_record(i) for i in items]
        template = team.commit_record(_SAMPLE_COMMIT) if not records else records[0]
        alt = COMMIT_CSV_ALT_ORDER
    else:
        records = [team.change_record(i) for i in items]
        template = team.change_record(_sample_change()) if not records else records[0]
        alt = CHANGE_CSV_ALT_ORDER

    def col(key: str) -> str:
        return "metadata_json" if key == "metadata" else _snake(key)

    columns = [(col(k), k) for k in template]
    if team.variants.csv_alt_order:
        rank = {name: i for i, name in enumerate(alt)}
        columns.sort(key=lambda c: rank.get(c[0], len(rank)))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c for c, _ in columns])
    for rec in records:
        writer.writerow([_csv_value(rec.get(k)) for _, k in columns])
    return Response(200, buf.getvalue().encode(), content_type="text/csv; charset=utf-8")


_SAMPLE_MEMBER = Member(
    0, "user_x", 0, "", "", "member", 0, None, False, False, False, 0, 0, 0, (), (), (), False, 0
)
_SAMPLE_COMMIT: dict[str, Any] = {
    "commitHash": "", "_member": _SAMPLE_MEMBER, "repoName": "", "branchName": None,
    "isPrimaryBranch": None, "commitSource": "ide", "totalLinesAdded": 0, "totalLinesDeleted": 0,
    "tabLinesAdded": 0, "tabLinesDeleted": 0, "composerLinesAdded": 0, "composerLinesDeleted": 0,
    "nonAiLinesAdded": 0, "nonAiLinesDeleted": 0, "message": None, "_ts": 0, "_created": 0,
}  # fmt: skip


def _sample_change() -> dict[str, Any]:
    return {
        "changeId": "", "_member": _SAMPLE_MEMBER, "source": "TAB", "model": None,
        "totalLinesAdded": 0, "totalLinesDeleted": 0, "_ts": 0, "metadata": [],
    }  # fmt: skip


def ai_commits(sim: Simulator, req: Request) -> Response:
    return _code_json(sim, req, "commits")


def ai_commits_csv(sim: Simulator, req: Request) -> Response:
    return _code_csv(sim, req, "commits")


def ai_changes(sim: Simulator, req: Request) -> Response:
    return _code_json(sim, req, "changes")


def ai_changes_csv(sim: Simulator, req: Request) -> Response:
    return _code_csv(sim, req, "changes")


# --------------------------------------------------------------------------------------------
# Analytics API
# --------------------------------------------------------------------------------------------


def _analytics_days(sim: Simulator, req: Request) -> tuple[date, date]:
    team = sim.team
    now = team.now_ms()
    end = ms_to_day(parse_when(req.q("endDate"), now, end=True, default_ms=now, name="endDate"))
    start = ms_to_day(
        parse_when(req.q("startDate"), now, end=False, default_ms=now - 7 * DAY_MS, name="startDate")
    )
    if end < start:
        raise bad_request("endDate must not be before startDate")
    if (end - start).days + 1 > ANALYTICS_MAX_DAYS:
        raise bad_request(f"Date range cannot exceed {ANALYTICS_MAX_DAYS} days")
    return start, end


def _metric_rows(
    sim: Simulator, metric: str, days: list[date], member: Member | None
) -> list[dict[str, Any]]:
    """Rows of one analytics metric over `days`, optionally for one member only."""
    team = sim.team

    def uds(d: date) -> list[Any]:
        return [u for u in team.user_days(d) if member is None or u.member is member]

    def code(d: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not team.in_history(d):
            return [], []
        commits, changes = team._code_day(d)
        if member is not None:
            commits = [c for c in commits if c["_member"] is member]
            changes = [c for c in changes if c["_member"] is member]
        return commits, changes

    rows: list[dict[str, Any]] = []
    if metric == "dau":
        for d in days:
            users = uds(d)
            commits, _ = code(d)
            sources: dict[str, set[int]] = {"cli": set(), "cloud": set()}
            for c in commits:
                if c["commitSource"] in sources:
                    sources[c["commitSource"]].add(c["_member"].index)
            rows.append(
                {
                    "date": d.isoformat(),
                    "dau": sum(1 for u in users if u.active),
                    "cli_dau": len(sources["cli"]),
                    "cloud_agent_dau": len(sources["cloud"]),
                    "bugbot_dau": sum(1 for u in users if u.counters["bugbotUsages"] > 0),
                }
            )
    elif metric == "models":
        for d in days:
            counts: dict[str, list[int]] = {}
            for u in uds(d):
                seen: set[str] = set()
                for cell in u.cells:
                    entry = counts.setdefault(cell.model, [0, 0])
                    entry[0] += cell.count
                    if cell.model not in seen:
                        entry[1] += 1
                        seen.add(cell.model)
            for model in MODELS:
                if model in counts:
                    rows.append(
                        {
                            "date": d.isoformat(),
                            "model": model,
                            "messages": counts[model][0],
                            "users": counts[model][1],
                        }
                    )
    elif metric == "agent-edits":
        for d in days:
            us = uds(d)
            rows.append(
                {
                    "date": d.isoformat(),
                    "suggested_diffs": sum(u.counters["totalApplies"] for u in us),
                    "accepted_diffs": sum(u.counters["totalAccepts"] for u in us),
                    "rejected_diffs": sum(u.counters["totalRejects"] for u in us),
                    "green_lines_accepted": sum(u.composer_added for u in us),
                    "red_lines_accepted": sum(u.composer_deleted for u in us),
                }
            )
    elif metric == "tabs":
        for d in days:
            us = uds(d)
            rows.append(
                {
                    "date": d.isoformat(),
                    "suggestions": sum(u.counters["totalTabsShown"] for u in us),
                    "accepts": sum(u.counters["totalTabsAccepted"] for u in us),
                    "lines_accepted": sum(u.tab_added for u in us),
                }
            )
    elif metric == "client-versions":
        for d in days:
            versions: dict[str, int] = {}
            for u in uds(d):
                if u.client_version:
                    versions[u.client_version] = versions.get(u.client_version, 0) + 1
            total = sum(versions.values())
            for ver in sorted(versions, key=lambda s: tuple(int(p) for p in s.split("."))):
                rows.append(
                    {
                        "date": d.isoformat(),
                        "client_version": ver,
                        "user_count": versions[ver],
                        "percentage": round(100 * versions[ver] / total, 2),
                    }
                )
    elif metric == "top-file-extensions":
        agg: dict[str, list[int]] = {}
        for d in days:
            for c in code(d)[1]:
                for f in c["metadata"]:
                    e = agg.setdefault(f["fileExtension"], [0, 0, 0])
                    e[0] += 1
                    e[1] += f["linesAdded"]
                    e[2] += f["linesDeleted"]
        for ext in sorted(agg, key=lambda x: (-agg[x][1], x)):
            rows.append(
                {
                    "file_extension": ext,
                    "total_files": agg[ext][0],
                    "lines_accepted": agg[ext][1],
                    "lines_deleted": agg[ext][2],
                }
            )
    elif metric == "leaderboard":
        per: dict[int, dict[str, Any]] = {}
        for d in days:
            for u in uds(d):
                m = u.member
                e = per.setdefault(
                    m.index,
                    {
                        "user_email": m.email,
                        "user_id": team.user_id_value(m),
                        "tab_lines_accepted": 0,
                        "agent_lines_accepted": 0,
                    },
                )
                e["tab_lines_accepted"] += u.tab_added
                e["agent_lines_accepted"] += u.composer_added
        entries = list(per.values())
        for e in entries:
            e["total_lines_accepted"] = e["tab_lines_accepted"] + e["agent_lines_accepted"]
        entries.sort(key=lambda e: (-e["total_lines_accepted"], e["user_email"]))
        for rank, e in enumerate(entries, 1):
            e["rank"] = rank
            rows.append(e)
    return rows


TEAM_METRICS = (
    "dau",
    "models",
    "agent-edits",
    "tabs",
    "client-versions",
    "top-file-extensions",
    "leaderboard",
)
BY_USER_METRICS = ("models", "agent-edits", "tabs", "client-versions", "top-file-extensions")


def team_metric(sim: Simulator, req: Request) -> Response:
    metric = req.params["metric"]
    if metric not in TEAM_METRICS:
        raise not_found(f"Unknown metric: {metric}")
    start, end = _analytics_days(sim, req)
    rows = _metric_rows(sim, metric, _days(start, end), None)
    return json_response(
        {
            "data": rows,
            "params": {
                "metric": metric,
                "teamId": sim.team.team_id,
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
            },
        }
    )


def by_user_metric(sim: Simulator, req: Request) -> Response:
    """`/analytics/by-user/{metric}`: `data` maps each user's email to that user's rows."""
    metric = req.params["metric"]
    if metric not in BY_USER_METRICS:
        raise not_found(f"Unknown metric: {metric}")
    start, end = _analytics_days(sim, req)
    days = _days(start, end)
    data = {}
    for m in sim.team.member_list:
        rows = _metric_rows(sim, metric, days, m)
        if rows:
            data[m.email] = rows
    return json_response(
        {
            "data": data,
            "params": {
                "metric": metric,
                "teamId": sim.team.team_id,
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
            },
        }
    )


# --------------------------------------------------------------------------------------------
# Routing table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # the documented path, with {param} placeholders
    handler: Callable[[Simulator, Request], Response]
    enterprise: bool = False  # refused for non-enterprise teams
    etag: bool = False  # ETag / Cache-Control / If-None-Match
    pattern: re.Pattern[str] | None = None

    def match(self, path: str) -> dict[str, str] | None:
        pattern = self.pattern or re.compile(
            "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template)) + "$"
        )
        m = pattern.match(path)
        return m.groupdict() if m else None


ROUTES: tuple[Route, ...] = (
    Route("GET", "/teams/members", members),
    Route("POST", "/teams/daily-usage-data", daily_usage),
    Route("POST", "/teams/spend", spend),
    Route("POST", "/teams/filtered-usage-events", usage_events),
    Route("POST", "/teams/user-spend-limit", user_spend_limit),
    Route("GET", "/settings/repo-blocklists/repos", repo_blocklists),
    Route("POST", "/settings/repo-blocklists/repos/upsert", upsert_repo_blocklists),
    Route("DELETE", "/settings/repo-blocklists/repos/{repoId}", delete_repo_blocklist),
    Route("GET", "/teams/audit-logs", audit_logs, enterprise=True),
    Route("POST", "/teams/remove-member", remove_member),
    Route("GET", "/analytics/ai-code/commits", ai_commits, enterprise=True, etag=True),
    Route("GET", "/analytics/ai-code/commits.csv", ai_commits_csv, enterprise=True, etag=True),
    Route("GET", "/analytics/ai-code/changes", ai_changes, enterprise=True, etag=True),
    Route("GET", "/analytics/ai-code/changes.csv", ai_changes_csv, enterprise=True, etag=True),
    Route("GET", "/analytics/team/{metric}", team_metric, enterprise=True, etag=True),
    Route("GET", "/analytics/by-user/{metric}", by_user_metric, enterprise=True, etag=True),
)
_COMPILED = tuple(
    Route(
        r.method,
        r.template,
        r.handler,
        r.enterprise,
        r.etag,
        re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(r.template)) + "$"),
    )
    for r in ROUTES
)


def resolve(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path known for another method)."""
    known = False
    for route in _COMPILED:
        params = route.match(path)
        if params is None:
            continue
        if route.method == method:
            return route, params, True
        known = True
    return None, {}, known
