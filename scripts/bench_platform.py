"""Benchmark: the deployment for many machines, run as processes on this one, over a thousand tenants.

    make bench-platform    (or: .venv/bin/python scripts/bench_platform.py [--database bench_tenants --setups 1,2
                            --accounts 3 --sample 20 --beat-minutes 2 --port 8813])

Uses the tenants `make bench-tenants` made in its database (`--database`). Each of them gets, once, `--accounts`
accounts with a year of monthly revenue: a small tenant. Then, for each N of `--setups`, it starts N web servers
(gunicorn, 2 processes each), N workers for each queue (interactive and bulk, 1 process each) and one beat, and:

  requests     through each web server, the accounts of `--sample` tenants, each read with that tenant's own API
               key: every answer must be 200 and list that tenant's accounts only;
  fan-out      the nightly task beat sends at 02:00 (`kpis_compute_scheduled_all_tenants`) is sent once, as beat
               sends it: every tenant must get its scheduled computation run. Prints the time from the send to
               the last run, and the spread of completion (when each tenant's run ended; the first tenants sent
               against the last), while beat's own per-minute sweeps of every tenant run beside it;
  beat         for `--beat-minutes` more, the workers' logs count the per-minute fan-outs beat sent (each must
               arrive once a minute) and how many tasks they made; the queues' lengths are sampled;
  connections  pg_stat_activity of the database, sampled throughout: the peak against what the processes allow
               (docs/deployment.md, "Connections") and PostgreSQL's max_connections.

With `--replica`, a hot standby of the server is made first (`pg_basebackup`: a copy of every database on it, in
.data/bench-standby, port `--replica-port`) and the web servers get DATABASE_REPLICA_URL: the requests' reads
must be answered there (the replica's transactions in the database are counted before and after them), while
the workers, beat and every write stay on the primary.

The queues are purged before each set-up: use a broker no one else uses (CELERY_BROKER_URL, e.g. redis://.../6).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ["DJANGO_DEBUG"] = "false"

from bench_tenants import PREFIX, database_use, load, spread  # noqa: E402

WEB_PROCESSES = 2  # gunicorn workers per web server (sync: one thread, one connection each)
# The other client connections to the current database (a parallel query's workers are listed too, but count
# against max_worker_processes, not max_connections).
CLIENT_CONNECTIONS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")


def tenants_seed(accounts: int) -> list:
    """Every benchmark tenant with `accounts` accounts and twelve months of revenue each (once)."""
    from django_tenants.utils import tenant_context

    from accounts.models import Account, RevenueSnapshot
    from tenants.models import Tenant

    tenants = list(Tenant.objects.filter(slug__startswith=PREFIX).order_by("slug"))
    started, seeded = time.perf_counter(), 0
    months = [date(2025, month, 1) for month in range(1, 13)] + [date(2026, month, 1) for month in range(1, 12)]
    for tenant in tenants:
        with tenant_context(tenant):
            if Account.objects.exists():
                continue
            made = Account.objects.bulk_create([
                Account(external_id=f"{tenant.slug}-acct-{number}", name=f"{tenant.name} customer {number}",
                        plan="pro" if number % 2 else "basic", start_date=date(2025, 1, 1),
                        renewal_date=date(2027, 1, 1)) for number in range(accounts)])
            RevenueSnapshot.objects.bulk_create([
                RevenueSnapshot(account=account, month=month, mrr=100 + 10 * number + month.month)
                for number, account in enumerate(made) for month in months])
            seeded += 1
    print(f"{len(tenants)} benchmark tenants, {seeded} seeded now with {accounts} accounts each "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    return tenants


def api_keys(tenants: list) -> dict[str, str]:
    from django_tenants.utils import tenant_context

    from integrations.services import api_key_create

    keys = {}
    for tenant in tenants:
        with tenant_context(tenant):
            keys[tenant.slug] = api_key_create(name="platform benchmark", scopes="read").secret
    return keys


class Processes:
    """The set-up: web servers, workers per queue, one beat; their output in files of a folder."""

    def __init__(self, count: int, port: int, folder: Path, replica_url: str | None = None) -> None:
        self.count, self.port, self.folder = count, port, folder
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "DJANGO_DEBUG": "false"}
        self.web_env = {**self.env, **({"DATABASE_REPLICA_URL": replica_url} if replica_url else {})}
        self.running: list[subprocess.Popen] = []

    def _start(self, name: str, *args: str, env: dict | None = None) -> None:
        log = (self.folder / f"{name}.log").open("w")
        self.running.append(subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env or self.env,
                                             stdout=log, stderr=subprocess.STDOUT))

    def ports(self) -> list[int]:
        return [self.port + number for number in range(self.count)]

    def start(self, host: str) -> None:
        for port in self.ports():
            self._start(f"web-{port}", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                        "--workers", str(WEB_PROCESSES), "--log-level", "warning", env=self.web_env)
        for queue in ("interactive", "bulk"):
            for number in range(self.count):
                self._start(f"{queue}-{number}", "celery", "-A", "config", "worker", "--queues", queue,
                            "--concurrency", "1", "--loglevel", "INFO", "--hostname", f"{queue}{number}@%h")
        self._start("beat", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                    "--schedule", str(self.folder / "celerybeat-schedule"))
        self._wait(host)

    def _wait(self, host: str) -> None:
        from config.celery import app

        deadline = time.monotonic() + 180
        for port in self.ports():
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):  # not listening yet: try again shortly
                    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    probe.request("GET", "/healthz", headers={"Host": host})
                    if probe.getresponse().status == 200:
                        break
                time.sleep(0.5)
        # Every worker answers a ping once it consumes; each ping waits up to a second for the answers.
        workers_up = 0
        while time.monotonic() < deadline and workers_up < 2 * self.count:
            workers_up = len(app.control.ping(timeout=1.0) or [])
        if time.monotonic() >= deadline:
            self.stop()
            sys.exit(f"the processes did not start; logs in {self.folder}")

    def stop(self) -> None:
        for process in self.running:
            process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()

    def worker_lines(self) -> list[str]:
        return [line for path in self.folder.glob("*-[0-9].log") for line in path.read_text(errors="replace")
                .splitlines()]


class Sampler(threading.Thread):
    """Connections to the database and queue lengths, twice a second, on connections of its own."""

    def __init__(self, database_url: str, broker_url: str) -> None:
        super().__init__(daemon=True)
        import psycopg
        import redis

        self.database = psycopg.connect(database_url, autocommit=True)
        self.broker = redis.Redis.from_url(broker_url)
        self.connections: list[int] = []
        self.queues: list[tuple[float, int, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            count = self.database.execute(CLIENT_CONNECTIONS).fetchone()[0]
            self.connections.append(count)
            self.queues.append((time.monotonic(), self.broker.llen("interactive"), self.broker.llen("bulk")))
            self.stopped.wait(0.5)

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.database.close()


def requests_check(processes: Processes, tenants: list, keys: dict[str, str]) -> str:
    """Each sampled tenant's accounts through each web server, with its own key; only its own accounts back."""
    seconds = []
    for port in processes.ports():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for tenant in tenants:
            started = time.perf_counter()
            conn.request("GET", "/api/v1/accounts/", headers={"Host": f"{tenant.slug}.localhost",
                                                              "Authorization": f"Bearer {keys[tenant.slug]}"})
            response = conn.getresponse()
            body = response.read()
            seconds.append(time.perf_counter() - started)
            if response.status != 200:
                sys.exit(f"{tenant.slug} through port {port}: {response.status} {body[:300]!r}")
            payload = orjson.loads(body)
            rows = payload["results"] if isinstance(payload, dict) else payload
            if not rows or any(not row["external_id"].startswith(f"{tenant.slug}-") for row in rows):
                sys.exit(f"{tenant.slug} through port {port}: accounts of another tenant, or none: {body[:300]!r}")
    return (f"{len(seconds)} requests ({len(tenants)} tenants x {len(processes.ports())} web servers), all 200 with "
            f"the tenant's own accounts only; {spread(seconds)}")


