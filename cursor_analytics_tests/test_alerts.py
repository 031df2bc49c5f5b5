"""Alerts: a Slack-compatible webhook, received here by a local HTTP server on loopback, hears
about a day that changed after it was final and about assets whose freshness policy failed.
Delivery failures are logged, never raised."""

import json
import logging
import socketserver
import threading
import time
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from cursor_analytics.definitions import defs
from cursor_analytics.defs.freshness.alerts import DEADLINE_SECONDS, send_alert
from cursor_analytics.defs.freshness.sensors import (
    build_freshness_alert_sensor,
    build_stale_partitions_sensor,
)
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.simulator import Simulator
from cursor_analytics.warehouse.finality import StaleDataSettings, as_of_tags
from cursor_analytics_tests.support import ALL_ASSETS, range_tags, resources

NOW = datetime(2025, 3, 14, 12, tzinfo=UTC)


class Receiver:
    """A webhook on 127.0.0.1: records the JSON bodies POSTed to it; answers `status`."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    with Receiver() as receiver:
        yield receiver


def test_the_webhook_hears_when_a_final_day_changes(webhook, tmp_path):
    db = tmp_path / "cursor.duckdb"
    settings = StaleDataSettings(webhook_url=webhook.url, lookback_days=4)  # 03-10 .. 03-13
    sensor = build_stale_partitions_sensor(settings, clock=lambda: NOW)
    with Simulator(seed=5, users=6, days=20, minute_seconds=1.0, today=NOW.date()) as sim:
        res = resources(sim, db)
        dg.materialize(
            ALL_ASSETS, selection=dg.AssetSelection.assets(*raw.partitioned_raw_assets), resources=res,
            tags={**range_tags(date(2025, 3, 10), date(2025, 3, 13)), **as_of_tags(NOW)},
        )  # fmt: skip  # 03-10 settled at 03-14 00:00: loaded at noon, it is final
        instance = dg.DagsterInstance.ephemeral()
        quiet = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=res, definitions=defs)
        )
        assert not quiet.run_requests and webhook.bodies == []

        sim.change_day(date(2025, 3, 10))  # the final day changes
        sim.change_day(date(2025, 3, 12))  # a provisional day changes: no alert for it
        result = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=quiet.cursor, resources=res, definitions=defs)
        )

    assert len(result.run_requests) == 2
    assert len(webhook.bodies) == 1
    text = webhook.bodies[0]["text"]
    assert text.startswith("cursor-analytics: data changed after it was final; re-pulling:")
    assert "2025-03-10: daily_usage" in text
    assert "2025-03-12" not in text


def test_the_webhook_hears_once_when_an_asset_s_freshness_policy_fails(webhook):
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_freshness_alert_sensor(StaleDataSettings(webhook_url=webhook.url))
    key = dg.AssetKey(["raw", "daily_usage"])

    def freshness(state: FreshnessState, previous: FreshnessState, at: datetime):
        # the event Dagster's freshness daemon records when an asset's state changes
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=key, previous_state=previous, new_state=state, state_change_timestamp=at.timestamp()
            )
        )

    def tick(cursor=None):
        return sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        )

    freshness(FreshnessState.PASS, FreshnessState.UNKNOWN, datetime(2025, 3, 14, 2, tzinfo=UTC))
    first = tick()
    assert webhook.bodies == []

    freshness(FreshnessState.FAIL, FreshnessState.PASS, datetime(2025, 3, 15, 4, tzinfo=UTC))
    second = tick(first.cursor)
    assert len(webhook.bodies) == 1
    assert webhook.bodies[0]["text"] == (
        "cursor-analytics: freshness policy failed, data is late:\n"
        "- raw/daily_usage (late since 2025-03-15T04:00+00:00)"
    )
    third = tick(second.cursor)
    assert len(webhook.bodies) == 1  # the same failure is told once
    assert "0 new freshness failures" in third.skip_message


def test_alerts_are_off_unless_a_webhook_url_is_configured(webhook):
    assert send_alert(None, "hello") is False
    sensor = build_freshness_alert_sensor(StaleDataSettings(webhook_url=None))
    result = sensor.evaluate_tick(
        dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), definitions=defs)
    )
    assert "Alerts are off: set CURSOR_ANALYTICS_ALERT_WEBHOOK_URL" in result.skip_message
    assert webhook.bodies == []


def test_a_failed_delivery_is_logged_without_the_url_and_never_raised(caplog):
    with Receiver(status=500) as refusing:
        with caplog.at_level(logging.WARNING):
            assert send_alert(refusing.url, "late") is False
        assert refusing.bodies == [{"text": "late"}]
    closed_url = refusing.url  # nothing listens there any more
    with caplog.at_level(logging.WARNING):
        assert send_alert(closed_url, "late") is False
    messages = [r.getMessage() for r in caplog.records]
    assert "Alert not delivered to 127.0.0.1: HTTP 500" in messages
    assert any(m.startswith("Alert not delivered to 127.0.0.1: Connect") for m in messages)
    assert not any("secret-token" in m for m in messages)


class Drip:
    """A webhook on 127.0.0.1 that reads the request, then answers one byte every 0.2 s for a
    minute: every read is quick, the whole answer is not. Records the bytes it sent before the
    client hung up."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + b"X-Slow: " + b"." * 300 + b"\r\n\r\n"

    def __init__(self):
        self.sent = 0
        self.hung_up = threading.Event()
        drip = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.recv(65536)
                try:
                    for byte in drip.ANSWER:
                        self.request.sendall(bytes([byte]))
                        drip.sent += 1
                        time.sleep(0.2)  # the server's behaviour: a slow drip
                except OSError:
                    drip.hung_up.set()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_dripping_webhook_is_abandoned_at_the_deadline_and_no_log_names_the_secret(caplog, webhook):
    drip = Drip()
    try:
        with caplog.at_level(logging.DEBUG):  # every logger, httpx's and httpcore's included
            assert send_alert(drip.url, "late") is False
            assert send_alert(webhook.url, "late") is True
        assert drip.hung_up.wait(10)  # the client closed the connection mid-answer
        assert 0 < drip.sent < len(Drip.ANSWER)
    finally:
        drip.close()
    assert webhook.bodies == [{"text": "late"}]
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # DEBUG was really captured
    assert f"Alert not delivered to 127.0.0.1: no answer within {DEADLINE_SECONDS:g} s" in caplog.messages
    logged = [r.getMessage() + repr(r.args) + str(r.exc_info) for r in caplog.records]
    assert not [m for m in logged if "secret-token" in m or "/services/" in m]
