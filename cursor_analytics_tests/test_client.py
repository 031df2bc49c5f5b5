"""CursorClient: unit edge cases over httpx.MockTransport (what a server cannot easily produce),
then acceptance tests against the simulator over loopback."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from cursor_analytics.cursor_api import (
    DEFAULT_RATE_LIMITS,
    LEGACY_RATE_LIMITS,
    BadRequestError,
    CursorApiError,
    CursorClient,
    CursorConnectionError,
    InsufficientAccessError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SlidingWindowLimiter,
    UnexpectedResponseError,
    split_days,
)
from cursor_analytics.cursor_api.retry import parse_retry_after
from cursor_analytics.simulator import Faults, Variants

KEY = "crsr_unit0123456789abcdefghijklmnopqrstuv"
D1 = date(2025, 1, 1)


class Recorder:
    """A MockTransport handler that answers from a list of responses (or a function) and keeps
    every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(handler, **kwargs) -> CursorClient:
    kwargs.setdefault("backoff_base_seconds", 0.001)
    kwargs.setdefault("rate_limits", {})
    client = CursorClient(
        KEY, base_url="http://cursor.test", transport=httpx.MockTransport(handler), **kwargs
    )
    return client


def ok(body, **headers) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers)


def err(status, error, message, **headers) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "message": message}, headers=headers)


def events(n, day=D1, start=0):
    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return [
        {
            "timestamp": str(base + 1000 * (start + i)),
            "userEmail": "a@x.com",
            "model": "gpt-5",
            "kind": "Included in Business",
            "requestsCosts": 1,
            "isTokenBasedCall": False,
            "chargedCents": 0,
        }
        for i in range(n)
    ]


def events_page(items, page, num_pages, total):
    return {
        "totalUsageEventsCount": total,
        "usageEvents": items,
        "pagination": {
            "numPages": num_pages,
            "currentPage": page,
            "pageSize": 2,
            "hasNextPage": page < num_pages,
            "hasPreviousPage": page > 1,
        },
    }


# ------------------------------------------------------------------ configuration


def test_wrong_key_prefix_is_refused_before_any_request():
    rec = Recorder(ok({"teamMembers": []}))
    client = CursorClient("sk-not-a-cursor-key", transport=httpx.MockTransport(rec))
    with pytest.raises(InvalidCredentialsError) as info:
        client.team_members()
    assert "CURSOR_API_KEY" in str(info.value)
    check = client.check_connection()
    assert check.status == "malformed_key" and "crsr_" in check.message
    assert rec.requests == [] and client.stats.total_requests == 0


@pytest.mark.parametrize("value", [0, 91, True, 30.5])
def test_max_days_per_request_is_validated(value):
    with pytest.raises(ValueError, match="max_days_per_request"):
        CursorClient(KEY, max_days_per_request=value)


def test_range_splits_into_fewest_chunks():
    year = (date(2025, 1, 1), date(2025, 12, 31))
    assert len(split_days(*year, 30)) == 13
    assert len(split_days(*year, 90)) == 5
    chunks = split_days(*year, 30)
    assert chunks[0] == (date(2025, 1, 1), date(2025, 1, 30)) and chunks[-1][1] == year[1]
    assert all((b - a).days + 1 <= 30 for a, b in chunks)
    assert all(chunks[i][1] + timedelta(days=1) == chunks[i + 1][0] for i in range(12))
    assert split_days(D1, D1, 30) == [(D1, D1)]


def test_basic_auth_and_daily_usage_request_shape():
    rec = Recorder(ok({"data": [], "period": {}}))
    client = make_client(rec)
    pages = list(client.daily_usage(date(2025, 1, 1), date(2025, 2, 15)))
    assert len(pages) == 2 and [p.window for p in pages] == [
        (date(2025, 1, 1), date(2025, 1, 30)),
        (date(2025, 1, 31), date(2025, 2, 15)),
    ]
    request = rec.requests[0]
    assert request.headers["Authorization"] == httpx.BasicAuth(KEY, "")._auth_header
    body = json.loads(request.content)
    assert body["startDate"] == 1735689600000  # 2025-01-01T00:00:00Z
    assert body["endDate"] == 1738281599999  # 2025-01-30T23:59:59.999Z


# ------------------------------------------------------------------ retries and errors


def test_retry_after_http_date_is_honoured():
    when = datetime.now(UTC) + timedelta(seconds=3)
    rec = Recorder(
        err(
            429,
            "Too Many Requests",
            "Rate limit exceeded. Please try again later.",
            **{"Retry-After": format_datetime(when, usegmt=True)},
        ),
        ok({"teamMembers": []}),
    )
    client = make_client(rec)
    slept = []
    client._retry._sleep = slept.append
    assert client.team_members() == []
    assert len(slept) == 1 and 1.5 <= slept[0] <= 3.5
    assert client.stats.retries == 1 and client.stats.requests["/teams/members"] == 2


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Tue, 31 Dec 2024 00:00:10 GMT", now=now) == 0.0


