"""CursorClient: one httpx client for Cursor's Admin, AI Code Tracking and Analytics APIs.

Every request goes through one path (`_call`): the key check, per-endpoint pacing, the retry
policy, ETags where the API has them, error mapping and request statistics. Ranged reads split
their dates into the fewest chunks the range limit allows and yield one `Page` per response,
so a caller can stream a day of a million events without the client holding them.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import math
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import IO, Any, Literal
from urllib.parse import quote, urlencode

import httpx

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
from .etag import MAX_CACHED_BODY_CHARS, EtagCache
from .pacing import Pacer
from .records import epoch_ms_to_datetime, normalise, normalise_all, to_int
from .retry import RetryPolicy, parse_retry_after

logger = logging.getLogger("cursor_analytics.cursor_api")

DEFAULT_BASE_URL = "https://api.cursor.com"
KEY_PREFIXES = ("crsr_", "key_")
MAX_DAYS_LIMIT = 90
# Audit logs and the Analytics API document a 30-day maximum whatever the plan.
FIXED_MAX_DAYS = 30
SPEND_PAGE_SIZE = 1000

# Requests per rate-limit window (one minute), per endpoint path, as currently documented.
# Glob keys cover parametrised paths; each key has its own counter.
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "/teams/members": 20,
    "/teams/daily-usage-data": 20,
    "/teams/spend": 20,
    "/teams/filtered-usage-events": 60,
    "/teams/user-spend-limit": 250,
    "/teams/audit-logs": 20,
    "/teams/remove-member": 20,
    "/settings/repo-blocklists/repos": 20,
    "/settings/repo-blocklists/repos/upsert": 20,
    "/settings/repo-blocklists/repos/*": 20,
    "/analytics/ai-code/commits": 20,
    "/analytics/ai-code/commits.csv": 20,
    "/analytics/ai-code/changes": 20,
    "/analytics/ai-code/changes.csv": 20,
    "/analytics/team/*": 100,
    "/analytics/by-user/*": 50,
}

# The older documented limits (some plans still have them): pass as rate_limits.
LEGACY_RATE_LIMITS: dict[str, int] = {
    **DEFAULT_RATE_LIMITS,
    "/teams/filtered-usage-events": 20,
    "/teams/user-spend-limit": 60,
    "/analytics/ai-code/commits": 5,
    "/analytics/ai-code/commits.csv": 5,
    "/analytics/ai-code/changes": 5,
    "/analytics/ai-code/changes.csv": 5,
}

AI_CODE_KINDS = ("commits", "changes")
TEAM_METRICS = (
    "dau",
    "agent-edits",
    "tabs",
    "models",
    "client-versions",
    "top-file-extensions",
    "mcp",
    "commands",
    "plans",
    "ask-mode",
    "leaderboard",
)


@dataclass
class Page:
    """One response's worth of normalised records."""

    endpoint: str
    records: list[dict[str, Any]]
    page: int
    total_pages: int | None
    total_count: int | None
    window: tuple[date, date]
    not_modified: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestStats:
    """What the client did: HTTP attempts per endpoint path, pages read, retries, 304s, and the
    seconds spent waiting for the client-side rate limiter."""

    requests: Counter = field(default_factory=Counter)
    pages: int = 0
    retries: int = 0
    not_modified: int = 0
    rate_limit_waits_seconds: float = 0.0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@dataclass(frozen=True)
class ConnectionCheck:
    status: Literal["ok", "invalid_credentials", "no_resources"]
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _Secret:
    """Holds the API key; shows as <redacted> in any repr, str or vars() dump."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


@dataclass
class _Reply:
    status_code: int
    data: Any = None  # parsed JSON (None for 204 and CSV)
    csv_file: IO[str] | None = None
    not_modified: bool = False


# ------------------------------------------------------------------ dates


def split_days(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Inclusive [start, end] as the fewest consecutive inclusive chunks of at most max_days."""
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if start > end:
        raise ValueError(f"start ({start}) is after end ({end})")
    chunks = []
    lo = start
    while lo <= end:
        hi = min(end, lo + timedelta(days=max_days - 1))
        chunks.append((lo, hi))
        lo = hi + timedelta(days=1)
    return chunks


