"""CursorClient: one method per endpoint of Cursor's Admin, AI Code Tracking and Analytics APIs.

Each method builds its request and reads its response; every request goes through one path,
`Transport.call` (the key check, per-endpoint pacing, the retry policy, ETags where the API has
them, error mapping and request statistics: transport.py), and every envelope-paged read through
one loop, `Transport.pages`. Ranged reads split their dates into the fewest chunks the range limit
allows (dates.py) and yield one `Page` per response, so a caller can stream a day of a million
events without the client holding them. Response envelopes are parsed in envelopes.py.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .dates import (
    _utc_today,
    checked_range,
    day_end_iso,
    day_end_ms,
    day_start_iso,
    day_start_ms,
    split_days,
)
from .envelopes import (
    _ai_code_envelope,
    _analytics_envelope,
    _audit_envelope,
    _by_user_envelope,
    _daily_envelope,
    _key,
    _leaderboard_envelope,
    _spend_envelope,
    _usage_envelope,
)
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
from .records import analytics_record_type, epoch_ms_to_datetime, normalise_all, to_datetime
from .retry import RetryPolicy
from .transport import DEFAULT_BASE_URL, Page, RequestStats, Transport, _check_base_url, _Reply

# The endpoints' names, and the date helpers and Page that callers import from this module
# (bench/ imports split_days, day_start_ms and day_end_ms from here).
__all__ = [
    "ACCESS_DATASETS",
    "AI_CODE_KINDS",
    "BY_USER_METRICS",
    "DEFAULT_RATE_LIMITS",
    "FIXED_MAX_DAYS",
    "LEGACY_RATE_LIMITS",
    "MAX_DAYS_LIMIT",
    "SPEND_PAGE_SIZE",
    "TEAM_METRICS",
    "can_probe",
    "ConnectionCheck",
    "CursorClient",
    "DatasetAccess",
    "Page",
    "day_end_ms",
    "day_start_ms",
    "split_days",
]

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
    "/teams/groups": 20,
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
    "skills",
    "ask-mode",
    "leaderboard",
)
# The documented by-user metrics: no dau and no leaderboard.
BY_USER_METRICS = tuple(m for m in TEAM_METRICS if m not in ("dau", "leaderboard"))
# Users per page of the leaderboard and the by-user endpoints: the documented maximum of both
# (their defaults: 10 and 100).
ANALYTICS_MAX_PAGE_SIZE = 500


# The datasets `check_connection` reports on. `probe_access` also takes any `analytics_<metric>`
# (GET /analytics/team/<metric>) and `analytics_by_user_<metric>` (GET /analytics/by-user/<metric>),
# the metric being the rest of the name with "_" for "-": an asset names its dataset, no more.
ACCESS_DATASETS = (
    "team_members",
    "daily_usage",
    "usage_events",
    "spend",
    "ai_commits",
    "ai_changes",
    "audit_logs",
    "analytics_dau",
    "analytics_by_user_tabs",
)
_METRIC = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


@dataclass(frozen=True)
class DatasetAccess:
    """Whether the key may read one dataset: `readable`, else the refusal's HTTP status and the
    server's reason (such as 403 "Enterprise access required")."""

    dataset: str
    readable: bool
    status_code: int | None = None
    reason: str = ""

    def describe(self) -> str:
        """`readable`, or `unavailable (403 Enterprise access required)`."""
        if self.readable:
            return "readable"
        return f"unavailable ({' '.join(str(p) for p in (self.status_code, self.reason) if p)})"


