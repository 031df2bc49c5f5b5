"""The one request path of the client and its one paging loop. `Transport` owns the httpx.Client
and the API key (held in a `_Secret`, redacted from reprs and server messages); `Transport.call`
sends every request through the key check, per-endpoint pacing, the retry policy, ETags where
asked for, decoding (JSON, or CSV spooled to a temporary file) and the mapping of HTTP errors to
CursorApiError, counting what it does in `RequestStats`. `Transport.pages` is the paging loop of
envelope-paged reads: it fetches page after page of one date chunk and yields `Page`s, guarding
against servers that repeat, skip or lose pages. Knows no endpoint: `CursorClient` composes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import IO, Any, Literal, TypedDict
from urllib.parse import urlencode

import httpx

from .envelopes import _check_progress, _Envelope
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
from .records import normalise_all
from .retry import RetryPolicy, parse_retry_after

logger = logging.getLogger("cursor_analytics.cursor_api")

DEFAULT_BASE_URL = "https://api.cursor.com"
KEY_PREFIXES = ("crsr_", "key_")
# The documented form: a prefix, then URL-safe characters only (letters, digits, '-', '_').
KEY_FORM = re.compile(r"(?:crsr_|key_)[A-Za-z0-9_-]+")


def key_problem(api_key: object) -> str | None:
    """What keeps `api_key` from being a Cursor team key of the documented form, in words that
    never repeat the key (None when it has that form). Nothing is stripped: a key pasted with a
    space or a line break is refused, so that it is not silently sent as something else."""
    if not isinstance(api_key, str) or not api_key:
        return "the API key is empty"
    if any(c.isspace() for c in api_key):
        where = "inside it" if any(c.isspace() for c in api_key.strip()) else "at its start or end"
        return f"the API key contains whitespace (a space, tab or line break) {where}"
    if not api_key.startswith(KEY_PREFIXES) or len(api_key) <= max(map(len, KEY_PREFIXES)):
        return "the API key does not start with crsr_ or key_ followed by the key itself"
    if not KEY_FORM.fullmatch(api_key):
        return "the API key contains characters other than letters, digits, '-' and '_'"
    return None


# Reads of one chunk from its first page when the data moves while paging, before failing.
MAX_READS = 3


class _Drift(Exception):
    """The data moved under the pages of one read (internal: the read starts again)."""


@dataclass(eq=False)
class Page:
    """One response's worth of records: `items` as the API sent them, `records` normalised
    (`records.normalise`, done on first use). `body` is the response's JSON text (None for CSV
    pages) and `fingerprint` its SHA-256. `restarted`: the first page of a chunk read again
    because its data moved while paging; drop what was received of `window` before it."""

    endpoint: str
    items: list[Any]
    page: int
    total_pages: int | None
    total_count: int | None
    window: tuple[date, date]
    not_modified: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    record_type: str = ""
    list_key: str = ""
    body: bytes | None = None
    fingerprint: str | None = None
    restarted: bool = False

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        return normalise_all(self.record_type, self.items, endpoint=self.endpoint, key=self.list_key)


@dataclass
class RequestStats:
    """What the client did: HTTP attempts per endpoint path, pages read, retries, 304s, the
    seconds spent waiting for the client-side rate limiter, and re-reads of drifting chunks."""

    requests: Counter = field(default_factory=Counter)
    pages: int = 0
    retries: int = 0
    not_modified: int = 0
    rate_limit_waits_seconds: float = 0.0
    restarts: int = 0  # chunks read again from the first page because their data moved

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


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
    body: bytes = b""  # the JSON body as received


_UNDECODED = object()  # _Reply.data of a body fetched ahead, not parsed yet
SEND_FIRST_SECONDS = 0.01


def _on_sent(sent: threading.Event) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore trace hook that sets `sent` once the request's body has been written."""

    def trace(name: str, info: dict[str, Any]) -> None:
        if name == "http11.send_request_body.complete":
            sent.set()

    return trace


