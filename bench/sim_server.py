"""The simulator in a process of its own, so that its CPU and memory never count against the
process being measured.

    python -m bench.sim_server '{"seed": 7, "users": 200, "days": 400, "today": "2026-11-22"}'

prints one JSON line `{"base_url", "api_key", "today"}` once serving, then answers commands read
from standard input, one JSON line each:

- `counts`: requests seen so far, as {path: {status: n}}
- `truth <day>`: `Simulator.ground_truth(day)`
- `reset`: forget the request log

and stops at end of input. `SimProcess` is the parent's side of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from cursor_analytics.simulator import Simulator


def _simulator(config: dict[str, Any]) -> Simulator:
    config = dict(config)
    if config.get("today"):
        config["today"] = date.fromisoformat(config["today"])
    return Simulator(**config)


def serve(config: dict[str, Any]) -> None:
    with _simulator(config) as sim:
        reply({"base_url": sim.base_url, "api_key": sim.api_key, "today": sim.team.today.isoformat()})
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "counts":
                counts: dict[str, Counter] = defaultdict(Counter)
                for record in sim.requests:
                    counts[record.path][str(record.status)] += 1
                reply(counts)
            elif command == "truth":
                reply(sim.ground_truth(date.fromisoformat(arg)))
            elif command == "reset":
                sim.reset_requests()
                reply({"ok": True})
            elif command:
                reply({"error": f"unknown command {command!r}: use counts, truth <day> or reset"})


def reply(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


class SimProcess:
    """A simulator served by a child process (`with SimProcess(users=200, ...) as sim:`); the
    keyword arguments are those of `Simulator` (`today` and `events_per_day` keys as dates)."""

    def __init__(self, **config: Any) -> None:
        if isinstance(config.get("today"), date):
            config["today"] = config["today"].isoformat()
        if config.get("events_per_day"):
            config["events_per_day"] = {str(k): v for k, v in config["events_per_day"].items()}
        self.config = config
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> SimProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sim_server", json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.base_url: str = hello["base_url"]
        self.api_key: str = hello["api_key"]
        self.today = date.fromisoformat(hello["today"])
        self.minute_seconds = float(self.config.get("minute_seconds", 60.0))
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the simulator's process has used so far."""
        assert self._proc is not None
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _read(self) -> Any:
        assert self._proc is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process exited (code {self._proc.poll()})")
        return json.loads(line)

    def _ask(self, command: str) -> Any:
        assert self._proc is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return self._read()

    def counts(self) -> dict[str, dict[str, int]]:
        """Requests per path and HTTP status since the start (or the last reset)."""
        return self._ask("counts")

    def requests(self, path: str, status: int | None = None) -> int:
        by_status = self.counts().get(path, {})
        return sum(n for s, n in by_status.items() if status is None or s == str(status))

    def ground_truth(self, day: date) -> dict[str, Any]:
        return self._ask(f"truth {day.isoformat()}")

    def reset(self) -> None:
        self._ask("reset")


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
