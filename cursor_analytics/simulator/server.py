"""`Simulator`: the seeded team served over real HTTP on loopback.

The request pipeline, in order: Basic auth (401 for an unknown key, 403 for the no-access key)
-> injected faults -> routing (404 unknown path, 405 wrong method) -> enterprise check -> the
endpoint. Endpoints with ETags are computed first so that a matching `If-None-Match` gets a 304
that does not count against the rate limit; for the others the rate limit is checked first
(so a refused write changes nothing).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import fnmatch
import hashlib
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import routes
from .faults import FaultInjector, Faults
from .routes import ApiError, Request, Response, dumps
from .team import Team, _key
from .variants import Variants

#: Documented limits (requests per window, per endpoint path) of the current docs.
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "/teams/members": 20,
    "/teams/daily-usage-data": 20,
    "/teams/spend": 20,
    "/teams/filtered-usage-events": 60,
    "/teams/user-spend-limit": 250,
    "/settings/repo-blocklists/repos": 20,
    "/settings/repo-blocklists/repos/upsert": 20,
    "/settings/repo-blocklists/repos/{repoId}": 20,
    "/teams/audit-logs": 20,
    "/teams/remove-member": 20,
    "/analytics/ai-code/commits": 20,
    "/analytics/ai-code/commits.csv": 20,
    "/analytics/ai-code/changes": 20,
    "/analytics/ai-code/changes.csv": 20,
    "/analytics/team/*": 100,
    "/analytics/by-user/*": 50,
    "/teams/groups": 20,
}
#: Older documented limits (`Variants.legacy_rate_limits`).
LEGACY_RATE_LIMITS: dict[str, int] = {
    **DEFAULT_RATE_LIMITS,
    "/teams/filtered-usage-events": 20,
    "/teams/user-spend-limit": 60,
    "/analytics/ai-code/commits": 5,
    "/analytics/ai-code/commits.csv": 5,
    "/analytics/ai-code/changes": 5,
    "/analytics/ai-code/changes.csv": 5,
}

#: The request log keeps the most recent requests only (a long-running server stays bounded).
REQUEST_LOG_SIZE = 200_000

UNAUTHORIZED = {"error": "Unauthorized", "message": "Invalid API key"}
FORBIDDEN = {"error": "Forbidden", "message": "Enterprise access required"}
TOO_MANY = {"error": "Too Many Requests", "message": "Rate limit exceeded. Please try again later."}
SERVER_ERROR = {"error": "Internal Server Error", "message": "An unexpected error occurred"}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it. `status` is 0 for a dropped connection; `fault`
    names the injected fault, if any ("drop", "truncate", "error", "rate_limit", "slow")."""

    method: str
    path: str
    status: int
    query: dict[str, Any]
    body: Any
    time: float
    fault: str | None = None


