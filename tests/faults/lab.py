"""A fault lab: servers and processes of the test's own (a Valkey, a PostgreSQL, a web server, a worker)
that a test may stop and start without disturbing the shared test servers or another test run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.realstack import ROOT, process, stop, worker_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedServers:
    """scripts/services.py pointed at a data folder and ports of the lab's own."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg_port, self.valkey_port = free_port(), free_port()

    def _call(self, function: str) -> None:
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
        env |= {"BELLWETHER_DATA_DIR": str(self.data_dir), "EMBEDDED_PG_PORT": str(self.pg_port),
                "EMBEDDED_REDIS_PORT": str(self.valkey_port)}
        subprocess.run([sys.executable, "-c", f"import services; services.{function}()"],
                       cwd=ROOT / "scripts", env=env, check=True, capture_output=True, timeout=120)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.valkey_port}/0"

    @property
    def database_url(self) -> str:
        return f"postgres://bellwether@127.0.0.1:{self.pg_port}/bellwether"

    def valkey_start(self) -> None:
        self._call("valkey_start")

    def valkey_stop(self) -> None:
        self._call("valkey_stop")

    def postgres_start(self) -> None:
        self._call("postgres_start")

    def postgres_stop(self) -> None:
        self._call("postgres_stop")


def lab_env(**overrides: str) -> dict[str, str]:
    """The test database and broker, unless overridden (a lab's own broker or database)."""
    return worker_env() | overrides


def web_server(env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen, str]:
    """gunicorn serving the app on a free port; returns the process and its base URL once it answers."""
    port = free_port()
    server = process(["gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                      "--timeout", "60"], env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/healthz", timeout=10)
            return server, base
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not start:\n{stop(server)[-3000:]}")


def wait_until(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")
