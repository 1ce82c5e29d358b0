"""A Celery worker process killed in the middle of a KPI computation: the broker gives the run back, it runs
again from the start, and what is stored afterwards is complete, unduplicated and equal to a clean run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from metrics.tasks import computation_run_task
from tests.realstack import committed, raw_connection, stop, worker_start

SCHEMA = "faults"

SEED = """
import datetime as dt, random
from django_tenants.utils import schema_context
from tenants.models import Tenant
from tenants.services import tenant_create
for left_over in Tenant.objects.filter(slug="faults"):  # an earlier run that was interrupted
    left_over.delete(force_drop=True)
tenant_create(slug="faults", name="Faults", admin_email="admin@faults.example", admin_password="x-very-long-pw")
with schema_context("faults"):
    from accounts.models import Account, RevenueSnapshot, UsageDaily, UserDaily
    from metrics.models import KPI
    from metrics.services import computation_run_create
    rng = random.Random(7)
    today = dt.date(2026, 11, 20)
    accounts = Account.objects.bulk_create([
        Account(external_id=f"F-{n}", name=f"Fault {n}", plan=rng.choice(["pro", "team"]),
                region=rng.choice(["EU", "US"]), industry="saas", start_date=today - dt.timedelta(days=400),
                renewal_date=today + dt.timedelta(days=rng.randint(1, 300)), licensed_seats=20)
        for n in range(3000)])
    RevenueSnapshot.objects.bulk_create([
        RevenueSnapshot(account=account, month=dt.date(2025 + (m + 10) // 12, (m + 10) % 12 + 1, 1),
                        mrr=rng.randint(100, 900)) for account in accounts for m in range(13)])
    days = [today - dt.timedelta(days=d) for d in range(30)]
    UsageDaily.objects.bulk_create([
        UsageDaily(account=account, day=day, event_name="login", events=3, distinct_users=2)
        for account in accounts for day in days])
    UserDaily.objects.bulk_create([
        UserDaily(account=account, day=day, user_id=f"u{u}", events=2)
        for account in accounts for day in days[:10] for u in range(2)])
    run = computation_run_create(as_of=today, trigger="manual", kpis=list(KPI.objects.filter(is_active=True)))
    print(run.pk, len(run.kpi_slugs))
"""

RECOMPUTE = """
import datetime as dt
from django_tenants.utils import schema_context
with schema_context("faults"):
    from metrics.models import ComputationRun, KPI
    from metrics.services import kpis_compute
    run = kpis_compute(as_of=dt.date(2026, 11, 20), kpis=list(KPI.objects.filter(is_active=True)))
    print(run.status)
"""

DROP = """
from tenants.models import Tenant
Tenant.objects.get(slug="faults").delete(force_drop=True)
"""


@pytest.fixture
def faults_tenant():
    run_id, kpis = committed(SEED).split()[-2:]
    yield int(run_id), int(kpis)
    committed(DROP)


def _run(run_id: int) -> tuple:
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{SCHEMA}", public')
        return raw.execute("SELECT status, kpis_done, errors FROM metrics_computationrun WHERE id = %s",
                           [run_id]).fetchone()


def _values() -> list[tuple]:
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{SCHEMA}", public')
        return raw.execute(
            "SELECT kpi_id, scope, account_id, dimension, segment, as_of, round(value::numeric, 9)"
            " FROM metrics_metricvalue ORDER BY 1, 2, 3, 4, 5, 6").fetchall()


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_computation_whose_worker_process_is_killed_runs_again_and_leaves_whole_values(faults_tenant):
    run_id, kpi_count = faults_tenant
    worker = worker_start(pool="prefork", concurrency=1)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _children(worker.pid):
            time.sleep(0.1)
        with schema_context(SCHEMA):
            computation_run_task.delay(run_id)  # sent from the tenant: runs in its schema

        with raw_connection() as watch:
            watch.execute(f'SET search_path = "{SCHEMA}", public')
            progress = "SELECT status, kpis_done FROM metrics_computationrun WHERE id = %s"
            while time.monotonic() < deadline and watch.execute(progress, [run_id]).fetchone()[0] == "pending":
                time.sleep(0.005)
            [child] = _children(worker.pid)
            os.kill(child, signal.SIGKILL)  # the process computing dies mid-run
            status, done = watch.execute(progress, [run_id]).fetchone()
        assert (status, done < kpi_count) == ("running", True), "the run must be caught half-way"

        while time.monotonic() < deadline + 60 and _run(run_id)[0] != "succeeded":
            time.sleep(0.2)
        status, done, errors = _run(run_id)
        assert (status, done, errors) == ("succeeded", kpi_count, [])
    finally:
        output = stop(worker)
    assert "WorkerLostError" in output or "SIGKILL" in output  # the kill really happened

    after_recovery = _values()
    assert after_recovery, "values were written"
    subjects = [row[:6] for row in after_recovery]
    assert len(subjects) == len(set(subjects))  # nothing twice
    assert committed(RECOMPUTE).split()[-1] == "succeeded"
    assert _values() == after_recovery  # a clean run stores exactly the same: nothing partial was left


def test_the_sweeper_resumes_a_run_whose_whole_worker_died():
    import datetime as dt

    from django.utils import timezone

    from metrics.models import ComputationRun
    from metrics.services import kpi_create
    from metrics.tasks import STALE_RUN_AFTER, computation_runs_stale_resume

    kpi = kpi_create(slug="arpa", name="ARPA", calculator="revenue.arpa", definition="d", tier="profitability",
                     indicator="lagging", unit="currency")
    stale = ComputationRun.objects.create(as_of=dt.date(2026, 11, 20), kpi_slugs=[kpi.slug], status="running",
                                          started_at=timezone.now() - STALE_RUN_AFTER - dt.timedelta(minutes=1))
    fresh = ComputationRun.objects.create(as_of=dt.date(2026, 11, 20), kpi_slugs=[kpi.slug], status="running",
                                          started_at=timezone.now())

    assert computation_runs_stale_resume() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.kpis_done) == ("succeeded", 1)
    assert fresh.status == "running"  # still working somewhere: left alone
    assert connection.schema_name == "alpha"
