"""One governance command at a time, across processes: an exclusive lock on a file beside the
DuckDB file (`<database>.governance.lock`).

The lock is an `flock`, which the kernel releases when its holder's process ends, however it
ends (SIGKILL included): a killed apply never blocks the next one, and nobody has to free
anything by hand. A waiting command polls for it (so Ctrl-C and SIGTERM stop the wait at
once) and gives up after a timeout with an error that names the holder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cursor_analytics.warehouse import is_in_memory

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 120.0


class GovernanceBusyError(RuntimeError):
    """Another governance command held the lock for longer than this one may wait."""


def lock_path(database: str) -> Path:
    if is_in_memory(database):
        return Path(tempfile.gettempdir()) / "cursor-analytics.governance.lock"
    path = Path(database).expanduser()
    return path.with_name(path.name + ".governance.lock")


@contextmanager
def governance_lock(database: str, timeout_seconds: float = LOCK_TIMEOUT_SECONDS) -> Iterator[Path]:
    """Hold the governance lock of `database` for the block; wait for it (polling with a
    backoff from 0.05 s up to 1 s) at most `timeout_seconds`, then raise GovernanceBusyError."""
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline, delay, waited = time.monotonic() + timeout_seconds, 0.05, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GovernanceBusyError(
                    f"Another governance command ({holder}) has held {path} for "
                    f"{timeout_seconds:g} s: wait for it to finish, then re-run. This command "
                    "wrote nothing."
                )
            if not waited:
                logger.warning("Waiting up to %g s for %s, held by %s", timeout_seconds, path, holder)
                waited = True
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
        os.ftruncate(fd, 0)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