def _checked_range(method):
    """Validate (start, end) when a ranged read is called, not when its first page is asked for."""

    @functools.wraps(method)
    def wrapper(self, start, end, *args, **kwargs):
        start, end = _as_date(start, "start"), _as_date(end, "end")
        if start > end:
            raise ValueError(f"start ({start}) is after end ({end})")
        return method(self, start, end, *args, **kwargs)

    return wrapper


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")


def day_start_ms(day: date) -> int:
    return int(datetime.combine(day, dtime(0), tzinfo=timezone.utc).timestamp() * 1000)


def day_end_ms(day: date) -> int:
    return day_start_ms(day + timedelta(days=1)) - 1


def day_start_iso(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000Z"


def day_end_iso(day: date) -> str:
    return f"{day.isoformat()}T23:59:59.999Z"


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


# ------------------------------------------------------------------ the client


class CursorClient:
    """Client of Cursor's team APIs (Basic auth: the key as username, empty password).

    Thread-safe: pacing, statistics and the default ETag cache are guarded by locks, and
    httpx.Client may be shared between threads.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 30.0,
        max_days_per_request: int = 30,
        page_size: int = 1000,
        audit_page_size: int = 500,
        rate_limits: Mapping[str, int] | None = None,
        rate_limit_window_seconds: float = 60.0,
        max_attempts: int = 6,
        backoff_base_seconds: float = 1.0,
        etag_cache: MutableMapping[str, dict[str, Any]] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = api_key.strip() if isinstance(api_key, str) else ""
        self._api_key = _Secret(key)
        self._key_ok = bool(key) and key.startswith(KEY_PREFIXES) and len(key) > 5
        self._key_fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]

        self.base_url = _check_base_url(base_url)
        self.max_days_per_request = _check_int(
            "max_days_per_request", max_days_per_request, 1, MAX_DAYS_LIMIT
        )
        self.page_size = _check_int("page_size", page_size, 1, 1000)
        self.audit_page_size = _check_int("audit_page_size", audit_page_size, 1, 500)
        self.rate_limits = dict(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        if not rate_limit_window_seconds > 0:
            raise ValueError(
                f"rate_limit_window_seconds must be positive, got {rate_limit_window_seconds!r}"
            )
        self.rate_limit_window_seconds = float(rate_limit_window_seconds)
        # {} = no pacing (e.g. a simulator without limits, or a proxy that paces for us)
        self._pacer = (
            Pacer(self.rate_limits, self.rate_limit_window_seconds) if self.rate_limits else None
        )
        self.stats = RequestStats()
        self._stats_lock = threading.Lock()
        self._retry = RetryPolicy(max_attempts, backoff_base_seconds, on_retry=self._on_retry)
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.etag_cache: MutableMapping[str, dict[str, Any]] = (
            EtagCache() if etag_cache is None else etag_cache
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(key, ""),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "cursor-analytics"},
            follow_redirects=False,
        )

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CursorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CursorClient(base_url={self.base_url!r}, api_key=<redacted>)"

    def __getstate__(self) -> None:
        raise TypeError("CursorClient cannot be pickled (it holds a connection pool and a key)")

    # ------------------------------------------------------------ Admin API

    def team_members(self) -> list[dict[str, Any]]:
        """Every member, removed ones included (`is_removed`)."""
        path = "/teams/members"
        reply = self._call("GET", path)
        records = normalise_all(
            "team_members",
            _key(reply.data, "teamMembers", path, list),
            endpoint=path,
            key="teamMembers",
        )
        self._count_page()
        return records

    @_checked_range
    def daily_usage(self, start: date, end: date) -> Iterator[Page]:
        """Per user and day counters, one Page per request (13 requests for 365 days at 30;
        pages are over users, page_size users each, so a team under 1000 needs no second page)."""
        path = "/teams/daily-usage-data"
        for lo, hi in split_days(start, end, self.max_days_per_request):
            body: dict[str, Any] = {"startDate": day_start_ms(lo), "endDate": day_end_ms(hi)}

            def fetch(page: int, body=body) -> _Reply:
                # Always paged (over users): unpaged answers may omit inactive users' rows.
                return self._call(
                    "POST", path, json_body={**body, "page": page, "pageSize": self.page_size}
                )

            yield from self._pages(path, "daily_usage", (lo, hi), fetch, _daily_envelope)

    def spend(self) -> Page:
        """The current billing cycle's spend per member: all pages merged into one Page.
        `Page.extra`: subscription_cycle_start (datetime, UTC), total_members."""
        path = "/teams/spend"
        records: list[dict[str, Any]] = []
        page, total_pages, total_members, cycle_start = 1, 1, None, None
        previous: str | None = None
        while True:
            reply = self._call("POST", path, json_body={"page": page, "pageSize": SPEND_PAGE_SIZE})
            raws = _key(reply.data, "teamMemberSpend", path, list)
            total_pages = _optional_int(reply.data, "totalPages", path)
            total_members = _optional_int(reply.data, "totalMembers", path)
            cycle_ms = _optional_int(reply.data, "subscriptionCycleStart", path)
            cycle_start = epoch_ms_to_datetime(cycle_ms) if cycle_ms is not None else None
            more = total_pages is not None and page < total_pages
            previous = _check_progress(path, page, raws, previous, more)
            records.extend(normalise_all("spend", raws, endpoint=path, key="teamMemberSpend"))
            self._count_page()
            if not more:
                break
            page += 1
        today = _utc_today()
        return Page(
            endpoint=path,
            records=records,
            page=page,
            total_pages=total_pages,
            total_count=total_members,
            window=(cycle_start.date() if cycle_start else today, today),
            extra={"subscription_cycle_start": cycle_start, "total_members": total_members},
        )

    @_checked_range
    def usage_events(
        self, start: date, end: date, *, user_id: str | None = None, email: str | None = None
    ) -> Iterator[Page]:
        """Every usage event of the inclusive UTC days, page by page (page_size per request)."""
        path = "/teams/filtered-usage-events"
        filters = {k: v for k, v in (("userId", user_id), ("email", email)) if v is not None}
        for lo, hi in split_days(start, end, self.max_days_per_request):
            body = {"startDate": day_start_ms(lo), "endDate": day_end_ms(hi), **filters}

            def fetch(page: int, body=body) -> _Reply:
                return self._call(
                    "POST", path, json_body={**body, "page": page, "pageSize": self.page_size}
                )

            yield from self._pages(path, "usage_events", (lo, hi), fetch, _usage_envelope)

    def usage_events_count(self, start: date, end: date) -> int:
        """How many usage events the days hold, from `totalUsageEventsCount` (one small request
        per chunk)."""
        path = "/teams/filtered-usage-events"
        total = 0
        for lo, hi in split_days(start, end, self.max_days_per_request):
            body = {
                "startDate": day_start_ms(lo),
                "endDate": day_end_ms(hi),
                "page": 1,
                "pageSize": 1,
            }
            reply = self._call("POST", path, json_body=body)
            total += _key(reply.data, "totalUsageEventsCount", path, int)
        return total

    @_checked_range
    def audit_logs(
        self,
        start: date,
        end: date,
        *,
        event_types: list[str] | str | None = None,
        search: str | None = None,
        users: list[str] | str | None = None,
    ) -> Iterator[Page]:
        """Audit events of the inclusive UTC days (30-day chunks, audit_page_size per page)."""
        path = "/teams/audit-logs"
        filters: dict[str, Any] = {}
        if event_types:
            filters["eventTypes"] = _csv_param(event_types)
        if search:
            filters["search"] = search
        if users:
            filters["users"] = _csv_param(users)
        for lo, hi in split_days(start, end, min(self.max_days_per_request, FIXED_MAX_DAYS)):
            params = {"startTime": day_start_iso(lo), "endTime": day_end_iso(hi), **filters}

            def fetch(page: int, params=params) -> _Reply:
                return self._call(
                    "GET", path, params={**params, "page": page, "pageSize": self.audit_page_size}
                )

            yield from self._pages(path, "audit_logs", (lo, hi), fetch, _audit_envelope)

    def repo_blocklists(self) -> list[dict[str, Any]]:
        path = "/settings/repo-blocklists/repos"
        reply = self._call("GET", path)
        self._count_page()
        return normalise_all(
            "repo_blocklists", _key(reply.data, "repos", path, list), endpoint=path, key="repos"
        )

    def upsert_repo_blocklists(self, repos: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the patterns of the listed repository URLs (others stay untouched)."""
        path = "/settings/repo-blocklists/repos/upsert"
        payload = []
        for repo in repos:
            if not isinstance(repo, Mapping) or not repo.get("url"):
                raise ValueError("each repo must be a dict with a 'url' and a list of 'patterns'")
            patterns = repo.get("patterns", [])
            if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
                raise ValueError(f"patterns of {repo['url']} must be a list of glob strings")
            payload.append({"url": repo["url"], "patterns": list(patterns)})
        reply = self._call("POST", path, json_body={"repos": payload})
        return normalise_all(
            "repo_blocklists", _key(reply.data, "repos", path, list), endpoint=path, key="repos"
        )

    def delete_repo_blocklist(self, repo_id: str) -> None:
        if not repo_id:
            raise ValueError("repo_id must be a non-empty string")
        self._call(
            "DELETE",
            f"/settings/repo-blocklists/repos/{quote(str(repo_id), safe='')}",
            expect="none",
        )

    def set_user_spend_limit(self, email: str, dollars: int | None) -> dict[str, Any]:
        """Set a member's spend limit in whole dollars (0 = a $0 limit, None = no limit)."""
        path = "/teams/user-spend-limit"
        if dollars is not None and (isinstance(dollars, bool) or not isinstance(dollars, int)):
            raise ValueError(f"dollars must be a whole number or None, got {dollars!r}")
        if dollars is not None and dollars < 0:
            raise ValueError(f"dollars must not be negative, got {dollars}")
        if not email:
            raise ValueError("email must be a member's email address")
        reply = self._call(
            "POST", path, json_body={"userEmail": email, "spendLimitDollars": dollars}
        )
        outcome = _key(reply.data, "outcome", path, str)
        message = self._redact(str(reply.data.get("message") or ""))
        if outcome != "success":
            raise BadRequestError(
                "the spend limit was not set",
                endpoint=f"POST {path}",
                status_code=reply.status_code,
                server_message=message or None,
                hint="Check that the email belongs to a current team member",
            )
        return {"outcome": outcome, "message": message}

    def remove_member(
        self, *, user_id: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """Remove a member by exactly one of user_id or email."""
        path = "/teams/remove-member"
        if (user_id is None) == (email is None):
            raise ValueError("pass exactly one of user_id or email")
        body = {"userId": str(user_id)} if user_id is not None else {"email": email}
        reply = self._call("POST", path, json_body=body)
        if not isinstance(reply.data, dict):
            raise UnexpectedResponseError("expected a JSON object", endpoint=f"POST {path}")
        if reply.data.get("success") is False:
            raise BadRequestError(
                "the member was not removed",
                endpoint=f"POST {path}",
                status_code=reply.status_code,
                server_message=self._redact(str(reply.data.get("message") or "")) or None,
            )
        return reply.data

    # ------------------------------------------------------------ AI Code Tracking API

    @_checked_range
    def ai_commits(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """Commits (dated by commitTs) with their AI line counts, page by page."""
        return self._ai_code("commits", "ai_commits", start, end, user)

    @_checked_range
    def ai_changes(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """AI changes (dated by createdAt) with their files, page by page."""
        return self._ai_code("changes", "ai_changes", start, end, user)

    @_checked_range
    def ai_commits_csv(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """The CSV export of commits, streamed and cut into Pages of page_size rows."""
        return self._ai_code_csv("commits", "ai_commits", start, end, user)

    @_checked_range
    def ai_changes_csv(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """The CSV export of changes (metadata_json parsed into `files`), in Pages."""
        return self._ai_code_csv("changes", "ai_changes", start, end, user)

    def ai_code_count(self, kind: str, start: date, end: date) -> int:
        """`totalCount` of commits or changes over the days (one pageSize=1 request per chunk)."""
        if kind not in AI_CODE_KINDS:
            raise ValueError(f"kind must be one of {AI_CODE_KINDS}, got {kind!r}")
        path = f"/analytics/ai-code/{kind}"
        total = 0
        for lo, hi in split_days(start, end, self.max_days_per_request):
            params = {
                "startDate": day_start_iso(lo),
                "endDate": day_end_iso(hi),
                "page": 1,
                "pageSize": 1,
            }
            reply = self._call("GET", path, params=params, etag=True)
            total += _key(reply.data, "totalCount", path, int)
        return total

    def _ai_code(self, kind: str, record_type: str, start: date, end: date, user: str | None):
        path = f"/analytics/ai-code/{kind}"
        for lo, hi in split_days(start, end, self.max_days_per_request):
            params = {"startDate": day_start_iso(lo), "endDate": day_end_iso(hi)}
            if user is not None:
                params["user"] = str(user)

            def fetch(page: int, params=params) -> _Reply:
                return self._call(
                    "GET",
                    path,
                    params={**params, "page": page, "pageSize": self.page_size},
                    etag=True,
                )

            yield from self._pages(path, record_type, (lo, hi), fetch, _ai_code_envelope)

    def _ai_code_csv(self, kind: str, record_type: str, start: date, end: date, user: str | None):
        path = f"/analytics/ai-code/{kind}.csv"
        for lo, hi in split_days(start, end, self.max_days_per_request):
            params = {"startDate": day_start_iso(lo), "endDate": day_end_iso(hi)}
            if user is not None:
                params["user"] = str(user)
            reply = self._call("GET", path, params=params, etag=True, expect="csv")
            assert reply.csv_file is not None
            try:
                reader = csv.DictReader(reply.csv_file)
                batch: list[dict[str, Any]] = []
                number = 0
                for row in reader:
                    if None in row:  # more values than header columns
                        raise UnexpectedResponseError(
                            f"CSV line {reader.line_num} has more values than the header "
                            "has columns",
                            endpoint=path,
                        )
                    batch.append(normalise(record_type, row, endpoint=path))
                    if len(batch) >= self.page_size:
                        number += 1
                        yield self._csv_page(path, batch, number, (lo, hi), reply.not_modified)
                        batch = []
                if batch or number == 0:
                    number += 1
                    yield self._csv_page(path, batch, number, (lo, hi), reply.not_modified)
            except csv.Error as exc:
                raise UnexpectedResponseError(
                    f"the CSV body could not be read: {exc}", endpoint=path
                ) from None
            finally:
                reply.csv_file.close()

    def _csv_page(self, path, records, number, window, not_modified) -> Page:
        self._count_page()
        return Page(path, records, number, None, None, window, not_modified)

    # ------------------------------------------------------------ Analytics API

    def team_analytics(self, metric: str, start: date, end: date) -> list[dict[str, Any]]:
        """Rows of `/analytics/team/{metric}` over the days (30-day chunks), as sent."""
        if not metric or not all(c.isalnum() or c == "-" for c in metric):
            raise ValueError(f"metric must be one of {TEAM_METRICS}, got {metric!r}")
        path = f"/analytics/team/{metric}"
        rows: list[dict[str, Any]] = []
        for lo, hi in split_days(start, end, min(self.max_days_per_request, FIXED_MAX_DAYS)):
            params = {"startDate": lo.isoformat(), "endDate": hi.isoformat()}
            reply = self._call("GET", path, params=params, etag=True)
            data = _key(reply.data, "data", path, list)
            self._count_page()
            rows.extend(data)
        return rows

    # ------------------------------------------------------------ connection check

    def check_connection(self) -> ConnectionCheck:
        """Diagnose the key: `invalid_credentials` (wrong prefix: no request; 401: one request),
        `no_resources` (403 on every read endpoint tried, or an empty team), or `ok`."""
        if not self._key_ok:
            return ConnectionCheck(
                "invalid_credentials",
                "The API key does not look like a Cursor team key (it must start with crsr_ or "
                "key_): check CURSOR_API_KEY. No request was sent.",
            )
        yesterday = _utc_today() - timedelta(days=1)
        probes: list[tuple[str, Callable[[], Any]]] = [
            ("team members", self.team_members),
            ("daily usage", lambda: next(iter(self.daily_usage(yesterday, yesterday)), None)),
            ("usage events", lambda: self.usage_events_count(yesterday, yesterday)),
            ("AI code tracking", lambda: self.ai_code_count("commits", yesterday, yesterday)),
        ]
        refused: list[str] = []
        for name, probe in probes:
            try:
                result = probe()
            except InvalidCredentialsError:
                return ConnectionCheck(
                    "invalid_credentials",
                    f"{self.base_url} rejected the API key (HTTP 401): check CURSOR_API_KEY; "
                    "create a key in Cursor's dashboard under Settings > Advanced > "
                    "Admin API keys.",
                )
            except InsufficientAccessError:
                refused.append(name)
                continue
            if name == "team members":
                active = [m for m in result if not m["is_removed"]]
                if not active:
                    return ConnectionCheck(
                        "no_resources",
                        f"The key is valid but its team on {self.base_url} has no members, so "
                        "there is nothing to load: check that it is the right team's key.",
                    )
                return ConnectionCheck(
                    "ok",
                    f"Connected to {self.base_url}: the key reads a team of {len(active)} members.",
                )
            return ConnectionCheck(
                "ok",
                f"Connected to {self.base_url}: the key reads {name}, but not "
                f"{', '.join(refused)} (HTTP 403); ask a team admin for a key or plan with access.",
            )
        return ConnectionCheck(
            "no_resources",
            f"The key is valid but every read endpoint tried on {self.base_url} refused it "
            f"(HTTP 403: {', '.join(refused)}): ask a team admin for an admin API key of a team "
            "with data (AI Code Tracking and Analytics need an Enterprise plan).",
        )

    # ------------------------------------------------------------ paging

    def _pages(
        self,
        path: str,
        record_type: str,
        window: tuple[date, date],
        fetch: Callable[[int], _Reply],
        read_envelope: Callable[[Any, str], _Envelope],
    ) -> Iterator[Page]:
        """Page through one chunk, guarding against servers that repeat pages, send empty pages
        while announcing more, or lose records (seen != the announced total)."""
        page = 1
        seen = 0
        previous: str | None = None
        first_total: int | None = None
        while True:
            reply = fetch(page)
            env = read_envelope(reply.data, path)
            if page == 1:
                first_total = env.total_count
            elif env.total_count != first_total:
                raise UnexpectedResponseError(
                    f"the record count changed while paging ({first_total} on page 1, "
                    f"{env.total_count} on page {page}): new data arrived and shifted the "
                    "pages, so records could be repeated or lost; retry the read",
                    endpoint=path,
                )
            if env.page is not None and env.page != page:
                raise UnexpectedResponseError(
                    f"asked for page {page} but the server answered page {env.page}", endpoint=path
                )
            more = env.has_next
            if more and env.total_pages is not None and page >= env.total_pages:
                raise UnexpectedResponseError(
                    f"page {page} of {env.total_pages} announces a next page", endpoint=path
                )
            previous = _check_progress(path, page, env.items, previous, more)
            if not more and env.total_pages is not None and (
                page < env.total_pages or (page > 1 and not env.items)
            ):
                raise UnexpectedResponseError(
                    f"page {page} is {'empty' if not env.items else 'the last'} but "
                    f"{env.total_pages} pages were announced: the read would stop short; "
                    "retry the read",
                    endpoint=path,
                )
            records = normalise_all(record_type, env.items, endpoint=path, key=env.list_key)
            seen += len(records)
            if env.total_count is not None and seen > env.total_count:
                raise UnexpectedResponseError(
                    f"{seen} records read by page {page}, more than the {env.total_count} "
                    "announced: the server repeats records across pages",
                    endpoint=path,
                )
            self._count_page()
            yield Page(
                endpoint=path,
                records=records,
                page=page,
                total_pages=env.total_pages,
                total_count=env.total_count,
                window=window,
                not_modified=reply.not_modified,
                extra=env.extra,
            )
            if not more:
                if env.total_count is not None and seen != env.total_count:
                    raise UnexpectedResponseError(
                        f"read {seen} records over {page} page(s) but the server announced "
                        f"{env.total_count} (the data changed while paging, or pages were lost): "
                        "retry the read",
                        endpoint=path,
                    )
                return
            page += 1

    # ------------------------------------------------------------ HTTP

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        etag: bool = False,
        expect: Literal["json", "csv", "none"] = "json",
    ) -> _Reply:
        endpoint = f"{method} {path}"
        if not self._key_ok:
            raise InvalidCredentialsError(
                "the API key does not start with crsr_ or key_; no request was sent",
                endpoint=endpoint,
            )
        cache_key = self._cache_key(path, params) if etag else None

        def attempt() -> _Reply:
            return self._attempt(method, path, endpoint, params, json_body, cache_key, expect)

        return self._retry.call(attempt)

    def _attempt(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: dict[str, Any] | None,
        json_body: Any,
        cache_key: str | None,
        expect: str,
    ) -> _Reply:
        cached = self.etag_cache.get(cache_key) if cache_key else None
        headers = {"If-None-Match": cached["etag"]} if cached else {}
        if expect == "csv":
            headers["Accept"] = "text/csv"
        limiter = self._pacer.limiter(path) if self._pacer else None
        if limiter is not None:
            waited = limiter.acquire()
            if waited:
                logger.debug("%s paced: waited %.2f s for the rate limit", endpoint, waited)
                with self._stats_lock:
                    self.stats.rate_limit_waits_seconds += waited
        with self._stats_lock:
            self.stats.requests[path] += 1
        started = time.monotonic()
        spool: IO[str] | None = None
        try:
            request = self._http.build_request(
                method, path, params=params, json=json_body, headers=headers
            )
            response = self._http.send(request, stream=True)
            try:
                if expect == "csv" and response.status_code == 200:
                    spool = tempfile.SpooledTemporaryFile(
                        max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8", newline=""
                    )
                    for chunk in response.iter_text():
                        spool.write(chunk)
                else:
                    response.read()
            finally:
                response.close()
        except httpx.UnsupportedProtocol as exc:
            _close(spool)
            raise CursorConnectionError(
                f"the base URL {self.base_url!r} is not an http(s) URL",
                endpoint=endpoint,
                retryable=False,
                hint="Set base_url to https://api.cursor.com",
            ) from exc
        except httpx.TimeoutException as exc:
            _close(spool)
            raise CursorConnectionError(
                f"no answer within the timeout ({type(exc).__name__})",
                endpoint=endpoint,
                hint="Check the network, or raise the timeout",
            ) from exc
        except httpx.TransportError as exc:
            _close(spool)
            raise CursorConnectionError(
                f"the connection failed or was dropped ({type(exc).__name__})", endpoint=endpoint
            ) from exc
        except httpx.DecodingError as exc:
            _close(spool)
            raise UnexpectedResponseError(
                "the response body could not be decoded", endpoint=endpoint, retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            _close(spool)
            raise CursorConnectionError(
                f"the request failed ({type(exc).__name__})", endpoint=endpoint, retryable=False
            ) from exc

        status = response.status_code
        logger.debug("%s -> %d in %.3f s", endpoint, status, time.monotonic() - started)

        if status == 304 and cached is None:
            raise UnexpectedResponseError(
                "304 Not Modified to a request that was not conditional",
                endpoint=endpoint,
                status_code=status,
            )
        if status == 304:
            if limiter is not None:
                limiter.refund()  # a 304 does not count against Cursor's rate limit
            with self._stats_lock:
                self.stats.not_modified += 1
            return self._decode(cached["body"], status, endpoint, expect, not_modified=True)
        if 200 <= status < 300:
            if cache_key and response.headers.get("ETag"):
                body_text = self._spooled_text(spool) if expect == "csv" else response.text
                if body_text is not None:
                    self.etag_cache[cache_key] = {
                        "etag": response.headers["ETag"],
                        "body": body_text,
                    }
            if expect == "csv":
                assert spool is not None
                spool.seek(0)
                return _Reply(status, csv_file=spool)
            if expect == "none" or status == 204 or not response.content.strip():
                if expect == "json":
                    raise UnexpectedResponseError(
                        f"HTTP {status} with an empty body", endpoint=endpoint, retryable=True
                    )
                return _Reply(status)
            return self._decode(response.text, status, endpoint, expect)
        raise self._error(response, endpoint, method)

    def _decode(
        self, text: str, status: int, endpoint: str, expect: str, not_modified: bool = False
    ) -> _Reply:
        if expect == "csv":
            spool = tempfile.SpooledTemporaryFile(
                max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8", newline=""
            )
            spool.write(text)
            spool.seek(0)
            return _Reply(status, csv_file=spool, not_modified=not_modified)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnexpectedResponseError(
                f"the body is cut off or not JSON ({exc.msg} at character {exc.pos} "
                f"of {len(text)})",
                endpoint=endpoint,
                status_code=status,
                retryable=True,
            ) from None
        return _Reply(status, data=data, not_modified=not_modified)

    @staticmethod
    def _spooled_text(spool: IO[str] | None) -> str | None:
        if spool is None:
            return None
        size = spool.tell()
        if size > MAX_CACHED_BODY_CHARS:
            return None
        spool.seek(0)
        text = spool.read()
        return text

    def _error(self, response: httpx.Response, endpoint: str, method: str) -> CursorApiError:
        status = response.status_code
        body: Any = None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            body = None
        if isinstance(body, dict):
            said = body.get("message") or body.get("error") or body.get("code")
            server_message = self._redact(str(said)) if said else None
        else:
            text = response.text.strip()
            server_message = self._redact(text[:200]) if text else None
        common = {"endpoint": endpoint, "status_code": status, "server_message": server_message}
        is_write = method != "GET" and not endpoint.endswith(
            ("/daily-usage-data", "/filtered-usage-events", "/spend")
        )
        if status == 401 and isinstance(body, dict) and body.get("code") == "error":
            return InsufficientAccessError(
                "the team's plan does not include this endpoint", **common
            )
        if status == 401:
            return InvalidCredentialsError("the API key was rejected", **common)
        if status == 403:
            hint = "Writes need an admin API key: ask a team admin for one" if is_write else None
            return InsufficientAccessError(
                "the key may not read this endpoint", hint=hint, **common
            )
        if status == 400:
            text = (server_message or "").lower()
            hint = None
            if "range" in text or "days" in text:
                hint = (
                    f"Lower max_days_per_request (now {self.max_days_per_request}) to the "
                    "range the server allows (30 in the current docs)"
                )
            return BadRequestError("the server rejected the request", hint=hint, **common)
        if status == 404:
            return NotFoundError("not found", **common)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return RateLimitError("rate limited", retry_after=retry_after, **common)
        if status >= 500:
            return ServerError("the server failed", retry_after=retry_after, **common)
        if 300 <= status < 400:
            return UnexpectedResponseError(
                f"unexpected redirect to {response.headers.get('Location')!r}",
                **common,
                hint="Set base_url to the API's address (https://api.cursor.com)",
            )
        return CursorApiError(f"unexpected HTTP status {status}", **common)

    # ------------------------------------------------------------ helpers

    def _redact(self, text: str) -> str:
        key = self._api_key.value
        return text.replace(key, "<redacted>") if key else text

    def _cache_key(self, path: str, params: Mapping[str, Any] | None) -> str:
        query = urlencode(sorted((params or {}).items()))
        return f"{self._key_fingerprint} {self.base_url}{path}?{query}"

    def _count_page(self) -> None:
        with self._stats_lock:
            self.stats.pages += 1

    def _on_retry(self, exc: CursorApiError, wait: float) -> None:
        with self._stats_lock:
            self.stats.retries += 1


# ------------------------------------------------------------------ envelopes


@dataclass
class _Envelope:
    items: list[Any]
    list_key: str
    has_next: bool
    page: int | None = None
    total_pages: int | None = None
    total_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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
    return _Envelope(
        items,
        "data",
        has_next,
        page=_optional_int(pagination, "page", path) if pagination else None,
        total_pages=_optional_int(pagination, "totalPages", path),
        extra={"period": data.get("period")},
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
    return _Envelope(
        items,
        "usageEvents",
        has_next,
        page=_optional_int(pagination, "currentPage", path),
        total_pages=_optional_int(pagination, "numPages", path),
        total_count=total,
        extra={"period": data.get("period")},
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
    )


def _audit_envelope(data: Any, path: str) -> _Envelope:
    items = _key(data, "events", path, list)
    pagination = _key(data, "pagination", path, dict)
    return _Envelope(
        items,
        "events",
        bool(_bool_field(pagination, "hasNextPage", path)),
        page=_optional_int(pagination, "page", path),
        total_pages=_optional_int(pagination, "totalPages", path),
        total_count=_optional_int(pagination, "totalCount", path),
    )


def _check_progress(
    path: str, page: int, items: list[Any], previous: str | None, more: bool
) -> str:
    """Refuse an empty page that announces more, and a page identical to the one before."""
    if more and not items:
        raise UnexpectedResponseError(
            f"page {page} is empty but announces more pages", endpoint=path
        )
    fingerprint = hashlib.sha256(
        json.dumps(items, sort_keys=True, default=str).encode()
    ).hexdigest()
    if items and fingerprint == previous:
        raise UnexpectedResponseError(f"page {page} repeats page {page - 1}", endpoint=path)
    return fingerprint


def _csv_param(value: list[str] | str) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _check_base_url(base_url: str) -> str:
    url = str(base_url).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return url


def _close(spool: IO[str] | None) -> None:
    if spool is not None:
        spool.close()
