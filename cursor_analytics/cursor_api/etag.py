"""ETag memory for the AI Code Tracking and Analytics endpoints.

The client remembers `{"etag": ..., "body": ...}` per request URL, sends `If-None-Match` when it
knows one, and serves the remembered body on `304 Not Modified` (which Cursor does not count
against the rate limit). Any MutableMapping works as the cache (e.g. one dict shared by several
clients); the default keeps the most recently used bodies up to a size budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

DEFAULT_BUDGET_CHARS = 64 * 1024 * 1024
# Larger bodies (a big CSV export) are not remembered: memory stays bounded.
MAX_CACHED_BODY_CHARS = 16 * 1024 * 1024


class EtagCache(MutableMapping[str, dict[str, Any]]):
    """A thread-safe LRU mapping of URL -> {"etag", "body"} bounded by total body size."""

    def __init__(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        self.budget_chars = budget_chars
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def _cost(entry: dict[str, Any]) -> int:
        return len(entry.get("body") or "") + len(entry.get("etag") or "")

    def __getitem__(self, key: str) -> dict[str, Any]:
        with self._lock:
            entry = self._entries[key]
            self._entries.move_to_end(key)
            return entry

    def __setitem__(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= self._cost(old)
            self._entries[key] = entry
            self._size += self._cost(entry)
            while self._size > self.budget_chars and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                self._size -= self._cost(evicted)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            entry = self._entries.pop(key)
            self._size -= self._cost(entry)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