def test_exponential_backoff_without_retry_after():
    rec = Recorder(err(500, "Internal Server Error", "boom"))
    client = make_client(rec, max_attempts=6, backoff_base_seconds=1.0)
    slept = []
    client._retry._sleep = slept.append
    with pytest.raises(ServerError) as info:
        client.team_members()
    assert len(rec.requests) == 6 and info.value.attempts == 6
    for wait, base in zip(slept, [1, 2, 4, 8, 16], strict=True):
        assert base <= wait <= base * 1.25
    assert "after 6 attempts" in str(info.value) and "GET /teams/members" in str(info.value)


@pytest.mark.parametrize(
    "response, error",
    [
        (err(400, "Bad Request", "Date range cannot exceed 30 days"), BadRequestError),
        (err(401, "Unauthorized", "Invalid API key"), InvalidCredentialsError),
        (err(403, "Forbidden", "Enterprise access required"), InsufficientAccessError),
        (
            httpx.Response(401, json={"code": "error", "message": "Enterprise only"}),
            InsufficientAccessError,
        ),
        (err(404, "Not Found", "nope"), NotFoundError),
    ],
)
def test_client_errors_are_never_retried(response, error):
    rec = Recorder(response)
    client = make_client(rec)
    with pytest.raises(error) as info:
        list(client.daily_usage(D1, D1))
    assert len(rec.requests) == 1 and client.stats.retries == 0
    assert info.value.endpoint == "POST /teams/daily-usage-data"
    assert info.value.status_code == response.status_code and info.value.server_message


def test_errors_say_what_to_do():
    cases = {
        err(400, "Bad Request", "Date range cannot exceed 30 days"): "max_days_per_request",
        err(401, "Unauthorized", "Invalid API key"): "CURSOR_API_KEY",
        err(403, "Forbidden", "Enterprise access required"): "Enterprise",
    }
    for response, words in cases.items():
        client = make_client(Recorder(response))
        with pytest.raises(CursorApiError) as info:
            list(client.daily_usage(D1, D1))
        assert words in str(info.value)


def test_rate_limit_exhausted_raises_rate_limit_error():
    rec = Recorder(err(429, "Too Many Requests", "Rate limit exceeded.", **{"Retry-After": "0"}))
    client = make_client(rec, max_attempts=3)
    with pytest.raises(RateLimitError) as info:
        client.repo_blocklists()
    assert len(rec.requests) == 3 and info.value.attempts == 3 and client.stats.retries == 2


def test_dropped_connections_and_truncated_json_are_retried():
    rec = Recorder(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(200, content=b'{"teamMembers": [{"email": "a@'),
        httpx.Response(200, content=b""),
        ok({"teamMembers": [{"email": "a@x.com", "id": "user_1"}]}),
    )
    client = make_client(rec)
    members = client.team_members()
    assert [m["email"] for m in members] == ["a@x.com"]
    assert client.stats.retries == 5 and len(rec.requests) == 6


def test_connection_error_after_retries():
    rec = Recorder(httpx.ConnectError("connection refused"))
    client = make_client(rec, max_attempts=2)
    with pytest.raises(CursorConnectionError) as info:
        client.team_members()
    assert len(rec.requests) == 2 and "after 2 attempts" in str(info.value)


def test_spend_limit_outcome_error_is_bad_request():
    rec = Recorder(ok({"outcome": "error", "message": "User not found in team"}))
    client = make_client(rec)
    with pytest.raises(BadRequestError) as info:
        client.set_user_spend_limit("nobody@x.com", 100)
    assert info.value.server_message == "User not found in team"
    with pytest.raises(ValueError):
        client.set_user_spend_limit("a@x.com", 10.5)  # whole dollars only
    assert len(rec.requests) == 1


# ------------------------------------------------------------------ shapes and paging


def test_missing_envelope_key_names_endpoint_and_key():
    client = make_client(Recorder(ok({"events": []})))
    with pytest.raises(UnexpectedResponseError) as info:
        list(client.usage_events(D1, D1))
    assert "/teams/filtered-usage-events" in str(info.value) and "usageEvents" in str(info.value)
    client = make_client(Recorder(ok({"items": "nope", "totalCount": 1, "page": 1, "pageSize": 10})))
    with pytest.raises(UnexpectedResponseError, match="'items' should be a list"):
        list(client.ai_commits(D1, D1))


def test_usage_events_stream_page_by_page():
    rec = Recorder(*(ok(events_page(events(2, start=2 * i), i + 1, 3, 6)) for i in range(3)))
    client = make_client(rec)
    pages = client.usage_events(D1, D1)
    first = next(pages)
    assert len(rec.requests) <= 2  # at most one page fetched ahead of the caller
    rest = list(pages)
    assert [p.page for p in [first, *rest]] == [1, 2, 3]
    assert sum(len(p.records) for p in [first, *rest]) == 6 and client.stats.pages == 3
    assert [json.loads(r.content)["page"] for r in rec.requests] == [1, 2, 3]


