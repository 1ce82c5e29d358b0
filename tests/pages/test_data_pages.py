"""Admin pages for the data coming in: data health (accounts), the CSV import and API keys (integrations), for
admins only."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Account, RevenueSnapshot
from integrations.models import ApiKey, IngestBatch
from integrations.services import hash_secret
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role

PAGES = ["/data-health/", "/data/import/", "/settings/api-keys/"]


@pytest.fixture
def admin_client(client):
    return login(client, UserFactory(role=Role.ADMIN))


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("role", [Role.LEADER, Role.MANAGER, Role.CSM, Role.VIEWER])
def test_only_admins_open_integration_pages(client, path, role):
    login(client, UserFactory(role=role))

    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_integration_pages_refuse_the_other_tenants_session(client, other_client, path):
    login(client, UserFactory(role=Role.ADMIN))
    other_client.cookies = client.cookies

    response = other_client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_data_health_shows_gaps_unowned_accounts_and_rejections(admin_client):
    gappy = AccountFactory(name="Gappy Co")
    for month in (dt.date(2026, 1, 1), dt.date(2026, 4, 1)):
        RevenueSnapshotFactory(account=gappy, month=month)
    AccountFactory(name="Orphan Ltd", owner=None)
    IngestBatch.objects.create(kind="events", accepted=False, items=3, error_count=1,
                               errors=[{"index": 2, "field": "timestamp", "message": "needs a time zone"}])

    response = admin_client.get("/data-health/")

    assert response.status_code == 200
    gaps = {gap["name"]: gap["missing"] for gap in response.context["revenue_gaps"]}
    assert gaps == {"Gappy Co": 2}
    assert response.context["unowned_count"] == 1
    assert b"Orphan Ltd" in response.content
    assert b"needs a time zone" in response.content


def test_data_health_page_issues_a_fixed_number_of_queries(admin_client, django_assert_max_num_queries):
    AccountFactory.create_batch(20, owner=None)
    with django_assert_max_num_queries(14):
        assert admin_client.get("/data-health/").status_code == 200


def test_csv_import_stores_every_row(admin_client):
    account = AccountFactory(external_id="CRM-9")
    upload = SimpleUploadedFile("rev.csv", b"account,month,mrr\nCRM-9,2026-09,100\nCRM-9,2026-10,120.50\n")

    response = admin_client.post("/data/import/", {"kind": "revenue", "file": upload})

    assert response.status_code == 302
    assert list(RevenueSnapshot.objects.filter(account=account).order_by("month").values_list("mrr", flat=True)) \
        == [Decimal("100.00"), Decimal("120.50")]


def test_csv_import_with_a_bad_row_stores_nothing_and_lists_lines(admin_client):
    AccountFactory(external_id="CRM-9")
    upload = SimpleUploadedFile("rev.csv", b"account,month,mrr\nCRM-9,2026-09,100\nCRM-9,2026-10,-1\n")

    response = admin_client.post("/data/import/", {"kind": "revenue", "file": upload})

    assert response.status_code == 400
    assert response.context["row_errors"] == [{"row": 3, "field": "mrr", "message": "must not be negative"}]
    assert not RevenueSnapshot.objects.exists()
    assert IngestBatch.objects.get(accepted=False).source == "csv"


def test_api_key_is_shown_once_and_stored_hashed(admin_client):
    response = admin_client.post("/settings/api-keys/", {"name": "Segment", "scopes": ["ingest", "read"]})

    secret = response.context["issued"].secret
    key = ApiKey.objects.get(name="Segment")
    assert key.scopes == ["ingest", "read"]
    assert key.hashed_secret == hash_secret(secret) != secret
    assert secret.encode() in response.content
    assert secret.encode() not in admin_client.get("/settings/api-keys/").content


def test_revoking_a_key_from_the_page_turns_it_off(admin_client):
    admin_client.post("/settings/api-keys/", {"name": "Old", "scopes": ["read"]})
    key = ApiKey.objects.get(name="Old")

    response = admin_client.post(f"/settings/api-keys/{key.pk}/revoke/")

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_csv_import_with_a_stray_quote_shows_the_line_and_stores_nothing(admin_client):
    upload = SimpleUploadedFile("accounts.csv",
                                b'external_id,name,plan\nQ-1,"Unclosed quote Ltd,Growth\nQ-2,Fine Ltd,Growth\n')

    response = admin_client.post("/data/import/", {"kind": "accounts", "file": upload})

    assert response.status_code == 400
    assert response.context["error"].startswith("Line 2: a quote opened on this line is never closed")
    assert response.context["row_errors"][0]["row"] == 2
    assert b"Line 2: a quote opened" in response.content
    assert not Account.objects.exists()


def test_csv_import_refuses_a_file_declared_over_the_cap_before_reading_it(admin_client):
    upload = SimpleUploadedFile("accounts.csv", b"external_id,name\nA-1,Acme\n")

    response = admin_client.post("/data/import/", {"kind": "accounts", "file": upload}, CONTENT_LENGTH="300000000")

    assert response.status_code == 413
    assert response.context["error"].startswith("The upload is 300,000,000 bytes; a file may be at most 104,857,600")
    assert not Account.objects.exists()


def test_csv_import_stops_a_file_while_it_streams_past_the_cap(admin_client, monkeypatch):
    monkeypatch.setattr("integrations.views.MAX_CSV_BYTES", 1000)
    rows = "".join(f"A-{n},Customer {n}\n" for n in range(200))
    upload = SimpleUploadedFile("accounts.csv", ("external_id,name\n" + rows).encode())

    response = admin_client.post("/data/import/", {"kind": "accounts", "file": upload})

    assert response.status_code == 413
    assert "The file is larger than 1,000 bytes" in response.context["error"]
    assert not Account.objects.exists()


def test_csv_import_still_checks_the_csrf_token(tenant):
    from tests.conftest import TenantClient

    browser = TenantClient(tenant, enforce_csrf_checks=True)
    browser.force_login(UserFactory(role=Role.ADMIN))
    upload = SimpleUploadedFile("accounts.csv", b"external_id,name\nA-1,Acme\n")

    assert browser.post("/data/import/", {"kind": "accounts", "file": upload}).status_code == 403
    assert not Account.objects.exists()
    token = browser.get("/data/import/").context["csrf_token"]
    upload.seek(0)
    response = browser.post("/data/import/", {"kind": "accounts", "file": upload, "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert Account.objects.get().external_id == "A-1"
