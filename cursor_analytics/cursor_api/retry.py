"""The one retry policy of the client (tenacity): retry what is transient, never what is not.

Retried: 429, 5xx, timeouts, refused or dropped connections, and truncated or invalid JSON on
a 200 (errors raised with `retryable=True`). Never retried: 400, 401, 403, 404 and shape errors.
Waits: the server's `Retry-After` (seconds or an HTTP date) when present, else exponential
backoff base * 1, 2, 4, 8, 16 ... plus up to 25 % random jitter.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import tenacity

from .errors import CursorApiError

logger = logging.getLogger("cursor_analytics.cursor_api")

# A Retry-After beyond this is capped: the attempt after it fails fast if the server still refuses.
MAX_RETRY_AFTER_SECONDS = 300.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent
    or unreadable. Never negative."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_seconds(attempt: int, base: float, rng: Callable[[], float] = random.random) -> float:
    """Delay after failed attempt number `attempt` (1-based): base * 2**(attempt-1) + jitter."""
    delay = base * (2 ** (attempt - 1))
    return delay + delay * 0.25 * rng()


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, CursorApiError) and exc.retryable


class RetryPolicy:
    """Bounded attempts with backoff; counts retries through `on_retry(exception, wait)`."""

    def __init__(
        self,
        max_attempts: int = 6,
        backoff_base_seconds: float = 1.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[CursorApiError, float], None] | None = None,
    ) -> None:
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number >= 1, got {max_attempts!r}")
        if backoff_base_seconds < 0:
            raise ValueError(f"backoff_base_seconds must not be negative, got {backoff_base_seconds!r}")
        self.max_attempts = max_attempts
        self.backoff_base_seconds = float(backoff_base_seconds)
        self._sleep = sleep
        self._on_retry = on_retry

    def wait_seconds(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            jitter = 0.1 * self.backoff_base_seconds * random.random()
            return min(retry_after, MAX_RETRY_AFTER_SECONDS) + jitter
        return backoff_seconds(retry_state.attempt_number, self.backoff_base_seconds)

    def _before_sleep(self, retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        assert isinstance(exc, CursorApiError)
        logger.warning(
            "%s failed (%s), attempt %d of %d; retrying in %.2f s",
            exc.endpoint,
            _short(exc),
            retry_state.attempt_number,
            self.max_attempts,
            wait,
        )
        if self._on_retry is not None:
            self._on_retry(exc, wait)

    def call(self, attempt: Callable[[], object]):
        """Run `attempt` until it succeeds, raises a non-retryable error, or attempts run out
        (then the last error is raised, with `attempts` set)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self.wait_seconds,
            retry=tenacity.retry_if_exception(is_retryable),
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0

        def counted():
            nonlocal attempts
            attempts += 1
            return attempt()

        try:
            return retrying(counted)
        except CursorApiError as exc:
            exc.attempts = attempts
            raise


def _short(exc: CursorApiError) -> str:
    if exc.status_code is not None:
        return f"HTTP {exc.status_code}"
    return exc.message
