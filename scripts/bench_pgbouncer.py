"""Measurement: is PgBouncer compatible with a schema per tenant, and what does it save? (docs/deployment.md,
"Connections").

    PGBOUNCER=/usr/sbin/pgbouncer .venv/bin/python scripts/bench_pgbouncer.py [--clients 20 --queries 200]

PgBouncer is not a pip package: install it from your distribution (Debian: `apt-get install pgbouncer`, or
`apt-get download pgbouncer libevent-2.1-7 libc-ares2` and `dpkg -x` them, with LD_LIBRARY_PATH set to the
extracted libraries). The script makes a scratch database with two tenant schemas, each holding a one-row table
that names its tenant, starts PgBouncer in front of the embedded (or DATABASE_URL) PostgreSQL, and for each pool
mode runs `--clients` clients at once, half of them in each tenant. Each client does what django-tenants does on a
connection: `SET search_path` to its tenant once, when it first uses the connection (and again only when the tenant
changes), then autocommitted queries. It counts the answers that did not come from the client's own tenant (the
other's, or none where its schema was not set on the server connection the query ran on), and the server
connections PostgreSQL saw. Then the same clients straight to PostgreSQL, as the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402 - the user the embedded PostgreSQL runs as when we are root

DATABASE = "bench_pgbouncer"
TENANTS = ("tenant_a", "tenant_b")


def scratch_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(_database_url(admin_url), autocommit=True) as conn:
        for tenant in TENANTS:
            conn.execute(f"CREATE SCHEMA {tenant}")
            conn.execute(f"CREATE TABLE {tenant}.owner AS SELECT '{tenant}'::text AS name")


def _database_url(url: str, port: int | None = None) -> str:
    parts = urlsplit(url)
    return f"postgres://{parts.username}@{parts.hostname}:{port or parts.port}/{DATABASE}"


def pgbouncer_start(binary: str, upstream: str, mode: str, port: int, folder: Path) -> subprocess.Popen:
    parts = urlsplit(upstream)
    (folder / "users.txt").write_text(f'"{parts.username}" ""\n')
    config = folder / f"{mode}.ini"
    config.write_text(f"""[databases]
{DATABASE} = host={parts.hostname} port={parts.port} dbname={DATABASE}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = {mode}
default_pool_size = 4
max_client_conn = 1000
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits,options
logfile = {folder / f"{mode}.log"}
""")
    services._own(folder)
    for path in folder.iterdir():
        services._own(path)
    process = subprocess.Popen([binary, str(config)], **services._pg_run_as())
    for _ in range(50):
        try:
            psycopg.connect(_database_url(upstream, port), autocommit=True, connect_timeout=1).close()
            return process
        except psycopg.OperationalError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"pgbouncer did not start; see {folder / f'{mode}.log'}")


def clients_run(url: str, clients: int, queries: int, upstream: str) -> tuple[int, int, int, float]:
    """(answers not from the client's tenant: the other's, or none where the schema was not set on the server
    connection the query ran on; answers in all; peak server connections to the scratch database; seconds)."""
    started = time.perf_counter()
    wrong, total, peak = [0], [0], [0]
    lock = threading.Lock()
    done = threading.Event()

    def client(tenant: str) -> None:
        # No prepared statements, as Django's connections (a prepared statement lives on one server connection).
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            conn.execute(f"SET search_path TO {tenant}")  # what django-tenants does once per connection and tenant
            for _ in range(queries):
                try:
                    name = conn.execute("SELECT name FROM owner").fetchone()[0]
                except psycopg.errors.UndefinedTable:  # a server connection whose search_path no client set
                    name = None
                with lock:
                    total[0] += 1
                    wrong[0] += name != tenant

    def watch() -> None:
        with psycopg.connect(_database_url(upstream), autocommit=True) as conn:
            while not done.is_set():
                count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()[0]
                peak[0] = max(peak[0], count)
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(TENANTS[number % 2],)) for number in range(clients)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    return wrong[0], total[0], peak[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--port", type=int, default=6432)
    args = parser.parse_args()
    binary = os.environ.get("PGBOUNCER") or shutil.which("pgbouncer")
    if not binary:
        sys.exit("PgBouncer is not installed: set PGBOUNCER to its binary (see this script's help)")
    upstream = os.environ.get("DATABASE_URL", "postgres://bellwether@127.0.0.1:54329/postgres")
    scratch_database(upstream)
    folder = Path(tempfile.mkdtemp(prefix="bench-pgbouncer-"))
    print(f"{args.clients} clients at once, half in each of 2 tenant schemas, {args.queries} queries each; "
          "PgBouncer's pool: 4 server connections")
    try:
        wrong, total, peak, seconds = clients_run(_database_url(upstream), args.clients, args.queries, upstream)
        print(f"straight to PostgreSQL:     {wrong} of {total} answers not from the client's tenant; "
              f"{peak} server connections; {seconds:.1f} s")
        for mode, port in (("session", args.port), ("transaction", args.port + 1)):
            process = pgbouncer_start(binary, upstream, mode, port, folder)
            try:
                wrong, total, peak, seconds = clients_run(_database_url(upstream, port), args.clients, args.queries,
                                                          upstream)
            finally:
                process.terminate()
                process.wait(timeout=30)
            print(f"PgBouncer, {mode} pooling: {wrong} of {total} answers not from the client's tenant; "
                  f"{peak} server connections; {seconds:.1f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(upstream, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
