"""The seeded team behind the simulator: members and their day-by-day activity.

Everything is a pure function of (seed, day, revision of that day): the same seed gives
byte-identical responses, and `Team.change_day(day)` (late data) bumps a day's revision so all
its numbers change while keeping the invariants below.

Generation is lazy. A day is planned per user first (`UserDay`: the daily-usage counters and
the split of that user's events into *cells* of equal kind/model/maxMode with their token and
cost totals); a single usage event is then computed from its index alone:

- slot `j` of the day (events are time-ordered by slot) maps to an item `k` by an affine
  permutation, `k` to a user by the prefix sums of per-user counts, and the user's local index
  to a cell by the cell prefix sums;
- the numbers of the event are one part of a deterministic random split of the cell totals
  (`_part`), so per-day sums are known without generating any event.

Invariants (per user and day, within one revision):
- number of usage events = composerRequests + chatRequests + agentRequests + cmdkUsages +
  bugbotUsages = subscriptionIncludedReqs + usageBasedReqs + apiKeyReqs;
- sum of AI changes' linesAdded (linesDeleted) = acceptedLinesAdded (acceptedLinesDeleted);
- AI commits' tab (composer) lines <= the TAB (COMPOSER) changes' lines of that user-day;
- chargedCents is the event's full cost (tokenUsage.totalCents, or requestsCosts x 4 cents for
  non-token calls) for "Usage-based" events (`isChargeable: true`) and for plan-included
  "Included in Business" events (`isChargeable: false`, as Cursor's documented example: cents
  of usage the plan pays for); 0 for "User API Key" events. `/teams/spend` spendCents = sum of
  the chargeable events' chargedCents over the cycle, overallSpendCents = sum of all events'.

Today is partial: counters are scaled by completed hours / 24 and no timestamp falls after the
last completed hour.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .variants import Variants

DAY_MS = 86_400_000
_STRIDE = 0x9E3779B97F4A7C15
HOUR_MS = 3_600_000
_MASK = (1 << 64) - 1

# --------------------------------------------------------------------------------------------
# Deterministic hashing
# --------------------------------------------------------------------------------------------


def _mix(x: int) -> int:
    """splitmix64 finalizer: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _key(*parts: int | str) -> int:
    """Combine ints and strings into one 64-bit key (stable across processes)."""
    h = 0x51ED270B
    for part in parts:
        if isinstance(part, str):
            part = int.from_bytes(hashlib.blake2b(part.encode(), digest_size=8).digest(), "big")
        h = _mix(h ^ (part & _MASK))
    return h


def _unit(k: int) -> float:
    """A float in [0, 1) from a key."""
    return (_mix(k) >> 11) / 9007199254740992.0


def _part(total: int, n: int, m: int, key: int, minimum: int = 0) -> int:
    """Item `m` of a deterministic random split of `total` into `n` items (each >= minimum).

    The split is F(m + 1) - F(m) with F(x) = floor(rest * (x + u_x) / n), u_x in [0, 1) hashed
    from (key, x): monotone, so every item is >= minimum, and the items sum to `total` exactly.
    Each item is computable alone.
    """
    rest = total - n * minimum

    def cum(x: int) -> int:
        if x <= 0:
            return 0
        if x >= n:
            return rest
        return (rest * ((x << 32) + (_mix(key + x) >> 32))) // (n << 32)

    return minimum + cum(m + 1) - cum(m)


def _alloc(total: int, weights: list[float]) -> list[int]:
    """Split `total` into integers proportional to `weights` (largest remainder)."""
    s = float(sum(weights))
    if total <= 0 or s <= 0:
        out = [0] * len(weights)
        if total > 0 and out:
            out[0] = total
        return out
    raw = [total * w / s for w in weights]
    out = [int(r) for r in raw]
    left = total - sum(out)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    return out


def _split(total: int, n: int, rng: random.Random) -> list[int]:
    """A random composition of `total` into `n` non-negative integers."""
    if n <= 0:
        return []
    if total <= 0:
        return [0] * n
    cuts = sorted(rng.randint(0, total) for _ in range(n - 1))
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(n)]


def _coprime(n: int, k: int) -> int:
    if n <= 1:
        return 1
    a = k % n or 1
    while math.gcd(a, n) != 1:
        a = a + 1 if a + 1 < n else 1
    return a


