"""A throwaway PostgreSQL server for tests: Debian's binaries, a temporary folder, trust auth.

- `ensure_postgres_installed()`: returns the folder holding `initdb`/`pg_ctl`
  (`/usr/lib/postgresql/<newest>/bin`), installing Debian's `postgresql` package with apt-get
  first when it is missing (CI starts on a fresh Debian machine with only Python).
- `running_postgres()`: a context manager that creates a cluster in a new temporary folder,
  starts it on a free loopback port (and a unix socket in that folder), creates one database,
  yields a `PostgresServer`, then stops the server and removes the folder.
- `postgres_server`: the same as a session-scoped pytest fixture. Use it from a conftest with
  `pytest_plugins = ["cursor_analytics_tests.postgres"]` (top-level conftest only) or
  `from cursor_analytics_tests.postgres import postgres_server  # noqa: F401`. Give a test its
  own empty database with `postgres_server.create_database("name")`.
- `python -m cursor_analytics_tests.postgres`: starts one by hand, prints its `DAGSTER_PG_*`
  variables and connection strings, and runs until Ctrl-C.

`initdb` refuses to run as root: as root, the cluster's folder belongs to Debian's `postgres`
system user and the server binaries run as that user through `runuser`. Any client (as any OS
user) connects without a password: every connection is trusted, which is why the server
listens on 127.0.0.1 only. Data is not fsynced: a crash loses it, which a test never minds.
No Python driver is needed here: the database is created with the `createdb` binary.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
# The OS user that runs the server when we are root (created by Debian's postgresql package).
SYSTEM_USER = "postgres"
# The database superuser created by initdb; trust auth, so no password.
SUPERUSER = "postgres"
DEFAULT_DBNAME = "cursor_analytics"


@dataclass(frozen=True)
class PostgresServer:
    """How to reach a running throwaway server (trust auth: no password)."""

    host: str
    port: int
    user: str
    dbname: str
    socket_dir: str
    data_dir: str
    bin_dir: str

    @property
    def dsn(self) -> str:
        """libpq keyword/value string, e.g. for psycopg or DuckDB's `ATTACH 'postgres:...'`."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def url(self) -> str:
        """libpq URI: `postgresql://postgres@127.0.0.1:PORT/DB`."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL with psycopg2 named explicitly (the driver dagster-postgres installs:
        SQLAlchemy 2.1 would pick psycopg 3 for a bare `postgresql://`)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def dagster_env(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads (the password is ignored under trust auth)."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "unused",
            "DAGSTER_PG_DB": self.dbname,
        }

    def create_database(self, dbname: str) -> PostgresServer:
        """Create an empty database on this server; returns the same server pointed at it."""
        _run(
            [
                str(Path(self.bin_dir) / "createdb"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                dbname,
            ],
            as_system_user=False,
        )
        return dataclasses.replace(self, dbname=dbname)


def find_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl, or None."""
    candidates = []
    for bin_dir in PG_ROOT.glob("*/bin"):
        if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
            try:
                candidates.append((float(bin_dir.parent.name), bin_dir))
            except ValueError:
                continue
    return max(candidates)[1] if candidates else None


def ensure_postgres_installed() -> Path:
    """The PostgreSQL bin folder; apt-get installs Debian's `postgresql` first if it is missing.

    Uses sudo when not root. Debian's package also creates (but here cannot start, there is no
    init system) a cluster named `main`: it is left alone, we never use it.
    """
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            f"PostgreSQL server binaries not found under {PG_ROOT}/*/bin and apt-get is not "
            "available: install your distribution's postgresql server package."
        )
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError(f"apt-get installed postgresql but no initdb/pg_ctl is under {PG_ROOT}/*/bin")
    return bin_dir


def _as_root() -> bool:
    return os.geteuid() == 0


def _run(cmd: list[str], as_system_user: bool, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL binary (as the `postgres` OS user when we are root and it must not be
    root); raise with its output on failure."""
    if as_system_user and _as_root():
        cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_postgres(
    dbname: str = DEFAULT_DBNAME,
    base_dir: str | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL server, yield how to reach it, then stop and delete it.

    `base_dir`: where the temporary folder is made (default: the system temp folder; as root
    it must be traversable by the `postgres` user, e.g. /tmp, not /root or
    /tmp/pytest-of-root). `settings`: extra `postgres -c` settings, e.g.
    `{"max_connections": "200"}`.
    """
    bin_dir = ensure_postgres_installed()
    root = Path(tempfile.mkdtemp(prefix="pg-", dir=base_dir))
    data_dir, socket_dir, log_file = root / "data", root / "sock", root / "server.log"
    socket_dir.mkdir()
    if _as_root():
        shutil.chown(root, SYSTEM_USER)
        shutil.chown(socket_dir, SYSTEM_USER)
        root.chmod(0o755)  # let any client read the log; the data folder stays 0700
    started = False
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            as_system_user=True,
        )
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        # A free port can be taken between our probe and the server's bind: retry a few times.
        for attempt in range(5):
            port = _free_port()
            opts = " ".join(f"-c {k}={v}" for k, v in options.items()) + f" -p {port}"
            try:
                _run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(data_dir),
                        "-l",
                        str(log_file),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        opts,
                        "start",
                    ],
                    as_system_user=True,
                )
                started = True
                break
            except RuntimeError:
                if attempt == 4:
                    log = log_file.read_text() if log_file.exists() else ""
                    raise RuntimeError(f"PostgreSQL did not start; its log:\n{log}") from None
                time.sleep(0.2)
        server = PostgresServer(
            host="127.0.0.1",
            port=port,
            user=SUPERUSER,
            dbname="postgres",
            socket_dir=str(socket_dir),
            data_dir=str(data_dir),
            bin_dir=str(bin_dir),
        )
        yield server.create_database(dbname)
    finally:
        if started:
            _run(
                [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"],
                as_system_user=True,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole test session (one per xdist worker).

    Yields a `PostgresServer` (`host`, `port`, `user`, `dbname`, `dsn`, `url`, `sqlalchemy_url`,
    `dagster_env()`, `create_database(name)`) with an empty database `cursor_analytics`.
    Installs Debian's postgresql with apt-get when it is missing.
    """
    with running_postgres() as server:
        yield server


def main() -> None:
    """Start a server by hand and print how to reach it; Ctrl-C or SIGTERM stops and deletes it."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with running_postgres() as server:
        for key, value in server.dagster_env().items():
            print(f"export {key}={value}")
        print(
            f"# dsn: {server.dsn}\n# sqlalchemy: {server.sqlalchemy_url}\n# log: {Path(server.data_dir).parent / 'server.log'}"
        )
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
