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
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .team import DAY_MS, MODELS, Member, _alloc, _key, _snake, day_start_ms, iso_ms, ms_to_day

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

COMMIT_CSV_ALT_ORDER: tuple[str, ...] = (
    "user_id", "user_email", "commit_hash", "repo_name", "branch_name", "commit_ts", "created_at",
    "message", "total_lines_added", "total_lines_deleted", "composer_lines_added",
    "composer_lines_deleted", "tab_lines_added", "tab_lines_deleted", "non_ai_lines_added",
    "non_ai_lines_deleted", "is_primary_branch", "commit_source",
)  # fmt: skip
CHANGE_CSV_ALT_ORDER: tuple[str, ...] = (
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
    """The request's days: `YYYY-MM-DD`, ISO datetimes (time ignored), `now`/`today`,
    `yesterday` or `<n>d`; default the last 7 days. At most 30 days apart: the docs' own example
    range, 2025-01-01..2025-01-31, is accepted."""
    team = sim.team
    now = team.now_ms()

    def when(name: str, default_ms: int) -> date:
        value = (req.q(name) or "").strip().lower()
        if value == "today":
            value = "now"
        if value == "yesterday":
            return ms_to_day(now) - timedelta(days=1)
        return ms_to_day(parse_when(value or None, now, end=False, default_ms=default_ms, name=name))

    end = when("endDate", now)
    start = when("startDate", now - 7 * DAY_MS)
    if end < start:
        raise bad_request("endDate must not be before startDate")
    if (end - start).days > ANALYTICS_MAX_DAYS:
        raise bad_request(f"Date range cannot exceed {ANALYTICS_MAX_DAYS} days")
    return start, end


MCP_TOOLS = (
    ("read_file", "filesystem"),
    ("search_web", "brave-search"),
    ("query", "postgres"),
    ("create_issue", "github"),
)
COMMANDS = ("explain", "refactor", "tests", "review")
SKILLS = ("react-best-practices", "usage-billing", "create-rule", "commit-message-helper")
LINE_FIELDS = ("green_lines_accepted", "red_lines_accepted", "green_lines_rejected", "red_lines_rejected")


def _lines(added: int, deleted: int, accepted: int, rejected: int) -> dict[str, int]:
    """The documented line fields from accepted lines, the rejected share following the
    rejected suggestions: suggested = accepted + rejected, lines = green + red."""
    green_rej = added * rejected // accepted if accepted else 0
    red_rej = deleted * rejected // accepted if accepted else 0
    return {
        "total_green_lines_accepted": added,
        "total_red_lines_accepted": deleted,
        "total_green_lines_rejected": green_rej,
        "total_red_lines_rejected": red_rej,
        "total_green_lines_suggested": added + green_rej,
        "total_red_lines_suggested": deleted + red_rej,
        "total_lines_suggested": added + deleted + green_rej + red_rej,
        "total_lines_accepted": added + deleted,
    }


def _uses(sim: Simulator, what: str, d: date, u: Any, total: int, names: tuple[Any, ...]) -> dict[Any, int]:
    """A user-day's `total` uses of a feature split deterministically over some of `names`."""
    if total <= 0:
        return {}
    r = random.Random(_key(sim.team.seed, what, d.toordinal(), sim.team.revision(d), u.member.index))
    chosen = r.sample(names, r.randint(1, min(2, len(names))))
    return {n: c for n, c in zip(chosen, _alloc(total, [r.random() + 0.1 for _ in chosen])) if c}


def _sum_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows with equal `keys` summed (numbers), in first-seen order."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[x] for x in keys)
        if k not in out:
            out[k] = dict(row)
        else:
            for f, v in row.items():
                if f not in keys:
                    out[k][f] += v
    return list(out.values())


def _day_rows(sim: Simulator, metric: str, d: date, uds: list[Any]) -> list[dict[str, Any]]:
    """The rows of one analytics metric for day `d` over the user-days `uds` (the whole team,
    or one member): sums over users, so a team's rows are the sum of its members' rows. DAU is
    the active users of daily usage; tabs and agent edits are daily usage's tab and
    suggestion counters and its accepted lines."""
    team = sim.team
    day = d.isoformat()
    active = [u for u in uds if u.active]
    if metric == "dau":
        members = {u.member.index for u in active}
        commits = [c for c in team._code_day(d)[0] if c["_member"].index in members] if active else []
        return [
            {
                "date": day,
                "dau": len(active),
                "cli_dau": len({c["_member"].index for c in commits if c["commitSource"] == "cli"}),
                "cloud_agent_dau": len({c["_member"].index for c in commits if c["commitSource"] == "cloud"}),
                "bugbot_dau": sum(1 for u in active if u.counters["bugbotUsages"] > 0),
            }
        ]
    if not active:
        return []
    if metric == "agent-edits":
        accepted = sum(u.counters["totalAccepts"] for u in active)
        rejected = sum(u.counters["totalRejects"] for u in active)
        added, deleted = sum(u.composer_added for u in active), sum(u.composer_deleted for u in active)
        return [
            {
                "event_date": day,
                "total_suggested_diffs": accepted + rejected,
                "total_accepted_diffs": accepted,
                "total_rejected_diffs": rejected,
                **_lines(added, deleted, accepted, rejected),
            }
        ]
    if metric == "tabs":
        shown = sum(u.counters["totalTabsShown"] for u in active)
        accepted = sum(u.counters["totalTabsAccepted"] for u in active)
        added, deleted = sum(u.tab_added for u in active), sum(u.tab_deleted for u in active)
        return [
            {
                "event_date": day,
                "total_suggestions": shown,
                "total_accepts": accepted,
                "total_rejects": shown - accepted,
                **_lines(added, deleted, accepted, shown - accepted),
            }
        ]
    if metric == "models":
        breakdown: dict[str, dict[str, int]] = {}
        for model in MODELS:
            users = [u for u in active if any(c.model == model for c in u.cells)]
            if users:
                messages = sum(c.count for u in users for c in u.cells if c.model == model)
                breakdown[model] = {"messages": messages, "users": len(users)}
        return [{"date": day, "model_breakdown": breakdown}] if breakdown else []
    if metric == "client-versions":
        versions: dict[str, int] = {}
        for u in active:
            if u.client_version:
                versions[u.client_version] = versions.get(u.client_version, 0) + 1
        total = sum(versions.values())
        return [
            {
                "event_date": day,
                "client_version": v,
                "user_count": versions[v],
                "percentage": round(versions[v] / total, 3),
            }
            for v in sorted(versions, key=lambda s: tuple(int(p) for p in s.split(".")), reverse=True)
        ]
    if metric == "top-file-extensions":
        members = {u.member.index for u in active}
        per: dict[str, list[int]] = {}
        for change in team._code_day(d)[1]:
            if change["_member"].index not in members:
                continue
            for f in change["metadata"]:
                e = per.setdefault(f["fileExtension"], [0, 0])
                e[0] += 1
                e[1] += f["linesAdded"] + f["linesDeleted"]
        top = sorted(per, key=lambda x: (-per[x][1], x))[:5]
        rows = []
        for ext in top:
            files, lines = per[ext]
            rows.append(
                {
                    "event_date": day,
                    "file_extension": ext,
                    "total_files": files,
                    "total_accepts": files,
                    "total_rejects": files // 3,
                    "total_lines_suggested": lines + lines // 3,
                    "total_lines_accepted": lines,
                    "total_lines_rejected": lines // 3,
                }
            )
        return rows
    uses: list[dict[str, Any]] = []
    for u in active:
        c = u.counters
        if metric == "mcp":
            for (tool, server), n in _uses(sim, "mcp", d, u, c["agentRequests"] // 3, MCP_TOOLS).items():
                uses.append({"event_date": day, "tool_name": tool, "mcp_server_name": server, "usage": n})
        elif metric == "commands":
            for name, n in _uses(sim, "cmd", d, u, c["chatRequests"] // 4, COMMANDS).items():
                uses.append({"event_date": day, "command_name": name, "usage": n})
        elif metric == "skills":
            for name, n in _uses(sim, "skill", d, u, c["agentRequests"] // 5, SKILLS).items():
                uses.append({"event_date": day, "skill_name": name, "usage": n})
        elif metric in ("plans", "ask-mode") and u.most_used_model:
            n = c["composerRequests"] // 2 if metric == "plans" else c["chatRequests"]
            if n:
                uses.append({"event_date": day, "model": u.most_used_model, "usage": n})
    keys = {"mcp": ("tool_name", "mcp_server_name"), "commands": ("command_name",), "skills": ("skill_name",)}
    return _sum_rows(uses, ("event_date", *keys.get(metric, ("model",))))


def _leaderboards(
    sim: Simulator, days: list[date], members: set[int] | None
) -> dict[str, list[dict[str, Any]]]:
    """Per board, every user active in `days` with their totals, ranked by lines accepted."""
    team = sim.team
    per: dict[int, list[Any]] = {}
    for d in days:
        for u in team.user_days(d):
            if u.active and (members is None or u.member.index in members):
                per.setdefault(u.member.index, []).append((d, u))
    boards: dict[str, list[dict[str, Any]]] = {"tab": [], "agent": []}
    for user_days in per.values():
        m = user_days[0][1].member
        for board, metric in (("tab", "tabs"), ("agent", "agent-edits")):
            rows = [r for d, u in user_days for r in _day_rows(sim, metric, d, [u])]
            accepts = sum(r["total_accepts" if board == "tab" else "total_accepted_diffs"] for r in rows)
            accepted = sum(r["total_lines_accepted"] for r in rows)
            suggested = sum(r["total_lines_suggested"] for r in rows)
            entry: dict[str, Any] = {
                "email": m.email,
                "user_id": m.user_id,
                "profile_picture_url": f"https://example.com/avatars/{m.user_id}.jpg",
                "total_accepts": accepts,
                "total_lines_accepted": accepted,
                "total_lines_suggested": suggested,
                "line_acceptance_ratio": accepted / suggested if suggested else 0.0,
            }
            if board == "tab":
                shown = sum(r["total_suggestions"] for r in rows)
                entry["accept_ratio"] = accepts / shown if shown else 0.0
            boards[board].append(entry)
    for board, entries in boards.items():
        entries.sort(key=lambda e: (-e["total_lines_accepted"], e["email"]))
        for rank, e in enumerate(entries, 1):
            if sim.variants.legacy_analytics:  # late 2025
                del e["profile_picture_url"]
                for ratio in ("line_acceptance_ratio", "accept_ratio"):
                    if ratio in e:
                        e[ratio] = round(e[ratio], 3)
                if board == "agent":
                    member = team.member_by_email(e["email"])
                    models = [u.most_used_model for _, u in per[member.index]] if member else []
                    e["favorite_model"] = max(MODELS, key=lambda m: (models.count(m), -MODELS.index(m)))
            e["rank"] = rank
    return boards


def _analytics_members(sim: Simulator, req: Request) -> set[int] | None:
    """The `users` filter (emails and/or user ids, comma-separated) as member indexes."""
    refs = req.q_list("users")
    if not refs:
        return None
    found = [sim.team.find_member(ref) for ref in refs]
    return {m.index for m in found if m is not None}


def _params(sim: Simulator, metric: str, start: date, end: date, **more: Any) -> dict[str, Any]:
    top_files = metric == "top-file-extensions" and not sim.variants.legacy_analytics
    return {
        "metric": "top-files" if top_files else metric,
        "teamId": sim.team.team_id,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        **more,
    }


def _pagination(page: int, size: int, total: int) -> dict[str, Any]:
    pages = _pages(total, size)
    return {
        "page": page,
        "pageSize": size,
        "totalUsers": total,
        "totalPages": pages,
        "hasNextPage": page < pages,
        "hasPreviousPage": page > 1,
    }


TEAM_METRICS = (
    "dau", "agent-edits", "tabs", "models", "client-versions", "top-file-extensions",
    "mcp", "commands", "plans", "skills", "ask-mode", "leaderboard",
)  # fmt: skip
BY_USER_METRICS = tuple(m for m in TEAM_METRICS if m not in ("dau", "leaderboard"))
LEADERBOARD_MAX_PAGE_SIZE = BY_USER_MAX_PAGE_SIZE = 500


def team_metric(sim: Simulator, req: Request) -> Response:
    """`/analytics/team/{metric}`: `{"data": [rows], "params"}`; the leaderboard nests a tab and
    an agent board and pages over users (page, pageSize default 10, max 500)."""
    metric = req.params["metric"]
    if metric not in TEAM_METRICS:
        raise not_found(f"Unknown metric: {metric}")
    start, end = _analytics_days(sim, req)
    members = _analytics_members(sim, req)
    if metric == "leaderboard":
        page, size = _page_params(req.q("page"), req.q("pageSize"), 10, LEADERBOARD_MAX_PAGE_SIZE)
        boards = _leaderboards(sim, _days(start, end), members)
        total = max(len(b) for b in boards.values())
        lo = (page - 1) * size
        return json_response(
            {
                "data": {
                    f"{name}_leaderboard": {"data": rows[lo : lo + size], "total_users": len(rows)}
                    for name, rows in boards.items()
                },
                "pagination": _pagination(page, size, total),
                "params": _params(sim, metric, start, end, page=page, pageSize=size),
            }
        )
    rows = []
    for d in _days(start, end):
        uds = [u for u in sim.team.user_days(d) if members is None or u.member.index in members]
        rows.extend(_day_rows(sim, metric, d, uds))
    return json_response({"data": rows, "params": _params(sim, metric, start, end)})


def by_user_metric(sim: Simulator, req: Request) -> Response:
    """`/analytics/by-user/{metric}`: `data` maps each user's email to that user's rows; pages
    are over the users with data in the range (pageSize default 100, max 500)."""
    metric = req.params["metric"]
    if metric not in BY_USER_METRICS:
        raise not_found(f"Unknown metric: {metric}")
    start, end = _analytics_days(sim, req)
    members = _analytics_members(sim, req)
    page, size = _page_params(req.q("page"), req.q("pageSize"), 100, BY_USER_MAX_PAGE_SIZE)
    per: dict[int, list[dict[str, Any]]] = {}
    for d in _days(start, end):
        for u in sim.team.user_days(d):
            if members is None or u.member.index in members:
                rows = _day_rows(sim, metric, d, [u])
                if sim.variants.legacy_analytics and metric == "agent-edits":  # late 2025
                    rows = [
                        {
                            "event_date": r["event_date"],
                            "suggested_lines": r["total_lines_suggested"],
                            "accepted_lines": r["total_lines_accepted"],
                        }
                        for r in rows
                    ]
                if rows:
                    per.setdefault(u.member.index, []).extend(rows)
    users = [m for m in sim.team.member_list if m.index in per]
    chosen = users[(page - 1) * size : page * size]
    return json_response(
        {
            "data": {m.email: per[m.index] for m in chosen},
            "pagination": _pagination(page, size, len(users)),
            "params": _params(
                sim,
                metric,
                start,
                end,
                page=page,
                pageSize=size,
                userMappings=[{"id": m.user_id, "email": m.email} for m in chosen],
            ),
        }
    )


BILLING_GROUPS = ("Engineering", "Design", "Product")


def billing_groups(sim: Simulator, req: Request) -> Response:
    """`GET /teams/groups`: the current cycle's billing groups. Members with a spend row are
    assigned by index (every fifth one unassigned); a group's `spendCents` and `dailySpend`
    sum its members' on-demand (billed) cents, so they add up to `/teams/spend`'s spendCents."""
    team = sim.team
    cycle = req.q("billingCycle")
    if cycle is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", cycle):
        raise bad_request("billingCycle must be a date (YYYY-MM-DD)")
    start = team.cycle_start
    end = (start.replace(day=1) + timedelta(days=32)).replace(day=min(start.day, 28))
    daily: dict[int, dict[date, int]] = {}
    for d in _days(start, team.today):
        for u in team.user_days(d):
            billed = sum(c.billed for c in u.cells)
            daily.setdefault(u.member.index, {})[d] = billed
    groups: dict[str, dict[str, Any]] = {}
    names = [*BILLING_GROUPS, "Unassigned"]
    for name in names:
        gid = "group_unassigned" if name == "Unassigned" else f"group_{_snake(name)}{team.team_id}"
        created = iso_ms(day_start_ms(team.first_day))
        groups[name] = {
            "id": gid, "name": name, "type": "BILLING", "directoryGroupId": None, "memberCount": 0,
            "createdAt": created, "updatedAt": created, "spendCents": 0,
            "currentMembers": [], "formerMembers": [], "dailySpend": {},
        }  # fmt: skip
    for m in team.spend_members():
        name = "Unassigned" if m.index % 5 == 4 else BILLING_GROUPS[m.index % len(BILLING_GROUPS)]
        g = groups[name]
        spent = sum(daily.get(m.index, {}).values())
        g["memberCount"] += 1
        g["spendCents"] += spent
        g["formerMembers" if m.removed else "currentMembers"].append(
            {
                "userId": m.user_id,
                "name": m.name,
                "email": m.email,
                "joinedAt": iso_ms(m.joined_ms),
                "leftAt": iso_ms(day_start_ms(m.removed_day)) if m.removed and m.removed_day else None,
                "spendCents": spent / 100,
            }
        )
        for d, cents in daily.get(m.index, {}).items():
            g["dailySpend"][d] = g["dailySpend"].get(d, 0) + cents
    for g in groups.values():
        g["spendCents"] = g["spendCents"] / 100
        g["dailySpend"] = [
            {"date": d.isoformat(), "spendCents": c / 100} for d, c in sorted(g["dailySpend"].items())
        ]
    return json_response(
        {
            "groups": [groups[n] for n in BILLING_GROUPS],
            "unassignedGroup": groups["Unassigned"],
            "billingCycle": {
                "cycleStart": iso_ms(day_start_ms(start)),
                "cycleEnd": iso_ms(day_start_ms(end)),
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
    Route("GET", "/teams/groups", billing_groups, enterprise=True),
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