def _uuid(k: int) -> str:
    h = f"{_mix(k):016x}{_mix(k ^ 0x5555):016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def day_start_ms(day: date) -> int:
    return (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_MS


def ms_to_day(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ms // DAY_MS)


def iso_ms(ms: int) -> str:
    """Epoch ms as an ISO datetime with milliseconds and `Z`."""
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _cents(hundredths: int) -> float | int:
    """Hundredths of a cent as a JSON number (integral values stay ints)."""
    return hundredths // 100 if hundredths % 100 == 0 else hundredths / 100


class _LRU:
    """A small thread-safe bounded cache."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Alex",
    "Blake",
    "Casey",
    "Dana",
    "Eli",
    "Farah",
    "Gabe",
    "Hana",
    "Ivan",
    "Jada",
    "Kai",
    "Lena",
    "Milo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Xavi",
    "Yara",
    "Zane",
    "Ada",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Felix",
    "Gia",
    "Hugo",
    "Iris",
    "Jonas",
    "Kira",
    "Leo",
    "Maya",
    "Nico",
    "Olga",
    "Paul",
    "Rhea",
    "Seth",
    "Tess",
    "Ugo",
    "Vera",
    "Will",
    "Yuki",
    "Zoe",
]
LAST_NAMES = [
    "Kim",
    "Patel",
    "Garcia",
    "Smith",
    "Nguyen",
    "Rossi",
    "Muller",
    "Silva",
    "Cohen",
    "Okafor",
    "Tanaka",
    "Novak",
    "Larsen",
    "Haddad",
    "Dubois",
    "Moreau",
    "Ivanova",
    "Costa",
    "Brown",
    "Singh",
    "Lopez",
    "Weber",
    "Sato",
    "Khan",
    "Berg",
    "Fischer",
    "Young",
    "Reyes",
]
COMPANIES = ("acme", "globex", "initech", "hooli", "umbrella", "piedpiper", "vandelay", "wayne")

MODELS = ("claude-4.5-sonnet", "gpt-5", "gemini-2.5-pro", "cursor-small", "default")
NON_TOKEN_MODELS = frozenset({"cursor-small"})
# requestsCosts per event, in hundredths of a request.
REQUEST_COST = {
    "claude-4.5-sonnet": 100,
    "gpt-5": 100,
    "gemini-2.5-pro": 100,
    "cursor-small": 25,
    "default": 50,
}
# Mean tokens per call: input, output, cache write, cache read.
TOKEN_MEANS = {
    "claude-4.5-sonnet": (18000, 1600, 6000, 70000),
    "gpt-5": (16000, 2200, 0, 52000),
    "gemini-2.5-pro": (20000, 1400, 0, 40000),
    "default": (12000, 1000, 3000, 30000),
}
# Prices in cents per million tokens: input, output, cache write, cache read.
TOKEN_PRICES = {
    "claude-4.5-sonnet": (300, 1500, 375, 30),
    "gpt-5": (125, 1000, 0, 13),
    "gemini-2.5-pro": (125, 1000, 0, 31),
    "default": (125, 600, 125, 13),
}
KIND_INCLUDED = "Included in Business"
KIND_USAGE = "Usage-based"
KIND_API_KEY = "User API Key"
KINDS = (KIND_INCLUDED, KIND_USAGE, KIND_API_KEY)
CLIENT_VERSIONS = ("1.4.5", "1.5.11", "1.6.45", "1.7.52", "2.0.34", "2.0.69", "2.1.26", "2.1.39")
EXTENSIONS = ("ts", "tsx", "py", "go", "rs", "java", "md", "sql", "js", "css", "yaml", "kt")
DIRS = ("api", "core", "web", "utils", "models", "jobs", "ui", "db", "auth", "billing")
REPO_NAMES = ("api-server", "web-app", "data-pipeline", "mobile", "infra", "design-system", "ml-platform")
BRANCH_WORDS = ("login", "billing", "search", "cache", "retry", "export", "metrics", "onboarding")
COMMIT_MESSAGES = (
    "Fix flaky test",
    "Add pagination to list endpoint",
    "Refactor auth middleware",
    "Bump dependencies",
    "Handle empty responses",
    "Improve error messages",
    "Add metrics for cache hits",
    "WIP",
    "Address review comments",
    "Speed up CSV export",
)
#: The numeric fields of a daily-usage row, in the documented order.
COUNTERS = (
    "totalLinesAdded", "totalLinesDeleted", "acceptedLinesAdded", "acceptedLinesDeleted",
    "totalApplies", "totalAccepts", "totalRejects", "totalTabsShown", "totalTabsAccepted",
    "composerRequests", "chatRequests", "agentRequests", "cmdkUsages",
    "subscriptionIncludedReqs", "apiKeyReqs", "usageBasedReqs", "bugbotUsages",
)  # fmt: skip
#: Audit event types (a subset of the documented `eventTypes` values) and their weights.
AUDIT_TYPES = (
    ("login", 10),
    ("logout", 3),
    ("user_api_key", 2),
    ("team_settings", 1),
    ("team_api_key", 1),
    ("add_user", 1),
    ("privacy_mode", 1),
    ("user_spend_limit", 1),
)


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------


@dataclass
class Member:
    """One seat of the team (internal; `Team.members()` gives the API shape)."""

    index: int
    user_id: str
    numeric_id: int
    name: str
    email: str
    role: str
    joined_ms: int
    removed_day: date | None  # seeded removal: no activity from this day on
    removed: bool  # isRemoved as served by /teams/members
    idle: bool  # a seat that is never active
    heavy: bool
    usage_based_share: float
    api_key_share: float
    max_share: float
    model_weights: tuple[float, ...]
    extensions: tuple[str, ...]
    repos: tuple[str, ...]
    privacy: bool
    version_offset: int
    monthly_limit: int | None = None
    hard_limit_override: int = 0


@dataclass
class Cell:
    """Events of one user-day with the same kind, model and maxMode, and their totals."""

    kind: str
    model: str
    max_mode: bool
    count: int
    key: int  # seeds of the per-event splits: key + i * _STRIDE for the i-th total
    token_based: bool
    request_cost: int  # per event, hundredths of a request
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost: int = 0  # full cost of the cell, hundredths of a cent

    @property
    def charged(self) -> int:
        """chargedCents of the cell's events: their cost, unless the user's own API key paid."""
        return 0 if self.kind == KIND_API_KEY else self.cost

    @property
    def billed(self) -> int:
        """chargedCents of the cell's chargeable events (billed on top of the plan)."""
        return self.cost if self.kind == KIND_USAGE else 0


@dataclass
class UserDay:
    """One member on one day: the daily-usage counters and the plan of their events."""

    member: Member
    active: bool
    counters: dict[str, int]
    most_used_model: str | None
    apply_ext: str | None
    tab_ext: str | None
    client_version: str | None
    tab_added: int
    tab_deleted: int
    composer_added: int
    composer_deleted: int
    cells: list[Cell] = field(default_factory=list)
    cell_starts: list[int] = field(default_factory=list)
    perm: tuple[int, int] = (1, 0)

    @property
    def n_events(self) -> int:
        return self.cell_starts[-1] if self.cell_starts else 0


@dataclass
class DayPlan:
    """Every user-day of one day plus the slot -> event mapping of the day."""

    day: date
    rev: int
    hours: int
    key: int
    users: list[UserDay]  # members present that day, by member index
    event_users: list[UserDay]  # users with events
    starts: list[int]  # prefix sums of event counts over event_users (len + 1)
    perm: tuple[int, int]
    start_ms: int
    span_ms: int

    @property
    def n_events(self) -> int:
        return self.starts[-1]

    def slot_ms(self, j: int) -> int:
        """Timestamp of slot j: non-decreasing in j, inside [start, start + span)."""
        n = self.n_events
        frac = _mix(self.key + 7 * j) >> 32
        return self.start_ms + (((j << 32) + frac) * self.span_ms) // (n << 32)

    def first_slot_at_or_after(self, ms: int) -> int:
        lo, hi = 0, self.n_events
        while lo < hi:
            mid = (lo + hi) // 2
            if self.slot_ms(mid) < ms:
                lo = mid + 1
            else:
                hi = mid
        return lo


# --------------------------------------------------------------------------------------------
# The team
# --------------------------------------------------------------------------------------------


class Team:
    """The seeded team: members, their daily activity, events, AI code and audit logs.

    `today` (default: the current UTC date) is the last simulated day; data covers
    `today - days + 1 .. today`. When `today` is None the clock is live (today's partial data
    grows hour by hour); with an explicit `today` the clock is frozen at 12:00 UTC of that day,
    or at `now` when given.
    """

    def __init__(
        self,
        seed: int = 7,
        users: int = 40,
        days: int = 120,
        *,
        today: date | None = None,
        now: datetime | None = None,
        variants: Variants | None = None,
        events_per_day: dict[date | str, int] | None = None,
    ) -> None:
        if users < 1 or days < 1:
            raise ValueError("users and days must be >= 1")
        self.seed = seed
        self.n_users = users
        self.days = days
        self.variants = variants or Variants()
        if now is not None:
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
            self._fixed_now: datetime | None = now.astimezone(UTC)
        elif today is not None:
            self._fixed_now = datetime.combine(today, time(12), tzinfo=UTC)
        else:
            self._fixed_now = None
        self.events_per_day = {
            (date.fromisoformat(k) if isinstance(k, str) else k): int(v)
            for k, v in (events_per_day or {}).items()
        }
        self.team_id = 10_000 + seed % 90_000
        self.cycle_day = 1 + _key(seed, "cycle") % 28
        self._revisions: dict[date, int] = {}
        self._lock = threading.Lock()
        self._plans = _LRU(512)
        self._slots_cache = _LRU(64)
        self._code = _LRU(512)
        self._audit = _LRU(512)
        self._first_ordinal = self.first_day.toordinal()
        self._members = self._make_members()

    # ---- clock ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._fixed_now or datetime.now(UTC)

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    @property
    def today(self) -> date:
        return self.now().date()

    @property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.days - 1)

    def history(self) -> list[date]:
        """Every simulated day, oldest first."""
        first = self.first_day
        return [first + timedelta(days=i) for i in range(self.days)]

    def hours_done(self, day: date) -> int:
        """Completed hours of a day: 24 for past days, the current hour for today."""
        today = self.today
        if day < today:
            return 24
        if day > today:
            return 0
        return self.now().hour

    def in_history(self, day: date) -> bool:
        return self.first_day <= day <= self.today

    @property
    def cycle_start(self) -> date:
        """Start of the current billing cycle: the latest `cycle_day` of a month <= today,
        clamped into the simulated history."""
        today = self.today
        if today.day >= self.cycle_day:
            start = today.replace(day=self.cycle_day)
        else:
            prev = today.replace(day=1) - timedelta(days=1)
            start = prev.replace(day=self.cycle_day)
        return max(start, self.first_day)

    # ---- revisions (late data) ----------------------------------------------------------------

    def revision(self, day: date) -> int:
        return self._revisions.get(day, 0)

    def change_day(self, day: date) -> int:
        """Late data: bump `day`'s revision; its numbers change from now on. Returns the revision."""
        with self._lock:
            self._revisions[day] = self._revisions.get(day, 0) + 1
            return self._revisions[day]

    # ---- members ------------------------------------------------------------------------------

    def _make_members(self) -> list[Member]:
        rng = random.Random(_key(self.seed, "members"))
        company = COMPANIES[self.seed % len(COMPANIES)]
        domain = f"{company}.dev"
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        n = self.n_users
        idx = list(range(1, n))  # member 0 is the owner: never idle, heavy or removed
        rng.shuffle(idx)
        n_removed = n // 12 if n >= 8 else 0
        n_idle = max(1, n // 8) if n >= 6 else 0
        n_heavy = max(1, n // 10) if n >= 4 else 0
        removed = set(idx[:n_removed])
        idle = set(idx[n_removed : n_removed + n_idle])
        heavy = set(idx[n_removed + n_idle : n_removed + n_idle + n_heavy])
        used_emails: set[str] = set()
        history_start = self.first_day
        members = []
        for i in range(n):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}@{domain}".lower()
            k = 2
            while email in used_emails:
                email = f"{first}.{last}{k}@{domain}".lower()
                k += 1
            used_emails.add(email)
            user_id = "user_" + "".join(rng.choice(alnum) for _ in range(28))
            role = "owner" if i == 0 else ("free-owner" if i == 1 and n >= 5 else "member")
            joined = day_start_ms(history_start) - rng.randint(1, 400) * DAY_MS + rng.randint(0, DAY_MS - 1)
            removed_day = None
            if i in removed:
                removed_day = history_start + timedelta(days=rng.randint(1, max(1, self.days - 1)))
            weights = [rng.uniform(0.2, 1.0) for _ in MODELS]
            weights[rng.randrange(len(MODELS))] += 2.0  # a favourite model
            weights[MODELS.index("cursor-small")] *= 0.3
            exts = tuple(rng.sample(EXTENSIONS, 4))
            repos = tuple(f"{company}/{r}" for r in rng.sample(REPO_NAMES, rng.randint(1, 3)))
            ub = 0.0 if rng.random() < 0.3 else rng.uniform(0.05, 0.35)
            if i in heavy:
                ub = rng.uniform(0.4, 0.7)
            members.append(
                Member(
                    index=i,
                    user_id=user_id,
                    numeric_id=4_100_000 + i * 131 + self.seed % 97,
                    name=f"{first} {last}",
                    email=email,
                    role=role,
                    joined_ms=joined,
                    removed_day=removed_day,
                    removed=removed_day is not None,
                    idle=i in idle,
                    heavy=i in heavy,
                    usage_based_share=ub,
                    api_key_share=rng.uniform(0.02, 0.1) if rng.random() < 0.15 else 0.0,
                    max_share=rng.uniform(0.0, 0.2),
                    model_weights=tuple(weights),
                    extensions=exts,
                    repos=repos,
                    privacy=rng.random() < 0.2,
                    version_offset=rng.randint(-2, 1),
                )
            )
        # A couple of seeded spend limits.
        for m in members[2:]:
            if rng.random() < 0.15:
                m.monthly_limit = rng.choice((50, 100, 200, 500))
        return members

    @property
    def member_list(self) -> list[Member]:
        """Internal member objects (index order)."""
        return self._members

    def member_by_email(self, email: str) -> Member | None:
        email = email.strip().lower()
        return next((m for m in self._members if m.email == email), None)

    def member_by_id(self, user_id: Any) -> Member | None:
        text = str(user_id).strip()
        for m in self._members:
            if text == m.user_id or text == str(m.numeric_id):
                return m
        return None

    def find_member(self, ref: Any) -> Member | None:
        """A member by email, `user_...` id or numeric id."""
        if ref is None:
            return None
        text = str(ref).strip()
        return self.member_by_email(text) if "@" in text else self.member_by_id(text)

    def user_id_value(self, m: Member) -> str | int:
        return m.numeric_id if self.variants.numeric_ids else m.user_id

    def members(self) -> list[dict[str, Any]]:
        """`/teams/members` records as served (with the current variants)."""
        v = self.variants
        out = []
        for m in self._members:
            if v.members_without_id:
                if m.removed:
                    continue
                rec: dict[str, Any] = {"name": m.name, "email": m.email, "role": m.role}
            else:
                rec = {
                    "id": self.user_id_value(m),
                    "name": m.name,
                    "email": m.email,
                    "role": m.role,
                    "isRemoved": m.removed,
                }
            out.append(v.finish("team_members", rec))
        return out

    # ---- day plans ----------------------------------------------------------------------------

    def plan(self, day: date) -> DayPlan:
        """The (cached) plan of one day: user-days and the event slot mapping."""
        hours = self.hours_done(day) if self.in_history(day) else 0
        rev = self.revision(day)
        return self._plans.get((day, rev, hours), lambda: self._build_plan(day, rev, hours))

    def _build_plan(self, day: date, rev: int, hours: int) -> DayPlan:
        ordinal = day.toordinal()
        key = _key(self.seed, "day", ordinal, rev, hours)
        start_ms = day_start_ms(day)
        if hours <= 0:
            return DayPlan(day, rev, hours, key, [], [], [0], (1, 0), start_ms, 0)
        scale = hours / 24
        weekday = day.weekday() < 5
        present = [m for m in self._members if m.removed_day is None or day < m.removed_day]
        base: list[int] = []
        for m in present:
            r = random.Random(_key(self.seed, "act", ordinal, rev, m.index))
            if m.idle:
                base.append(0)
                continue
            p = (0.95 if m.heavy else 0.8) if weekday else (0.4 if m.heavy else 0.12)
            active = r.random() < p
            base.append(r.randint(20, 60) * (4 if m.heavy else 1) if active else 0)
        override = self.events_per_day.get(day)
        if override is not None:
            total = int(override * scale) if hours < 24 else override
            weights = [float(b) for b in base]
            if sum(weights) == 0:
                weights = [0.0 if m.idle else 1.0 for m in present]
                if sum(weights) == 0:
                    weights = [1.0] * len(present)
            counts = _alloc(total, weights) if present else []
            active_flags = [w > 0 for w in weights]
        else:
            counts = [int(b * scale) for b in base]
            active_flags = [b > 0 for b in base]
        users = [
            self._build_user_day(day, rev, m, active_flags[i], counts[i], base[i] or 40, scale)
            for i, m in enumerate(present)
        ]
        event_users = [u for u in users if u.n_events > 0]
        starts = [0]
        for u in event_users:
            starts.append(starts[-1] + u.n_events)
        n = starts[-1]
        perm = (_coprime(n, _mix(key ^ 0xA5)), _mix(key ^ 0x5A) % max(n, 1))
        return DayPlan(day, rev, hours, key, users, event_users, starts, perm, start_ms, hours * HOUR_MS)

    def _build_user_day(
        self, day: date, rev: int, m: Member, active: bool, n: int, intensity: int, scale: float
    ) -> UserDay:
        counters = dict.fromkeys(COUNTERS, 0)
        if not active:
            return UserDay(m, False, counters, None, None, None, None, 0, 0, 0, 0)
        ordinal = day.toordinal()
        r = random.Random(_key(self.seed, "ud", ordinal, rev, m.index))
        c = counters
        # Request counters: they count events.
        bugbot = min(n, r.choice((0, 0, 0, 0, 1, 2, 3)))
        agent, composer, chat, cmdk = _alloc(
            n - bugbot,
            [r.uniform(0.35, 0.65), r.uniform(0.05, 0.25), r.uniform(0.1, 0.3), r.uniform(0.03, 0.15)],
        )
        c.update(
            agentRequests=agent,
            composerRequests=composer,
            chatRequests=chat,
            cmdkUsages=cmdk,
            bugbotUsages=bugbot,
        )
        ub = min(0.95, m.usage_based_share * r.uniform(0.5, 1.5))
        ak = m.api_key_share
        included, usage, api_key = _alloc(n, [max(0.0, 1.0 - ub - ak), ub, ak])
        c.update(subscriptionIncludedReqs=included, usageBasedReqs=usage, apiKeyReqs=api_key)
        # Lines, applies and tabs follow the user's intensity (not the event override).
        work = intensity * scale
        accepted_added = int(work * r.uniform(2, 10))
        accepted_deleted = int(accepted_added * r.uniform(0.1, 0.5))
        c["acceptedLinesAdded"] = accepted_added
        c["acceptedLinesDeleted"] = accepted_deleted
        c["totalLinesAdded"] = accepted_added + int(accepted_added * r.uniform(0.2, 1.0))
        c["totalLinesDeleted"] = accepted_deleted + int(accepted_deleted * r.uniform(0.1, 0.8))
        applies = int(work * r.uniform(0.3, 0.8))
        accepts = int(applies * r.uniform(0.5, 0.9))
        c["totalApplies"] = applies
        c["totalAccepts"] = accepts
        c["totalRejects"] = int((applies - accepts) * r.uniform(0.3, 1.0))
        shown = int(work * r.uniform(5, 25))
        c["totalTabsShown"] = shown
        c["totalTabsAccepted"] = int(shown * r.uniform(0.15, 0.45))
        tab_added = int(accepted_added * r.uniform(0.1, 0.4)) if c["totalTabsAccepted"] else 0
        tab_deleted = int(accepted_deleted * r.uniform(0.05, 0.3)) if c["totalTabsAccepted"] else 0
        # Cells: kind x model x maxMode.
        weights = [w * r.uniform(0.7, 1.3) for w in m.model_weights]
        cells: list[Cell] = []
        model_totals = dict.fromkeys(MODELS, 0)
        for kind, kind_count in zip(KINDS, (included, usage, api_key)):
            for model, count in zip(MODELS, _alloc(kind_count, weights)):
                if count == 0:
                    continue
                model_totals[model] += count
                n_max = min(count, int(count * m.max_share + r.random())) if model != "default" else 0
                for max_mode, cnt in ((False, count - n_max), (True, n_max)):
                    if cnt:
                        cells.append(self._make_cell(r, kind, model, max_mode, cnt))
        starts = [0]
        for cell in cells:
            starts.append(starts[-1] + cell.count)
        most_used = max(MODELS, key=lambda mm: (model_totals[mm], -MODELS.index(mm))) if n else None
        key = _key(self.seed, "perm", ordinal, rev, m.index)
        ext_weights = [4, 2, 1, 1]
        apply_ext = r.choices(m.extensions, ext_weights)[0] if applies else None
        tab_ext = r.choices(m.extensions, ext_weights)[0] if c["totalTabsAccepted"] else None
        v_idx = (ordinal - self._first_ordinal) // 20 + m.version_offset + 2
        version = CLIENT_VERSIONS[max(0, min(len(CLIENT_VERSIONS) - 1, v_idx))]
        is_active = n > 0 or accepted_added > 0 or shown > 0
        return UserDay(
            member=m,
            active=is_active,
            counters=c,
            most_used_model=most_used,
            apply_ext=apply_ext,
            tab_ext=tab_ext,
            client_version=version if is_active else None,
            tab_added=tab_added,
            tab_deleted=tab_deleted,
            composer_added=accepted_added - tab_added,
            composer_deleted=accepted_deleted - tab_deleted,
            cells=cells,
            cell_starts=starts,
            perm=(_coprime(n, _mix(key)), _mix(key ^ 0x77) % max(n, 1)),
        )

    def _make_cell(self, r: random.Random, kind: str, model: str, max_mode: bool, count: int) -> Cell:
        token_based = model not in NON_TOKEN_MODELS
        cell = Cell(
            kind=kind,
            model=model,
            max_mode=max_mode,
            count=count,
            key=r.getrandbits(62),
            token_based=token_based,
            request_cost=REQUEST_COST[model] * (2 if max_mode else 1),
        )
        if token_based:
            f = r.lognormvariate(0, 0.5) * (2.0 if max_mode else 1.0)
            mi, mo, mw, mr = TOKEN_MEANS[model]
            cell.input_tokens = max(count, round(count * mi * f))
            cell.output_tokens = round(count * mo * f * r.uniform(0.6, 1.4))
            cell.cache_write_tokens = round(count * mw * f * r.uniform(0.5, 1.5))
            cell.cache_read_tokens = round(count * mr * f * r.uniform(0.5, 1.5))
            pi, po, pw, pr = TOKEN_PRICES[model]
            cents = (
                cell.input_tokens * pi
                + cell.output_tokens * po
                + cell.cache_write_tokens * pw
                + cell.cache_read_tokens * pr
            ) / 1_000_000
            cell.cost = round(cents * 100)
        else:
            cell.cost = count * cell.request_cost * 4
        return cell

    # ---- daily usage --------------------------------------------------------------------------

    def user_days(self, day: date) -> list[UserDay]:
        """Internal user-days of one day (members present that day)."""
        return self.plan(day).users if self.in_history(day) else []

    def daily_row(
        self, ud: UserDay, day: date, *, start_ms: int | None = None, start_day: date | None = None
    ) -> dict[str, Any]:
        """One `/teams/daily-usage-data` row as served. `start_ms`/`start_day` (the request's
        start) matter only under the `non_midnight_date` variant."""
        v = self.variants
        m = ud.member
        # A number in every documented version (while members and spend use `user_...` strings).
        rec: dict[str, Any] = {"userId": m.numeric_id}
        if v.non_midnight_date:
            s_ms = day_start_ms(day) if start_ms is None else start_ms
            s_day = ms_to_day(s_ms) if start_day is None else start_day
            rec["date"] = s_ms + (day - s_day).days * DAY_MS
        else:
            rec["day"] = day.isoformat()
            rec["date"] = day_start_ms(day)
        rec["email"] = m.email
        rec["isActive"] = ud.active
        rec.update(ud.counters)
        salt = _key(day.toordinal(), m.index)
        rec["mostUsedModel"] = v.null(ud.most_used_model)
        rec["applyMostUsedExtension"] = v.null(self._ext(ud.apply_ext, salt))
        rec["tabMostUsedExtension"] = v.null(self._ext(ud.tab_ext, salt + 1))
        rec["clientVersion"] = v.null(ud.client_version)
        return v.finish("daily_usage", rec)

    def _ext(self, ext: str | None, salt: int) -> str | None:
        if ext is None or not self.variants.dotted_extensions:
            return ext
        return "." + ext if _mix(salt) & 1 else ext

    def daily_usage(self, day: date) -> list[dict[str, Any]]:
        """All daily-usage rows of `day` as a paged request serves them (inactive included)."""
        return [self.daily_row(ud, day) for ud in self.user_days(day)]

    # ---- usage events -------------------------------------------------------------------------

    def event(self, plan: DayPlan, j: int) -> dict[str, Any]:
        """The usage event in slot `j` of a day, as served."""
        n = plan.n_events
        a, b = plan.perm
        k = (a * j + b) % n
        ui = bisect.bisect_right(plan.starts, k) - 1
        ud = plan.event_users[ui]
        local = k - plan.starts[ui]
        ua, ub = ud.perm
        li = (ua * local + ub) % ud.n_events
        ci = bisect.bisect_right(ud.cell_starts, li) - 1
        cell = ud.cells[ci]
        mi = li - ud.cell_starts[ci]
        ek = _key(plan.key, ud.member.index, local)
        if cell.token_based:
            cost = _part(cell.cost, cell.count, mi, (cell.key + 5 * _STRIDE) & _MASK)
        else:
            cost = cell.request_cost * 4
        charged = 0 if cell.kind == KIND_API_KEY else cost
        headless = _unit(ek) < 0.05
        rec: dict[str, Any] = {
            "timestamp": str(plan.slot_ms(j)),
            "userEmail": ud.member.email,
            "model": cell.model,
            ("kindLabel" if self.variants.kind_label else "kind"): cell.kind,
            "maxMode": cell.max_mode,
            "requestsCosts": _cents(cell.request_cost),
            "isTokenBasedCall": cell.token_based,
            "isChargeable": cell.kind == KIND_USAGE,
            "isHeadless": headless,
            "chargedCents": _cents(charged),
        }
        if cell.token_based:
            c, kk = cell.count, cell.key
            rec["tokenUsage"] = {
                "inputTokens": _part(cell.input_tokens, c, mi, (kk + _STRIDE) & _MASK, 1),
                "outputTokens": _part(cell.output_tokens, c, mi, (kk + 2 * _STRIDE) & _MASK),
                "cacheWriteTokens": _part(cell.cache_write_tokens, c, mi, (kk + 3 * _STRIDE) & _MASK),
                "cacheReadTokens": _part(cell.cache_read_tokens, c, mi, (kk + 4 * _STRIDE) & _MASK),
                "totalCents": _cents(cost),
            }
            u3 = _unit(ek ^ 0x77)
            if u3 < 0.04:
                rec["tokenUsage"]["discountPercentOff"] = 20 if u3 < 0.01 else 10
            if cell.kind == KIND_USAGE and u3 > 0.7:
                rec["cursorTokenFee"] = _cents(cost // 5)
        u2 = _unit(ek ^ 0x1234)
        if headless:
            if u2 < 0.5:
                rec["cloudAgentId"] = f"bc-{_uuid(ek)}"
            elif u2 < 0.6:
                rec["serviceAccountId"] = f"sa_{_mix(ek) % 10**8:08d}"
                rec["serviceAccountName"] = "ci-bot"
            elif u2 < 0.7:
                rec["automationId"] = f"auto_{_mix(ek ^ 9) % 10**6:06d}"
        elif u2 < 0.8:
            rec["conversationId"] = _uuid(ek ^ 0x99)
        return self.variants.finish("usage_events", rec)

    def _user_slots(self, plan: DayPlan, ui: int) -> list[int]:
        """Sorted slots of the day that belong to event user `ui` (cached)."""

        def make() -> list[int]:
            n = plan.n_events
            a, b = plan.perm
            a_inv = pow(a, -1, n) if n > 1 else 1
            lo, hi = plan.starts[ui], plan.starts[ui + 1]
            return sorted((a_inv * (k - b)) % n for k in range(lo, hi))

        return self._slots_cache.get((plan.day, plan.rev, plan.hours, ui), make)

    def event_segments(
        self, start_ms: int, end_ms: int, member: Member | None = None, only_member: bool = False
    ) -> list[tuple[DayPlan, Any]]:
        """Newest-first segments of the events with start_ms <= timestamp <= end_ms.

        Each segment is (plan, range of slots) or (plan, list of slots) (user filter); the
        events of a segment are served from its highest slot down.
        """
        out: list[tuple[DayPlan, Any]] = []
        if end_ms < start_ms:
            return out
        first = max(ms_to_day(start_ms), self.first_day)
        last = min(ms_to_day(end_ms), self.today)
        day = last
        while day >= first:
            plan = self.plan(day)
            day -= timedelta(days=1)
            if plan.n_events == 0:
                continue
            lo = plan.first_slot_at_or_after(start_ms)
            hi = plan.first_slot_at_or_after(end_ms + 1)
            if lo >= hi:
                continue
            if only_member:
                ui = next((i for i, u in enumerate(plan.event_users) if u.member is member), None)
                if ui is None:
                    continue
                slots = self._user_slots(plan, ui)
                sel = slots[bisect.bisect_left(slots, lo) : bisect.bisect_left(slots, hi)]
                if sel:
                    out.append((plan, sel))
            else:
                out.append((plan, range(lo, hi)))
        return out

    def events_page(
        self, segments: list[tuple[DayPlan, Any]], offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """Events [offset, offset + limit) of the newest-first sequence of `segments`."""
        out: list[dict[str, Any]] = []
        for plan, slots in segments:
            size = len(slots)
            if offset >= size:
                offset -= size
                continue
            while offset < size and len(out) < limit:
                out.append(self.event(plan, slots[size - 1 - offset]))
                offset += 1
            offset = 0
            if len(out) >= limit:
                break
        return out

    def usage_events(self, day: date) -> Iterator[dict[str, Any]]:
        """Every usage event of `day`, in the order the API serves them (newest first)."""
        if not self.in_history(day):
            return
        plan = self.plan(day)
        for j in range(plan.n_events - 1, -1, -1):
            yield self.event(plan, j)

    # ---- AI code --------------------------------------------------------------------------------

    def _code_day(self, day: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Internal (current-shape) commits and changes of one day, newest first (cached)."""
        plan = self.plan(day)
        return self._code.get((day, plan.rev, plan.hours), lambda: self._build_code(plan))

    def _build_code(self, plan: DayPlan) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        commits: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        ordinal = plan.day.toordinal()
        span = plan.span_ms
        for ud in plan.users:
            m = ud.member
            if not ud.active or span <= 0:
                continue
            r = random.Random(_key(self.seed, "code", ordinal, plan.rev, m.index))
            # Changes: accepted lines split over TAB and COMPOSER changes.
            for source, added, deleted in (
                ("TAB", ud.tab_added, ud.tab_deleted),
                ("COMPOSER", ud.composer_added, ud.composer_deleted),
            ):
                if added + deleted == 0:
                    continue
                n = max(1, min(30, (added + deleted) // (12 if source == "TAB" else 40)))
                for a, d in zip(_split(added, n, r), _split(deleted, n, r)):
                    n_files = 1 if source == "TAB" else r.choice((1, 1, 2, 3))
                    files = []
                    for fa, fd in zip(_split(a, n_files, r), _split(d, n_files, r)):
                        ext = r.choices(m.extensions, (4, 2, 1, 1))[0]
                        f: dict[str, Any] = {}
                        if not m.privacy:
                            f["fileName"] = (
                                f"src/{r.choice(DIRS)}/{r.choice(BRANCH_WORDS)}_{r.randint(1, 40)}.{ext}"
                            )
                        f.update(fileExtension=ext, linesAdded=fa, linesDeleted=fd)
                        files.append(f)
                    model = None
                    if source == "COMPOSER":
                        model = ud.most_used_model if r.random() < 0.7 else r.choice(MODELS[:3])
                        if model is not None and r.random() < 0.05:
                            model = None
                    created = plan.start_ms + r.randrange(span)
                    changes.append(
                        {
                            "changeId": _uuid(r.getrandbits(64)),
                            "_member": m,
                            "source": source,
                            "model": model,
                            "totalLinesAdded": a,
                            "totalLinesDeleted": d,
                            "_ts": created,
                            "metadata": files,
                        }
                    )
            # Commits: AI lines bounded by the changes' lines, plus non-AI lines.
            if r.random() > 0.8 or span <= 20 * 60_000:
                continue
            k = r.randint(1, 4) + (2 if m.heavy else 0)
            tab_a = _split(int(ud.tab_added * r.uniform(0.3, 0.9)), k, r)
            tab_d = _split(int(ud.tab_deleted * r.uniform(0.3, 0.9)), k, r)
            comp_a = _split(int(ud.composer_added * r.uniform(0.3, 0.9)), k, r)
            comp_d = _split(int(ud.composer_deleted * r.uniform(0.3, 0.9)), k, r)
            prev_hash = None
            for i in range(k):
                non_ai_a = r.randint(0, 150)
                non_ai_d: int | None = r.randint(0, 60)
                if r.random() < 0.03:
                    non_ai_d = None
                primary = r.random() < 0.55
                branch: str | None = (
                    "main" if primary else f"feature/{r.choice(BRANCH_WORDS)}-{r.randint(100, 999)}"
                )
                is_primary: bool | None = primary
                if r.random() < 0.05:
                    is_primary = None
                if r.random() < 0.02:
                    branch = None
                commit_hash = f"{r.getrandbits(160):040x}"
                if prev_hash and r.random() < 0.08:
                    commit_hash = prev_hash  # an amended commit
                prev_hash = commit_hash
                ts = plan.start_ms + r.randrange(span - 15 * 60_000)
                message = r.choice(COMMIT_MESSAGES) if r.random() > 0.05 else None
                commits.append(
                    {
                        "commitHash": commit_hash,
                        "_member": m,
                        "repoName": r.choice(m.repos),
                        "branchName": branch,
                        "isPrimaryBranch": is_primary,
                        "commitSource": r.choices(("ide", "cli", "cloud"), (7, 2, 1))[0],
                        "totalLinesAdded": tab_a[i] + comp_a[i] + non_ai_a,
                        "totalLinesDeleted": tab_d[i] + comp_d[i] + (non_ai_d or 0),
                        "tabLinesAdded": tab_a[i],
                        "tabLinesDeleted": tab_d[i],
                        "composerLinesAdded": comp_a[i],
                        "composerLinesDeleted": comp_d[i],
                        "nonAiLinesAdded": non_ai_a,
                        "nonAiLinesDeleted": non_ai_d,
                        "message": message,
                        "_ts": ts,
                        "_created": ts + r.randint(30_000, 600_000),
                    }
                )
        commits.sort(key=lambda c: (-c["_ts"], c["commitHash"]))
        changes.sort(key=lambda c: (-c["_ts"], c["changeId"]))
        return commits, changes

    def commit_record(self, c: dict[str, Any]) -> dict[str, Any]:
        """An internal commit as served by `/analytics/ai-code/commits`."""
        v = self.variants
        m: Member = c["_member"]
        rec: dict[str, Any] = {
            "commitHash": c["commitHash"],
            "userId": self.user_id_value(m),
            "userEmail": m.email,
            "repoName": c["repoName"],
            "branchName": v.null(c["branchName"]),
            "isPrimaryBranch": c["isPrimaryBranch"],
        }
        if not v.no_commit_source:
            rec["commitSource"] = c["commitSource"]
        for name in (
            "totalLinesAdded", "totalLinesDeleted", "tabLinesAdded", "tabLinesDeleted",
            "composerLinesAdded", "composerLinesDeleted", "nonAiLinesAdded", "nonAiLinesDeleted",
        ):  # fmt: skip
            rec[name] = c[name]
        rec["message"] = v.null(c["message"])
        rec["commitTs"] = iso_ms(c["_ts"])
        rec["createdAt"] = iso_ms(c["_created"])
        return v.finish("ai_commits", rec)

    def change_record(self, c: dict[str, Any]) -> dict[str, Any]:
        """An internal change as served by `/analytics/ai-code/changes`."""
        v = self.variants
        m: Member = c["_member"]
        metadata = []
        for i, f in enumerate(c["metadata"]):
            f = dict(f)
            f["fileExtension"] = self._ext(f["fileExtension"], _key(c["changeId"], i))
            metadata.append(f)
        rec = {
            "changeId": c["changeId"],
            "userId": self.user_id_value(m),
            "userEmail": m.email,
            "source": c["source"],
            "model": v.null(c["model"]),
            "totalLinesAdded": c["totalLinesAdded"],
            "totalLinesDeleted": c["totalLinesDeleted"],
            "createdAt": iso_ms(c["_ts"]),
            "metadata": metadata,
        }
        return v.finish("ai_changes", rec)

    def code_items(
        self, kind: str, start_ms: int, end_ms: int, member: Member | None = None
    ) -> list[dict[str, Any]]:
        """Internal commits (`kind="commits"`, by commitTs) or changes (by createdAt) in
        [start_ms, end_ms], newest first, optionally of one member."""
        items = self._items_between(
            start_ms, end_ms, lambda day: self._code_day(day)[0 if kind == "commits" else 1]
        )
        return [item for item in items if member is None or item["_member"] is member]

    def commits(self, day: date) -> list[dict[str, Any]]:
        """AI commits of `day` (by commitTs) as served, newest first."""
        if not self.in_history(day):
            return []
        return [self.commit_record(c) for c in self._code_day(day)[0]]

    def changes(self, day: date) -> list[dict[str, Any]]:
        """AI changes of `day` (by createdAt) as served, newest first."""
        if not self.in_history(day):
            return []
        return [self.change_record(c) for c in self._code_day(day)[1]]

    # ---- audit logs -----------------------------------------------------------------------------

    def _audit_day(self, day: date) -> list[dict[str, Any]]:
        plan = self.plan(day)
        return self._audit.get((day, plan.rev, plan.hours), lambda: self._build_audit(plan))

    def _build_audit(self, plan: DayPlan) -> list[dict[str, Any]]:
        r = random.Random(_key(self.seed, "audit", plan.day.toordinal(), plan.rev))
        people = [u.member for u in plan.users if not u.member.idle]
        if not people or plan.span_ms <= 0:
            return []
        count = r.randint(3, 8) if plan.day.weekday() < 5 else r.randint(0, 3)
        types, weights = zip(*AUDIT_TYPES)
        events = []
        for _ in range(count):
            ts = plan.start_ms + r.randrange(DAY_MS)
            m = r.choice(people)
            etype = r.choices(types, weights)[0]
            data: dict[str, Any]
            ip = f"{r.choice((203, 198))}.{r.choice((0, 51))}.{r.choice((113, 100))}.{r.randint(1, 254)}"
            if etype == "login":
                data = {"ip_address": ip, "user_agent": f"Cursor/{r.choice(CLIENT_VERSIONS)}"}
            elif etype == "logout":
                data = {}
            elif etype == "user_api_key":
                data = {"action": r.choice(("created", "deleted")), "name": r.choice(("ci", "scripts"))}
            elif etype == "team_settings":
                data = {"setting": "allowed_models", "models": sorted(r.sample(MODELS, 3))}
            elif etype == "team_api_key":
                data = {"action": "created", "name": r.choice(("analytics", "ci", "admin-scripts"))}
            elif etype == "add_user":
                data = {"email": f"new.hire{r.randint(1, 99)}@{m.email.split('@')[1]}", "method": "manual"}
            elif etype == "user_spend_limit":
                data = {"email": m.email, "spendLimitDollars": r.choice((50, 100, 200))}
            else:
                data = {"enabled": r.random() < 0.7}
            events.append(
                {
                    "event_id": _uuid(r.getrandbits(64)),
                    "timestamp": iso_ms(ts),
                    "ip_address": ip,
                    "user_email": m.email,
                    "event_type": etype,
                    "event_data": data,
                    "_ts": ts,
                    "_member": m,
                }
            )
        events = [e for e in events if e["_ts"] < plan.start_ms + plan.span_ms]
        events.sort(key=lambda e: (-e["_ts"], e["event_id"]))
        return events

    def audit_record(self, e: dict[str, Any]) -> dict[str, Any]:
        rec = {k: v for k, v in e.items() if not k.startswith("_")}
        rec["event_data"] = json.loads(json.dumps(e["event_data"]))
        return self.variants.finish("audit_logs", rec)

    def audit_items(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Internal audit events in [start_ms, end_ms], newest first."""
        return self._items_between(start_ms, end_ms, self._audit_day)

    def _items_between(
        self, start_ms: int, end_ms: int, of_day: Callable[[date], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The internal items `of_day` gives for each simulated day of [start_ms, end_ms], newest
        day first, whose `_ts` is within it."""
        out: list[dict[str, Any]] = []
        if end_ms < start_ms:
            return out
        first = max(ms_to_day(start_ms), self.first_day)
        day = min(ms_to_day(end_ms), self.today)
        while day >= first:
            out.extend(item for item in of_day(day) if start_ms <= item["_ts"] <= end_ms)
            day -= timedelta(days=1)
        return out

    def audit_events(self, day: date) -> list[dict[str, Any]]:
        """Audit log events of `day` as served, newest first."""
        if not self.in_history(day):
            return []
        return [self.audit_record(e) for e in self._audit_day(day)]

    # ---- spend --------------------------------------------------------------------------------

    def cycle_totals(self) -> dict[int, dict[str, int]]:
        """Per member index over the current billing cycle (cycle_start .. today), in hundredths
        of a cent: `billed` (chargeable events' chargedCents), `charged` (all events'
        chargedCents), `overall` (full cost, API-key events included), and fast premium requests."""
        totals: dict[int, dict[str, int]] = {}
        day = self.cycle_start
        today = self.today
        while day <= today:
            for ud in self.user_days(day):
                t = totals.setdefault(ud.member.index, {"billed": 0, "charged": 0, "overall": 0, "fast": 0})
                for cell in ud.cells:
                    t["billed"] += cell.billed
                    t["charged"] += cell.charged
                    t["overall"] += cell.cost
                    if cell.kind != KIND_API_KEY and cell.model != "cursor-small":
                        t["fast"] += cell.count
            day += timedelta(days=1)
        return totals

    def spend_rows(self) -> list[dict[str, Any]]:
        """`/teams/spend` rows as served (members not removed, plus removed members with usage
        in the cycle), in member order (the endpoint sorts and pages them)."""
        v = self.variants
        totals = self.cycle_totals()
        rows = []
        for m in self._members:
            t = totals.get(m.index, {"billed": 0, "charged": 0, "overall": 0, "fast": 0})
            if m.removed and t["overall"] == 0:
                continue
            if v.legacy_spend:
                rec: dict[str, Any] = {
                    "spendCents": round(t["billed"] / 100),
                    "fastPremiumRequests": t["fast"],
                    "name": m.name,
                    "email": m.email,
                    "role": m.role,
                    "hardLimitOverrideDollars": m.hard_limit_override,
                }
            else:
                effective = m.monthly_limit
                if effective is None and m.hard_limit_override:
                    effective = m.hard_limit_override
                rec = {
                    "userId": self.user_id_value(m),
                    "spendCents": t["billed"] / 100,
                    "overallSpendCents": t["charged"] / 100,
                    "fastPremiumRequests": t["fast"],
                    "name": m.name,
                    "email": m.email,
                    "role": m.role,
                    "hardLimitOverrideDollars": m.hard_limit_override,
                    "monthlyLimitDollars": m.monthly_limit,
                    "effectivePerUserLimitDollars": effective,
                }
            rows.append(v.finish("spend", rec))
        return rows

    def spend_members(self) -> list[Member]:
        """Members that have a spend row, in member order (parallel to `spend_rows()`)."""
        totals = self.cycle_totals()
        return [
            m
            for m in self._members
            if not (m.removed and totals.get(m.index, {"overall": 0})["overall"] == 0)
        ]

    # ---- ground truth -------------------------------------------------------------------------

    def ground_truth(self, day: date) -> dict[str, Any]:
        """Row counts and sums per dataset for one UTC day, as served with the current variants.

        - daily_usage: `rows` (what a paged request gets: inactive users included),
          `unpaged_rows` (what an unpaged request gets), `active_rows`, and the sum of every
          counter (snake_case names).
        - usage_events: `rows`, `charged_cents` (all events), `billed_cents` (chargeable
          events), `requests_costs`, `input_tokens`,
          `output_tokens`, `cache_write_tokens`, `cache_read_tokens`, `total_cents`.
        - ai_commits: `rows` (commitTs on that day), `distinct_hashes`, sums of total / tab /
          composer / non-AI lines added and deleted.
        - ai_changes: `rows` (createdAt on that day), `total_lines_added`,
          `total_lines_deleted`, `files` (metadata entries).
        - audit_logs: `rows`.
        """
        uds = self.user_days(day)
        du: dict[str, Any] = {
            "rows": len(uds),
            "unpaged_rows": sum(1 for u in uds if u.active)
            if self.variants.inactive_without_paging
            else len(uds),
            "active_rows": sum(1 for u in uds if u.active),
        }
        for name in COUNTERS:
            du[_snake(name)] = sum(u.counters[name] for u in uds)
        ev: dict[str, float] = dict.fromkeys(
            ("rows", "charged_cents", "billed_cents", "requests_costs", "input_tokens", "output_tokens",
             "cache_write_tokens", "cache_read_tokens", "total_cents"), 0
        )  # fmt: skip
        charged = billed = rc = total = 0
        for u in uds:
            for cell in u.cells:
                ev["rows"] += cell.count
                charged += cell.charged
                billed += cell.billed
                rc += cell.request_cost * cell.count
                if cell.token_based:
                    total += cell.cost
                    ev["input_tokens"] += cell.input_tokens
                    ev["output_tokens"] += cell.output_tokens
                    ev["cache_write_tokens"] += cell.cache_write_tokens
                    ev["cache_read_tokens"] += cell.cache_read_tokens
        ev["charged_cents"] = charged / 100
        ev["billed_cents"] = billed / 100
        ev["requests_costs"] = rc / 100
        ev["total_cents"] = total / 100
        commits, changes = self._code_day(day) if self.in_history(day) else ([], [])
        co: dict[str, Any] = {
            "rows": len(commits),
            "distinct_hashes": len({c["commitHash"] for c in commits}),
        }
        for name in (
            "totalLinesAdded", "totalLinesDeleted", "tabLinesAdded", "tabLinesDeleted",
            "composerLinesAdded", "composerLinesDeleted", "nonAiLinesAdded", "nonAiLinesDeleted",
        ):  # fmt: skip
            co[_snake(name)] = sum(c[name] or 0 for c in commits)
        ch = {
            "rows": len(changes),
            "total_lines_added": sum(c["totalLinesAdded"] for c in changes),
            "total_lines_deleted": sum(c["totalLinesDeleted"] for c in changes),
            "files": sum(len(c["metadata"]) for c in changes),
        }
        audit = self._audit_day(day) if self.in_history(day) else []
        return {
            "day": day.isoformat(),
            "revision": self.revision(day),
            "daily_usage": du,
            "usage_events": ev,
            "ai_commits": co,
            "ai_changes": ch,
            "audit_logs": {"rows": len(audit)},
        }


def _snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)
