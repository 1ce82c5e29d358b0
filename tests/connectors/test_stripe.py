"""Stripe's webhooks, signed by Stripe's own library (`stripe.WebhookSignature`), with Stripe's payload shapes
for each event type (tests/connectors/stripe_events/, API versions 2025-08-27.basil and 2024-06-20): MRR
snapshots the way revenue analytics tools count them, and every refusal (unsigned, tampered, expired, another
tenant's secret, another currency) with its reason."""

from __future__ import annotations

import copy
import json
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import stripe
from django_tenants.utils import schema_context

from accounts.models import RevenueSnapshot
from connectors.billing import monthly, subscription_mrr
from connectors.models import AccountRef, Connector, ConnectorCall, ConnectorSettings, HeldCall
from connectors.options import connector_options
from connectors.services import connector_configure, held_calls_replay_for_accounts
from tests.accounts.factories import AccountFactory

EVENTS = Path(__file__).parent / "stripe_events"
SECRET = "whsec_alpha_test_secret_0123456789"


def stripe_event(name: str, **changes) -> dict:
    """A stored Stripe event, with `changes` applied to its data.object."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event["data"]["object"].update(changes)
    return event


def send(client, event: dict | bytes, *, secret: str = SECRET, timestamp: int | None = None, header: str | None = None,
         body: bytes | None = None):
    """POST the event as Stripe does: the raw JSON body and its Stripe-Signature made by Stripe's library."""
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    if header is None:
        header = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp)
    return client.post("/api/stripe/webhook", body if body is not None else payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=header)


@pytest.fixture
def acme():
    connector_configure(connector=Connector.STRIPE, secret=SECRET)
    return AccountFactory(external_id="ACME")


def _mrr(account, month: str) -> Decimal | None:
    year, number = map(int, month.split("-"))
    row = RevenueSnapshot.objects.filter(account=account, month=date(year, number, 1)).first()
    return None if row is None else row.mrr


def test_a_new_subscription_becomes_the_months_mrr_and_teaches_the_customer_id(client, acme):
    response = send(client, stripe_event("customer.subscription.created"))

    assert response.status_code == 200, response.content
    assert response.json()["snapshots"] == [{"account": "ACME", "month": "2025-11", "mrr": "147.00"}]
    assert _mrr(acme, "2025-11") == Decimal("147.00")  # 3 seats x $49 a month
    assert AccountRef.objects.get(ref="cus_TBwExample00001").account == acme
    assert connector_options(Connector.STRIPE)["currency"] == "usd"
    assert ConnectorCall.objects.get().summary.startswith("customer.subscription.created")


def test_a_forever_discount_lowers_the_mrr_and_a_temporary_one_does_not(client, acme):
    forever = stripe_event("customer.subscription.updated.2024-06-20")
    once = copy.deepcopy(forever)
    once["id"] = "evt_once"
    once["created"] += 60
    once["data"]["object"]["discount"]["coupon"]["duration"] = "once"

    send(client, forever)
    assert _mrr(acme, "2025-11") == Decimal("117.60")  # 147 less 20% forever
    send(client, once)
    assert _mrr(acme, "2025-11") == Decimal("147.00")


@pytest.mark.parametrize(("interval", "count", "amount", "expected"), [
    ("month", 1, 4900, "147.00"), ("year", 1, 120000, "300.00"), ("month", 3, 9000, "90.00"),
    ("week", 1, 1000, "130.00"), ("day", 1, 100, "91.25"),
])
def test_prices_are_normalised_to_a_month_times_quantity(interval, count, amount, expected):
    subscription = stripe_event("customer.subscription.created")["data"]["object"]
    price = subscription["items"]["data"][0]["price"]
    price.update(unit_amount=amount, unit_amount_decimal=str(amount))
    price["recurring"].update(interval=interval, interval_count=count)

    assert subscription_mrr(subscription) == Decimal(expected)


def test_trials_free_plans_and_metered_prices_bring_no_mrr():
    trial = stripe_event("customer.subscription.created", status="trialing")["data"]["object"]
    free = stripe_event("customer.subscription.created")["data"]["object"]
    free["items"]["data"][0]["price"].update(unit_amount=0, unit_amount_decimal="0")
    metered = stripe_event("customer.subscription.created")["data"]["object"]
    metered["items"]["data"][0]["price"]["recurring"]["usage_type"] = "metered"
    notes: list[str] = []

    assert subscription_mrr(trial) == subscription_mrr(free) == subscription_mrr(metered, notes) == 0
    assert "metered or tiered" in notes[0]
    assert monthly(Decimal("12"), "year") == 1


def test_an_account_in_trial_gets_no_snapshot_since_zero_would_read_as_churn(client, acme):
    response = send(client, stripe_event("customer.subscription.created", status="trialing"))

    assert response.status_code == 200 and response.json()["snapshots"] == []
    assert "trial" in response.json()["detail"]
    assert not RevenueSnapshot.objects.exists()


def test_a_cancelled_paying_subscription_writes_zero_for_the_month_it_ended(client, acme):
    send(client, stripe_event("customer.subscription.created"))

    response = send(client, stripe_event("customer.subscription.deleted"))

    assert response.status_code == 200
    assert _mrr(acme, "2025-11") == Decimal("147.00") and _mrr(acme, "2025-12") == Decimal("0.00")