class RateLimiter:
    """Fixed windows of `window` seconds, counted from the limiter's creation; one counter per
    endpoint path (templated paths such as the blocklist DELETE share one counter)."""

    def __init__(self, limits: dict[str, int], window: float, clock: Callable[[], float] = time.time) -> None:
        self.limits = dict(limits)
        self.window = window
        self.clock = clock  # epoch seconds; tests pass a clock they move by hand
        self.origin = clock()
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def limit_for(self, path: str, template: str) -> int | None:
        for key in (path, template):
            if key in self.limits:
                return self.limits[key]
        for pattern, limit in self.limits.items():
            if "*" in pattern and fnmatch.fnmatchcase(path, pattern):
                return limit
        return None

    def hit(self, path: str, template: str) -> tuple[bool, float]:
        """Count one request; (allowed, end of the current window as epoch seconds)."""
        now = self.clock()
        idx = int((now - self.origin) // self.window)
        window_end = self.origin + (idx + 1) * self.window
        limit = self.limit_for(path, template)
        if limit is None:
            return True, window_end
        key = template if "{" in template else path
        with self._lock:
            w, n = self._counts.get(key, (idx, 0))
            if w != idx:
                n = 0
            if n >= limit:
                self._counts[key] = (idx, n)
                return False, window_end
            self._counts[key] = (idx, n + 1)
            return True, window_end


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    simulator: Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CursorSimulator/1.0"
    timeout = 60  # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body go out at once: no delayed-ACK stalls

    def _dispatch(self) -> None:
        self.server.simulator._serve(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Simulator:
    """A faithful, seeded simulation of the Cursor Admin, AI Code Tracking and Analytics APIs.

    Usage::

        with Simulator(seed=7, users=40, days=120) as sim:
            httpx.get(sim.base_url + "/teams/members", auth=(sim.api_key, ""))

    - `today`: last simulated day (default: the current UTC date, live clock); history covers
      `today - days + 1 .. today`, today partial (completed hours only). `now` (extra) freezes
      the clock at a datetime.
    - `rate_limits`: True (documented limits), False (none) or {path: limit} (only these paths
      are limited; keys may be templates like "/analytics/team/*").
    - `minute_seconds`: length of a rate-limit window in seconds.
    - `enterprise`: False makes AI code, analytics and audit endpoints refuse with 403.
    - `forbidden`: path globs (fnmatch, e.g. "/analytics/by-user/*") refused with 403 for the
      full-access key too: a key whose scope or plan lacks some datasets. Settable while running.
    - `events_per_day`: {date: total events that day} overrides the event volume.
    - `variants` / `faults`: see `Variants` and `Faults`; both can be replaced while running.
    """

    def __init__(
        self,
        seed: int = 7,
        users: int = 40,
        days: int = 120,
        today: date | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        variants: Variants | None = None,
        faults: Faults | None = None,
        rate_limits: bool | dict[str, int] = True,
        minute_seconds: float = 60.0,
        enterprise: bool = True,
        events_per_day: dict[date | str, int] | None = None,
        now: datetime | None = None,
        forbidden: tuple[str, ...] = (),
    ) -> None:
        self.seed = seed
        self.host = host
        self.port = port
        self.enterprise = enterprise
        self.forbidden = tuple(forbidden)
        self.minute_seconds = float(minute_seconds)
        self.team = Team(
            seed, users, days, today=today, now=now, variants=variants, events_per_day=events_per_day
        )
        digest = hashlib.sha256(f"cursor-simulator-{seed}".encode()).hexdigest()
        self.api_key = "crsr_" + digest[:48]
        self.no_access_key = "key_" + digest[48:] + digest[:16]
        self._rate_limits_setting = rate_limits
        self.limiter = RateLimiter(self._limits(rate_limits), self.minute_seconds)
        self._faults = FaultInjector(faults or Faults())
        self.state_lock = threading.RLock()
        self.blocklists: list[dict[str, Any]] = self._seed_blocklists()
        self._repo_counter = 0
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self._log_lock = threading.Lock()
        self._received: Counter[str] = Counter()  # path -> requests received, answered or not
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"Simulator(seed={self.seed}, users={self.team.n_users}, days={self.team.days}, {self.base_url}, {state})"

    # ---- configuration ------------------------------------------------------------------------

    def _limits(self, setting: bool | dict[str, int]) -> dict[str, int]:
        if setting is True:
            return LEGACY_RATE_LIMITS if self.team.variants.legacy_rate_limits else DEFAULT_RATE_LIMITS
        if setting is False or setting is None:
            return {}
        return dict(setting)

    @property
    def variants(self) -> Variants:
        return self.team.variants

    @variants.setter
    def variants(self, value: Variants) -> None:
        self.team.variants = value
        if self._rate_limits_setting is True:
            self.limiter.limits = dict(self._limits(True))

    @property
    def faults(self) -> Faults:
        return self._faults.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = FaultInjector(value)

    def _seed_blocklists(self) -> list[dict[str, Any]]:
        company = self.team.member_list[0].email.split("@")[1].split(".")[0]
        return [
            {"id": f"repo_{_key(self.seed, 'repo', 1) % 900_000 + 100_000}", "url": f"https://github.com/{company}/secrets-vault", "patterns": ["*"]},
            {"id": f"repo_{_key(self.seed, 'repo', 2) % 900_000 + 100_000}", "url": f"https://github.com/{company}/api-server", "patterns": ["*.env", "config/*", "**/*.secret"]},
        ]  # fmt: skip

    def new_repo_id(self) -> str:
        self._repo_counter += 1
        return f"repo_{_key(self.seed, 'repo', 100 + self._repo_counter) % 900_000 + 100_000}"

    # ---- lifecycle ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Simulator:
        """Bind (an ephemeral port when port=0) and serve in a background daemon thread."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.simulator = self
        self.port = server.server_address[1]
        self._server = server
        self._stopped.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"cursor-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; connections still open get closed without a response."""
        self._stopped.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Start (if needed) and block until `stop()` is called or Ctrl-C."""
        self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- data ---------------------------------------------------------------------------------

    def change_day(self, day: date | str) -> int:
        """Late data: `day`'s numbers (daily usage, events, AI code, audit) change from now on."""
        return self.team.change_day(_as_date(day))

    def ground_truth(self, day: date | str) -> dict[str, Any]:
        """Counts and sums per dataset for one UTC day (see `Team.ground_truth`)."""
        return self.team.ground_truth(_as_date(day))

    # ---- request log --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._requests)

    def request_count(self, path: str | None = None, status: int | None = None) -> int:
        """Requests seen, optionally only to `path` (exact URL path) and/or with `status`."""
        with self._log_lock:
            return sum(
                1
                for r in self._requests
                if (path is None or r.path == path) and (status is None or r.status == status)
            )

    def received_count(self, path: str) -> int:
        """Requests to `path` received so far, including any still being answered (a slow
        fault sleeps before answering; `request_count` counts a request once it is answered)."""
        with self._log_lock:
            return self._received[path]

    def reset_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()
            self._received.clear()

    # ---- request handling ---------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        started = time.time()
        split = urlsplit(h.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        with self._log_lock:
            self._received[path] += 1
        if self._stopped.is_set():
            h.close_connection = True
            return
        req = Request(h.command, path, query, raw, h.headers)
        try:
            resp = self._respond(req)
        except Exception as exc:  # a bug in the simulator: answer 500, keep serving
            resp = self._error(
                500, {"error": "Internal Server Error", "message": f"simulator error: {exc!r}"}
            )
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = RequestRecord(
            method=h.command,
            path=path,
            status=0 if resp.fault == "drop" else resp.status,
            query={k: (v[0] if len(v) == 1 else v) for k, v in query.items()},
            body=body,
            time=started,
            fault=resp.fault,
        )
        with self._log_lock:
            self._requests.append(record)
        self._send(h, resp)  # logged first: a client that has its answer sees it counted

    def _send(self, h: BaseHTTPRequestHandler, resp: Response) -> None:
        if resp.fault == "drop" or (resp.fault == "truncate" and len(resp.body) < 2):
            h.close_connection = True
            return
        h.send_response(resp.status)
        if resp.content_type and resp.status not in (204, 304):
            h.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers.items():
            h.send_header(name, value)
        if resp.status not in (204, 304):
            h.send_header("Content-Length", str(len(resp.body)))
        h.end_headers()
        if resp.status in (204, 304):
            return
        if resp.fault == "truncate":
            h.wfile.write(resp.body[: len(resp.body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(resp.body)

    def _error(self, status: int, body: dict[str, Any]) -> Response:
        body = dict(body)
        if self.team.variants.error_status_code and "error" in body:
            body["statusCode"] = status
        return Response(status, dumps(body))

    def _api_error(self, exc: ApiError) -> Response:
        if exc.body is not None:
            return Response(exc.status, dumps(exc.body))
        return self._error(exc.status, {"error": exc.error, "message": exc.message})

    def _too_many(self, window_end: float | None) -> Response:
        resp = self._error(429, TOO_MANY)
        retry_after = self.faults.retry_after
        if retry_after is not None:
            if retry_after == "date":
                when = math.ceil(window_end if window_end is not None else time.time() + self.minute_seconds)
                resp.headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
            else:
                seconds = float(retry_after)
                resp.headers["Retry-After"] = str(int(seconds)) if seconds.is_integer() else f"{seconds:g}"
        return resp

    def _authenticate(self, req: Request) -> str | None:
        """'full', 'none' (the no-access key) or None (401)."""
        header = req.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token:
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        key = decoded.partition(":")[0]
        if key == self.api_key:
            return "full"
        if key == self.no_access_key:
            return "none"
        return None

    def _respond(self, req: Request) -> Response:
        access = self._authenticate(req)
        if access is None:
            return self._error(401, UNAUTHORIZED)
        if access == "none":
            return self._error(403, FORBIDDEN)
        decision = self._faults.decide(req.path)
        if decision.kind == "drop":
            return Response(0, fault="drop")
        if decision.slow_seconds > 0:
            time.sleep(decision.slow_seconds)
        if decision.kind == "error":
            resp = self._error(500, SERVER_ERROR)
            resp.fault = "error"
            return resp
        if decision.kind == "rate_limit":
            resp = self._too_many(None)
            resp.fault = "rate_limit"
            return resp
        resp = self._route(req)
        if decision.kind == "truncate":
            resp.fault = "truncate"
        elif decision.slow_seconds > 0 and resp.fault is None:
            resp.fault = "slow"
        return resp

    def _route(self, req: Request) -> Response:
        route, params, known = routes.resolve(req.method, req.path)
        if route is None:
            if known:
                return self._error(
                    405,
                    {"error": "Method Not Allowed", "message": f"{req.method} is not allowed on {req.path}"},
                )
            return self._error(
                404, {"error": "Not Found", "message": f"Unknown endpoint: {req.method} {req.path}"}
            )
        req.params = params
        if any(fnmatch.fnmatchcase(req.path, glob) for glob in self.forbidden):
            return self._error(403, FORBIDDEN)
        if route.enterprise and not self.enterprise:
            if self.team.variants.enterprise_code_error:
                return Response(401, dumps({"code": "error", "message": FORBIDDEN["message"]}))
            return self._error(403, FORBIDDEN)
        if route.etag:
            resp = self._call(route.handler, req)
            if resp.status == 200:
                etag = '"' + hashlib.sha256(resp.body).hexdigest()[:32] + '"'
                resp.headers["ETag"] = etag
                resp.headers["Cache-Control"] = "public, max-age=900"
                if _etag_matches(req.headers.get("If-None-Match"), etag):
                    return Response(304, b"", content_type=None, headers=resp.headers)
            allowed, window_end = self.limiter.hit(req.path, route.template)
            return resp if allowed else self._too_many(window_end)
        allowed, window_end = self.limiter.hit(req.path, route.template)
        if not allowed:
            return self._too_many(window_end)
        return self._call(route.handler, req)

    def _call(self, handler: Callable[[Simulator, Request], Response], req: Request) -> Response:
        try:
            return handler(self, req)
        except ApiError as exc:
            return self._api_error(exc)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == "*" or tag == etag:
            return True
    return False


def _as_date(day: date | str) -> date:
    if isinstance(day, datetime):
        return day.date()
    return date.fromisoformat(day) if isinstance(day, str) else day


def run_simulator_cli(
    host: str = "127.0.0.1",
    port: int = 8787,
    seed: int = 7,
    users: int = 40,
    days: int = 120,
    *,
    on_ready: Callable[[Simulator], None] | None = None,
    legacy: bool = False,
    faults: Faults | None = None,
    rate_limits: bool | dict[str, int] = True,
    minute_seconds: float = 60.0,
    enterprise: bool = True,
    events_per_day: dict[date | str, int] | None = None,
    **variant_flags: Any,
) -> None:
    """Serve a simulator until Ctrl-C (for `cursor-analytics simulate`). Prints nothing:
    `on_ready(sim)` is called once the port is bound, so the CLI can print `sim.base_url` and
    `sim.api_key`. `variant_flags` are `Variants` fields (e.g. numeric_ids=True); `legacy=True`
    starts from `Variants.legacy()`."""
    variants = Variants.legacy(**variant_flags) if legacy else Variants(**variant_flags)
    sim = Simulator(
        seed=seed,
        users=users,
        days=days,
        host=host,
        port=port,
        variants=variants,
        faults=faults,
        rate_limits=rate_limits,
        minute_seconds=minute_seconds,
        enterprise=enterprise,
        events_per_day=events_per_day,
    )
    sim.start()
    if on_ready is not None:
        on_ready(sim)
    sim.serve_forever()
