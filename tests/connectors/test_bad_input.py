"""The connectors' endpoints answer what nobody authenticated yet (a header, a body) with a 4xx in JSON saying
why, never a 500: anyone on the internet can reach them. Each case here was a 500 (a ValueError or TypeError
escaping the header checks); the fuzz test (tests/hardening/test_fuzz_connectors.py) looks for more."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import stripe

from accounts.models import Account, RevenueSnapshot
from connectors.backfill import stripe_subscriptions_backfill
from connectors.models import Connector, ConnectorCall, HeldCall
from connectors.options import connector_settings
from connectors.services import connector_configure
from core.errors import InvalidInput
from tests.accounts.factories import AccountFactory
from tests.connectors.conftest import segment_post
from tests.connectors.test_helpdesk import INTERCOM_SECRET, ZENDESK_SECRET
from tests.connectors.test_stripe import SECRET as STRIPE_SECRET
from tests.connectors.test_stripe_backfill import HEADER, _line


@pytest.fixture
def secrets() -> None:
    for connector, secret in ((Connector.STRIPE, STRIPE_SECRET), (Connector.ZENDESK, ZENDESK_SECRET),
                              (Connector.INTERCOM, INTERCOM_SECRET)):
        connector_configure(connector=connector, secret=secret)


def _refused(response, status: int) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    return response.json()["message"]


@pytest.mark.parametrize("header", [
    "t=\u00b2,v1=abc",  # a Unicode digit: str.isdigit() said yes, int() said no
    "t=1" + "0" * 5000 + ",v1=abc",  # beyond int()'s 4,300 digits
    "t=1763636400,v1=\u00e9\u00e9",  # a signature that is not ASCII: hmac.compare_digest raised a TypeError
])
def test_a_stripe_signature_header_that_cannot_be_read_is_a_401(client, secrets, header):
    response = client.post("/api/stripe/webhook", b"{}", content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)

    assert "Stripe" in _refused(response, 401)
    assert not ConnectorCall.objects.exists()  # nobody authenticated: nothing written in the tenant


def test_an_intercom_or_zendesk_signature_that_is_not_ascii_is_a_401(client, secrets):
    intercom = client.post("/api/intercom/webhook", b"{}", content_type="application/json",
                           HTTP_X_HUB_SIGNATURE="sha1=\u00e9")
    zendesk = client.post("/api/zendesk/webhook", b"{}", content_type="application/json",
                          HTTP_X_ZENDESK_WEBHOOK_SIGNATURE="\u00e9",
                          HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP="2026-11-20T10:00:00Z")

    assert "Intercom signature does not match" in _refused(intercom, 401)
    assert "Zendesk signature does not match" in _refused(zendesk, 401)


@pytest.mark.parametrize("credentials", ["\u00e9\u00e9\u00e9\u00e9", "@@@@", base64.b64encode(b"\xff\xfe:").decode()])
def test_http_basic_credentials_that_cannot_be_read_are_a_401(client, credentials):
    response = client.post("/api/segment/v1/batch", b'{"batch": []}', content_type="application/json",
                           HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert "Malformed HTTP Basic credentials" in _refused(response, 401)


def test_a_trait_in_unicode_digits_is_left_out_with_a_warning(client, write_key):
    """`seats: "²"` passed str.isdigit() and int() refused it: a 500 for the whole batch."""
    response = segment_post(client, "group", {"groupId": "ACME", "userId": "u-1",
                                              "traits": {"name": "Acme", "seats": "\u00b2"}}, write_key)

    assert response.status_code == 200, response.content
    assert [warning["field"] for warning in response.json()["warnings"]] == ["traits.seats"]
    assert Account.objects.get(external_id="ACME").licensed_seats is None


def test_a_stripe_export_with_unicode_digits_is_refused_naming_the_line(client):
    bad = HEADER + _line("sub_1", "cus_A", "\u00b2", "usd", "month", "49.00", "active", "2026-03-10 09:00")
    count = HEADER.rstrip("\n") + ",Interval Count\n" + _line(
        "sub_1", "cus_A", 1, "usd", "month", "49.00", "active", "2026-03-10 09:00").rstrip("\n") + ",\u00b2\n"

    for data, field in ((bad, "Quantity"), (count, "Interval Count")):
        with pytest.raises(InvalidInput) as refused:
            stripe_subscriptions_backfill(data=data.encode())
        assert [(error["row"], error["field"]) for error in refused.value.errors] == [(2, field)]


def _signed_intercom(body: bytes) -> str:
    return "sha1=" + hmac.new(INTERCOM_SECRET.encode(), body, hashlib.sha1).hexdigest()


def test_a_signed_body_that_is_not_a_json_object_is_a_400(client, secrets):
    for body in (b"[]", b"\xff", b"[" * 5000, json.dumps({"a": 1e400}).encode()):
        response = client.post("/api/intercom/webhook", body, content_type="application/json",
                               HTTP_X_HUB_SIGNATURE=_signed_intercom(body))
        assert _refused(response, 400)


# --- signed bodies whose values are not what the vendor's documentation says -------------------------------


def _stripe(client, event: dict):
    payload = json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), STRIPE_SECRET)
    return client.post("/api/stripe/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def _subscription(**changes) -> dict:
    item = {"id": "si_1", "quantity": 2, "price": {"unit_amount": 4900, "recurring": {"interval": "month"}}}
    subscription = {"id": "sub_1", "customer": "cus_A", "currency": "usd", "status": "active", "created": 1763636400,
                    "metadata": {"external_id": "ACME"}, "items": {"data": [item]}}
    for path, value in changes.items():
        *parents, last = path.split(".")
        place = subscription
        for step in parents:
            place = place[int(step)] if isinstance(place, list) else place[step]
        place[last] = value
    return {"id": "evt_1", "type": "customer.subscription.created", "created": 1763636400,
            "data": {"object": subscription}}


@pytest.mark.parametrize(("change", "field"), [
    ({"items.data.0.quantity": "two"}, "data.object.items.data.quantity"),
    ({"items.data.0.price.unit_amount": "abc"}, "data.object.items.data.price.unit_amount"),
    ({"items.data.0.price.unit_amount": [49]}, "data.object.items.data.price.unit_amount"),
    ({"items.data.0.price.recurring": {"interval": "fortnight"}}, "data.object.items.data.price.recurring.interval"),
    ({"items.data.0.price.recurring": {"interval": "month", "interval_count": "x"}},
     "data.object.items.data.price.recurring.interval_count"),
    ({"created": [1]}, "created"),
    ({"id": "sub_" + "9" * 300}, "data.object.id"),
    ({"metadata": {"external_id": {"id": "ACME"}}}, "metadata.external_id"),
])
def test_a_stripe_event_whose_value_is_not_as_documented_is_a_400_naming_it(client, secrets, change, field):
    AccountFactory(external_id="ACME")
    event = _subscription(**change)
    if field == "created":
        event["created"] = [1]

    response = _stripe(client, event)

    assert _refused(response, 400)
    assert field in {error["field"] for error in response.json().get("errors", [])}, response.json()
    assert not RevenueSnapshot.objects.exists()


def test_a_stripe_currency_that_is_no_code_is_a_400_and_not_adopted(client, secrets):
    AccountFactory(external_id="ACME")

    response = _stripe(client, _subscription(currency="dollars"))

    assert "no ISO 4217 code" in _refused(response, 400)
    assert "currency" not in connector_settings(Connector.STRIPE).options


def test_an_mrr_beyond_what_a_snapshot_holds_is_a_400(client, secrets):
    AccountFactory(external_id="ACME")

    response = _stripe(client, _subscription(**{"items.data.0.price.unit_amount": 10**11,
                                                "items.data.0.quantity": 10**6}))

    assert "more than Bellwether records" in _refused(response, 400)


def test_an_intercom_time_that_is_not_a_unix_time_is_a_400_naming_it(client, secrets):
    body = json.dumps({"id": "n-1", "topic": "conversation.user.created", "data": {"item": {
        "id": "c-1", "created_at": [1763636400], "custom_attributes": {"account_id": "ACME"}}}}).encode()

    response = client.post("/api/intercom/webhook", body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE=_signed_intercom(body))

    assert "data.item.created_at must be a Unix time" in _refused(response, 400)


@pytest.mark.parametrize("where", ["ticket.organization_external_id", "ticket.extra.note"])
def test_a_nul_character_anywhere_in_a_signed_body_is_a_400_naming_where(client, secrets, where):
    """PostgreSQL stores no NUL character: an unknown account's call is held with its whole body (jsonb)."""
    ticket = {"id": "4821", "status": "open", "subject": "Slow", "created_at": "2026-11-20T09:00:00Z",
              "organization_external_id": "ACME", "extra": {}}
    if where == "ticket.extra.note":
        ticket["extra"]["note"] = "a\x00b"
    else:
        ticket["organization_external_id"] = "AC\x00ME"
    payload = json.dumps({"ticket": ticket}).encode()
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(ZENDESK_SECRET.encode(), timestamp.encode() + payload,
                                          hashlib.sha256).digest()).decode()

    response = client.post("/api/zendesk/webhook", payload, content_type="application/json",
                           HTTP_X_ZENDESK_WEBHOOK_SIGNATURE=signature, HTTP_X_ZENDESK_WEBHOOK_INVOCATION_ID="inv-1",
                           HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP=timestamp)

    _refused(response, 400)
    assert response.json()["errors"][0]["field"] == where
    assert not HeldCall.objects.exists()


def test_a_segment_property_holding_a_nul_character_is_a_400_naming_it(client, write_key):
    response = segment_post(client, "track", {"userId": "u-1", "event": "exported", "context": {"groupId": "ACME"},
                                              "properties": {"format": "c\x00sv"}}, write_key)

    _refused(response, 400)
    assert response.json()["errors"][0]["field"] == "properties.format"
