"""Benchmark: from a data point that breaks a rule to the CSM's task, through the real stack.

    make bench-alerts      (or: .venv/bin/python scripts/bench_breach_to_task.py --trials 50)

Starts a real gunicorn server and a real Celery worker against the embedded (or configured) PostgreSQL
and Redis. In a tenant `benchalerts` with an NPS rule (below 0) and a playbook, each trial creates an
account, then POSTs one detractor answer for it through the API and measures the time until its task
exists: ingest, after-commit follow-up, debounced incremental recompute, rule evaluation, breach,
playbook run, task. No scheduled run is involved. Prints p50 and p95.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django  # noqa: E402

django.setup()

from django_tenants.utils import tenant_context  # noqa: E402

from integrations.services import api_key_create  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

SLUG = "benchalerts"
HOST = f"{SLUG}.localhost"


def setup() -> tuple[Tenant, str]:
    from metrics.models import KPI, AlertRule
    from playbooks.models import Playbook, PlaybookStep
    from users.models import Role, User
    from users.services import user_create

    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_create(
        slug=SLUG, name="Alert benchmark", admin_email="admin@benchalerts.example",
        admin_password="bench-password-1").tenant
    with tenant_context(tenant):
        KPI.objects.exclude(slug="nps").update(is_active=False)  # the rule's KPI is what fresh data recomputes
        nps = KPI.objects.get(slug="nps")
        if not User.objects.filter(email="csm@benchalerts.example").exists():
            user_create(email="csm@benchalerts.example", role=Role.CSM, password="bench-password-1")
        rule, _ = AlertRule.objects.get_or_create(kpi=nps, name="Detractor", defaults={
            "condition": "below", "threshold": 0, "severity": "critical"})
        if not Playbook.objects.filter(alert_rule=rule).exists():
            playbook = Playbook.objects.create(name="Detractor call", trigger="alert", alert_rule=rule)
            PlaybookStep.objects.create(playbook=playbook, position=1, title="Call {account}", due_days=1)
        key = api_key_create(name=f"bench {datetime.now(UTC):%H:%M:%S}", scopes="ingest,read").secret
    return tenant, key


def environment() -> dict[str, str]:
    """The servers' environment: development settings without debug (no query log growing in the worker)."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "DJANGO_DEBUG": "false"}


def web_start(port: int, env: dict[str, str]) -> subprocess.Popen:
    """A gunicorn server, returned once it answers."""
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                            "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env)
    for _ in range(300):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz", headers={"Host": HOST})
            if probe.getresponse().status == 200:
                return web
        except OSError:
            time.sleep(0.2)
    web.terminate()
    sys.exit("the server did not start")


def worker_start(env: dict[str, str], *, queues: str, concurrency: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", queues,
                             "--concurrency", str(concurrency), "--loglevel", "WARNING",
                             "--hostname", f"{queues.replace(',', '-')}-bench@%h"], cwd=ROOT, env=env)


def post(conn: http.client.HTTPConnection, key: str, path: str, body: dict) -> dict:
    conn.request("POST", path, body=orjson.dumps(body),
                 headers={"Host": HOST, "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        sys.exit(f"{path}: {response.status} {payload[:300]!r}")
    return orjson.loads(payload)


def breach_to_task(conn: http.client.HTTPConnection, key: str, tenant: Tenant, external_id: str,
                   timeout: float = 30) -> float | None:
    """Seconds from a detractor answer's POST to its account's task (None: no task within `timeout`)."""
    from playbooks.models import Task

    post(conn, key, "/api/v1/accounts/bulk", {"accounts": [
        {"external_id": external_id, "name": external_id, "owner": "csm@benchalerts.example"}]})
    sent = time.perf_counter()
    post(conn, key, "/api/v1/surveys/bulk", {"responses": [
        {"id": f"{external_id}-answer", "account": external_id, "kind": "nps", "score": 0,
         "responded_at": datetime.now(UTC).isoformat(), "comment": "Very disappointed."}]})
    with tenant_context(tenant):
        while time.perf_counter() < sent + timeout:
            if Task.objects.filter(account__external_id=external_id).exists():
                return time.perf_counter() - sent
            time.sleep(0.05)
    return None


def summary(latencies: list[float]) -> str:
    """p50, p95 and max of the latencies."""
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return (f"{len(ordered)} trials: data point to task p50 {statistics.median(ordered):.2f} s, "
            f"p95 {p95:.2f} s, max {ordered[-1]:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args()
    tenant, key = setup()
    env = environment()
    processes = [web_start(args.port, env), worker_start(env, queues="interactive,bulk", concurrency=2)]
    time.sleep(3)  # let the worker connect
    latencies = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        for trial in range(args.trials):
            latency = breach_to_task(conn, key, tenant, f"ALERT-{run_id}-{trial}")
            if latency is None:
                sys.exit(f"trial {trial}: no task after 30 s")
            latencies.append(latency)
            time.sleep(0.2)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    print(f"{summary(latencies)}  (goal: p95 < 5 s)")


if __name__ == "__main__":
    main()
