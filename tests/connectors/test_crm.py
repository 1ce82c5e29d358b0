"""Accounts from HubSpot's and Salesforce's own exports: the vendors' column names mapped to account fields, the
owner matched by name or email, dates as CRMs write them, all rows or none with every problem by line."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Account
from connectors.crm import crm_accounts_import
from connectors.models import Connector
from core.errors import InvalidInput
from integrations.ingest import Caller
from integrations.models import IngestBatch
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role

HUBSPOT = (
    "Record ID,Company name,Company owner,Industry,Country/Region,Lifecycle Stage,Number of Employees,Renewal date,"
    "Create Date,Associated Deal\n"
    "9001,Acme Corp,Dana Scully,Retail,Germany,Customer,250,2027-03-01,2024-01-10 09:30,Renewal 2027\n"
    "9002,Globex,fox@alpha.example,Energy,France,Evangelist,40,,2024-02-11 10:00,\n"
)
SALESFORCE = (
    '"Account ID","Account Name","Account Owner","Industry","Billing Country","Type","Renewal Date","Rating"\n'
    '"0015g00000AbCdE","Initech","Dana Scully","Software","United States","Enterprise","3/1/2027","Hot"\n'
)
CALLER = Caller(source="hubspot")


@pytest.fixture
def owners():
    return {"dana": UserFactory(full_name="Dana Scully", email="dana@alpha.example"),
            "fox": UserFactory(full_name="Fox Mulder", email="fox@alpha.example")}


def test_a_hubspot_companies_export_becomes_accounts(owners):
    result, lines = crm_accounts_import(connector=Connector.HUBSPOT, data=HUBSPOT.encode(), caller=CALLER)

    assert (result.created, lines) == (2, [2, 3])
    acme = Account.objects.get(external_id="9001")
    assert (acme.name, acme.owner, acme.industry, acme.region, acme.lifecycle_stage, acme.renewal_date) == (
        "Acme Corp", owners["dana"], "Retail", "Germany", "adoption", date(2027, 3, 1))
    globex = Account.objects.get(external_id="9002")
    assert (globex.owner, globex.lifecycle_stage, globex.renewal_date) == (owners["fox"], "mature", None)
    assert IngestBatch.objects.get().source == "hubspot"


def test_a_salesforce_accounts_report_becomes_accounts(owners):
    crm_accounts_import(connector=Connector.SALESFORCE, data=SALESFORCE.encode(), caller=CALLER)

    initech = Account.objects.get(external_id="0015g00000AbCdE")
    assert (initech.name, initech.plan, initech.owner, initech.renewal_date) == (
        "Initech", "Enterprise", owners["dana"], date(2027, 3, 1))


def test_importing_again_updates_only_what_changed(owners):
    crm_accounts_import(connector=Connector.HUBSPOT, data=HUBSPOT.encode(), caller=CALLER)

    result, _ = crm_accounts_import(connector=Connector.HUBSPOT, data=HUBSPOT.replace("Retail", "Grocery").encode(),
                                    caller=CALLER)

    assert (result.created, result.updated, result.duplicates) == (0, 1, 1)
    assert Account.objects.get(external_id="9001").industry == "Grocery"


def test_an_owner_no_user_has_refuses_the_file_naming_the_line(owners):
    with pytest.raises(InvalidInput) as refused:
        crm_accounts_import(connector=Connector.HUBSPOT, data=HUBSPOT.replace("Dana Scully", "Walter Skinner").encode(),
                            caller=CALLER)

    assert refused.value.errors == [{"row": 2, "field": "owner",
                                     "message": "'Walter Skinner': no active user has this name"}]
    assert not Account.objects.exists()


def test_a_file_without_the_vendors_id_column_is_refused(owners):
    with pytest.raises(InvalidInput) as refused:
        crm_accounts_import(connector=Connector.SALESFORCE, data=HUBSPOT.encode(), caller=CALLER)

    assert "no 'Account ID' column" in refused.value.detail and not Account.objects.exists()


def test_the_connector_page_imports_an_export_and_lists_a_bad_row(client, owners):
    login(client, UserFactory(role=Role.ADMIN))

    imported = client.post("/settings/connectors/hubspot/import",
                           {"file": SimpleUploadedFile("companies.csv", HUBSPOT.encode(), "text/csv")}, follow=True)
    refused = client.post("/settings/connectors/salesforce/import", {"file": SimpleUploadedFile(
        "accounts.csv", SALESFORCE.replace("3/1/2027", "someday").encode(), "text/csv")}, follow=True)

    assert "2 account(s) created" in imported.content.decode()
    assert "renewal_date: must be a date" in refused.content.decode()
    assert Account.objects.count() == 2
    assert client.post("/settings/connectors/stripe/import", {}).status_code == 404


def test_a_stray_quote_in_an_export_refuses_it_naming_the_line_not_merging_rows(owners):
    stray = HUBSPOT.replace("9001,Acme Corp,", '9001,"Acme Corp,')

    with pytest.raises(InvalidInput) as refused:
        crm_accounts_import(connector=Connector.HUBSPOT, data=stray.encode(), caller=CALLER)

    assert refused.value.errors[0]["row"] == 2
    assert not Account.objects.exists()


def test_a_row_with_a_cell_too_many_is_refused_by_line(owners):
    wide = HUBSPOT.replace("Renewal 2027\n", "Renewal 2027,extra\n")

    with pytest.raises(InvalidInput) as refused:
        crm_accounts_import(connector=Connector.HUBSPOT, data=wide.encode(), caller=CALLER)

    assert refused.value.errors == [
        {"row": 2, "field": None, "message": "has 11 cell(s) where the header has 10 column(s)"}]
    assert not Account.objects.exists()


def test_the_page_stops_an_export_streaming_past_the_cap(client, owners, monkeypatch):
    monkeypatch.setattr("connectors.views.MAX_EXPORT_BYTES", 100)
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/connectors/hubspot/import",
                           {"file": SimpleUploadedFile("companies.csv", HUBSPOT.encode(), "text/csv")}, follow=True)

    assert "The file is larger than 100 bytes" in response.content.decode()
    assert not Account.objects.exists()