def test_pages_fetched_ahead_keep_one_request_in_flight():
    # pages 2.. come from a thread of their own, each request once the answer before arrived
    lock, in_flight, most = threading.Lock(), [0], [0]

    def answer(request):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.005)
        with lock:
            in_flight[0] -= 1
        page = json.loads(request.content)["page"]
        return ok(events_page(events(2, start=2 * (page - 1)), page, 6, 12))

    pages = list(make_client(answer).usage_events(D1, D1))
    assert [p.page for p in pages] == [1, 2, 3, 4, 5, 6] and most[0] == 1


def test_server_repeating_a_page_number_is_refused():
    page1 = ok(events_page(events(2), 1, 3, 6))
    rec = Recorder(page1, page1)  # asked for page 2, answers page 1 again
    client = make_client(rec)
    with pytest.raises(UnexpectedResponseError, match="asked for page 2"):
        list(client.usage_events(D1, D1))


def test_server_repeating_page_content_is_refused():
    items = events(2)
    rec = Recorder(ok(events_page(items, 1, 3, 6)), ok(events_page(items, 2, 3, 6)))
    with pytest.raises(UnexpectedResponseError, match="repeats"):
        list(make_client(rec).usage_events(D1, D1))


def test_endless_has_next_page_is_stopped_by_the_total():
    counter = iter(range(100))

    def endless(request):
        n = next(counter)
        return ok(events_page(events(2, start=2 * n), n + 1, 1000, 6))

    with pytest.raises(UnexpectedResponseError, match="more than the 6 announced"):
        list(make_client(Recorder(endless)).usage_events(D1, D1))


def test_empty_page_claiming_more_is_refused():
    rec = Recorder(ok(events_page(events(2), 1, 3, 6)), ok(events_page([], 2, 3, 6)))
    with pytest.raises(UnexpectedResponseError, match="empty but announces more"):
        list(make_client(rec).usage_events(D1, D1))


def test_lost_records_are_refused():
    rec = Recorder(ok({**events_page(events(2), 1, 1, 5)}))
    with pytest.raises(UnexpectedResponseError, match="announced 5"):
        list(make_client(rec).usage_events(D1, D1))


def test_a_total_that_keeps_changing_fails_after_a_bounded_number_of_reads():
    # new events arrive before every request: each page announces one event more than the last
    answered = Counter()

    def growing(request):
        page = json.loads(request.content)["page"]
        answered[page] += 1
        total = 6 + sum(answered.values())
        return ok(events_page(events(2, start=2 * (page - 1)), page, 3, total))

    client = make_client(Recorder(growing))
    with pytest.raises(UnexpectedResponseError, match="changed while paging, in each of 3 reads") as caught:
        list(client.usage_events(D1, D1))
    assert caught.value.endpoint == "/teams/filtered-usage-events"
    assert answered[1] == 3 and client.stats.restarts == 3


def test_ai_code_pages_by_total_count_and_etag():
    def commit(i):
        return {
            "commitHash": f"h{i}",
            "userId": "user_1",
            "userEmail": "a@x.com",
            "commitTs": "2025-01-01T10:00:00Z",
            "createdAt": "2025-01-01T10:05:00Z",
        }

    bodies = {
        p: {
            "items": [commit(2 * p + j) for j in range(2 if p < 2 else 1)],
            "totalCount": 5,
            "page": p + 1,
            "pageSize": 2,
        }
        for p in range(3)
    }
    seen_if_none_match = []

    def handler(request):
        seen_if_none_match.append(request.headers.get("If-None-Match"))
        page = int(request.url.params["page"])
        tag = f'"tag-{page}"'
        if request.headers.get("If-None-Match") == tag:
            return httpx.Response(304, headers={"ETag": tag})
        return ok(bodies[page - 1], ETag=tag, **{"Cache-Control": "public, max-age=900"})

    client = make_client(handler, page_size=2)
    first = list(client.ai_commits(D1, D1))
    assert [len(p.records) for p in first] == [2, 2, 1] and not any(p.not_modified for p in first)
    again = list(client.ai_commits(D1, D1))
    assert all(p.not_modified for p in again) and client.stats.not_modified == 3
    assert [p.records for p in again] == [p.records for p in first]
    assert seen_if_none_match == [None] * 3 + ['"tag-1"', '"tag-2"', '"tag-3"']


def test_ai_code_dates_are_iso_datetimes():
    rec = Recorder(ok({"items": [], "totalCount": 0, "page": 1, "pageSize": 1000}))
    list(make_client(rec).ai_changes(date(2025, 1, 1), date(2025, 1, 30)))
    params = rec.requests[0].url.params
    assert params["startDate"] == "2025-01-01T00:00:00.000Z"
    assert params["endDate"] == "2025-01-30T23:59:59.999Z"
    assert params["pageSize"] == "1000"


def test_csv_export_is_read_by_column_name_in_pages():
    header = "commit_ts,commit_hash,user_id,user_email,total_lines_added,is_primary_branch\n"
    rows = "".join(f"2025-01-01T0{i}:00:00Z,h{i},{100 + i},a@x.com,{i},true\n" for i in range(5))
    rec = Recorder(httpx.Response(200, text=header + rows, headers={"Content-Type": "text/csv"}))
    pages = list(make_client(rec, page_size=2).ai_commits_csv(D1, D1))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    record = pages[0].records[1]
    assert record["commit_hash"] == "h1" and record["user_id"] == "101"
    assert record["is_primary_branch"] is True and record["total_lines_added"] == 1
    assert record["day"] == D1 and record["repo_name"] is None


