"""Optional alerts: a short message POSTed to a Slack-compatible incoming webhook.

Off unless CURSOR_ANALYTICS_ALERT_WEBHOOK_URL is set. The body is `{"text": message}`, which
Slack, Mattermost, Rocket.Chat and Microsoft Teams' Slack-compatible connectors accept. A
delivery failure is logged and never raised: an alert must not fail the sensor that sends it.
The URL carries a secret token, so it never appears in logs; only its host does.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0


def send_alert(
    webhook_url: str | None, text: str, log: logging.Logger | logging.LoggerAdapter | None = None
) -> bool:
    """POST `{"text": text}` to `webhook_url`. Returns True when delivered (2xx); False when
    alerts are off (no URL) or delivery failed (logged as a warning)."""
    log = log or logger
    if not webhook_url:
        return False
    host = urlsplit(webhook_url).hostname or "the webhook"
    try:
        response = httpx.post(webhook_url, json={"text": text}, timeout=TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning(f"Alert not delivered to {host}: {type(exc).__name__}")
        return False
    if response.is_success:
        return True
    log.warning(f"Alert not delivered to {host}: HTTP {response.status_code}")
    return False
