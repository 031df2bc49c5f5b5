"""Typed errors of the Cursor API client.

Every error names the endpoint it came from and says what to do about it. None of them ever
contains the API key: the client redacts it from anything the server echoes back.
"""

from __future__ import annotations


class CursorApiError(Exception):
    """Base class: a call to the Cursor API failed.

    Attributes: `endpoint` ("POST /teams/spend"), `status_code` (HTTP status or None when no
    response arrived), `server_message` (the server's own words, if any), `hint` (what to do),
    `attempts` (HTTP attempts made before giving up), `retryable` (whether the client retries it),
    `retry_after` (seconds the server asked to wait, if it said).
    """

    default_hint = ""
    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status_code: int | None = None,
        server_message: str | None = None,
        hint: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.endpoint = endpoint
        self.status_code = status_code
        self.server_message = server_message
        self.hint = hint if hint is not None else self.default_hint
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.retry_after = retry_after
        self.attempts = 1
        super().__init__(message)

    def __str__(self) -> str:
        text = f"{self.endpoint}: {self.message}" if self.endpoint else self.message
        details = []
        if self.status_code is not None:
            details.append(f"HTTP {self.status_code}")
        if self.server_message:
            details.append(f"server said {self.server_message!r}")
        if self.attempts > 1:
            details.append(f"after {self.attempts} attempts")
        if details:
            text += f" ({'; '.join(details)})"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidCredentialsError(CursorApiError):
    """401, or a key that does not start with crsr_ or key_ (raised before any request)."""

    default_hint = (
        "Check CURSOR_API_KEY: it must be a team API key (crsr_... or key_...) from "
        "Cursor's dashboard, Settings > Advanced > Admin API keys"
    )


class InsufficientAccessError(CursorApiError):
    """403, or the enterprise refusal `{"code": "error", ...}` (sometimes sent with 401)."""

    default_hint = (
        "The key is valid but its team cannot read this endpoint: ask a team admin for an "
        "Enterprise plan (AI Code Tracking, Analytics, audit logs) or for a key with the "
        "needed scope"
    )


class BadRequestError(CursorApiError):
    """400 with the server's message (e.g. a date range that is too long), or an
    `{"outcome": "error"}` answer of the user-spend-limit endpoint."""

    default_hint = "Check the request parameters"


class NotFoundError(CursorApiError):
    """404: wrong base URL, an endpoint this account does not have, or an unknown id."""

    default_hint = "Check the base URL (https://api.cursor.com) and the id you passed"


class RateLimitError(CursorApiError):
    """429 still returned after every retry."""

    default_hint = (
        "The team's rate limit is exhausted (other tools may share it): wait a minute and "
        "retry, or lower rate_limits for this endpoint"
    )
    retryable_by_default = True


class ServerError(CursorApiError):
    """5xx still returned after every retry."""

    default_hint = "Cursor's API is failing: retry later (status: https://status.cursor.com)"
    retryable_by_default = True


class UnexpectedResponseError(CursorApiError):
    """The response does not have the documented shape: a missing envelope key, a value of the
    wrong type, a page that repeats or is empty while more are announced, an unparsable body."""

    default_hint = (
        "The API answered in a shape this client does not know: retry later, and report it "
        "with the endpoint and field named here if it persists"
    )


class CursorConnectionError(CursorApiError):
    """Timeouts, refused or dropped connections that persisted through every retry.

    `kind` names what failed: "dns", "refused", "tls", "timeout" or "dropped"."""

    default_hint = "Check the network and the base URL, then retry"
    retryable_by_default = True

    def __init__(self, message: str, *, kind: str = "dropped", **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.kind = kind


__all__ = [
    "BadRequestError",
    "CursorApiError",
    "CursorConnectionError",
    "InsufficientAccessError",
    "InvalidCredentialsError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "UnexpectedResponseError",
]
