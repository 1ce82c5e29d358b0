"""A hot standby of the embedded (or any reachable) PostgreSQL server, made with `pg_basebackup -R` and started
from the embedded binaries on a port of its own: what tests/core/test_replica.py and `make bench-platform
BENCH_ARGS=--replica` read from. The primary is only read from (a replication connection its pg_hba.conf already
allows); it is never reconfigured. The copy is of the whole server, every database on it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import services  # the embedded PostgreSQL's binaries, and the user they run as when we are root

HOT_STANDBY_LIMITS = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
                      "max_locks_per_transaction")


class CommandFailed(subprocess.CalledProcessError):
    """A failed PostgreSQL command that says why (a bare CalledProcessError hides the program's message)."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr.strip()}"


class Standby:
    """A hot standby of a server, in a folder and on a port of its own."""

    def __init__(self, data: Path, port: int, primary: dict, primary_limits: dict[str, str]) -> None:
        self.data, self.port, self.primary, self.primary_limits = data, port, primary, primary_limits

    def _run(self, *args: str, timeout: float = 300) -> None:
        result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **services._pg_run_as())
        if result.returncode:
            raise CommandFailed(result.returncode, args, result.stdout, result.stderr)

    def create(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True, mode=0o700)
        services._own(self.data)
        self._run(services._pg_bin("pg_basebackup"), "-h", self.primary["HOST"], "-p", str(self.primary["PORT"]),
                  "-U", self.primary["USER"], "-D", str(self.data), "-R", "-X", "stream", "--checkpoint", "fast",
                  "--no-sync")

    def start(self) -> None:
        # A standby needs these at least as high as the primary's (which may set them on its command line,
        # not in the configuration files the backup copied). fsync off: a test's throwaway copy.
        options = " ".join(f"-c {name}={value}" for name, value in self.primary_limits.items())
        self._run(services._pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.data / "standby.log"), "-w",
                  "-t", "180", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                  f"-c unix_socket_directories={self.data} -c hot_standby=on {options}", "start")

    def stop(self) -> None:
        self._run(services._pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=120)

    def url(self, database: str) -> str:
        return f"postgres://{self.primary['USER']}@127.0.0.1:{self.port}/{database}"




def limits_of(cursor) -> dict[str, str]:
    """The primary's settings a standby must match or exceed, read on a cursor of the primary."""
    cursor.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(HOT_STANDBY_LIMITS)])
    return dict(cursor.fetchall())
