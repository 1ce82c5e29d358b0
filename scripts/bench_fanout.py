"""Benchmark: a small tenant's breach becomes a task while a big tenant's nightly computation runs.

    make bench-fanout      (or: .venv/bin/python scripts/bench_fanout.py [--accounts 500 --events 50000
                            --nightly-runs 4 --trials 8])

A big tenant `benchfanout` (the compute benchmark's data set, small by default for a shared machine) has its
nightly computation queued several times (`--nightly-runs`, standing for a night's fan-out over many tenants:
each is a full-catalogue computation run, the task `kpis_compute_scheduled` runs). Meanwhile the small tenant
of `make bench-alerts` receives detractor answers through the API, and each trial measures the time until its
task exists (ingest, follow-up, debounced recompute, breach, playbook, task). Two set-ups, in the same run,
with the same two worker processes:
  1. together: one worker consuming both queues (`--queues interactive,bulk --concurrency 2`);
  2. split: one worker for the interactive queue and one for the bulk queue (`--concurrency 1` each).
Prints p50/p95 for each (goal: p95 < 5 s while the nightly run is in progress).

The queues are purged before each set-up: run it against a broker no one else uses, e.g.
`CELERY_BROKER_URL=redis://127.0.0.1:63799/13`.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_breach_to_task import (  # first: it sets Django up
    breach_to_task,
    environment,
    setup,
    summary,
    web_start,
    worker_start,
)
from bench_compute import build
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.celery import app
from tenants.models import Tenant
from tenants.services import tenant_create

BIG = "benchfanout"
AS_OF = date(2026, 10, 31)  # the compute benchmark's data end there
SETUPS = {
    "together (one worker, both queues, 2 processes)": [("interactive,bulk", 2)],
    "split (interactive worker 1 process + bulk worker 1 process)": [("interactive", 1), ("bulk", 1)],
}


def big_tenant(accounts: int, events: int) -> Tenant:
    from metrics.catalogue import catalogue_install

    tenant = Tenant.objects.filter(slug=BIG).first() or tenant_create(
        slug=BIG, name="Fan-out benchmark", admin_email="admin@benchfanout.example",
        admin_password="bench-password-1").tenant
    with tenant_context(tenant):
        catalogue_install()
        build(accounts, events)
    return tenant


def nightly_send(tenant: Tenant, count: int) -> list[int]:
    """Queue `count` full-catalogue computation runs in the big tenant, as the nightly schedule does."""
    from metrics.models import ComputationRun
    from metrics.services import computation_run_create
    from metrics.tasks import computation_run_task

    ids = []
    with tenant_context(tenant):
        for _ in range(count):
            run = computation_run_create(as_of=AS_OF, trigger=ComputationRun.Trigger.SCHEDULE)
            computation_run_task.delay(run.pk)
            ids.append(run.pk)
    return ids


def nightly_progress(tenant: Tenant, ids: list[int]) -> str:
    from metrics.models import ComputationRun

    with tenant_context(tenant):
        runs = list(ComputationRun.objects.filter(pk__in=ids, finished_at__isnull=False))
    if not runs:
        return f"0 of {len(ids)} nightly runs finished during the trials"
    seconds = sorted((run.finished_at - run.started_at).total_seconds() for run in runs)
    return (f"{len(runs)} of {len(ids)} nightly runs finished during the trials, "
            f"{seconds[0]:.1f}-{seconds[-1]:.1f} s each")


def connections_open() -> int:
    """Connections to this database now: the web's, the workers', this script's (one each per process or
    thread; django-tenants switches the schema on the connection, so tenants add none)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def workers_ready(count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
    sys.exit("the workers did not start")


def measure(label: str, workers: list[tuple[str, int]], args, small: Tenant, key: str, big: Tenant) -> list[float]:
    env = environment()
    app.control.purge()
    processes = [worker_start(env, queues=queues, concurrency=concurrency) for queues, concurrency in workers]
    latencies: list[float] = []
    try:
        workers_ready(len(processes))
        ids = nightly_send(big, args.nightly_runs)
        time.sleep(2)  # the bulk work has started
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        for trial in range(args.trials):
            latency = breach_to_task(conn, key, small, f"FANOUT-{stamp}-{len(SETUPS)}-{trial}", timeout=args.timeout)
            latencies.append(args.timeout if latency is None else latency)
            time.sleep(0.2)
        progress = nightly_progress(big, ids) + f"; {connections_open()} connections to the database"
    finally:
        app.control.purge()  # the nightly runs not started yet: a warm shutdown only finishes the running ones
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=600)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"{label}: {summary(latencies)}; {progress}", flush=True)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--nightly-runs", type=int, default=4)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=90, help="seconds a trial waits for its task")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    started = time.perf_counter()
    big = big_tenant(args.accounts, args.events)
    small, key = setup()
    web = web_start(args.port, environment())
    try:
        print(f"big tenant: {args.accounts:,} accounts, {args.events:,} events; {args.nightly_runs} nightly runs "
              f"queued; {args.trials} breaches in the small tenant per set-up ({timezone.now():%Y-%m-%d %H:%M})")
        for label, workers in SETUPS.items():
            measure(label, workers, args, small, key, big)
    finally:
        web.terminate()
        web.wait(timeout=30)
    print(f"total {time.perf_counter() - started:.0f} s  (goal: p95 < 5 s with the split)")


if __name__ == "__main__":
    main()
