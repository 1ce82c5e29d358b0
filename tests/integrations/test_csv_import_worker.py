"""A CSV export of 50,000 accounts imported whole by a real Celery worker, timed: the path of a large file end
to end, on committed data in a tenant of its own (made and dropped here), as a deployment runs it.

`CSV_IMPORT_ROWS=100000` times a larger file (docs/benchmarks.md keeps the figures).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django_tenants.utils import schema_context

from tests.conftest import PASSWORD
from tests.realstack import committed, raw_connection, stop

ROWS = int(os.environ.get("CSV_IMPORT_ROWS", "50000"))
SLUG = "csvjob"
TIMEOUT_SECONDS = 600


@pytest.fixture
def job_tenant(db) -> str:
    """A tenant of the test's own, committed (the worker has its own connection); dropped afterwards."""
    drop = (f"from tenants.models import Tenant\n"
            f"for tenant in Tenant.objects.filter(slug={SLUG!r}): tenant.delete(force_drop=True)\n")
    schema = committed(drop + (
        "from django_tenants.utils import schema_context\n"
        "from tenants.services import tenant_create\n"
        f"made = tenant_create(slug={SLUG!r}, name='CSV job', admin_email='admin@csvjob.example', "
        f"admin_password={PASSWORD!r})\n"
        "with schema_context(made.tenant.schema_name):\n"
        "    from metrics.models import KPI\n"
        "    from playbooks.models import Playbook\n"
        # The import is timed, not the KPIs its follow-up recomputes. The built-in playbooks go first: a playbook an
        # alert rule triggers cannot lose its rule (deleting the KPI deletes the rule; see the session 5 note).
        "    Playbook.objects.all().delete()\n"
        "    KPI.objects.all().delete()\n"
        "print(made.tenant.schema_name)\n")).split()[-1]
    yield schema
    committed(drop)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    with path.open("w") as file:
        file.write("external_id,name,plan,region,industry,lifecycle_stage,seats,start_date,renewal_date\n")
        for n in range(ROWS):
            file.write(f'IMP-{n:07d},"Customer {n}, Ltd",{("Starter", "Growth", "Enterprise")[n % 3]},EMEA,'
                       f"Software,adoption,{n % 500 + 1},2025-01-01,2027-01-01\n")
    return path


def _job(schema: str, job_id: int) -> dict:
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{schema}"')
        row = raw.execute(
            "SELECT status, created, detail, extract(epoch FROM finished_at - started_at),"
            " extract(epoch FROM finished_at - received_at), batch_id FROM integrations_csvimport WHERE id = %s",
            [job_id]).fetchone()
    return dict(zip(["status", "created", "detail", "run_seconds", "queued_to_done_seconds", "batch_id"], row,
                    strict=True))


def test_a_worker_imports_a_50000_row_export_whole_with_progress(job_tenant, export, celery_worker_process):
    job_id, request_seconds = committed(
        "import time\n"
        "from django.core.files import File\n"
        "from django.db import connection\n"
        "from integrations.csv_import import csv_import_receive\n"
        "from integrations.ingest import CSV_IMPORTABLE, Caller\n"
        "from tenants.models import Tenant\n"
        f"connection.set_tenant(Tenant.objects.get(slug={SLUG!r}))\n"
        "started = time.perf_counter()\n"
        f"with open({str(export)!r}, 'rb') as upload:\n"
        "    job = csv_import_receive(kind=CSV_IMPORTABLE['accounts'], upload=File(upload, name='accounts.csv'),"
        " caller=Caller(source='csv'))\n"
        "print(job.pk, time.perf_counter() - started)\n").split()[-2:]

    phases = set()
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while (job := _job(job_tenant, int(job_id)))["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            pytest.fail(f"import not finished in time: {job}\n{stop(celery_worker_process)[-3000:]}")
        with schema_context(job_tenant):
            progress = cache.get(f"csv-import:{job_id}:progress")
        if progress:
            phases.add(progress["phase"])
        time.sleep(0.2)

    print(f"\n{ROWS:,} accounts: request (read, check, store) {float(request_seconds):.1f} s, worker run "
          f"{job['run_seconds']:.1f} s, stored to imported {job['queued_to_done_seconds']:.1f} s")
    assert job["status"] == "succeeded", job["detail"]
    assert job["created"] == ROWS
    assert phases & {"checking", "writing"}, "no progress seen while the import ran"
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{job_tenant}"')
        assert raw.execute("SELECT count(*) FROM accounts_account WHERE external_id LIKE 'IMP-%'").fetchone()[0] \
            == ROWS
        assert raw.execute("SELECT count(*) FROM integrations_csvimportpart").fetchone()[0] == 0
        assert raw.execute("SELECT items, created, accepted FROM integrations_ingestbatch WHERE id = %s",
                           [job["batch_id"]]).fetchone() == (ROWS, ROWS, True)
        # The batch's follow-up ran before the tenant is dropped (it recomputes KPIs of the accounts touched).
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while raw.execute("SELECT followed_up_at FROM integrations_ingestbatch WHERE id = %s",
                          [job["batch_id"]]).fetchone()[0] is None:
            assert time.monotonic() < deadline, "the batch's follow-up did not run"
            time.sleep(0.5)