def test_an_invoice_paid_writes_the_months_its_period_covers(client, acme):
    send(client, stripe_event("customer.subscription.created"))

    monthly_invoice = send(client, stripe_event("invoice.paid"))
    annual = stripe_event("invoice.paid")
    annual["id"] = "evt_annual"
    line = annual["data"]["object"]["lines"]["data"][0]
    line["period"]["end"] = line["period"]["start"] + 365 * 86400
    annual_invoice = send(client, annual)

    assert monthly_invoice.json()["snapshots"] == [{"account": "ACME", "month": "2025-12", "mrr": "147.00"}]
    assert [item["month"] for item in annual_invoice.json()["snapshots"]] == [
        "2025-12", *[f"2026-{month:02d}" for month in range(1, 12)]]
    assert RevenueSnapshot.objects.filter(account=acme).count() == 13


def test_an_invoice_of_a_subscription_never_seen_counts_its_lines_as_billed(client, acme):
    response = send(client, stripe_event("invoice.paid"))

    assert response.status_code == 200
    assert _mrr(acme, "2025-12") == Decimal("147.00")


def test_an_event_older_than_the_one_applied_changes_nothing(client, acme):
    newer = stripe_event("customer.subscription.updated")
    older = stripe_event("customer.subscription.created", status="active")
    older["data"]["object"]["items"]["data"][0]["quantity"] = 10

    send(client, newer)
    response = send(client, older)

    assert "later event" in response.json()["detail"]
    assert _mrr(acme, "2025-11") == Decimal("147.00")


def test_a_replayed_event_is_not_applied_twice(client, acme):
    event = stripe_event("customer.subscription.created")
    payload = json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET)

    first = send(client, payload, header=header)
    RevenueSnapshot.objects.update(mrr=Decimal("1.00"))  # so a second application would show
    replayed = send(client, payload, header=header)  # the same bytes and signature, within the tolerance
    resent = send(client, event)  # Stripe's own retry: a new signature, the same event id

    assert first.status_code == replayed.status_code == resent.status_code == 200
    assert replayed.json()["duplicate"] is True and resent.json()["duplicate"] is True
    assert "applied already" in replayed.json()["detail"]
    assert _mrr(acme, "2025-11") == Decimal("1.00")


def test_a_tampered_body_is_refused_and_nothing_is_stored(client, acme):
    event = stripe_event("customer.subscription.created")
    payload = json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET)
    tampered = payload.replace(b'"quantity": 3', b'"quantity": 300')

    response = send(client, payload, header=header, body=tampered)

    assert response.status_code == 401 and "does not match" in response.json()["message"]
    assert not RevenueSnapshot.objects.exists() and not ConnectorCall.objects.exists()


def test_an_expired_signature_is_refused_with_the_tolerance(client, acme):
    response = send(client, stripe_event("customer.subscription.created"), timestamp=int(time.time()) - 301)

    assert response.status_code == 401 and "300 s" in response.json()["message"]
    assert not RevenueSnapshot.objects.exists()


@pytest.mark.parametrize(("header", "reason"), [
    ("", "No Stripe-Signature header"),
    ("t=abc,v1=00", "needs one t="),
    ("v1=00", "needs one t="),
])
def test_a_missing_or_malformed_signature_is_refused(client, acme, header, reason):
    response = send(client, stripe_event("customer.subscription.created"), header=header)

    assert response.status_code == 401 and reason in response.json()["message"]


def test_without_a_signing_secret_nothing_is_accepted(client):
    AccountFactory(external_id="ACME")

    response = send(client, stripe_event("customer.subscription.created"))

    assert response.status_code == 401 and "No Stripe signing secret" in response.json()["message"]
    assert not RevenueSnapshot.objects.exists()


def test_an_event_signed_with_another_tenants_secret_is_refused(client, other_tenant, acme):
    with schema_context(other_tenant.schema_name):
        connector_configure(connector=Connector.STRIPE, secret="whsec_bravo_secret")

    response = send(client, stripe_event("customer.subscription.created"), secret="whsec_bravo_secret")

    assert response.status_code == 401
    assert not RevenueSnapshot.objects.exists()


def test_another_currency_is_refused_with_the_reason_and_applied_once_the_tenant_changes_it(client, acme):
    send(client, stripe_event("customer.subscription.created"))
    euro = stripe_event("customer.subscription.updated", currency="eur")

    refused = send(client, euro)

    assert refused.status_code == 400
    assert "billed in EUR" in refused.json()["message"] and "revenue is in USD" in refused.json()["message"]
    assert _mrr(acme, "2025-11") == Decimal("147.00")
    settings = ConnectorSettings.objects.get(connector=Connector.STRIPE)
    connector_configure(connector=Connector.STRIPE, options={**settings.options, "currency": "eur"})
    assert send(client, euro).status_code == 200  # Stripe's retry


def test_an_unmatched_customer_is_held_reported_and_applied_when_its_account_appears(client):
    connector_configure(connector=Connector.STRIPE, secret=SECRET)
    event = stripe_event("customer.subscription.created", metadata={})

    response = send(client, event)

    assert response.status_code == 200 and response.json()["held"] is True
    assert "matches no account" in response.json()["detail"]
    held = HeldCall.objects.get(connector=Connector.STRIPE)
    assert held.account_key == "cus_TBwExample00001"
    account = AccountFactory(external_id="cus_TBwExample00001")
    assert held_calls_replay_for_accounts(account_ids=[account.pk]) == 1
    assert _mrr(account, "2025-11") == Decimal("147.00")
    assert not HeldCall.objects.exists()


def test_an_event_bellwether_does_not_read_is_acknowledged_and_ignored(client, acme):
    event = stripe_event("customer.subscription.created")
    event["type"] = "charge.refunded"

    response = send(client, event)

    assert response.status_code == 200 and response.json()["ignored"] is True


def test_a_signed_body_that_is_not_an_event_is_refused(client, acme):
    response = send(client, b'{"hello": "world"}')

    assert response.status_code == 400 and "Not a Stripe event" in response.json()["message"]
