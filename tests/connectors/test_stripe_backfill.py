"""History from a Stripe subscriptions export: a snapshot per account and month it paid, trials and free plans
left out, churn written as 0, unmatched customers reported, a bad file refused whole."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from accounts.models import RevenueSnapshot
from connectors.backfill import stripe_subscriptions_backfill
from connectors.models import AccountRef, BillingSubscription, Connector
from connectors.options import connector_options
from connectors.services import connector_configure
from core.errors import InvalidInput
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role

HEADER = ("id,Customer ID,Customer Description,Customer Email,Plan,Product,Quantity,Currency,Interval,Amount,Status,"
          "Created (UTC),Start (UTC),Current Period Start (UTC),Current Period End (UTC),Trial Start (UTC),"
          "Trial End (UTC),Application Fee Percent,Coupon,Tax Percent,Canceled At (UTC),Cancel At Period End,"
          "Ended At (UTC),external_id (metadata)\n")


def _line(sub, customer, quantity, currency, interval, amount, status, start, trial_end="", ended="", external=""):
    return (f"{sub},{customer},,billing@example.com,price_1,Pro,{quantity},{currency},{interval},{amount},{status},"
            f"{start},{start},{start},{start},,{trial_end},,,,{ended},false,{ended},{external}\n")


EXPORT = HEADER + "".join([
    # ACME: 2 seats at $49 a month from March, and an annual add-on of $1,200 from May.
    _line("sub_1", "cus_A", 2, "usd", "month", "49.00", "active", "2026-03-10 09:00"),
    _line("sub_2", "cus_A", 1, "usd", "year", "1200.00", "active", "2026-05-01 00:00", external="ACME"),
    # GLOBEX: trial until April, then $100 a month, cancelled in June (churn).
    _line("sub_3", "cus_G", 1, "usd", "month", "100.00", "canceled", "2026-03-01 00:00", trial_end="2026-04-01 00:00",
          ended="2026-06-15 00:00", external="GLOBEX"),
    # INITECH: a free plan only.
    _line("sub_4", "cus_I", 1, "usd", "month", "0.00", "active", "2026-03-01 00:00", external="INITECH"),
    # Nobody knows this customer.
    _line("sub_5", "cus_X", 1, "usd", "month", "10.00", "active", "2026-03-01 00:00"),
])


@pytest.fixture
def accounts():
    acme = AccountFactory(external_id="ACME")
    AccountRef.objects.create(connector=Connector.STRIPE, ref="cus_A", account=acme)
    return {"ACME": acme, "GLOBEX": AccountFactory(external_id="GLOBEX"),
            "INITECH": AccountFactory(external_id="INITECH")}


def _series(account) -> dict[str, str]:
    return {f"{row.month:%Y-%m}": str(row.mrr) for row in RevenueSnapshot.objects.filter(account=account)}


def test_each_account_gets_a_snapshot_for_every_month_it_paid(accounts):
    result = stripe_subscriptions_backfill(data=EXPORT.encode(), until=date(2026, 7, 1))

    assert _series(accounts["ACME"]) == {"2026-03": "98.00", "2026-04": "98.00", "2026-05": "198.00",
                                         "2026-06": "198.00", "2026-07": "198.00"}
    assert _series(accounts["GLOBEX"]) == {"2026-04": "100.00", "2026-05": "100.00", "2026-06": "0.00"}
    assert _series(accounts["INITECH"]) == {}
    assert result.unmatched == [{"row": 6, "subscription": "sub_5", "customer": "cus_X"}]
    assert (result.subscriptions, result.accounts, result.snapshots) == (5, 3, 8)
    assert connector_options(Connector.STRIPE)["currency"] == "usd"
    assert BillingSubscription.objects.get(subscription_id="sub_3").status == "canceled"


def test_importing_the_same_export_again_changes_nothing(accounts):
    stripe_subscriptions_backfill(data=EXPORT.encode(), until=date(2026, 7, 1))
    before = _series(accounts["ACME"])

    stripe_subscriptions_backfill(data=EXPORT.encode(), until=date(2026, 7, 1))

    assert _series(accounts["ACME"]) == before and RevenueSnapshot.objects.count() == 8


def test_a_row_in_another_currency_refuses_the_file_naming_the_line(accounts):
    connector_configure(connector=Connector.STRIPE, options={"currency": "usd"})
    export = EXPORT + _line("sub_9", "cus_A", 1, "eur", "month", "10.00", "active", "2026-03-01 00:00")

    with pytest.raises(InvalidInput) as refused:
        stripe_subscriptions_backfill(data=export.encode(), until=date(2026, 7, 1))

    assert refused.value.errors == [{"row": 7, "field": "Currency", "message": "EUR, but this tenant's revenue is "
                                     "in USD: Bellwether never converts or mixes currencies"}]
    assert not RevenueSnapshot.objects.exists()


def test_a_malformed_row_or_a_file_that_is_no_export_is_refused(accounts):
    bad = HEADER + _line("sub_1", "cus_A", "two", "usd", "fortnight", "x", "active", "yesterday")

    with pytest.raises(InvalidInput) as refused:
        stripe_subscriptions_backfill(data=bad.encode())
    with pytest.raises(InvalidInput) as not_export:
        stripe_subscriptions_backfill(data=b"name,mrr\nacme,10\n")

    assert {error["field"] for error in refused.value.errors} == {"Amount", "Quantity", "Interval", "Start (UTC)"}
    assert "missing column(s) id, Customer ID" in not_export.value.detail
    assert not RevenueSnapshot.objects.exists()


def test_the_connector_page_imports_an_export(client, accounts):
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/connectors/stripe/backfill",
                           {"file": SimpleUploadedFile("subscriptions.csv", EXPORT.encode(), "text/csv")}, follow=True)

    page = response.content.decode()
    assert "Subscriptions export imported: 5 subscription(s) of 3 account(s)" in page
    assert "sub_5 of customer cus_X" in page
    assert RevenueSnapshot.objects.filter(account=accounts["ACME"]).exists()


def test_the_command_imports_an_export(tmp_path, accounts, tenant, capsys):
    path = tmp_path / "subscriptions.csv"
    path.write_text(EXPORT)

    call_command("stripe_backfill", tenant=tenant.slug, file=path)

    assert "3 account(s)" in capsys.readouterr().out
    assert RevenueSnapshot.objects.get(account=accounts["GLOBEX"], month=date(2026, 4, 1)).mrr == Decimal("100.00")


def test_a_stray_quote_or_a_short_row_refuses_the_export_naming_its_line(accounts):
    stray = EXPORT.replace("sub_3,cus_G,", 'sub_3,"cus_G,')
    short = HEADER + _line("sub_1", "cus_A", 2, "usd", "month", "49.00", "active", "2026-03-10 09:00").replace(
        ",false,", ",")

    with pytest.raises(InvalidInput) as quoted:
        stripe_subscriptions_backfill(data=stray.encode())
    with pytest.raises(InvalidInput) as narrow:
        stripe_subscriptions_backfill(data=short.encode())

    assert quoted.value.errors[0]["row"] == 4 and quoted.value.detail.startswith("Line 4:")
    assert narrow.value.errors == [
        {"row": 2, "field": None, "message": "has 23 cell(s) where the header has 24 column(s)"}]
    assert not RevenueSnapshot.objects.exists()


def test_the_page_refuses_an_export_over_the_cap_before_reading_it(client, accounts):
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/connectors/stripe/backfill",
                           {"file": SimpleUploadedFile("subscriptions.csv", EXPORT.encode(), "text/csv")},
                           CONTENT_LENGTH="300000000", follow=True)

    assert "The upload is 300,000,000 bytes; a file may be at most 10,485,760 bytes." in response.content.decode()
    assert not RevenueSnapshot.objects.exists()
