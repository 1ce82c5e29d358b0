"""CSV import of accounts and revenue through the API: one all-or-nothing batch per file, errors by line."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from accounts.ingestion import ACCOUNT_SPEC
from accounts.models import Account, RevenueSnapshot
from core.api.scopes import Scope
from integrations.csv_reader import csv_rows
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
    monkeypatch.setattr("integrations.api.csv_imports.MAX_CSV_BYTES", 20)

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


def test_csv_rows_leave_empty_cells_out_and_convert_numbers_and_objects():
    data = b'external_id,seats,custom_attributes,plan\nA, 12 ,"{""a"": 1}",\n'

    rows = list(csv_rows(io.BytesIO(data), spec=ACCOUNT_SPEC, max_rows=10))

    assert [(row.line, row.item) for row in rows] == [
        (2, {"external_id": "A", "seats": 12, "custom_attributes": {"a": 1}})]



# --- a strict reader: quoting, cells per row, lines as a person counts them (issue 13) -------------------------

STRAY_QUOTE = ('external_id,name,plan\n'
               'Q-1,"Unclosed quote Ltd,Growth\n'
               'Q-2,Fine Ltd,Growth\n')


def test_a_stray_quote_is_a_400_naming_its_line_not_rows_merged_into_one_account(client, ingest_key):
    response = _upload(client, ACCOUNTS, STRAY_QUOTE, ingest_key)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"].startswith("Line 2: a quote opened on this line is never closed")
    assert body["errors"] == [{"row": 2, "field": None, "message": (
        "a quote opened on this line is never closed, so every line after it would merge into one cell")}]
    assert not Account.objects.exists()


def test_a_stray_quote_in_a_large_file_is_a_400_not_a_server_error(client, ingest_key):
    rows = "".join(f"Q-{n},Customer {n},Growth\n" for n in range(3, 20_003))  # past csv's 128 KB cell limit

    response = _upload(client, ACCOUNTS, STRAY_QUOTE + rows, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == 2
    assert "Line 2:" in response.json()["detail"]
    assert not Account.objects.exists()


@pytest.mark.parametrize(("csv", "line", "message"), [
    ('external_id,name\nA-1,Fine\nA-2,"Acme" Ltd\n', 3, "a quoted cell is not closed properly"),
    ('external_id,name\nA-1,"Acme\nA-2,"Globex"\n', 2, "is not closed properly before line 3"),
])
def test_a_quote_that_does_not_close_its_cell_names_the_line_where_the_row_starts(client, ingest_key, csv, line,
                                                                                 message):
    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == line
    assert message in response.json()["errors"][0]["message"]
    assert not Account.objects.exists()


def test_rows_with_more_or_fewer_cells_than_the_header_are_each_refused_by_line(client, ingest_key):
    csv = ("external_id,name,plan\n"
           "A-1,Acme,Growth\n"
           "A-2,Globex\n"
           "A-3,Initech,Growth,extra\n"
           "A-4,Umbrella,Starter\n")

    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 400
    assert response.json() == {
        "detail": "2 row(s) do not have one cell per column of the header (3); nothing was stored.",
        "errors": [{"row": 3, "field": None, "message": "has 2 cell(s) where the header has 3 column(s)"},
                   {"row": 4, "field": None, "message": "has 4 cell(s) where the header has 3 column(s)"}]}
    assert not Account.objects.exists()


def test_a_quoted_cell_that_swallows_a_line_break_is_named_with_both_lines(client, ingest_key):
    csv = 'external_id,name,plan\nA-1,"Acme,Growth\nA-2",Globex,Growth\n'

    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 2, "field": None, "message": (
        "has 4 cell(s) where the header has 3 column(s); a quoted cell runs from line 2 to line 3: check its quotes")}]


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_endings_count_lines_as_an_editor_does(client, ingest_key, newline):
    csv = newline.join(["external_id,name,seats", "A-1,Acme,10", "", "A-2,Globex,many", ""])

    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 4, "field": "seats", "message": "must be a whole number"}]


def test_a_quoted_cell_may_hold_commas_quotes_and_line_breaks(client, ingest_key):
    csv = 'external_id,name,industry\r\nA-1,"Acme ""East"", Inc","Software\r\nand services"\r\n'

    response = _upload(client, ACCOUNTS, csv, ingest_key)

    assert response.status_code == 200, response.content
    account = Account.objects.get()
    assert (account.name, account.industry) == ('Acme "East", Inc', "Software\r\nand services")


def test_rows_of_empty_cells_at_the_end_of_a_spreadsheet_export_are_skipped(client, ingest_key):
    response = _upload(client, ACCOUNTS, "external_id,name\nA-1,Acme\n,\n , \n", ingest_key)

    assert response.json() == {"created": 1, "updated": 0, "duplicates": 0}


def test_a_row_that_is_not_utf8_is_named(client, ingest_key):
    data = b"external_id,name\nA-1,Acme\n" + "A-2,Société\n".encode("latin-1")

    response = _upload(client, ACCOUNTS, data, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 3, "field": None, "message": "is not UTF-8 text"}]


@pytest.mark.parametrize(("header", "message"), [
    ("external_id,name,name", "Column(s) named more than once in the header: name."),
    ("external_id,,name", "Column(s) 2 of the header have no name: every column needs one."),
])
def test_a_header_must_name_each_column_once(client, ingest_key, header, message):
    response = _upload(client, ACCOUNTS, f"{header}\nA-1,Acme,Acme\n", ingest_key)

    assert response.status_code == 400
    assert response.json()["detail"] == message


def test_a_header_without_rows_is_refused(client, ingest_key):
    response = _upload(client, ACCOUNTS, "external_id,name\n", ingest_key)

    assert response.status_code == 400
    assert response.json()["detail"] == "The file has a header but no rows: there is nothing to import."


def test_a_duplicate_is_named_with_the_line_of_its_first_appearance(client, ingest_key):
    response = _upload(client, ACCOUNTS, "external_id,name\nA-1,Acme\nA-2,Globex\nA-1,Acme again\n", ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"row": 4, "field": "external_id", "message": "duplicate external_id in this file (first on line 2)"}]


def test_revenue_files_are_read_as_strictly(client, ingest_key):
    AccountFactory(external_id="CRM-1")

    response = _upload(client, REVENUE, 'account,month,mrr\nCRM-1,2026-09,"900\nCRM-1,2026-10,950\n', ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == 2
    assert not RevenueSnapshot.objects.exists()


# --- size: refused by its declared length, and while it streams (issue 20) ----------------------------------------

def test_a_body_declared_over_the_cap_is_refused_before_it_is_read(client, ingest_key):
    # The declared length is a lie the test client cannot back: reading the body at all would fail the test.
    response = _upload(client, ACCOUNTS, "external_id,name\nA-1,Acme\n", ingest_key, CONTENT_LENGTH="300000000")

    assert response.status_code == 413
    assert response.json()["detail"] == ("The upload is 300,000,000 bytes; a file may be at most 104,857,600 bytes. "
                                         "Split it into smaller files.")


def test_a_file_is_stopped_while_it_streams_once_it_passes_the_cap(client, ingest_key, monkeypatch):
    monkeypatch.setattr("integrations.api.csv_imports.MAX_CSV_BYTES", 1000)
    rows = "".join(f"A-{n},Customer {n}\n" for n in range(200))  # about 3 KB: within the declared-length slack

    response = _upload(client, ACCOUNTS, "external_id,name\n" + rows, ingest_key)

    assert response.status_code == 413
    assert response.json()["detail"] == ("The file is larger than 1,000 bytes; a file may be at most 1,000 bytes. "
                                         "Split it into smaller files.")
    assert not Account.objects.exists()


def test_a_file_over_the_row_limit_is_a_413(client, ingest_key, monkeypatch):
    monkeypatch.setattr("integrations.csv_import.MAX_CSV_ROWS", 2)

    response = _upload(client, ACCOUNTS, "external_id,name\nA-1,Acme\nA-2,Globex\nA-3,Initech\n", ingest_key)

    assert response.status_code == 413
    assert "more than 2 rows" in response.json()["detail"]
    assert not Account.objects.exists()