def _runs_query(schemas: list[str], since: str) -> str:
    return " UNION ALL ".join(
        f"(SELECT '{schema}', min(started_at), max(finished_at) FROM \"{schema}\".metrics_computationrun "
        f"WHERE trigger = 'schedule' AND created_at >= '{since}')" for schema in schemas)


def fan_out(tenants: list, timeout: float) -> str:
    """Send the nightly fan-out once and wait for every tenant's scheduled run; the spread of their ends."""
    from django.db import connection
    from django.utils import timezone

    from metrics.tasks import kpis_compute_scheduled_all_tenants

    schemas = [tenant.schema_name for tenant in tenants]
    since = timezone.now()
    sent = time.monotonic()
    kpis_compute_scheduled_all_tenants.delay()
    query = _runs_query(schemas, since.isoformat())
    while True:
        with connection.cursor() as cursor:
            cursor.execute(query)
            rows = cursor.fetchall()
        finished = {schema: end for schema, _, end in rows if end is not None}
        if len(finished) == len(schemas) or time.monotonic() - sent > timeout:
            break
        time.sleep(5)
    ends = [(finished[schema] - since).total_seconds() for schema in schemas if schema in finished]
    if len(finished) < len(schemas):
        missing = [schema for schema in schemas if schema not in finished]
        return f"STARVED: {len(missing)} of {len(schemas)} tenants without a run after {timeout:.0f} s: {missing[:5]}"
    tenth = max(1, len(schemas) // 10)
    first, last = ends[:tenth], ends[-tenth:]
    return (f"every one of {len(schemas)} tenants got its scheduled run; the last ended {max(ends):.0f} s after the "
            f"send ({len(schemas) / max(ends):.1f} tenants/s); ends: {spread(ends)}; the first tenth sent ended "
            f"at a median {statistics.median(first):.0f} s, the last tenth at {statistics.median(last):.0f} s")


def beat_watch(processes: Processes, sampler: Sampler, minutes: int) -> str:
    """Let beat run `minutes` more; then compare what beat sent (its log) with what the workers received (theirs):
    each scheduled fan-out sent once at its minute and received once; and how many tasks the fan-outs made."""
    started = time.monotonic()
    time.sleep(60 * minutes)
    sent = Counter(line.rsplit("(", 1)[1].rstrip(")").rsplit(".", 1)[1]
                   for line in (processes.folder / "beat.log").read_text(errors="replace").splitlines()
                   if "Sending due task" in line)
    received = Counter()
    for line in processes.worker_lines():
        if "] received" in line and "Task " in line:
            received[line.split("Task ", 1)[1].split("[", 1)[0].rsplit(".", 1)[1]] += 1
    fan_outs = ", ".join(f"{name} sent {count} received {received[name]}" for name, count in sorted(sent.items()))
    per_tenant = sum(count for name, count in received.items() if not name.endswith("_all_tenants"))
    window = [sample for sample in sampler.queues if sample[0] >= started]
    queues = []
    for index, name in ((1, "interactive"), (2, "bulk")):
        lengths = [sample[index] for sample in window] or [0]
        busy = sum(length > 0 for length in lengths) / len(lengths)
        queues.append(f"{name} up to {max(lengths)} waiting, not empty {busy:.0%} of the time")
    return (f"beat's fan-outs since it started: {fan_outs}; the workers received {per_tenant} per-tenant tasks "
            f"in all; in the last {minutes} min: {'; '.join(queues)}")


def connections_allowed(count: int) -> int:
    """What docs/deployment.md's count says these processes may hold: one per web process (sync workers, no
    replica) and one per worker child; plus this script's own connection."""
    return count * WEB_PROCESSES + 2 * count + 1


def _transactions(url: str) -> int:
    """The transactions a server has run in the database of `url` (pg_stat_database)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                            "WHERE datname = current_database()").fetchone()[0]


def _client_connections(url: str) -> int:
    """The other client connections to the database of `url`."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(CLIENT_CONNECTIONS).fetchone()[0]


def replica_start(database_url: str, port: int):
    """A hot standby of the server of `database_url`, started; stopped and removed by the caller."""
    import psycopg
    from standby import Standby, limits_of

    parts = urlsplit(database_url)
    primary = {"HOST": parts.hostname, "PORT": parts.port or 5432, "USER": parts.username}
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cursor:
        limits = limits_of(cursor)
    started = time.perf_counter()
    server = Standby(ROOT / ".data" / "bench-standby", port, primary, limits)
    server.create()
    server.start()
    print(f"replica: a hot standby on port {port}, copied and started in {time.perf_counter() - started:.0f} s",
          flush=True)
    return server


def setup_run(count: int, args, tenants: list, keys: dict[str, str], database_url: str,
              replica_url: str | None = None) -> None:
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    folder = Path(tempfile.mkdtemp(prefix=f"bench-platform-{count}-"))
    app.control.purge()
    processes = Processes(count, args.port, folder, replica_url)
    sampler = Sampler(database_url, settings.CELERY_BROKER_URL)
    sampler.start()
    print(f"set-up N={count}: {count} web server(s) x {WEB_PROCESSES} processes, {count} interactive and {count} bulk "
          f"worker(s) x 1 process, 1 beat; logs in {folder} ({load()})", flush=True)
    try:
        processes.start(f"{tenants[0].slug}.localhost")
        sample = tenants[:: max(1, len(tenants) // args.sample)][: args.sample]
        print("  requests:", requests_check(processes, sample, keys), flush=True)
        if replica_url:
            # Again: an API key's first use through each server records it (a write, so that request reads the
            # primary); from then on a read is answered by the replica.
            time.sleep(11)  # an idle backend reports its statistics within 10 s
            before = _transactions(replica_url), _transactions(database_url)
            print("  requests again:", requests_check(processes, sample, keys), flush=True)
            web_connections = _client_connections(replica_url)
            time.sleep(11)
            on_replica, on_primary = _transactions(replica_url) - before[0], _transactions(database_url) - before[1]
            print(f"  reads: {on_replica} transactions on the replica during those requests ({web_connections} web "
                  f"processes connected to it), {on_primary} on the primary (the workers' and beat's, this "
                  "script's)", flush=True)
        print("  fan-out:", fan_out(tenants, args.timeout), f"({load()})", flush=True)
        print("  beat:", beat_watch(processes, sampler, args.beat_minutes), flush=True)
    finally:
        app.control.purge()
        processes.stop()
        sampler.stop()
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
    print(f"  connections: peak {max(sampler.connections)}, median {statistics.median(sampler.connections):.0f} "
          f"(allowed by the processes: {connections_allowed(count)}; max_connections {limit}) "
          f"over {len(tenants)} tenants", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="bench_tenants")
    parser.add_argument("--setups", default="2", help="comma-separated N: web servers, and workers per queue")
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20, help="tenants whose requests go through each web server")
    parser.add_argument("--beat-minutes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds the fan-out may take")
    parser.add_argument("--port", type=int, default=8813, help="the first web server's; the others follow")
    parser.add_argument("--replica", action="store_true", help="web reads from a hot standby of the server")
    parser.add_argument("--replica-port", type=int, default=54341)
    args = parser.parse_args()
    url = database_use(args.database)
    import django

    django.setup()
    tenants = tenants_seed(args.accounts)
    if not tenants:
        sys.exit(f"no benchmark tenants in {args.database}: run make bench-tenants first")
    keys = api_keys(tenants[:: max(1, len(tenants) // args.sample)][: args.sample])
    print(f"database {urlsplit(url).path[1:]}; yesterday {date.today() - timedelta(days=1)}; {load()}", flush=True)
    replica = replica_start(url, args.replica_port) if args.replica else None
    try:
        for count in (int(value) for value in args.setups.split(",")):
            setup_run(count, args, tenants, keys, url, replica.url(urlsplit(url).path[1:]) if replica else None)
    finally:
        if replica:
            replica.stop()
            shutil.rmtree(replica.data, ignore_errors=True)


if __name__ == "__main__":
    main()
