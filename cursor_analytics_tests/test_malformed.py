"""Malformed answers from the API, end to end through Dagster: a run either fails with an error
that says what was wrong (and writes nothing), or loads exactly what the API holds. Never a
silently short or doubled partition.

A small HTTP server on loopback sits between the client and the simulator and spoils one chosen
page: cut-off JSON, a body that is not JSON, a missing envelope key, a page that repeats an
earlier page's rows, an empty page in the middle.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import dagster as dg
import httpx
import pytest

from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.resources import WarehouseResource
from cursor_analytics.simulator import Faults, Simulator
from cursor_analytics_tests.support import NOW, materialize_days, query, resources, table_contents

PATHS = {
    "daily_usage": "/teams/daily-usage-data",
    "usage_events": "/teams/filtered-usage-events",
    "ai_commits": "/analytics/ai-code/commits",
    "ai_changes": "/analytics/ai-code/changes",
    "audit_logs": "/teams/audit-logs",
}
LIST_KEYS = {
    "/teams/daily-usage-data": "data",
    "/teams/filtered-usage-events": "usageEvents",
    "/analytics/ai-code/commits": "items",
    "/analytics/ai-code/changes": "items",
    "/teams/audit-logs": "events",
}
# Page sizes that give each dataset several pages over the test's 10 days (daily usage pages
# over users: 12 users in pages of 5).
PAGE_SIZES = {"daily_usage": 5, "usage_events": 300, "ai_commits": 50, "ai_changes": 100, "audit_logs": 1000}


class SpoilingProxy:
    """Forwards every request to the simulator and spoils the answer for one endpoint's page
    `page` (`times` times, or always when None) in the way `how` names."""

    def __init__(
        self, upstream: str, path: str, page: int, how: str, times: int | None = 1, repeat_of: int = 1
    ) -> None:
        self.path, self.page, self.how, self.times, self.repeat_of = path, page, how, times, repeat_of
        self.spoiled = 0
        self._http = httpx.Client(base_url=upstream, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {
            k: v for k, v in h.headers.items() if k.lower() in ("authorization", "content-type", "accept")
        }
        answer = self._http.request(h.command, h.path, headers=headers, content=body)
        out = answer.content
        url = urlsplit(h.path)
        if h.command == "POST":
            page = json.loads(body or b"{}").get("page", 1)
        else:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
        wanted = url.path == self.path and page == self.page and answer.status_code == 200
        if wanted and (self.times is None or self.spoiled < self.times):
            self.spoiled += 1
            out = self._spoil(h.command, url, headers, body, answer)
        h.send_response(answer.status_code)
        h.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
        h.send_header("Content-Length", str(len(out)))
        h.end_headers()
        h.wfile.write(out)

    def _spoil(
        self, method: str, url: Any, headers: dict[str, str], body: bytes, answer: httpx.Response
    ) -> bytes:
        if self.how == "truncated":
            return answer.content[: len(answer.content) // 2]
        if self.how == "not_json":
            return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        data, key = answer.json(), LIST_KEYS[url.path]
        if self.how == "missing_key":
            del data[key]
        elif self.how == "empty":
            data[key] = []
        elif self.how == "empty_last":
            data[key] = []
            data.setdefault("pagination", {})["hasNextPage"] = False
        elif self.how == "repeat":
            if method == "POST":
                other = self._http.request(
                    method,
                    url.path,
                    headers=headers,
                    content=json.dumps({**json.loads(body), "page": self.repeat_of}).encode(),
                )
            else:
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                other = self._http.request(
                    method, f"{url.path}?{urlencode({**params, 'page': self.repeat_of})}", headers=headers
                )
            data[key] = other.json()[key]
        else:
            raise ValueError(self.how)
        return json.dumps(data).encode()


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=13, users=12, days=40, minute_seconds=1.0, now=NOW) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def baseline(sim, tmp_path_factory):
    """Ten days of every partitioned raw table, loaded cleanly and checked against the
    simulator: the 'previous data' each spoiled run must leave untouched."""
    db = tmp_path_factory.mktemp("baseline") / "cursor.duckdb"
    end = sim.team.today - timedelta(days=1)
    start = end - timedelta(days=9)
    materialize_days(our_resources(sim, db), start, end, selection=RAW_PARTITIONED)
    for name in PATHS:
        truth = sum(sim.ground_truth(start + timedelta(days=i))[name]["rows"] for i in range(10))
        assert query(db, f"SELECT count(*) FROM raw.{name}")[0][0] == truth, name
    return db, start, end, table_contents(db)


RAW_PARTITIONED = dg.AssetSelection.assets(*raw.partitioned_raw_assets)


def our_resources(sim, db, **cursor_api):
    return {**resources(sim, db, **cursor_api), "duckdb": WarehouseResource(database=str(db))}


def run_spoiled(sim, baseline, tmp_path, name, how, page, times=1, repeat_of=1):
    """Re-load the baseline's days of one dataset through a spoiling proxy, on a copy of the
    baseline database. Returns (result, database, proxy)."""
    source, start, end, _ = baseline
    db = tmp_path / "cursor.duckdb"
    shutil.copy(source, db)
    proxy = SpoilingProxy(sim.base_url, PATHS[name], page, how, times, repeat_of)
    try:
        res = our_resources(sim, db, base_url=proxy.base_url, page_size=PAGE_SIZES[name])
        result = materialize_days(
            res, start, end, selection=dg.AssetSelection.assets(getattr(raw, name)), raise_on_error=False
        )
    finally:
        proxy.close()
    assert proxy.spoiled, "the spoiled page was never requested: the case tests nothing"
    return result, db


def failure(result: dg.ExecuteInProcessResult) -> str:
    """The innermost error of the failed step: what a user reads first in the UI."""
    [event] = [e for e in result.all_events if e.is_step_failure]
    error = event.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


def assert_failed_clearly_and_wrote_nothing(result, db, baseline, *phrases):
    assert not result.success
    message = failure(result)
    for phrase in phrases:
        assert phrase in message, message
    assert not result.get_asset_materialization_events()
    assert table_contents(db) == baseline[3]


@pytest.mark.parametrize(
    "name, how, page, expected",
    [
        ("usage_events", "truncated", 2, "cut off or not JSON"),
        ("daily_usage", "not_json", 1, "cut off or not JSON"),
    ],
)
def test_a_cut_off_or_non_json_page_once_is_retried_and_the_data_is_exact(
    sim, baseline, tmp_path, name, how, page, expected
):
    result, db = run_spoiled(sim, baseline, tmp_path, name, how, page, times=1)
    assert result.success
    assert table_contents(db) == baseline[3]
    [materialization] = [
        m for m in result.get_asset_materialization_events() if m.partition == baseline[1].isoformat()
    ]
    assert materialization.materialization.metadata["api_retries"].value >= 1


@pytest.mark.parametrize(
    "name, how",
    [("ai_changes", "truncated"), ("audit_logs", "not_json")],
)
def test_a_page_that_is_never_valid_json_fails_the_run_clearly_after_the_retries(
    sim, baseline, tmp_path, name, how
):
    result, db = run_spoiled(sim, baseline, tmp_path, name, how, page=1, times=None)
    assert_failed_clearly_and_wrote_nothing(
        result, db, baseline, PATHS[name], "the body is cut off or not JSON", "after 6 attempts"
    )


@pytest.mark.parametrize("name", list(PATHS))
def test_a_missing_envelope_key_fails_the_run_naming_the_key(sim, baseline, tmp_path, name):
    result, db = run_spoiled(sim, baseline, tmp_path, name, "missing_key", page=1)
    key = LIST_KEYS[PATHS[name]]
    assert_failed_clearly_and_wrote_nothing(result, db, baseline, PATHS[name], f"has no '{key}'")


@pytest.mark.parametrize(
    "name, page, repeat_of",
    [
        ("usage_events", 2, 1),  # the page just before
        ("usage_events", 3, 1),  # an earlier page: counts still add up to the announced total
        ("daily_usage", 3, 1),
        ("ai_changes", 4, 2),
        ("ai_commits", 3, 1),
    ],
)
def test_a_page_repeating_an_earlier_pages_rows_fails_the_run_and_doubles_nothing(
    sim, baseline, tmp_path, name, page, repeat_of
):
    result, db = run_spoiled(sim, baseline, tmp_path, name, "repeat", page, repeat_of=repeat_of)
    assert not result.success
    message = failure(result)
    assert "repeat" in message, message
    assert_failed_clearly_and_wrote_nothing(result, db, baseline)


@pytest.mark.parametrize("name", ["usage_events", "daily_usage", "ai_changes", "ai_commits"])
def test_an_empty_page_in_the_middle_fails_the_run_and_shortens_nothing(sim, baseline, tmp_path, name):
    result, db = run_spoiled(sim, baseline, tmp_path, name, "empty", page=2)
    assert not result.success
    message = failure(result)
    assert PATHS[name] in message and ("page 2 is empty" in message or "announced" in message), message
    assert_failed_clearly_and_wrote_nothing(result, db, baseline)


def test_daily_usage_whose_last_page_arrives_empty_fails_instead_of_loading_short(sim, baseline, tmp_path):
    result, db = run_spoiled(sim, baseline, tmp_path, "daily_usage", "empty_last", page=3)
    assert_failed_clearly_and_wrote_nothing(result, db, baseline, "/teams/daily-usage-data")


def run_drifting(sim, baseline, tmp_path, name, drift, reads):
    """Re-load the baseline's days of one dataset while the simulator's data moves under the
    pages (`Faults.drift`) in `reads` reads (None: every read)."""
    source, start, end, _ = baseline
    db = tmp_path / "cursor.duckdb"
    shutil.copy(source, db)
    sim.faults = Faults(drift=drift, drift_reads=reads, paths=(PATHS[name],))
    try:
        res = our_resources(sim, db, page_size=PAGE_SIZES[name])
        return materialize_days(
            res, start, end, selection=dg.AssetSelection.assets(getattr(raw, name)), raise_on_error=False
        ), db
    finally:
        sim.faults = Faults()


@pytest.mark.parametrize(
    "name, drift",
    [("usage_events", "shift"), ("usage_events", "grow"), ("daily_usage", "grow"), ("ai_commits", "shift")],
)
def test_pages_that_move_while_paging_are_read_again_and_land_exactly_once(
    sim, baseline, tmp_path, name, drift
):
    result, db = run_drifting(sim, baseline, tmp_path, name, drift, reads=1)
    assert result.success
    assert table_contents(db) == baseline[3]  # not one record doubled or lost
    rereads = {
        m.materialization.metadata["api_rereads"].value for m in result.get_asset_materialization_events()
    }
    assert rereads == {1}


def test_pages_that_never_stop_moving_fail_the_run_naming_the_endpoint_and_write_nothing(
    sim, baseline, tmp_path
):
    result, db = run_drifting(sim, baseline, tmp_path, "daily_usage", "shift", reads=None)
    assert_failed_clearly_and_wrote_nothing(
        result, db, baseline, "/teams/daily-usage-data", "changed while paging, in each of 3 reads"
    )