def test_spend_merges_pages():
    def row(i):
        return {"userId": f"user_{i}", "email": f"u{i}@x.com", "spendCents": 10.5}

    rec = Recorder(
        ok(
            {
                "teamMemberSpend": [row(0), row(1)],
                "subscriptionCycleStart": 1735689600000,
                "totalMembers": 3,
                "totalPages": 2,
            }
        ),
        ok(
            {
                "teamMemberSpend": [row(2)],
                "subscriptionCycleStart": 1735689600000,
                "totalMembers": 3,
                "totalPages": 2,
            }
        ),
    )
    page = make_client(rec).spend()
    assert [r["email"] for r in page.records] == ["u0@x.com", "u1@x.com", "u2@x.com"]
    assert page.extra["subscription_cycle_start"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert page.extra["total_members"] == 3
    assert [json.loads(r.content) for r in rec.requests] == [
        {"page": 1, "pageSize": 1000},
        {"page": 2, "pageSize": 1000},
    ]


# ------------------------------------------------------------------ secrecy


def test_api_key_never_in_errors_logs_or_repr(caplog):
    caplog.set_level(logging.DEBUG)
    echo = Recorder(
        lambda request: err(403, "Forbidden", f"key {KEY} lacks access"),
        lambda request: err(500, "Internal Server Error", f"failed for {KEY}"),
    )
    client = make_client(echo, max_attempts=2)
    texts = [repr(client), str(client), repr(vars(client))]
    for call in (client.team_members, client.repo_blocklists):
        with pytest.raises(CursorApiError) as info:
            call()
        texts += [str(info.value), repr(info.value), str(info.value.server_message)]
    with pytest.raises(ServerError):
        client.team_members()
    texts.append(caplog.text)
    assert any("<redacted>" in t for t in texts)
    assert not any(KEY in t for t in texts)
    assert not any(KEY[5:] in t for t in texts)


# ------------------------------------------------------------------ pacing


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


def test_sliding_window_allows_n_per_window_plus_margin():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 10.0, margin_seconds=1.0, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(7):
        limiter.acquire()
        grants.append(clock.now)
    assert grants == [0, 0, 0, 11, 11, 11, 22]
    # at most 3 grants in any half-open window of 10 s, wherever the window starts
    for start in [g - 10 + 1e-9 for g in grants] + grants:
        assert sum(start <= g < start + 10 for g in grants) <= 3


def test_refund_gives_the_slot_back():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 10.0, margin_seconds=0.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.refund()
    assert limiter.acquire() == 0.0 and clock.now == 0.0


def test_limiter_is_thread_safe():
    """Four threads on one limiter, in virtual time: every thread's sleep moves the shared clock,
    and each grant is stamped with the clock value the limiter read when it granted."""
    clock = FakeClock()
    granted_at = threading.local()

    def read_clock():
        granted_at.value = clock()  # the last read of a successful acquire is its grant time
        return granted_at.value

    limiter = SlidingWindowLimiter(5, 0.3, margin_seconds=0.02, clock=read_clock, sleep=clock.sleep)
    stamps = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker():
        start.wait()  # all four contend from the first acquire
        for _ in range(3):
            limiter.acquire()
            with lock:
                stamps.append(granted_at.value)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 12
    assert stamps[:5] == [0.0] * 5  # the first five at once, then paced
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 0.32  # at most 5 in any window + margin


def test_pacing_is_per_endpoint_and_304s_do_not_count():
    def handler(request):
        if request.url.path.startswith("/analytics"):
            if request.headers.get("If-None-Match"):
                return httpx.Response(304)
            return ok({"items": [], "totalCount": 0, "page": 1, "pageSize": 1000}, ETag='"t"')
        return ok({"teamMembers": []})

    client = make_client(
        handler,
        rate_limits={"/teams/members": 2, "/analytics/ai-code/commits": 2},
        rate_limit_window_seconds=30,
    )
    client.team_members(), client.team_members()  # members' window is full, commits' is not
    for _ in range(5):  # one 200, then 304s: each takes the second slot and gives it back
        list(client.ai_commits(D1, D1))
    # no wait at all (a wait would be half a minute): 6 requests to commits under a limit of 2
    assert client.stats.rate_limit_waits_seconds == 0.0 and client.stats.not_modified == 4
    assert client.stats.requests["/analytics/ai-code/commits"] == 5


def test_default_rate_limits_match_the_docs():
    assert DEFAULT_RATE_LIMITS["/teams/filtered-usage-events"] == 60
    assert DEFAULT_RATE_LIMITS["/teams/user-spend-limit"] == 250
    assert DEFAULT_RATE_LIMITS["/teams/daily-usage-data"] == 20
    for path in ("commits", "commits.csv", "changes", "changes.csv"):
        assert DEFAULT_RATE_LIMITS[f"/analytics/ai-code/{path}"] == 20
        assert LEGACY_RATE_LIMITS[f"/analytics/ai-code/{path}"] == 5


# ==================================================================================================
# Acceptance: the real simulator over loopback (an independent reading of the same contract)
# ==================================================================================================

TODAY = date(2025, 6, 30)
DAY = TODAY - timedelta(days=3)


def sim_client(sim, **kwargs) -> CursorClient:
    kwargs.setdefault("backoff_base_seconds", 0.005)
    kwargs.setdefault("rate_limit_window_seconds", sim.minute_seconds)
    return CursorClient(sim.api_key, base_url=sim.base_url, **kwargs)


def as_multiset(records):
    return Counter(json.dumps(r, sort_keys=True) for r in records)


def raws(pages):
    return [r["raw"] for p in pages for r in p.records]


def test_every_read_equals_what_the_simulator_holds(make_sim):
    sim = make_sim(seed=5, users=6, days=40, today=TODAY, minute_seconds=1.0, events_per_day={DAY: 25})
    client = sim_client(sim, page_size=10)
    team = sim.team
    truth = sim.ground_truth(DAY)

    assert [m["raw"] for m in client.team_members()] == team.members()

    first = DAY - timedelta(days=2)
    daily = list(client.daily_usage(first, DAY))
    expected = [row for d in (first, first + timedelta(days=1), DAY) for row in team.daily_usage(d)]
    assert as_multiset(raws(daily)) == as_multiset(expected)
    day_rows = [r for p in daily for r in p.records if r["day"] == DAY]
    assert len(day_rows) == truth["daily_usage"]["rows"]
    assert sum(r["total_tabs_shown"] for r in day_rows) == truth["daily_usage"]["total_tabs_shown"]

    sim.reset_requests()
    pages = list(client.usage_events(DAY, DAY))
    assert len(pages) >= 3 and sim.request_count(path="/teams/filtered-usage-events") == len(pages)
    events_ = [r for p in pages for r in p.records]
    assert raws(pages) == list(team.usage_events(DAY))  # served order, nothing lost or repeated
    assert len(events_) == truth["usage_events"]["rows"] == client.usage_events_count(DAY, DAY)
    ev = truth["usage_events"]
    assert sum(e["charged_cents"] for e in events_) == pytest.approx(ev["charged_cents"])
    assert sum(e["requests_costs"] for e in events_) == pytest.approx(ev["requests_costs"])
    assert sum(e["input_tokens"] or 0 for e in events_) == ev["input_tokens"]
    assert {e["day"] for e in events_} == {DAY}

    window = (DAY - timedelta(days=5), DAY)
    commits = list(client.ai_commits(*window))
    expected = [c for i in range(6) for c in team.commits(window[0] + timedelta(days=i))]
    assert as_multiset(raws(commits)) == as_multiset(expected)
    changes = list(client.ai_changes(*window))
    expected = [c for i in range(6) for c in team.changes(window[0] + timedelta(days=i))]
    assert as_multiset(raws(changes)) == as_multiset(expected)
    assert client.ai_code_count("commits", *window) == len(raws(commits))
    day_changes = [r for p in changes for r in p.records if r["day"] == DAY]
    assert sum(r["total_lines_added"] for r in day_changes) == truth["ai_changes"]["total_lines_added"]
    assert sum(len(r["files"]) for r in day_changes) == truth["ai_changes"]["files"]

    def strip(pages):
        return [{k: v for k, v in r.items() if k != "raw"} for p in pages for r in p.records]

    assert sorted(map(repr, strip(client.ai_commits_csv(*window)))) == sorted(map(repr, strip(commits)))
    assert sorted(map(repr, strip(client.ai_changes_csv(*window)))) == sorted(map(repr, strip(changes)))

    audit = list(client.audit_logs(*window))
    expected = [e for i in range(6) for e in team.audit_events(window[0] + timedelta(days=i))]
    assert as_multiset(raws(audit)) == as_multiset(expected)

    spend = client.spend()
    assert as_multiset(r["raw"] for r in spend.records) == as_multiset(team.spend_rows())
    assert spend.extra["subscription_cycle_start"].date() == team.cycle_start
    assert spend.extra["total_members"] == len(spend.records)

    dau = [r for p in client.team_analytics("dau", *window) for r in p.records]
    assert [row["date"] for row in dau] == [window[0] + timedelta(days=i) for i in range(6)]


def test_writes_round_trip(make_sim):
    sim = make_sim(seed=5, users=6, days=10, today=TODAY, minute_seconds=1.0)
    client = sim_client(sim)
    before = client.repo_blocklists()
    assert {r["repo_id"] for r in before} == {r["id"] for r in sim.blocklists}
    after = client.upsert_repo_blocklists([{"url": "https://github.com/o/new", "patterns": ["*.env"]}])
    added = next(r for r in after if r["url"] == "https://github.com/o/new")
    assert added["patterns"] == ["*.env"] and len(after) == len(before) + 1
    client.delete_repo_blocklist(added["repo_id"])
    assert len(client.repo_blocklists()) == len(before)
    with pytest.raises(NotFoundError):
        client.delete_repo_blocklist(added["repo_id"])

    member = next(m for m in client.team_members() if m["role"] == "member" and not m["is_removed"])
    result = client.set_user_spend_limit(member["email"], 100)
    assert result["outcome"] == "success" and "$100" in result["message"]
    spend_row = next(r for r in client.spend().records if r["email"] == member["email"])
    assert spend_row["monthly_limit_dollars"] == 100
    with pytest.raises(BadRequestError):
        client.set_user_spend_limit("stranger@nowhere.dev", 5)
    removed = client.remove_member(email=member["email"])
    assert removed["success"] is True
    assert next(m for m in client.team_members() if m["email"] == member["email"])["is_removed"]


def test_a_year_of_daily_usage_takes_13_requests_or_5_at_90_days(make_sim):
    start, end = TODAY - timedelta(days=364), TODAY
    sim = make_sim(seed=2, users=2, days=400, today=TODAY)
    pages = list(sim_client(sim).daily_usage(start, end))
    assert sim.request_count(path="/teams/daily-usage-data") == 13 == len(pages)
    assert {r["day"] for p in pages for r in p.records} == {start + timedelta(days=i) for i in range(365)}
    # 90-day requests against a server that allows only 30: a 400 that says what to do
    with pytest.raises(BadRequestError, match="max_days_per_request"):
        list(sim_client(sim, max_days_per_request=90).daily_usage(start, end))

    old = make_sim(seed=2, users=2, days=400, today=TODAY, variants=Variants(max_range_days=90))
    pages = list(sim_client(old, max_days_per_request=90).daily_usage(start, end))
    assert old.request_count(path="/teams/daily-usage-data") == 5 == len(pages)
    assert sum(len(p.records) for p in pages) == sum(
        old.ground_truth(start + timedelta(days=i))["daily_usage"]["rows"] for i in range(365)
    )


def test_faults_still_give_every_event_exactly_once(make_sim):
    first = TODAY - timedelta(days=30)
    sim = make_sim(
        seed=9,
        users=3,
        days=40,
        today=TODAY,
        minute_seconds=1.0,
        events_per_day={first + timedelta(days=i): 12 for i in range(30)},
    )
    sim.faults = Faults(error_rate=0.2, rate_limit_rate=0.1, drop_rate=0.05, truncate_rate=0.05, seed=4)
    client = sim_client(sim, page_size=5, max_attempts=15, backoff_base_seconds=0.001, timeout=5.0)
    pages = list(client.usage_events(first, TODAY - timedelta(days=1)))
    got = raws(pages)
    expected = [e for i in range(30) for e in sim.team.usage_events(first + timedelta(days=i))]
    assert len(got) == len(expected) == 360
    assert as_multiset(got) == as_multiset(expected)
    faults = Counter(r.fault for r in sim.requests)
    assert faults["error"] and faults["rate_limit"] and faults["drop"] and faults["truncate"]
    assert client.stats.retries == sum(faults[k] for k in ("error", "rate_limit", "drop", "truncate"))


def test_pacing_keeps_a_burst_under_the_limit(make_sim):
    """The simulator allows 20 requests per fixed 1-second window. A client pacing to 20 per
    1.5 s (plus its margin) keeps every fixed 1-second window under 20 even when requests are
    delayed by up to half a second on a busy machine; each part uses a fresh simulator, so no
    part waits for another's window to end."""

    def members_sim():
        return make_sim(
            seed=3, users=2, days=5, today=TODAY, minute_seconds=1.0, rate_limits={"/teams/members": 20}
        )

    # Unpaced, the same burst draws 429s: the limit is real.
    unpaced = sim_client(members_sim(), rate_limits={}, max_attempts=1)
    with pytest.raises(RateLimitError):
        for _ in range(45):
            unpaced.team_members()

    sim = members_sim()
    paced = sim_client(sim, rate_limits={"/teams/members": 20}, rate_limit_window_seconds=1.5, max_attempts=1)
    for _ in range(25):
        paced.team_members()
    assert sim.request_count(path="/teams/members", status=200) == 25
    assert sim.request_count(status=429) == 0
    assert paced.stats.rate_limit_waits_seconds > 0

    # one client shared by threads paces them together
    sim = members_sim()
    shared = sim_client(
        sim, rate_limits={"/teams/members": 20}, rate_limit_window_seconds=1.5, max_attempts=1
    )
    errors = []
    start = threading.Barrier(4)

    def worker():
        start.wait()
        try:
            for _ in range(8):
                shared.team_members()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sim.request_count(status=429) == 0
    assert shared.stats.requests["/teams/members"] == 32
    assert shared.stats.rate_limit_waits_seconds > 0


def test_wrong_key_is_invalid_credentials_after_one_request(make_sim):
    sim = make_sim(seed=3, users=2, days=5, today=TODAY)
    client = CursorClient("crsr_" + "x" * 40, base_url=sim.base_url, backoff_base_seconds=0.001)
    check = client.check_connection()
    assert check.status == "invalid_credentials" and "CURSOR_API_KEY" in check.message
    assert sim.request_count() == 1 and client.stats.retries == 0


def test_key_without_access_is_no_resources(make_sim):
    sim = make_sim(seed=3, users=2, days=5, today=TODAY)
    client = CursorClient(sim.no_access_key, base_url=sim.base_url)
    check = client.check_connection()
    assert check.status == "no_resources" and "403" in check.message
    assert sim.request_count(status=403) == sim.request_count() == client.stats.total_requests
    assert sim_client(sim).check_connection().status == "ok"


def test_non_enterprise_team_reads_admin_data_but_not_ai_code(make_sim):
    for variants in (Variants(), Variants(enterprise_code_error=True)):
        sim = make_sim(seed=3, users=2, days=5, today=TODAY, enterprise=False, variants=variants)
        client = sim_client(sim)
        assert client.check_connection().status == "ok"
        with pytest.raises(InsufficientAccessError, match="Enterprise"):
            list(client.ai_commits(DAY, DAY))


def test_key_never_leaks_into_logs_or_errors(make_sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim = make_sim(seed=3, users=2, days=5, today=TODAY)
    sim.faults = Faults(error_rate=1.0, paths=("/teams/spend",))
    texts = []
    for key in (sim.no_access_key, "crsr_" + "y" * 40, sim.api_key):
        client = CursorClient(key, base_url=sim.base_url, max_attempts=2, backoff_base_seconds=0.001)
        texts += [repr(client), client.check_connection().message]
        for call in (
            client.team_members,
            client.spend,
            lambda c=client: list(c.ai_commits(DAY, DAY)),
        ):
            try:
                call()
            except CursorApiError as exc:
                texts += [str(exc), repr(exc)]
    texts.append(caplog.text)
    for key in (sim.api_key, sim.no_access_key, "crsr_" + "y" * 40):
        assert not any(key in t for t in texts)


VARIANT_FLAGS = [
    "numeric_ids",
    "members_without_id",
    "kind_label",
    "empty_strings",
    "non_midnight_date",
    "inactive_without_paging",
    "legacy_spend",
    "no_commit_source",
    "dotted_extensions",
    "csv_alt_order",
    "error_status_code",
    "legacy_events_page_size",
]


def read_everything(sim, first, last):
    client = sim_client(sim, page_size=50)
    return {
        "team_members": client.team_members(),
        "daily_usage": [r for p in client.daily_usage(first, last) for r in p.records],
        "usage_events": [r for p in client.usage_events(first, last) for r in p.records],
        "spend": client.spend().records,
        "ai_commits": [r for p in client.ai_commits(first, last) for r in p.records],
        "ai_commits_csv": [r for p in client.ai_commits_csv(first, last) for r in p.records],
        "ai_changes": [r for p in client.ai_changes(first, last) for r in p.records],
        "ai_changes_csv": [r for p in client.ai_changes_csv(first, last) for r in p.records],
        "audit_logs": [r for p in client.audit_logs(first, last) for r in p.records],
    }


def comparable(dataset, records, skip=()):
    skip = {"raw", *skip}
    return sorted(repr({k: v for k, v in r.items() if k not in skip}) for r in records)


@pytest.mark.parametrize("flag", VARIANT_FLAGS)
def test_each_older_variant_reads_the_same_data(make_sim, flag):
    first, last = DAY - timedelta(days=1), DAY
    common = dict(
        seed=13,
        users=4,
        days=10,
        today=TODAY,
        minute_seconds=1.0,
        events_per_day={first: 15, last: 15},
    )
    current = read_everything(make_sim(**common), first, last)
    variant = read_everything(make_sim(**common, variants=Variants(**{flag: True})), first, last)
    ids = {"user_id"} if flag == "numeric_ids" else set()
    for dataset in current:
        skip = set(ids)
        if flag == "members_without_id" and dataset == "team_members":
            skip |= {"user_id", "is_removed"}
            current_rows = [r for r in current[dataset] if not r["is_removed"]]
        else:
            current_rows = current[dataset]
        if flag == "legacy_spend" and dataset == "spend":
            skip |= {
                "user_id",
                "overall_spend_cents",
                "monthly_limit_dollars",
                "effective_per_user_limit_dollars",
                "spend_cents",
            }
        if flag == "no_commit_source" and dataset.startswith("ai_commits"):
            skip |= {"commit_source"}
            assert all(r["commit_source"] is None for r in variant[dataset])
        if flag == "non_midnight_date" and dataset == "daily_usage":
            skip |= {"date_ms"}
        assert comparable(dataset, variant[dataset], skip) == comparable(dataset, current_rows, skip), dataset
    if flag == "numeric_ids":
        assert all(isinstance(r["user_id"], str) for r in variant["daily_usage"] + variant["spend"])


def test_etags_turn_repeated_ai_code_reads_into_304s(make_sim):
    sim = make_sim(seed=5, users=6, days=20, today=TODAY, minute_seconds=1.0)
    client = sim_client(sim, page_size=60)
    window = (DAY - timedelta(days=3), DAY)
    first = list(client.ai_changes(*window))
    csv_first = list(client.ai_commits_csv(*window))
    assert len(first) >= 2 and not any(p.not_modified for p in first)
    sim.reset_requests()
    second = list(client.ai_changes(*window))
    csv_second = list(client.ai_commits_csv(*window))
    assert all(p.not_modified for p in second + csv_second)
    assert raws(second) == raws(first) and raws(csv_second) == raws(csv_first)
    assert sim.request_count(status=304) == sim.request_count() == len(second) + 1
    assert client.stats.not_modified == len(second) + 1  # one per 304 response
    # a shared cache serves another client too
    other = sim_client(sim, page_size=60, etag_cache=client.etag_cache)
    assert all(p.not_modified for p in other.ai_changes(*window))


def test_unknown_fields_stay_in_raw_and_dropped_ones_become_none(make_sim):
    variants = Variants(
        extra_fields={"usage_events": {"brandNewField": 7}},
        dropped_fields={"daily_usage": ["clientVersion", "mostUsedModel"]},
    )
    sim = make_sim(seed=13, users=3, days=5, today=TODAY, variants=variants, events_per_day={DAY: 5})
    client = sim_client(sim)
    events_ = [r for p in client.usage_events(DAY, DAY) for r in p.records]
    assert events_ and all(e["raw"]["brandNewField"] == 7 and "brandNewField" not in e for e in events_)
    rows = [r for p in client.daily_usage(DAY, DAY) for r in p.records]
    assert rows and all(r["client_version"] is None and r["most_used_model"] is None for r in rows)


def test_ranged_reads_validate_dates_when_called():
    client = make_client(Recorder(ok({"data": []})))
    with pytest.raises(ValueError, match="after end"):
        client.daily_usage(date(2025, 2, 1), date(2025, 1, 1))
    with pytest.raises(TypeError, match="start"):
        client.ai_commits(20250101, date(2025, 1, 1))
    with pytest.raises(ValueError, match="rate_limit_window_seconds"):
        CursorClient(KEY, rate_limit_window_seconds=0)
    with pytest.raises(ValueError, match="page_size"):
        CursorClient(KEY, page_size=1001)


# ------------------------------------------------------------------ data that moves while paging

DRIFTING = {  # endpoint -> (client read, what the simulator holds), several pages each
    "/teams/filtered-usage-events": (
        lambda c: c.usage_events(DAY, DAY),
        lambda team: list(team.usage_events(DAY)),
    ),
    "/teams/daily-usage-data": (
        lambda c: c.daily_usage(DAY - timedelta(days=1), DAY),
        lambda team: [r for d in (DAY - timedelta(days=1), DAY) for r in team.daily_usage(d)],
    ),
    "/analytics/ai-code/commits": (lambda c: c.ai_commits(DAY, DAY), lambda team: team.commits(DAY)),
    "/teams/audit-logs": (
        lambda c: c.audit_logs(DAY - timedelta(days=20), DAY),
        lambda team: [e for i in range(21) for e in team.audit_events(DAY - timedelta(days=i))],
    ),
}


def kept(pages):
    """What a careful caller keeps: a page marked `restarted` drops what came of its chunk."""
    out: dict = {}
    for page in pages:
        if page.restarted:
            out[page.window] = []
        out.setdefault(page.window, []).extend(r["raw"] for r in page.records)
    return [r for rows in out.values() for r in rows]


@pytest.mark.parametrize("drift", ["grow", "shift"])
@pytest.mark.parametrize("path", list(DRIFTING))
def test_a_read_whose_data_moves_is_read_again_from_the_first_page(make_sim, path, drift):
    # "grow": a new event / commit / audit event, or a user joining daily usage, after page 1;
    # "shift": the same total, but the pages moved by one record (page 1's last record again
    # first on page 2, the read's last record lost).
    sim = make_sim(seed=5, users=6, days=40, today=TODAY, rate_limits=False, events_per_day={DAY: 25})
    sim.faults = Faults(drift=drift, drift_reads=1, paths=(path,))
    read, truth = DRIFTING[path]
    client = sim_client(sim, page_size=3, audit_page_size=3)
    pages = list(read(client))
    assert [p.page for p in pages if p.restarted] == [1]
    assert as_multiset(kept(pages)) == as_multiset(truth(sim.team))  # nothing doubled, nothing lost
    assert client.stats.restarts == 1
    first_pages = [r for r in sim.requests if r.path == path and r.status == 200]
    assert len(first_pages) > len([p for p in pages if not p.restarted])


@pytest.mark.parametrize("drift", ["grow", "shift"])
def test_data_that_never_stops_moving_fails_the_read_naming_the_endpoint(make_sim, drift):
    sim = make_sim(seed=5, users=6, days=40, today=TODAY, rate_limits=False)
    sim.faults = Faults(drift=drift, drift_reads=None, paths=("/teams/daily-usage-data",))
    client = sim_client(sim, page_size=2)
    with pytest.raises(UnexpectedResponseError, match="changed while paging, in each of 3 reads") as caught:
        list(client.daily_usage(DAY, DAY))
    assert caught.value.endpoint == "/teams/daily-usage-data"
    reason = "totalUsers" if drift == "grow" else "starts with a record of page 1"
    assert reason in str(caught.value)
    assert client.stats.restarts == 3
