"""CSV import of accounts and revenue through the API: one all-or-nothing batch per file, errors by line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from accounts.ingestion import ACCOUNT_SPEC
from accounts.models import Account, RevenueSnapshot
from core.api.scopes import Scope
from integrations.csv_import import csv_items
from integrations.models import DataKind, IngestBatch
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.users.factories import UserFactory
from users.models import Role

ACCOUNTS = "/api/v1/accounts/import"
REVENUE = "/api/v1/revenue/import"


def _upload(client, path: str, text: str | bytes, key=None, **extra):
    data = text.encode() if isinstance(text, str) else text
    return client.post(path, {"file": SimpleUploadedFile("data.csv", data, content_type="text/csv")},
                       **(bearer(key) if key else {}), **extra)


def test_accounts_are_imported_from_csv(client, ingest_key):
    owner = UserFactory(email="csm@alpha.example")
    csv = ("external_id,name,plan,seats,owner,start_date,custom_attributes\n"
           'CRM-1,Acme,Growth,40,csm@alpha.example,2026-01-01,"{""tier"": ""gold""}"\n'
           "CRM-2,Globex,,,,,\n")

    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 0, "duplicates": 0}
    acme, globex = Account.objects.order_by("external_id")
    assert (acme.name, acme.plan, acme.licensed_seats, acme.owner, acme.start_date) == (
        "Acme", "Growth", 40, owner, dt.date(2026, 1, 1))
    assert acme.custom_attributes == {"tier": "gold"}
    assert (globex.plan, globex.licensed_seats, globex.owner) == ("", None, None)
    batch = IngestBatch.objects.get()
    assert (batch.kind, batch.source, batch.accepted, batch.created, batch.api_key) == (
        DataKind.ACCOUNTS, "csv", True, 2, ingest_key.api_key)


def test_empty_cells_keep_the_stored_values_of_known_accounts(client, ingest_key):
    AccountFactory(external_id="CRM-1", name="Acme", plan="Starter", region="EMEA")

    response = _upload(client, ACCOUNTS, "external_id,name,plan,region\nCRM-1,,Growth,\n", ingest_key)

    assert response.json() == {"created": 0, "updated": 1, "duplicates": 0}
    account = Account.objects.get()
    assert (account.name, account.plan, account.region) == ("Acme", "Growth", "EMEA")


def test_revenue_is_imported_from_csv(client, ingest_key):
    account = AccountFactory(external_id="CRM-1")

    response = _upload(client, REVENUE, "account,month,mrr\nCRM-1,2026-09,900\nCRM-1,2026-10,950.50\n", ingest_key)

    assert response.json() == {"created": 2, "updated": 0, "duplicates": 0}
    assert list(account.revenue_snapshots.order_by("month").values_list("month", "mrr")) == [
        (dt.date(2026, 9, 1), Decimal("900.00")), (dt.date(2026, 10, 1), Decimal("950.50"))]


def test_a_utf8_file_with_a_byte_order_mark_is_read(client, ingest_key):
    response = _upload(client, ACCOUNTS, "\ufeffexternal_id,name\nCRM-1,Société Générale\n".encode(), ingest_key)

    assert response.status_code == 200
    assert Account.objects.get().name == "Société Générale"


def test_bad_rows_are_reported_by_line_number_and_nothing_is_stored(client, ingest_key):
    AccountFactory(external_id="CRM-1")
    csv = "account,month,mrr\nCRM-1,2026-09,900\nCRM-1,2026-13,-5\nCRM-1,2026-10,100\nCRM-9,2026-10,1\n"

    response = _upload(client, REVENUE, csv, ingest_key)

    assert response.status_code == 400
    body = response.json()
    assert "nothing was stored" in body["detail"]
    assert body["errors"] == [
        {"row": 3, "field": "month", "message": "must be a month YYYY-MM"},
        {"row": 3, "field": "mrr", "message": "must not be negative"},
        {"row": 5, "field": "account", "message": "unknown account 'CRM-9': send it to /api/v1/accounts/bulk first"},
    ]
    assert not RevenueSnapshot.objects.exists()
    batch = IngestBatch.objects.get()
    assert (batch.accepted, batch.source, batch.error_count) == (False, "csv", 3)


def test_line_numbers_stay_true_after_blank_lines_and_multi_line_cells(client, ingest_key):
    csv = ('external_id,name,seats\n'
           'CRM-1,"Acme\nHoldings",10\n'
           '\n'
           'CRM-2,Globex,many\n')

    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 5, "field": "seats", "message": "must be a whole number"}]


def test_a_non_integer_cell_in_a_number_column_is_reported_for_its_row(client, ingest_key):
    response = _upload(client, ACCOUNTS, "external_id,name,seats\nCRM-1,Acme,ten\n", ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 2, "field": "seats", "message": "must be a whole number"}]
    assert not Account.objects.exists()


@pytest.mark.parametrize(("csv", "message"), [
    ("external_id,name,colour\nCRM-1,Acme,red\n", "Unknown column(s): colour."),
    ("name,plan\nAcme,Growth\n", "Missing required column(s): external_id."),
    ("", "The file is empty"),
])
def test_unknown_or_missing_columns_and_empty_files_are_refused(client, ingest_key, csv, message):
    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Account.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(client, ingest_key):
    response = _upload(client, ACCOUNTS, "external_id,name\nCRM-1,Société\n".encode("latin-1"), ingest_key)

    assert response.status_code == 400
    assert response.json()["detail"] == "The file is not UTF-8 text; export the CSV as UTF-8."
    assert not Account.objects.exists()


def test_a_request_without_the_file_field_is_refused(client, ingest_key):
    response = client.post(ACCOUNTS, {"upload": SimpleUploadedFile("a.csv", b"external_id,name\n")},
                           **bearer(ingest_key))

    assert response.status_code == 400
    assert 'named "file"' in response.json()["detail"]


def test_a_file_over_the_size_limit_is_a_413(client, ingest_key, monkeypatch):
    monkeypatch.setattr("integrations.csv_import.MAX_CSV_BYTES", 20)

    response = _upload(client, ACCOUNTS, "external_id,name\nCRM-1,Acme Corporation\n", ingest_key)

    assert response.status_code == 413
    assert not Account.objects.exists()


def test_import_needs_the_ingest_scope(client):
    response = _upload(client, ACCOUNTS, "external_id,name\nCRM-1,Acme\n", ApiKeyFactory(scopes=[Scope.READ]))

    assert response.status_code == 403
    assert not Account.objects.exists()


def test_an_admin_may_import_with_their_session(client):
    admin = UserFactory(role=Role.ADMIN)
    login(client, admin)

    assert _upload(client, ACCOUNTS, "external_id,name\nCRM-1,Acme\n").status_code == 200
    assert Account.objects.get().external_id == "CRM-1"
    assert IngestBatch.objects.get().user == admin


def test_a_leader_may_not_import_with_their_session(client):
    login(client, UserFactory(role=Role.LEADER))

    assert _upload(client, ACCOUNTS, "external_id,name\nCRM-1,Acme\n").status_code == 403
    assert not Account.objects.exists()


def test_a_key_of_another_tenant_cannot_import_here(client, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo_key = ApiKeyFactory()

    response = _upload(client, ACCOUNTS, "external_id,name\nCRM-1,Acme\n", bravo_key)

    assert response.status_code == 401
    assert not Account.objects.exists()
    with schema_context(other_tenant.schema_name):
        assert not Account.objects.exists()


def test_csv_items_leave_empty_cells_out_and_convert_numbers_and_objects():
    data = b'external_id,seats,custom_attributes,plan\nA, 12 ,"{""a"": 1}",\n'

    items, lines = csv_items(data=data, spec=ACCOUNT_SPEC)

    assert items == [{"external_id": "A", "seats": 12, "custom_attributes": {"a": 1}}]
    assert lines == [2]