@dataclass(frozen=True)
class ConnectionCheck:
    """The diagnosis of `check_connection`: `ok` (at least one dataset readable), `no_resources`
    (the key is valid but reads nothing: every dataset refused, or an empty team),
    `malformed_key` (refused before any request), `invalid_credentials` (401), `not_found`
    (404: the base URL is not the API), `rate_limited` (429), `server_error` (5xx),
    `dns` / `refused` / `tls` / `timeout` / `dropped` (no HTTP answer) or `unexpected`.
    `message` is one line; `access` has each probed dataset's access when the check got that far."""

    status: Literal[
        "ok",
        "no_resources",
        "malformed_key",
        "invalid_credentials",
        "not_found",
        "rate_limited",
        "server_error",
        "dns",
        "refused",
        "tls",
        "timeout",
        "dropped",
        "unexpected",
    ]
    message: str
    access: dict[str, DatasetAccess] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


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
        analytics_page_size: int = ANALYTICS_MAX_PAGE_SIZE,
        rate_limits: Mapping[str, int] | None = None,
        rate_limit_window_seconds: float = 60.0,
        max_attempts: int = 6,
        backoff_base_seconds: float = 1.0,
        etag_cache: MutableMapping[str, dict[str, Any]] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        self.max_days_per_request = _check_int(
            "max_days_per_request", max_days_per_request, 1, MAX_DAYS_LIMIT
        )
        self.page_size = _check_int("page_size", page_size, 1, 1000)
        self.audit_page_size = _check_int("audit_page_size", audit_page_size, 1, 500)
        self.analytics_page_size = _check_int(
            "analytics_page_size", analytics_page_size, 1, ANALYTICS_MAX_PAGE_SIZE
        )
        self.rate_limits = dict(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits)
        # Every request goes through it; {} rate limits = no pacing.
        self._transport = Transport(
            api_key,
            self.base_url,
            timeout=timeout,
            rate_limits=self.rate_limits,
            rate_limit_window_seconds=rate_limit_window_seconds,
            max_attempts=max_attempts,
            backoff_base_seconds=backoff_base_seconds,
            etag_cache=etag_cache,
            max_days_per_request=self.max_days_per_request,
            http_transport=transport,
        )
        self.rate_limit_window_seconds = float(rate_limit_window_seconds)
        self.stats: RequestStats = self._transport.stats
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.etag_cache: MutableMapping[str, dict[str, Any]] = self._transport.etag_cache

    @property
    def _retry(self) -> RetryPolicy:
        """The transport's retry policy (tests replace its `_sleep`)."""
        return self._transport.retry

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._transport.close()

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
        reply = self._transport.call("GET", path)
        records = normalise_all(
            "team_members",
            _key(reply.data, "teamMembers", path, list),
            endpoint=path,
            key="teamMembers",
        )
        self._transport.count_page()
        return records

    @checked_range
    def daily_usage(self, start: date, end: date) -> Iterator[Page]:
        """Per user and day counters, one Page per request (13 requests for 365 days at 30;
        pages are over users, page_size users each, so a team under 1000 needs no second page)."""
        path = "/teams/daily-usage-data"
        for lo, hi in split_days(start, end, self.max_days_per_request):
            body: dict[str, Any] = {"startDate": day_start_ms(lo), "endDate": day_end_ms(hi)}

            def fetch(page: int, body=body) -> _Reply:
                # Always paged (over users): unpaged answers may omit inactive users' rows.
                return self._transport.call(
                    "POST", path, json_body={**body, "page": page, "pageSize": self.page_size}
                )

            yield from self._transport.pages(path, "daily_usage", (lo, hi), fetch, _daily_envelope)

    def spend(self) -> Page:
        """The current billing cycle's spend per member: all pages merged into one Page.
        `Page.extra`: subscription_cycle_start (datetime, UTC), total_members."""
        path = "/teams/spend"

        def fetch(page: int) -> _Reply:
            return self._transport.call("POST", path, json_body={"page": page, "pageSize": SPEND_PAGE_SIZE})

        today = _utc_today()
        items: list[Any] = []
        last: Page | None = None
        for last in self._transport.pages(path, "spend", (today, today), fetch, _spend_envelope):
            if last.restarted:
                items.clear()
            items.extend(last.items)
        assert last is not None
        cycle_ms = last.extra["subscription_cycle_start_ms"]
        cycle_start = epoch_ms_to_datetime(cycle_ms) if cycle_ms is not None else None
        total_members = last.extra["total_members"]
        return Page(
            endpoint=path,
            items=items,
            page=last.page,
            total_pages=last.total_pages,
            total_count=total_members,
            window=(cycle_start.date() if cycle_start else today, today),
            extra={"subscription_cycle_start": cycle_start, "total_members": total_members},
            record_type="spend",
            list_key="teamMemberSpend",
        )

    @checked_range
    def usage_events(
        self, start: date, end: date, *, user_id: str | None = None, email: str | None = None
    ) -> Iterator[Page]:
        """Every usage event of the inclusive UTC days, page by page (page_size per request)."""
        path = "/teams/filtered-usage-events"
        filters = {k: v for k, v in (("userId", user_id), ("email", email)) if v is not None}
        for lo, hi in split_days(start, end, self.max_days_per_request):
            body = {"startDate": day_start_ms(lo), "endDate": day_end_ms(hi), **filters}

            def fetch(page: int, body=body) -> _Reply:
                return self._transport.call(
                    "POST", path, json_body={**body, "page": page, "pageSize": self.page_size}
                )

            yield from self._transport.pages(path, "usage_events", (lo, hi), fetch, _usage_envelope)

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
            reply = self._transport.call("POST", path, json_body=body)
            total += _key(reply.data, "totalUsageEventsCount", path, int)
        return total

    @checked_range
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
                return self._transport.call(
                    "GET", path, params={**params, "page": page, "pageSize": self.audit_page_size}
                )

            yield from self._transport.pages(path, "audit_logs", (lo, hi), fetch, _audit_envelope)

    def repo_blocklists(self) -> list[dict[str, Any]]:
        path = "/settings/repo-blocklists/repos"
        reply = self._transport.call("GET", path)
        self._transport.count_page()
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
        reply = self._transport.call("POST", path, json_body={"repos": payload})
        return normalise_all(
            "repo_blocklists", _key(reply.data, "repos", path, list), endpoint=path, key="repos"
        )

    def delete_repo_blocklist(self, repo_id: str) -> None:
        if not repo_id:
            raise ValueError("repo_id must be a non-empty string")
        self._transport.call(
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
        reply = self._transport.call(
            "POST", path, json_body={"userEmail": email, "spendLimitDollars": dollars}
        )
        outcome = _key(reply.data, "outcome", path, str)
        message = self._transport.redact(str(reply.data.get("message") or ""))
        if outcome != "success":
            raise BadRequestError(
                "the spend limit was not set",
                endpoint=f"POST {path}",
                status_code=reply.status_code,
                server_message=message or None,
                hint="Check that the email belongs to a current team member",
            )
        return {"outcome": outcome, "message": message}

    def remove_member(self, *, user_id: str | None = None, email: str | None = None) -> dict[str, Any]:
        """Remove a member by exactly one of user_id or email."""
        path = "/teams/remove-member"
        if (user_id is None) == (email is None):
            raise ValueError("pass exactly one of user_id or email")
        body = {"userId": str(user_id)} if user_id is not None else {"email": email}
        reply = self._transport.call("POST", path, json_body=body)
        if not isinstance(reply.data, dict):
            raise UnexpectedResponseError("expected a JSON object", endpoint=f"POST {path}")
        if reply.data.get("success") is False:
            raise BadRequestError(
                "the member was not removed",
                endpoint=f"POST {path}",
                status_code=reply.status_code,
                server_message=self._transport.redact(str(reply.data.get("message") or "")) or None,
            )
        return reply.data

    # ------------------------------------------------------------ AI Code Tracking API

    @checked_range
    def ai_commits(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """Commits (dated by commitTs) with their AI line counts, page by page."""
        return self._ai_code("commits", "ai_commits", start, end, user)

    @checked_range
    def ai_changes(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """AI changes (dated by createdAt) with their files, page by page."""
        return self._ai_code("changes", "ai_changes", start, end, user)

    @checked_range
    def ai_commits_csv(self, start: date, end: date, *, user: str | None = None) -> Iterator[Page]:
        """The CSV export of commits, streamed and cut into Pages of page_size rows."""
        return self._ai_code_csv("commits", "ai_commits", start, end, user)

    @checked_range
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
            reply = self._transport.call("GET", path, params=params, etag=True)
            total += _key(reply.data, "totalCount", path, int)
        return total

    def _ai_code(self, kind: str, record_type: str, start: date, end: date, user: str | None):
        path = f"/analytics/ai-code/{kind}"
        for lo, hi in split_days(start, end, self.max_days_per_request):
            params = {"startDate": day_start_iso(lo), "endDate": day_end_iso(hi)}
            if user is not None:
                params["user"] = str(user)

            def fetch(page: int, params=params) -> _Reply:
                return self._transport.call(
                    "GET",
                    path,
                    params={**params, "page": page, "pageSize": self.page_size},
                    etag=True,
                )

            yield from self._transport.pages(path, record_type, (lo, hi), fetch, _ai_code_envelope)

    def _ai_code_csv(self, kind: str, record_type: str, start: date, end: date, user: str | None):
        path = f"/analytics/ai-code/{kind}.csv"
        for lo, hi in split_days(start, end, self.max_days_per_request):
            params = {"startDate": day_start_iso(lo), "endDate": day_end_iso(hi)}
            if user is not None:
                params["user"] = str(user)
            reply = self._transport.call("GET", path, params=params, etag=True, expect="csv")
            assert reply.csv_file is not None
            try:
                reader = csv.DictReader(reply.csv_file)
                batch: list[dict[str, Any]] = []
                number = 0
                for row in reader:
                    if None in row:  # more values than header columns
                        raise UnexpectedResponseError(
                            f"CSV line {reader.line_num} has more values than the header has columns",
                            endpoint=path,
                        )
                    batch.append(row)
                    if len(batch) >= self.page_size:
                        number += 1
                        yield self._csv_page(path, record_type, batch, number, (lo, hi), reply.not_modified)
                        batch = []
                if batch or number == 0:
                    number += 1
                    yield self._csv_page(path, record_type, batch, number, (lo, hi), reply.not_modified)
            except csv.Error as exc:
                raise UnexpectedResponseError(
                    f"the CSV body could not be read: {exc}", endpoint=path
                ) from None
            finally:
                reply.csv_file.close()

    def _csv_page(self, path, record_type, rows, number, window, not_modified) -> Page:
        self._transport.count_page()
        page = Page(path, rows, number, None, None, window, not_modified, record_type=record_type)
        page.records  # noqa: B018 (normalised while the CSV is read: an error names its page)
        return page

    # ------------------------------------------------------------ Analytics API

    def team_analytics(
        self, metric: str, start: date, end: date, *, users: list[str] | str | None = None
    ) -> Iterator[Page]:
        """Rows of `/analytics/team/{metric}` over the inclusive UTC days, one Page per 30-day
        chunk (the documented maximum range), normalised to FIELDS["analytics_<metric>"]
        (`models` flattened to one record per day and model). `users`: emails and/or `user_...`
        ids to restrict to. The leaderboard ranks users over each chunk, page by page
        (analytics_page_size users per page), into FIELDS["analytics_leaderboard"] (no date)."""
        if metric not in TEAM_METRICS:
            raise ValueError(f"metric must be one of {TEAM_METRICS}, got {metric!r}")
        path = f"/analytics/team/{metric}"
        if metric == "leaderboard":
            return self._analytics(
                path,
                "analytics_leaderboard",
                _leaderboard_envelope,
                self.analytics_page_size,
                start,
                end,
                users,
            )
        return self._analytics(
            path, analytics_record_type(metric), _analytics_envelope, None, start, end, users
        )

    def analytics_by_user(
        self, metric: str, start: date, end: date, *, users: list[str] | str | None = None
    ) -> Iterator[Page]:
        """Rows of `/analytics/by-user/{metric}` over the inclusive UTC days (30-day chunks),
        paged over users (analytics_page_size per page), each record carrying the member's `email`
        and `user_id`: FIELDS["analytics_by_user_<metric>"]."""
        if metric not in BY_USER_METRICS:
            raise ValueError(f"metric must be one of {BY_USER_METRICS}, got {metric!r}")
        record_type = analytics_record_type(metric, by_user=True)
        return self._analytics(
            f"/analytics/by-user/{metric}",
            record_type,
            _by_user_envelope,
            self.analytics_page_size,
            start,
            end,
            users,
        )

    @checked_range
    def _analytics_days(self, start: date, end: date) -> list[tuple[date, date]]:
        return split_days(start, end, min(self.max_days_per_request, FIXED_MAX_DAYS))

    def _analytics(self, path, record_type, envelope, page_size, start, end, users) -> Iterator[Page]:
        chunks = self._analytics_days(start, end)  # checked now, not at the first page
        filters = {"users": _csv_param(users)} if users else {}

        def read() -> Iterator[Page]:
            for lo, hi in chunks:
                params = {"startDate": lo.isoformat(), "endDate": hi.isoformat(), **filters}

                def fetch(page: int, params=params) -> _Reply:
                    paging = {"page": page, "pageSize": page_size} if page_size else {}
                    return self._transport.call("GET", path, params={**params, **paging}, etag=True)

                yield from self._transport.pages(path, record_type, (lo, hi), fetch, envelope)

        return read()

    def billing_groups(self, billing_cycle: date | None = None) -> Page:
        """`GET /teams/groups` (Enterprise): every billing group of a billing cycle (default: the
        current one), the unassigned members' group included, with spend and members.
        `Page.extra`: cycle_start, cycle_end (datetimes, UTC)."""
        path = "/teams/groups"
        params = {"billingCycle": billing_cycle.isoformat()} if billing_cycle else None
        reply = self._transport.call("GET", path, params=params)
        groups = list(_key(reply.data, "groups", path, list))
        if isinstance(reply.data.get("unassignedGroup"), dict):
            groups.append(reply.data["unassignedGroup"])
        self._transport.count_page()
        cycle = reply.data.get("billingCycle") if isinstance(reply.data.get("billingCycle"), dict) else {}
        cycle_start, cycle_end = to_datetime(cycle.get("cycleStart")), to_datetime(cycle.get("cycleEnd"))
        today = _utc_today()
        page = Page(
            endpoint=path,
            items=groups,
            page=1,
            total_pages=1,
            total_count=len(groups),
            window=(cycle_start.date() if cycle_start else today, today),
            extra={"cycle_start": cycle_start, "cycle_end": cycle_end},
            record_type="billing_groups",
            list_key="groups",
        )
        page.records  # noqa: B018 (normalised now: a bad record fails this call, naming its field)
        return page

    # ------------------------------------------------------------ access and connection check

    def probe_access(self, datasets: Iterable[str] = ACCESS_DATASETS) -> dict[str, DatasetAccess]:
        """Whether the key may read each dataset: one cheap request each (yesterday, one record).
        A 403 (or the enterprise refusal sent as 401) makes the dataset unavailable, and so does a
        404 on an Analytics metric (an account can lack one). A rejected key (401), a 404 on
        another endpoint (the base URL) and failures that say nothing about one dataset (429,
        5xx, the network) are raised: the caller keeps what it knew."""
        day = _utc_today() - timedelta(days=1)
        requests = {d: _probe_request(d, day) for d in datasets}  # every name checked first
        access: dict[str, DatasetAccess] = {}
        for dataset, (method, path, params, body) in requests.items():
            try:
                self._transport.call(method, path, params=params, json_body=body)
            except (InsufficientAccessError, NotFoundError) as exc:
                if isinstance(exc, NotFoundError) and not path.startswith("/analytics/"):
                    raise
                reason = exc.server_message or exc.message
                access[dataset] = DatasetAccess(dataset, False, exc.status_code, reason)
                continue
            access[dataset] = DatasetAccess(dataset, True, 200)
        return access

    def first_active_day(self, max_days: int = 366) -> date | None:
        """The first UTC day of the last `max_days` with an active user in daily usage: daily
        usage is read back from today one range chunk at a time (30 days a request), stopping at
        the first chunk without activity, so a year of history costs 13 requests. None when no
        day of the span had activity."""
        today = _utc_today()
        floor, end, first = today - timedelta(days=max_days - 1), today, None
        while end >= floor:
            start = max(end - timedelta(days=self.max_days_per_request - 1), floor)
            active = [
                r["day"] for page in self.daily_usage(start, end) for r in page.records if r["is_active"]
            ]
            if not active:
                break
            first, end = min(active), start - timedelta(days=1)
        return first

    def check_connection(self, datasets: Iterable[str] = ACCESS_DATASETS) -> ConnectionCheck:
        """Diagnose the connection and the key in one line (see ConnectionCheck), and each
        dataset's access: team members first (whatever fails there names the problem), then
        one probe per dataset."""
        if not self._transport.key_ok:
            return ConnectionCheck(
                "malformed_key",
                f"{self._transport.key_problem}: check CURSOR_API_KEY (a team key from Cursor's "
                "dashboard, Settings > Advanced > Admin API keys). No request was sent.",
            )
        try:
            try:
                members = [m for m in self.team_members() if not m["is_removed"]]
                access = {"team_members": DatasetAccess("team_members", True, 200)}
            except InsufficientAccessError as exc:
                members = None
                reason = exc.server_message or exc.message
                access = {"team_members": DatasetAccess("team_members", False, exc.status_code, reason)}
            access.update(self.probe_access(d for d in datasets if d != "team_members"))
        except CursorApiError as exc:
            return self._failed(exc)
        readable = [a.dataset for a in access.values() if a.readable]
        refused = [a.dataset for a in access.values() if not a.readable]
        if not readable:
            return ConnectionCheck(
                "no_resources",
                f"The key is valid but {self.base_url} refused every dataset "
                f"{access['team_members'].describe().removeprefix('unavailable ')}: ask a team admin "
                "for an admin API key of the team (AI code, audit logs and Analytics need Enterprise).",
                access,
            )
        if members is not None and not members:
            return ConnectionCheck(
                "no_resources",
                f"The key is valid but its team on {self.base_url} has no members, so there is "
                "nothing to load: check that it is the right team's key.",
                access,
            )
        team = f"a team of {len(members)} members" if members is not None else "the team"
        return ConnectionCheck(
            "ok",
            f"Connected to {self.base_url}: the key reads {team}; {len(readable)} of "
            f"{len(access)} datasets readable" + (f", {len(refused)} unavailable." if refused else "."),
            access,
        )

    def _failed(self, exc: CursorApiError) -> ConnectionCheck:
        """One line naming what failed, from the first request that failed."""
        text = " ".join(str(exc).split())
        if isinstance(exc, InvalidCredentialsError):
            return ConnectionCheck(
                "invalid_credentials",
                f"{self.base_url} rejected the API key (HTTP 401): check CURSOR_API_KEY; create a "
                "key in Cursor's dashboard under Settings > Advanced > Admin API keys.",
            )
        if isinstance(exc, NotFoundError):
            return ConnectionCheck(
                "not_found",
                f"{self.base_url} answered 404 to {exc.endpoint}: the base URL is not Cursor's API "
                "(set CURSOR_API_BASE_URL to https://api.cursor.com, with no path).",
            )
        if isinstance(exc, RateLimitError):
            wait = f" (the server asked to wait {exc.retry_after:g} s)" if exc.retry_after is not None else ""
            return ConnectionCheck(
                "rate_limited",
                f"{self.base_url} answered 429 Too Many Requests{wait}: the team's rate limit is "
                "spent, possibly by another tool using the same key; retry in a minute.",
            )
        if isinstance(exc, ServerError):
            return ConnectionCheck(
                "server_error",
                f"{self.base_url} failed with HTTP {exc.status_code} on {exc.endpoint}: Cursor's API "
                "is having trouble; retry later (https://status.cursor.com).",
            )
        if isinstance(exc, CursorConnectionError):
            return ConnectionCheck(exc.kind, text)  # type: ignore[arg-type]
        return ConnectionCheck("unexpected", text)


def can_probe(dataset: str) -> bool:
    """Whether `probe_access` knows a request that tells if `dataset` is readable."""
    try:
        _probe_request(dataset, date(2025, 1, 1))
    except ValueError:
        return False
    return True


def _probe_request(dataset: str, day: date) -> tuple[str, str, dict | None, dict | None]:
    """The cheapest request that tells whether `dataset` is readable: (method, path, params, body)."""
    ms = {"startDate": day_start_ms(day), "endDate": day_end_ms(day), "page": 1, "pageSize": 1}
    iso = {"startDate": day_start_iso(day), "endDate": day_end_iso(day), "page": 1, "pageSize": 1}
    days = {"startDate": day.isoformat(), "endDate": day.isoformat()}
    fixed = {
        "team_members": ("GET", "/teams/members", None, None),
        "daily_usage": ("POST", "/teams/daily-usage-data", None, ms),
        "usage_events": ("POST", "/teams/filtered-usage-events", None, ms),
        "spend": ("POST", "/teams/spend", None, {"page": 1, "pageSize": 1}),
        "ai_commits": ("GET", "/analytics/ai-code/commits", iso, None),
        "ai_changes": ("GET", "/analytics/ai-code/changes", iso, None),
        "audit_logs": (
            "GET",
            "/teams/audit-logs",
            {"startTime": iso["startDate"], "endTime": iso["endDate"], "page": 1, "pageSize": 1},
            None,
        ),
        "repo_blocklists": ("GET", "/settings/repo-blocklists/repos", None, None),
    }
    if dataset in fixed:
        return fixed[dataset]
    for prefix, path, params in (
        ("analytics_by_user_", "/analytics/by-user/", {**days, "page": 1, "pageSize": 1}),
        ("analytics_", "/analytics/team/", days),
    ):
        metric = dataset.removeprefix(prefix)
        if dataset.startswith(prefix) and _METRIC.fullmatch(metric):
            return "GET", path + metric.replace("_", "-"), params, None
    raise ValueError(
        f"no access probe for dataset {dataset!r}: use one of {sorted(fixed)}, "
        "analytics_<metric> or analytics_by_user_<metric>"
    )


def _csv_param(value: list[str] | str) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value
