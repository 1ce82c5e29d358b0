"""CSV files too large for one request: stored and imported whole (or not at all) as one background job.

Here the sizes are shrunk (a "large" file is over 4 rows, chunks are 3 rows) and the job is run in the test's
process; tests/integrations/test_csv_import_worker.py runs a 50,000-row file through a real Celery worker.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts import ingestion
from accounts.models import Account, RevenueSnapshot
from integrations import csv_import
from integrations.csv_import import csv_import_progress, csv_import_run, csv_imports_resend, csv_ingest
from integrations.csv_reader import csv_rows
from integrations.ingest import CSV_IMPORTABLE, Caller
from integrations.models import CsvImport, CsvImportPart, IngestBatch
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.factories import bearer
from tests.users.factories import UserFactory
from users.models import Role

ACCOUNTS = "/api/v1/accounts/import"


@pytest.fixture(autouse=True)
def small_sizes(monkeypatch):
    monkeypatch.setattr(csv_import, "MAX_BATCH_ITEMS", 4)
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 3)


@pytest.fixture
def sent(monkeypatch):
    """The imports sent to a worker (after commit), instead of a broker."""
    sent: list[int] = []
    monkeypatch.setattr(csv_import, "_send", sent.append)
    return sent


def _accounts_csv(count: int, *, bad_line: int | None = None) -> str:
    rows = [f"IMP-{n},Customer {n},{'many' if n + 2 == bad_line else n}" for n in range(count)]
    return "external_id,name,seats\n" + "\n".join(rows) + "\n"


def _upload(client, text: str, key, path: str = ACCOUNTS, **extra):
    return client.post(path, {"file": SimpleUploadedFile("export.csv", text.encode(), content_type="text/csv")},
                       **bearer(key), **extra)


def test_a_large_file_is_stored_and_queued_as_one_import(client, ingest_key, sent,
                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, _accounts_csv(10), ingest_key)

    assert response.status_code == 202, response.content
    job = CsvImport.objects.get()
    assert response["Location"] == f"/api/v1/imports/{job.pk}"
    assert response.json() | {"received_at": None} == {
        "id": job.pk, "url": f"/api/v1/imports/{job.pk}", "kind": "accounts", "status": "queued", "phase": "queued",
        "rows": 10, "rows_done": 0, "file_name": "export.csv", "file_bytes": len(_accounts_csv(10).encode()),
        "created": 0, "updated": 0, "duplicates": 0, "detail": "", "error_count": 0, "errors": [],
        "received_at": None, "started_at": None, "finished_at": None}
    assert sent == [job.pk]
    assert (job.api_key, job.source) == (ingest_key.api_key, "csv")
    assert b"".join(bytes(part) for part in job.parts.order_by("position").values_list("data", flat=True)) == \
        _accounts_csv(10).encode()
    assert not Account.objects.exists()


def test_the_job_imports_every_row_in_one_batch_and_reports_it(client, ingest_key, sent):
    AccountFactory(external_id="IMP-0", name="Old name")
    _upload(client, _accounts_csv(10), ingest_key)
    job = CsvImport.objects.get()

    assert csv_import_run(csv_import_id=job.pk) is True

    assert Account.objects.filter(external_id__startswith="IMP-").count() == 10
    assert Account.objects.get(external_id="IMP-0").name == "Customer 0"
    job.refresh_from_db()
    assert (job.status, job.created, job.updated, job.duplicates) == ("succeeded", 9, 1, 0)
    assert job.detail == "Imported 10 row(s): 9 created, 1 updated, 0 unchanged."
    assert job.started_at <= job.finished_at
    assert not CsvImportPart.objects.exists()
    batch = IngestBatch.objects.get()
    assert (job.batch, batch.items, batch.created, batch.source, batch.api_key) == (
        batch, 10, 9, "csv", ingest_key.api_key)
    assert len(batch.follow_up["account_ids"]) == 10
    status = client.get(f"/api/v1/imports/{job.pk}", **bearer(ingest_key)).json()
    assert (status["status"], status["phase"], status["rows_done"], status["created"]) == (
        "succeeded", "succeeded", 10, 9)


def test_a_bad_row_in_the_last_chunk_fails_the_job_and_stores_nothing(client, ingest_key, sent):
    _upload(client, _accounts_csv(10, bad_line=11), ingest_key)
    job = CsvImport.objects.get()

    csv_import_run(csv_import_id=job.pk)

    assert not Account.objects.exists()
    job.refresh_from_db()
    assert (job.status, job.error_count) == ("failed", 1)
    assert job.detail == "The file was rejected: 1 problem(s) in 1 row(s); nothing was stored."
    assert job.errors == [{"row": 11, "field": "seats", "message": "must be a whole number"}]
    assert not CsvImportPart.objects.exists()
    assert (job.batch.accepted, job.batch.error_count, job.batch.items) == (False, 1, 10)


def test_a_duplicate_in_another_chunk_is_named_with_its_first_line(client, ingest_key, sent):
    text = _accounts_csv(8) + "IMP-1,Again,3\n"
    _upload(client, text, ingest_key)
    job = CsvImport.objects.get()

    csv_import_run(csv_import_id=job.pk)

    job.refresh_from_db()
    assert job.errors == [{"row": 10, "field": "external_id",
                           "message": "duplicate external_id in this file (first on line 3)"}]
    assert not Account.objects.exists()


def test_every_problem_is_counted_and_the_first_hundred_listed(client, ingest_key, sent, monkeypatch):
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 50)
    monkeypatch.setattr(csv_import, "MAX_BATCH_ITEMS", 100)
    text = "external_id,name,seats\n" + "".join(f"IMP-{n},Customer {n},x\n" for n in range(150))
    _upload(client, text, ingest_key)
    job = CsvImport.objects.get()

    csv_import_run(csv_import_id=job.pk)

    job.refresh_from_db()
    assert (job.error_count, len(job.errors), job.errors[0]["row"], job.errors[-1]["row"]) == (150, 100, 2, 101)


def test_an_import_runs_once_however_often_it_is_sent(client, ingest_key, sent):
    _upload(client, _accounts_csv(10), ingest_key)
    job = CsvImport.objects.get()

    assert csv_import_run(csv_import_id=job.pk) is True
    assert csv_import_run(csv_import_id=job.pk) is False

    assert IngestBatch.objects.count() == 1
    assert Account.objects.count() == 10


def test_an_unexpected_error_fails_the_import_instead_of_leaving_it_running(client, ingest_key, sent, monkeypatch):
    _upload(client, _accounts_csv(10), ingest_key)
    job = CsvImport.objects.get()
    broken = dataclasses.replace(ingestion.ACCOUNTS, write=None)  # a bug: the write cannot be called
    monkeypatch.setitem(CSV_IMPORTABLE, "accounts", broken)

    with pytest.raises(TypeError):
        csv_import_run(csv_import_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.detail.startswith("An unexpected error stopped the import; nothing was stored.")
    assert not Account.objects.exists()


def test_progress_counts_rows_checked_then_rows_written():
    text = _accounts_csv(7).encode()
    seen = []

    csv_ingest(kind=ingestion.ACCOUNTS, total=7, caller=Caller(source="csv"),
               rows=lambda: csv_rows(io.BytesIO(text), spec=ingestion.ACCOUNT_SPEC, max_rows=100),
               progress=lambda phase, done: seen.append((phase, done)))

    assert seen == [("checking", 3), ("checking", 6), ("checking", 7), ("writing", 3), ("writing", 6),
                    ("writing", 7)]


def test_a_running_import_reports_its_progress_from_the_cache(client, ingest_key, sent):
    _upload(client, _accounts_csv(10), ingest_key)
    job = CsvImport.objects.get()
    CsvImport.objects.filter(pk=job.pk).update(status="running")
    job.refresh_from_db()
    csv_import._progress_recorder(job.pk)("writing", 6)

    body = client.get(f"/api/v1/imports/{job.pk}", **bearer(ingest_key)).json()

    assert (body["status"], body["phase"], body["rows_done"], body["rows"]) == ("running", "writing", 6, 10)
    assert csv_import_progress(job) == {"phase": "writing", "rows_done": 6}


def test_the_sweeper_sends_again_only_imports_left_unfinished(client, ingest_key, sent):
    _upload(client, _accounts_csv(10), ingest_key)
    _upload(client, _accounts_csv(10).replace("IMP-", "NEW-"), ingest_key)
    stale, fresh = CsvImport.objects.order_by("pk")
    CsvImport.objects.filter(pk=stale.pk).update(received_at=timezone.now() - csv_import.RESEND_AFTER * 2)
    sent.clear()

    assert csv_imports_resend() == 1
    assert sent == [stale.pk]
    csv_import_run(csv_import_id=stale.pk)
    assert csv_imports_resend(now=timezone.now() + csv_import.RESEND_AFTER * 2) == 1  # the fresh one, later
    assert sent == [stale.pk, fresh.pk]


def test_a_retry_with_the_same_idempotency_key_answers_the_same_job(client, ingest_key, sent):
    first = _upload(client, _accounts_csv(10), ingest_key, HTTP_IDEMPOTENCY_KEY="export-1")
    again = _upload(client, _accounts_csv(10), ingest_key, HTTP_IDEMPOTENCY_KEY="export-1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert CsvImport.objects.count() == 1


def test_a_file_with_a_broken_quote_is_refused_at_once_whatever_its_size(client, ingest_key, sent):
    text = _accounts_csv(10).replace("IMP-7,Customer 7", 'IMP-7,"Customer 7')

    response = _upload(client, text, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == 9
    assert not CsvImport.objects.exists()


def test_revenue_exports_are_imported_as_jobs_too(client, ingest_key, sent):
    AccountFactory(external_id="CRM-1")
    text = "account,month,mrr\n" + "".join(f"CRM-1,20{20 + n // 12}-{n % 12 + 1:02d},{100 + n}\n" for n in range(10))

    response = _upload(client, text, ingest_key, path="/api/v1/revenue/import")
    csv_import_run(csv_import_id=response.json()["id"])

    assert response.status_code == 202
    assert RevenueSnapshot.objects.count() == 10


def test_reading_an_import_needs_the_ingest_scope(client, read_key, ingest_key, sent):
    job_id = _upload(client, _accounts_csv(10), ingest_key).json()["id"]

    assert client.get(f"/api/v1/imports/{job_id}", **bearer(read_key)).status_code == 403
    assert client.get(f"/api/v1/imports/{job_id}", **bearer(ingest_key)).status_code == 200


def test_another_tenants_import_is_not_found(client, other_client, ingest_key, sent, other_tenant):
    from tests.integrations.factories import ApiKeyFactory

    job_id = _upload(client, _accounts_csv(10), ingest_key).json()["id"]
    with schema_context(other_tenant.schema_name):
        bravo_key = ApiKeyFactory()

    assert other_client.get(f"/api/v1/imports/{job_id}", **bearer(bravo_key)).status_code == 404
    assert client.get(f"/api/v1/imports/{job_id}", **bearer(bravo_key)).status_code == 401


# --- the page --------------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(client):
    return login(client, UserFactory(role=Role.ADMIN))


def test_the_page_imports_a_large_file_in_the_background_and_follows_its_progress(admin_client, sent):
    upload = SimpleUploadedFile("export.csv", _accounts_csv(10).encode())

    response = admin_client.post("/data/import/", {"kind": "accounts", "file": upload})

    job = CsvImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/data/import/{job.pk}/"
    page = admin_client.get(response["Location"])
    assert b"Waiting for a worker" in page.content
    assert b'hx-trigger="every 2s"' in page.content
    csv_import_run(csv_import_id=job.pk)
    fragment = admin_client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert fragment.content.lstrip().startswith(b'<section id="import-progress"')
    assert b"hx-trigger" not in fragment.content
    assert b"Imported 10 row(s): 10 created, 0 updated, 0 unchanged." in fragment.content
    assert b"export.csv" in admin_client.get("/data/import/").content  # listed among recent imports


def test_the_page_lists_the_problems_of_a_failed_import(admin_client, sent):
    upload = SimpleUploadedFile("export.csv", _accounts_csv(10, bad_line=5).encode())
    admin_client.post("/data/import/", {"kind": "accounts", "file": upload})
    job = CsvImport.objects.get()

    csv_import_run(csv_import_id=job.pk)

    page = admin_client.get(f"/data/import/{job.pk}/")
    assert b"nothing was stored" in page.content
    assert b'<td class="num">5</td><td>seats</td><td>must be a whole number</td>' in page.content