class _PagesAhead:
    """Fetches the pages the reader asks for, in order, in a thread of its own: one request in
    flight, through the same pacing and retries. Bodies stay raw (`_UNDECODED`), so the reader
    can ask for page n + 1 and parse page n while that request travels."""

    def __init__(self, transport: Transport, fetch: Callable[[int], _Reply]) -> None:
        self._asked: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[tuple[_Reply | None, BaseException | None]] = queue.SimpleQueue()
        self._sent = threading.Event()  # the request last asked for has left
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(transport, fetch), name="cursor-api-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, transport: Transport, fetch: Callable[[int], _Reply]) -> None:
        transport._undecoded.on = True
        transport._undecoded.sent = self._sent
        while (page := self._asked.get()) is not None and not self._stop.is_set():
            try:
                self._answers.put((fetch(page), None))
            except BaseException as exc:  # handed to the reader, raised in its thread
                self._answers.put((None, exc))
                return

    def ask(self, page: int, *, let_it_leave: bool = False) -> None:
        """Fetch `page` next. `let_it_leave`: wait (a few ms at most, not the pacing's wait)
        until the request is written, so that the caller's parsing, which holds the GIL, does
        not hold it back."""
        self._sent.clear()
        self._asked.put(page)
        if let_it_leave:
            self._sent.wait(SEND_FIRST_SECONDS)

    def take(self) -> _Reply:
        reply, error = self._answers.get()
        if error is not None:
            raise error
        assert reply is not None
        return reply

    def close(self) -> None:
        self._stop.set()
        self._asked.put(None)
        self._thread.join()


# ------------------------------------------------------------------ configuration


def _check_base_url(base_url: str) -> str:
    url = str(base_url).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return url


# ------------------------------------------------------------------ the transport


class _ErrorFields(TypedDict):
    """The keyword arguments every HTTP error from `Transport._error` shares."""

    endpoint: str
    status_code: int
    server_message: str | None


