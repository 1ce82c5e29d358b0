"""An Idempotency-Key makes every POST safe to retry: CSV imports, key creation, KPI writes, compute runs."""

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import RevenueSnapshot
from core.api.scopes import Scope
from integrations.models import ApiKey
from metrics.models import ComputationRun, KPITarget
from metrics.services import kpi_create
from tests.accounts.factories import AccountFactory
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, bearer

HEADER = {"HTTP_IDEMPOTENCY_KEY": "retry-1"}


def _upload():
    return SimpleUploadedFile("rev.csv", b"account,month,mrr\nCRM-1,2026-09,100\n", content_type="text/csv")


def test_a_retried_csv_import_is_replayed_even_with_a_new_multipart_boundary(client, ingest_key):
    AccountFactory(external_id="CRM-1")

    first = client.post("/api/v1/revenue/import", {"file": _upload()}, **bearer(ingest_key), **HEADER)
    # The test client picks a boundary per request, as curl and requests do.
    again = client.post("/api/v1/revenue/import", {"file": _upload()}, **bearer(ingest_key), **HEADER)

    assert first.status_code == 200 and first.json()["created"] == 1
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert RevenueSnapshot.objects.count() == 1


def test_a_different_file_under_the_same_key_is_422(client, ingest_key):
    AccountFactory(external_id="CRM-1")
    client.post("/api/v1/revenue/import", {"file": _upload()}, **bearer(ingest_key), **HEADER)
    other = SimpleUploadedFile("rev.csv", b"account,month,mrr\nCRM-1,2026-10,100\n", content_type="text/csv")

    response = client.post("/api/v1/revenue/import", {"file": other}, **bearer(ingest_key), **HEADER)

    assert response.status_code == 422
    assert RevenueSnapshot.objects.count() == 1


def test_a_retried_key_creation_issues_one_key_and_never_stores_its_secret(client):
    admin = ApiKeyFactory(scopes=[Scope.ADMIN])
    body = {"name": "Billing sync", "scopes": ["ingest"]}

    first = post_json(client, "/api/v1/api-keys/", body, admin, **HEADER)
    again = post_json(client, "/api/v1/api-keys/", body, admin, **HEADER)

    assert first.status_code == 201 and first.json()["key"].startswith("bw_")
    assert again.status_code == 201 and again.json()["key"] is None
    assert "already issued" in again.json()["detail"]
    assert ApiKey.objects.filter(name="Billing sync").count() == 1
    from integrations.models import IdempotentRequest

    assert first.json()["key"].encode() not in bytes(IdempotentRequest.objects.get().response_body)


def test_retried_target_and_compute_requests_apply_once(client):
    admin = ApiKeyFactory(scopes=[Scope.ADMIN, Scope.READ])
    kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
               indicator="lagging", unit="score")
    target = {"period": "2026-Q4", "value": 40, "reason": "Plan"}
    for _ in range(2):
        assert post_json(client, "/api/v1/kpis/nps/targets", target, admin,
                         HTTP_IDEMPOTENCY_KEY="t-1").status_code == 201
        assert post_json(client, "/api/v1/metrics/compute", {"as_of": "2026-11-01"}, admin,
                         HTTP_IDEMPOTENCY_KEY="c-1").status_code == 202

    assert KPITarget.objects.count() == 1
    assert ComputationRun.objects.count() == 1
