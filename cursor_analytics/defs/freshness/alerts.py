"""Optional alerts: a short message POSTed to a Slack-compatible incoming webhook.

Off unless CURSOR_ANALYTICS_ALERT_WEBHOOK_URL is set. The body is `{"text": message}`, which
Slack, Mattermost, Rocket.Chat and Microsoft Teams' Slack-compatible connectors accept. A
delivery failure is logged and never raised: an alert must not fail the sensor that sends it.
A delivery has DEADLINE_SECONDS in total, connecting and reading included, so a webhook that
answers a byte at a time cannot hold a sensor tick near Dagster's 60 s limit.
The URL carries a secret token, so it never appears in logs at any level; only its host does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

DEADLINE_SECONDS = 5.0


def send_alert(
    webhook_url: str | None, text: str, log: logging.Logger | logging.LoggerAdapter | None = None
) -> bool:
    """POST `{"text": text}` to `webhook_url` within DEADLINE_SECONDS. Returns True when
    delivered (2xx); False when alerts are off (no URL) or delivery failed (logged as a warning)."""
    log = log or logger
    if not webhook_url:
        return False
    host = urlsplit(webhook_url).hostname or "the webhook"
    try:
        status = asyncio.run(asyncio.wait_for(_post(webhook_url, {"text": text}), DEADLINE_SECONDS))
    except TimeoutError:
        log.warning(f"Alert not delivered to {host}: no answer within {DEADLINE_SECONDS:g} s")
        return False
    except Exception as exc:
        log.warning(f"Alert not delivered to {host}: {type(exc).__name__}")
        return False
    if 200 <= status < 300:
        return True
    log.warning(f"Alert not delivered to {host}: HTTP {status}")
    return False


async def _post(url: str, body: dict[str, Any]) -> int:
    """POST through httpx's transport itself: httpx's client would log the full URL, secret path
    included, at INFO ("HTTP Request: POST ..."); the transport's own debug log names no path."""
    async with httpx.AsyncHTTPTransport() as transport:
        response = await transport.handle_async_request(httpx.Request("POST", url, json=body))
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response.status_code