class Transport:
    """Sends requests to one Cursor API base URL with one key (Basic auth: the key as username,
    empty password); see the module docstring for what every request goes through.

    Thread-safe: pacing, statistics and the default ETag cache are guarded by locks, and
    httpx.Client may be shared between threads.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float | httpx.Timeout,
        rate_limits: Mapping[str, int],
        rate_limit_window_seconds: float,
        max_attempts: int,
        backoff_base_seconds: float,
        etag_cache: MutableMapping[str, dict[str, Any]] | None,
        max_days_per_request: int,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`rate_limits` {} = no pacing; `max_days_per_request` only words the hint of a 400
        that complains about the date range."""
        key = api_key if isinstance(api_key, str) else ""
        self._api_key = _Secret(key)
        self.key_problem = key_problem(key)
        self.key_ok = self.key_problem is None
        self._key_fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]

        self.base_url = _check_base_url(base_url)
        self.max_days_per_request = max_days_per_request
        if not rate_limit_window_seconds > 0:
            raise ValueError(f"rate_limit_window_seconds must be positive, got {rate_limit_window_seconds!r}")
        # {} = no pacing (e.g. a simulator without limits, or a proxy that paces for us)
        self._pacer = Pacer(rate_limits, float(rate_limit_window_seconds)) if rate_limits else None
        self.stats = RequestStats()
        self._stats_lock = threading.Lock()
        self._undecoded = threading.local()  # .on in a thread fetching pages ahead: keep bodies raw
        self.retry = RetryPolicy(max_attempts, backoff_base_seconds, on_retry=self._on_retry)
        self.etag_cache: MutableMapping[str, dict[str, Any]] = (
            EtagCache() if etag_cache is None else etag_cache
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(key, ""),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=http_transport,
            headers={"Accept": "application/json", "User-Agent": "cursor-analytics"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, api_key=<redacted>)"

    def __getstate__(self) -> None:
        raise TypeError("Transport cannot be pickled (it holds a connection pool and a key)")

    # ------------------------------------------------------------ paging

    def pages(
        self,
        path: str,
        record_type: str,
        window: tuple[date, date],
        fetch: Callable[[int], _Reply],
        read_envelope: Callable[[Any, str], _Envelope],
    ) -> Iterator[Page]:
        """Page through one chunk, fetching page n + 1 while the caller handles page n (one
        request in flight, one page ahead; every request still goes through the pacing and the
        retry policy). When page 1 announces the number of pages, the next ones come from a
        thread of their own (`_PagesAhead`) and each body is parsed here, while the request for
        the page after it travels.

        Refuses servers that repeat pages, send empty pages while announcing more, or answer
        more records than they announced. Data that moves while paging (an announced total
        that changes, a page that starts with a record of the page before, fewer records
        than announced at the end) is read again from the first page, up to MAX_READS times;
        the first page of a re-read is marked `restarted`: the caller drops what it received
        of this chunk before. Then the read fails, naming the endpoint."""
        for read in range(1, MAX_READS + 1):
            try:
                yield from self._read(path, record_type, window, fetch, read_envelope, read > 1)
                return
            except _Drift as drift:
                with self._stats_lock:
                    self.stats.restarts += 1
                if read == MAX_READS:
                    raise UnexpectedResponseError(
                        f"the data changed while paging, in each of {MAX_READS} reads from the first "
                        f"page ({drift}); records would have been repeated or lost, so none of "
                        f"{window[0]}..{window[1]} is kept",
                        endpoint=path,
                        hint="Retry later, when the API's data for these days has settled",
                    ) from None
                logger.warning(
                    "%s: %s; reading %s..%s again from the first page", path, drift, window[0], window[1]
                )

    def _read(
        self,
        path: str,
        record_type: str,
        window: tuple[date, date],
        fetch: Callable[[int], _Reply],
        read_envelope: Callable[[Any, str], _Envelope],
        restarted: bool,
    ) -> Iterator[Page]:
        page, seen = 1, 0
        previous: list[Any] | None = None  # the items of the page before
        firsts: dict[str, int] = {}  # each page's first record (as JSON) -> its page
        first_announced: dict[str, int | None] | None = None
        ahead: _PagesAhead | None = None  # the fetching thread, started for page 2
        asked = False  # whether the next page was asked for already
        try:
            reply = fetch(1)
            while True:
                env = read_envelope(reply.data, path)
                if first_announced is None:
                    first_announced = env.announced
                elif env.announced != first_announced:
                    changed = ", ".join(
                        f"{key} {first_announced.get(key)} on page 1, {value} on page {page}"
                        for key, value in env.announced.items()
                        if first_announced.get(key) != value
                    )
                    raise _Drift(f"the record count changed while paging: {changed}")
                if env.page is not None and env.page != page:
                    raise UnexpectedResponseError(
                        f"asked for page {page} but the server answered page {env.page}", endpoint=path
                    )
                more = env.has_next
                if more is None:
                    more = env.total_pages is not None and page < env.total_pages
                if more and env.total_pages is not None and page >= env.total_pages:
                    raise UnexpectedResponseError(
                        f"page {page} of {env.total_pages} announces a next page", endpoint=path
                    )
                _check_progress(path, page, env.items, previous, more)
                if (
                    not more
                    and env.total_pages is not None
                    and (page < env.total_pages or (page > 1 and not env.items))
                ):
                    raise UnexpectedResponseError(
                        f"page {page} is {'empty' if not env.items else 'the last'} but "
                        f"{env.total_pages} pages were announced: the read would stop short; "
                        "retry the read",
                        endpoint=path,
                    )
                if env.items:
                    first = json.dumps(env.items[0], sort_keys=True, default=str)
                    if first in firsts:
                        raise UnexpectedResponseError(
                            f"page {page} repeats the records of page {firsts[first]}", endpoint=path
                        )
                    firsts[first] = page
                    if previous is not None and env.items[0] in previous:
                        # Shifted by records that arrived ahead of this page. (A record sent
                        # twice by the API, once on each side of a page boundary, looks the
                        # same: such a read fails too, rather than risk a doubled record.)
                        raise _Drift(
                            f"page {page} starts with a record of page {page - 1}: the pages "
                            "shifted while paging"
                        )
                seen += len(env.items)
                if env.total_count is not None and seen > env.total_count:
                    raise UnexpectedResponseError(
                        f"{seen} records read by page {page}, more than the {env.total_count} "
                        "announced: the server repeats records across pages",
                        endpoint=path,
                    )
                if not more and env.total_count is not None and seen != env.total_count:
                    raise _Drift(
                        f"read {seen} records over {page} page(s) but the server announced {env.total_count}"
                    )
                if more and not asked:  # the next page is fetched while the caller handles this one
                    ahead = ahead or _PagesAhead(self, fetch)
                    ahead.ask(page + 1)
                self.count_page()
                yield Page(
                    endpoint=path,
                    items=env.items,
                    page=page,
                    total_pages=env.total_pages,
                    total_count=env.total_count,
                    window=window,
                    not_modified=reply.not_modified,
                    extra=env.extra,
                    record_type=record_type,
                    list_key=env.list_key,
                    body=reply.body,
                    fingerprint=hashlib.sha256(reply.body).hexdigest(),
                    restarted=restarted and page == 1,
                )
                if not more:
                    return
                assert ahead is not None
                reply, page, previous = ahead.take(), page + 1, env.items
                # With the number of pages announced, the page after this one is asked for
                # before this one is parsed: its request travels while this thread parses.
                asked = env.total_pages is not None and page < env.total_pages
                if asked:
                    ahead.ask(page + 1, let_it_leave=True)
                if reply.data is _UNDECODED:
                    try:
                        reply = self._decode(reply.body, reply.status_code, path, "json", reply.not_modified)
                    except UnexpectedResponseError as exc:
                        # a garbled body: a retry, as if parsed in the fetching thread (which
                        # is stopped: the page it fetches after this one is not used)
                        ahead.close()
                        ahead, asked = None, False
                        if self.retry.max_attempts == 1:
                            raise
                        logger.warning("%s failed (%s); retrying", path, exc.message)
                        self._on_retry(exc, 0.0)
                        reply = fetch(page)
        finally:  # never leave a request running behind a failed or abandoned read
            if ahead is not None:
                ahead.close()

    # ------------------------------------------------------------ HTTP

    def call(
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
        if not self.key_ok:
            raise InvalidCredentialsError(f"{self.key_problem}; no request was sent", endpoint=endpoint)
        cache_key = self._cache_key(path, params) if etag else None

        def attempt() -> _Reply:
            return self._attempt(method, path, endpoint, params, json_body, cache_key, expect)

        return self.retry.call(attempt)

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
            sent = getattr(self._undecoded, "sent", None)
            request = self._http.build_request(
                method,
                path,
                params=params,
                json=json_body,
                headers=headers,
                extensions={"trace": _on_sent(sent)} if sent is not None else None,
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
                kind="timeout",
            ) from exc
        except httpx.TransportError as exc:
            _close(spool)
            raise self._connection_error(exc, endpoint) from exc
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

        if status == 304:
            if cached is None:
                raise UnexpectedResponseError(
                    "304 Not Modified to a request that was not conditional",
                    endpoint=endpoint,
                    status_code=status,
                )
            if limiter is not None:
                limiter.refund()  # a 304 does not count against Cursor's rate limit
            with self._stats_lock:
                self.stats.not_modified += 1
            body = cached["body"] if expect == "csv" else cached["body"].encode()
            return self._decode(body, status, endpoint, expect, not_modified=True)
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
            if expect == "json" and getattr(self._undecoded, "on", False):
                return _Reply(status, data=_UNDECODED, body=response.content)  # decoded by the reader
            return self._decode(response.content, status, endpoint, expect)
        raise self._error(response, endpoint, method)

    def _decode(
        self, text: str | bytes, status: int, endpoint: str, expect: str, not_modified: bool = False
    ) -> _Reply:
        """JSON from the body's bytes (kept in the reply), or CSV text spooled to a file."""
        if expect == "csv":
            assert isinstance(text, str)
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
                f"the body is cut off or not JSON ({exc.msg} at character {exc.pos} of {len(text)})",
                endpoint=endpoint,
                status_code=status,
                retryable=True,
            ) from None
        except UnicodeDecodeError as exc:
            raise UnexpectedResponseError(
                f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})",
                endpoint=endpoint,
                status_code=status,
                retryable=True,
            ) from None
        body = text if isinstance(text, bytes) else text.encode()
        return _Reply(status, data=data, not_modified=not_modified, body=body)

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
            server_message = self.redact(str(said)) if said else None
        else:
            text = response.text.strip()
            server_message = self.redact(text[:200]) if text else None
        common: _ErrorFields = {
            "endpoint": endpoint,
            "status_code": status,
            "server_message": server_message,
        }
        is_write = method != "GET" and not endpoint.endswith(
            ("/daily-usage-data", "/filtered-usage-events", "/spend")
        )
        if status == 401 and isinstance(body, dict) and body.get("code") == "error":
            return InsufficientAccessError("the team's plan does not include this endpoint", **common)
        if status == 401:
            return InvalidCredentialsError("the API key was rejected", **common)
        if status == 403:
            hint = "Writes need an admin API key: ask a team admin for one" if is_write else None
            return InsufficientAccessError("the key may not read this endpoint", hint=hint, **common)
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

    def _connection_error(self, exc: httpx.TransportError, endpoint: str) -> CursorConnectionError:
        """Name what failed: the host name (DNS), the port (refused), TLS, or a dropped line."""
        causes: list[BaseException] = []
        cause: BaseException | None = exc
        while cause is not None and cause not in causes:
            causes.append(cause)
            cause = cause.__cause__ or cause.__context__
        url = self._http.base_url
        if any(isinstance(c, ssl.SSLError) for c in causes):
            reason = next(c for c in causes if isinstance(c, ssl.SSLError))
            said = (
                getattr(reason, "verify_message", None)
                or getattr(reason, "reason", None)
                or "handshake failed"
            )
            return CursorConnectionError(
                f"the TLS connection to {url.host} failed ({said})",
                endpoint=endpoint,
                retryable=False,
                kind="tls",
                hint="Check the base URL (https://api.cursor.com), the system's CA certificates, or "
                "a proxy that intercepts TLS (point SSL_CERT_FILE at its CA)",
            )
        if any(isinstance(c, socket.gaierror) for c in causes):
            return CursorConnectionError(
                f"the host name {url.host} could not be resolved (DNS)",
                endpoint=endpoint,
                kind="dns",
                hint="Check the base URL's host name and this machine's DNS or network",
            )
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return CursorConnectionError(
                f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)} refused the connection",
                endpoint=endpoint,
                kind="refused",
                hint="Check the base URL's port, and that the server (or the simulator) is running",
            )
        return CursorConnectionError(
            f"the connection failed or was dropped ({type(exc).__name__})", endpoint=endpoint, kind="dropped"
        )

    # ------------------------------------------------------------ helpers

    def redact(self, text: str) -> str:
        key = self._api_key.value
        return text.replace(key, "<redacted>") if key else text

    def _cache_key(self, path: str, params: Mapping[str, Any] | None) -> str:
        query = urlencode(sorted((params or {}).items()))
        return f"{self._key_fingerprint} {self.base_url}{path}?{query}"

    def count_page(self) -> None:
        with self._stats_lock:
            self.stats.pages += 1

    def _on_retry(self, exc: CursorApiError, wait: float) -> None:
        with self._stats_lock:
            self.stats.retries += 1


def _close(spool: IO[str] | None) -> None:
    if spool is not None:
        spool.close()
