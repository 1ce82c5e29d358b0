"""Load test on loopback: concurrent clients mixing ingest, inbox and dashboard reads against the real stack.

    make bench-load        (or: .venv/bin/python scripts/load_test.py --clients 50 --seconds 60)

Starts gunicorn and a Celery worker against the embedded (or configured) PostgreSQL and Redis, in a tenant
`benchload` made afresh: 200 accounts, 10 CSMs with open tasks, a leader, the KPI catalogue with a week of
values, an ingest key. Then:

1. baseline: the same clients call /healthz (one trivial query and a broker ping, no template): what the server
   and this machine can answer at all;
2. the mix, for --seconds: each client in turn ingests a batch of 20 events (unique ids), opens its CSM's
   My work, opens the leader's dashboard.

Prints requests per second, p50/p95/p99 latency per kind, errors (any non-2xx or exception), the ratio to
the baseline, and checks that every event the API said it created is in the database afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django  # noqa: E402

django.setup()

from django_tenants.utils import tenant_context  # noqa: E402

from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

SLUG = "benchload"
HOST = f"{SLUG}.localhost"
PASSWORD = "bench-password-1"
EVENTS_PER_BATCH = 20


def setup() -> tuple[Tenant, str]:
    """A fresh tenant with accounts, CSMs with tasks, a leader, the catalogue with values, an ingest key."""
    from accounts.models import Account
    from integrations.services import api_key_create
    from metrics.models import KPI
    from metrics.services import kpis_compute
    from playbooks.models import Playbook, PlaybookStep
    from playbooks.services import playbook_run_start
    from users.models import Role
    from users.services import user_create

    for old in Tenant.objects.filter(slug=SLUG):
        old.delete(force_drop=True)
    tenant = tenant_create(slug=SLUG, name="Load test", admin_email=f"admin@{SLUG}.example",
                           admin_password=PASSWORD).tenant
    with tenant_context(tenant):
        csms = [user_create(email=f"csm{n}@{SLUG}.example", role=Role.CSM, password=PASSWORD) for n in range(10)]
        user_create(email=f"leader@{SLUG}.example", role=Role.LEADER, password=PASSWORD)
        today = dt.date.today()
        accounts = Account.objects.bulk_create([
            Account(external_id=f"L-{n}", name=f"Load {n}", owner=csms[n % len(csms)], plan="pro", region="EU",
                    start_date=today - dt.timedelta(days=200), renewal_date=today + dt.timedelta(days=n % 300),
                    licensed_seats=25) for n in range(200)])
        playbook = Playbook.objects.create(name="Check-in", mode="parallel")
        PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the sponsor", due_days=2)
        PlaybookStep.objects.create(playbook=playbook, position=2, title="Send the usage report", due_days=5)
        for account in accounts[:60]:
            playbook_run_start(playbook=playbook, account=account)
        for days_ago in range(7, 0, -1):
            kpis_compute(as_of=today - dt.timedelta(days=days_ago), kpis=list(KPI.objects.filter(is_active=True)))
        key = api_key_create(name="load test", scopes=["ingest", "read"]).secret
    return tenant, key


def start(port: int, workers: int) -> list[subprocess.Popen]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "DJANGO_DEBUG": "false"}
    log = open(ROOT / ".data" / "load-test.log", "w")  # noqa: SIM115 - the processes write to it until the end
    processes = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                          "--workers", str(workers), "--log-level", "warning", "--backlog", "256"],
                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", "interactive,bulk",
                          "--concurrency", "1", "--loglevel", "WARNING"],
                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
    ]
    for _ in range(150):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", headers={"Host": HOST}, timeout=2).ok:
                time.sleep(2)
                return processes
        except requests.RequestException:
            time.sleep(0.2)
    sys.exit("the server did not start; see .data/load-test.log")


def signed_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    session.headers["Host"] = HOST
    session.get(f"{base}/login/", timeout=30)
    response = session.post(f"{base}/login/", data={"username": email, "password": PASSWORD,
                                                    "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                            headers={"Referer": f"http://{HOST}/login/"}, allow_redirects=False, timeout=30)
    if response.status_code != 302:
        sys.exit(f"{email} could not sign in: {response.status_code}")
    return session


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.events_created = 0
        self.lock = threading.Lock()

    def record(self, kind: str, started: float, response: requests.Response | None, error: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(time.perf_counter() - started)
            if response is None or not response.ok:
                self.errors.append(f"{kind}: {error or response.status_code}")


def call(recorder: Recorder, kind: str, send) -> requests.Response | None:
    started = time.perf_counter()
    try:
        response = send()
    except requests.RequestException as failure:
        recorder.record(kind, started, None, type(failure).__name__)
        return None
    recorder.record(kind, started, response)
    return response


def client(number: int, base: str, key: str, until: float, recorder: Recorder, mix: bool) -> None:
    api = requests.Session()
    api.headers.update({"Host": HOST, "Authorization": f"Bearer {key}"})
    if not mix:
        while time.perf_counter() < until:
            call(recorder, "healthz", lambda: api.get(f"{base}/healthz", timeout=60))
        return
    csm = signed_in(base, f"csm{number % 10}@{SLUG}.example")
    leader = signed_in(base, f"leader@{SLUG}.example")
    sent = 0
    while time.perf_counter() < until:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        events = [{"id": f"c{number}-{sent + n}", "account": f"L-{(number * 7 + sent + n) % 200}",
                   "user": f"u{n % 5}", "event": "login", "timestamp": now.isoformat()}
                  for n in range(EVENTS_PER_BATCH)]
        sent += EVENTS_PER_BATCH
        response = call(recorder, "ingest", lambda events=events: api.post(
            f"{base}/api/v1/events/bulk", json={"events": events}, timeout=60))
        if response is not None and response.ok:
            with recorder.lock:
                recorder.events_created += response.json()["created"]
        call(recorder, "inbox", lambda: csm.get(f"{base}/work/", timeout=60))
        call(recorder, "dashboard", lambda: leader.get(f"{base}/dashboard/", timeout=60))


def run(base: str, key: str, clients: int, seconds: float, mix: bool) -> tuple[Recorder, float]:
    recorder = Recorder()
    started = time.perf_counter()
    until = started + seconds
    threads = [threading.Thread(target=client, args=(n, base, key, until, recorder, mix)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recorder, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * share) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()
    print("setting up the tenant...", flush=True)
    tenant, key = setup()
    processes = start(args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        baseline, baseline_elapsed = run(base, key, args.clients, args.baseline_seconds, mix=False)
        print(f"running {args.clients} clients for {args.seconds:.0f} s...", flush=True)
        recorder, elapsed = run(base, key, args.clients, args.seconds, mix=True)
        time.sleep(5)  # the last follow-ups
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    from accounts.models import UsageEvent

    with tenant_context(tenant):
        stored = UsageEvent.objects.count()
    base_rate = len(baseline.latencies["healthz"]) / baseline_elapsed
    total = sum(len(values) for values in recorder.latencies.values())
    base_p95 = percentile(baseline.latencies["healthz"], .95) * 1000
    print(f"\nbaseline /healthz: {base_rate:.0f} req/s, p95 {base_p95:.0f} ms  ({len(baseline.errors)} errors)")
    print(f"mix: {total} requests in {elapsed:.1f} s = {total / elapsed:.0f} req/s"
          f" ({total / elapsed / base_rate:.2f} of the baseline), errors: {len(recorder.errors)}")
    for kind in ("ingest", "inbox", "dashboard"):
        values = recorder.latencies[kind]
        print(f"  {kind:9} {len(values):6} req  p50 {statistics.median(values) * 1000:6.0f} ms"
              f"  p95 {percentile(values, .95) * 1000:6.0f} ms  p99 {percentile(values, .99) * 1000:6.0f} ms")
    print(f"events: the API created {recorder.events_created}, the database holds {stored}"
          f" ({recorder.events_created / elapsed:.0f} events/s)")
    if recorder.errors:
        print("first errors:", recorder.errors[:10])
    if recorder.errors or baseline.errors or stored != recorder.events_created:
        sys.exit(1)


if __name__ == "__main__":
    main()
