"""Where the embedded servers and the `make run` web server listen: one answer for the settings and the scripts.

A port comes from the environment, else the project's `.env`, else the data folder's `ports.env` (the ports its
servers were last started on, written by scripts/services.py and scripts/run.py), else its default. The
default DATABASE_URL and REDIS_URL are built from these ports, so moving a server's port moves the app with it,
and a `manage.py` command in another shell finds the servers that `EMBEDDED_PG_PORT=... make run` started.

Plain Python (no Django): scripts/services.py imports it before any settings exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.numbers import whole_number

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"EMBEDDED_PG_PORT": 54329, "EMBEDDED_REDIS_PORT": 63799, "PORT": 8000}
PORTS_FILE = "ports.env"


def load_environment() -> None:
    """Read `.env`, then the data folder's recorded ports, into os.environ; a variable already set wins."""
    import environ

    environ.Env.read_env(ROOT / ".env", overwrite=False)
    environ.Env.read_env(data_dir() / PORTS_FILE, overwrite=False)


def data_dir() -> Path:
    """The folder of the embedded servers' data (`BELLWETHER_DATA_DIR`, else `.data/` in the project)."""
    return Path(os.environ.get("BELLWETHER_DATA_DIR") or ROOT / ".data")


def port(name: str) -> int:
    """The port `name` (EMBEDDED_PG_PORT, EMBEDDED_REDIS_PORT or PORT) from the environment, else its default."""
    value = os.environ.get(name, "").strip()
    if not value:
        return DEFAULT_PORTS[name]
    number = whole_number(value, maximum=65535)
    if number is None:
        raise ValueError(f"{name} must be a port number from 1 to 65535, not {value!r}.")
    return number


def database_url() -> str:
    """The embedded PostgreSQL's URL: the default of DATABASE_URL."""
    return f"postgres://bellwether@127.0.0.1:{port('EMBEDDED_PG_PORT')}/bellwether"


def redis_url(database: int = 0) -> str:
    """The embedded Valkey's URL for one of its numbered databases: the default of REDIS_URL (0) and of
    TEST_REDIS_URL (1)."""
    return f"redis://127.0.0.1:{port('EMBEDDED_REDIS_PORT')}/{database}"


def record_ports(**ports: int) -> None:
    """Remember in the data folder the ports its servers now use (`record_ports(PORT=8790)`), keeping the others."""
    path = data_dir() / PORTS_FILE
    recorded: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() in DEFAULT_PORTS:
                recorded[name.strip()] = value.strip()
    recorded |= {name: str(value) for name, value in ports.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# The ports this data folder's servers were last started on (scripts/services.py, run.py).\n"
                    + "".join(f"{name}={value}\n" for name, value in sorted(recorded.items())))
