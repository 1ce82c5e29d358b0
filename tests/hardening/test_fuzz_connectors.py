"""The API routes the OpenAPI schema leaves out on purpose, fuzzed as test_fuzz_api.py fuzzes the schema's
operations: no server error, and every answer is a JSON body with a status the endpoint documents.

Which routes, and why they are not in Bellwether's schema: each speaks a vendor's protocol, documented by the
vendor, and is called by the vendor's libraries or servers rather than by a client generated from our schema
(`NOT_IN_THE_SCHEMA`; a test fails for an API route that is in neither). The README documents them.

How it runs: bodies start from real payloads (the calls Segment's and RudderStack's libraries send, the events
Stripe, Zendesk and Intercom send) and are mutated: a value anywhere in the document replaced by any JSON value
or removed, or the whole document replaced. They are sent as the vendors send them: Segment's with the write key
as HTTP Basic, as a Bearer token or in the body, raw or gzip-compressed; the webhooks signed with the tenant's
secret, so each body reaches the code that reads it (a header mangled now and then). Examples are derandomized
and each runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from connectors.http import KeyThrottle
from connectors.models import Connector
from connectors.services import connector_configure
from core.api.scopes import Scope
from tests.accounts.factories import AccountFactory
from tests.hardening.routes import tenant_routes
from tests.hardening.test_fuzz_api import _CONVERTER, DOCUMENT
from tests.integrations.factories import ApiKeyFactory

SEGMENT = ("Segment's HTTP Tracking API (segment.com/docs/connections/sources/catalog/libraries/server/http-api/), "
           "called by Segment's and RudderStack's libraries")
NOT_IN_THE_SCHEMA = {
    "api-schema": "the schema itself",
    "api-docs": "the schema's docs page",
    **{f"segment-{call}": SEGMENT for call in ("batch", "track", "identify", "group", "page", "screen")},
    "stripe-webhook": "Stripe's signed webhook events (docs.stripe.com/webhooks), sent by Stripe",
    "zendesk-webhook": "Zendesk's signed webhooks (developer.zendesk.com, webhooks), sent by Zendesk",
    "intercom-webhook": "Intercom's signed notifications (developers.intercom.com, webhooks), sent by Intercom",
}
EXAMPLES = 30
# What each kind of endpoint may answer (connectors.http.Refusal); 429 cannot happen here (no rate limit).
SEGMENT_ANSWERS = {200, 400, 401, 403, 413, 415}
WEBHOOK_ANSWERS = {200, 400, 401, 413, 415}
STRIPE_SECRET = "whsec_fuzz_secret_0123456789"
ZENDESK_SECRET = "fuzz-zendesk-secret"
INTERCOM_SECRET = "fuzz-intercom-secret"
NOW = "2026-11-20T10:00:00.000Z"

# --- what the vendors send --------------------------------------------------------------------------------

_CONTEXT = {"library": {"name": "analytics-python", "version": "2.3.3"}, "groupId": "ACME"}
SEGMENT_CALLS = {
    "group": {"type": "group", "messageId": "m-1", "userId": "u-1", "groupId": "ACME", "timestamp": NOW,
              "traits": {"name": "Acme", "plan": "Pro", "industry": "Retail", "region": "EMEA", "seats": "40",
                         "owner_email": "csm@alpha.example", "renewal_date": "2027-03-01T00:00:00Z", "mrr": 1250.5},
              "context": {"library": {"name": "analytics-python"}}, "integrations": {}},
    "identify": {"type": "identify", "messageId": "m-2", "userId": "u-1", "timestamp": NOW, "context": _CONTEXT,
                 "traits": {"email": "ann@acme.example", "name": "Ann Lee", "title": "Ops lead"}},
    "track": {"type": "track", "messageId": "m-3", "userId": "u-1", "event": "report_exported", "timestamp": NOW,
              "properties": {"format": "csv", "rows": 120}, "context": _CONTEXT},
    "page": {"type": "page", "messageId": "m-4", "anonymousId": "a-1", "name": "Billing", "timestamp": NOW,
             "properties": {"path": "/billing"}, "context": _CONTEXT},
    "screen": {"type": "screen", "messageId": "m-5", "userId": "u-1", "name": "Home",
               "originalTimestamp": NOW, "context": _CONTEXT},
}
SEGMENT_BATCH = {"batch": list(SEGMENT_CALLS.values()), "sentAt": NOW, "context": _CONTEXT}
_PRICE = {"id": "price_1", "unit_amount": 4900, "unit_amount_decimal": "4900", "currency": "usd",
          "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}}
# Stripe's events as stored from its API (tests/connectors/stripe_events/), and the same events cut to what
# Bellwether reads, so a mutation lands on a field the code reads more often than not.
STRIPE_EVENTS = [json.loads(path.read_text()) for path in
                 sorted((Path(__file__).parents[1] / "connectors" / "stripe_events").glob("*.json"))] + [
    {"id": "evt_1", "type": kind, "created": 1763636400, "data": {"object": {
        "id": "sub_1", "object": "subscription", "customer": "cus_A", "currency": "usd", "status": "active",
        "created": 1763636400, "metadata": {"external_id": "ACME"}, "ended_at": 1763636400, "canceled_at": None,
        "items": {"data": [{"id": "si_1", "quantity": 2, "price": _PRICE}]},
        "discount": {"coupon": {"duration": "forever", "percent_off": 10, "amount_off": None}},
        "discounts": [{"coupon": {"duration": "forever", "amount_off": 500}}]}}}
    for kind in ("customer.subscription.created", "customer.subscription.deleted")] + [
    {"id": "evt_2", "type": "invoice.paid", "created": 1763636400, "data": {"object": {
        "id": "in_1", "object": "invoice", "customer": {"id": "cus_A"}, "currency": "usd", "amount_paid": 9800,
        "parent": {"subscription_details": {"subscription": "sub_9", "metadata": {"external_id": "ACME"}}},
        "lines": {"data": [{"amount": 9800, "type": "subscription", "subscription": "sub_9", "proration": False,
                            "period": {"start": 1763636400, "end": 1795172400},
                            "discount_amounts": [{"amount": 100}]}]}}}}]
ZENDESK_TICKETS = [{"ticket": {"id": "4821", "status": status, "priority": "high", "subject": "Export is slow",
                               "created_at": "2026-11-20T09:00:00Z", "updated_at": "2026-11-20T11:30:00Z",
                               "organization_external_id": "ACME", "satisfaction_rating": rating,
                               "satisfaction_comment": "Quick!"}}
                   for status, rating in (("open", "unoffered"), ("solved", "good"))]
INTERCOM_NOTIFICATIONS = [{
    "type": "notification_event", "app_id": "abc123", "id": "notif-1", "topic": topic, "created_at": 1763636400,
    "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0, "first_sent_at": 1763636401,
    "links": {}, "self": None, "data": {"type": "notification_event_data", "item": {
        "type": "conversation", "id": "215470512", "created_at": 1763629200, "updated_at": 1763636400,
        "title": "Cannot invite teammates", "state": "closed", "priority": "not_priority", "open": False,
        "source": {"type": "conversation", "id": "301", "delivered_as": "customer_initiated", "subject": "",
                   "author": {"type": "user", "id": "6543", "name": "Ann Lee", "email": "ann@acme.example"}},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "6543", "external_id": "u-ann"}]},
        "statistics": {"type": "conversation_statistics", "first_admin_reply_at": 1763630100,
                       "last_close_at": 1763636400},
        "conversation_rating": {"rating": 5, "remark": "Great", "created_at": 1763636400},
        "custom_attributes": {"account_id": "ACME"}}}}
    for topic in ("conversation.admin.closed", "conversation.rating.added", "conversation.user.created")]

# --- mutations --------------------------------------------------------------------------------------------

_TEXT = st.text(max_size=12) | st.sampled_from(["", " ", "ACME", "\x00", "\u00b2", "2026-13-45", "9" * 30,
                                                "2026-11-20T10:00:00Z", "-1", "1e400"])
_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | _TEXT)
JSON_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=8)


def _places(document: Any, path: tuple = ()) -> list[tuple]:
    """The path to every value in the document, the document itself first."""
    found = [path]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _places(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _places(value, (*path, index))
    return found


def _mutated(seeds: list[Any]):
    @st.composite
    def build(draw) -> Any:
        document = copy.deepcopy(draw(st.sampled_from(seeds), label="seed"))
        for _ in range(draw(st.integers(0, 3), label="mutations")):
            path = draw(st.sampled_from(_places(document)), label="where")
            if not path:
                document = draw(JSON_VALUES, label="document")
                continue
            *parent_path, last = path
            parent = document
            for step in parent_path:
                parent = parent[step]
            if draw(st.booleans(), label="remove") and isinstance(parent, dict):
                del parent[last]
            else:
                parent[last] = draw(JSON_VALUES, label="value")
        return document
    return build()


# --- sending as the vendors send ----------------------------------------------------------------------------


def _encoded(document: Any) -> bytes:
    return json.dumps(document).encode()


def _segment_request(secret: str):
    @st.composite
    def build(draw, call: str) -> tuple[bytes, dict]:
        document = draw(_mutated([SEGMENT_BATCH if call == "batch" else SEGMENT_CALLS[call]]))
        how = draw(st.sampled_from(["basic", "bearer", "body", "none", "garbled"]), label="key")
        headers = {"basic": {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()},
                   "bearer": {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
                   "garbled": {"HTTP_AUTHORIZATION": "Basic " + draw(_TEXT, label="credentials")}}.get(how, {})
        if how == "body" and isinstance(document, dict):
            document["writeKey"] = secret
        body = _encoded(document)
        if draw(st.booleans(), label="gzip"):
            body = gzip.compress(body)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
            if draw(st.integers(0, 9), label="truncated") == 0:
                body = body[: len(body) // 2]
        return body, headers
    return build


def _stripe_headers(body: bytes, draw) -> dict:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET, int(time.time()))
    return {"HTTP_STRIPE_SIGNATURE": header}


def _zendesk_headers(body: bytes, draw) -> dict:
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(ZENDESK_SECRET.encode(), timestamp.encode() + body, hashlib.sha256).digest())
    return {"HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": signature.decode(), "HTTP_X_ZENDESK_WEBHOOK_INVOCATION_ID":
            draw(_TEXT, label="invocation"), "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": timestamp}


def _intercom_headers(body: bytes, draw) -> dict:
    return {"HTTP_X_HUB_SIGNATURE": "sha1=" + hmac.new(INTERCOM_SECRET.encode(), body, hashlib.sha1).hexdigest()}


WEBHOOKS = {
    "/api/stripe/webhook": (STRIPE_EVENTS, _stripe_headers),
    "/api/zendesk/webhook": (ZENDESK_TICKETS, _zendesk_headers),
    "/api/intercom/webhook": (INTERCOM_NOTIFICATIONS, _intercom_headers),
}


@st.composite
def _webhook_request(draw, path: str) -> tuple[bytes, dict]:
    seeds, signed = WEBHOOKS[path]
    body = _encoded(draw(_mutated(seeds)))
    headers = signed(body, draw)
    if draw(st.integers(0, 7), label="mangled header") == 0:
        name = draw(st.sampled_from(sorted(headers)), label="header")
        headers[name] = draw(st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40), label="to")
    return body, headers


# --- the tests ------------------------------------------------------------------------------------------------


def _documented(pattern: str) -> bool:
    """Whether the schema has the route (`api/v1/accounts/<int:pk>/` is written `/api/v1/accounts/{id}/`)."""
    path = "/" + _CONVERTER.sub(lambda match: "{id}" if match[1] == "pk" else f"{{{match[1]}}}", pattern)
    return path in DOCUMENT["paths"]


def test_every_api_route_is_in_the_schema_or_left_out_with_a_reason():
    """A new API route is documented (and so fuzzed by test_fuzz_api.py) or listed here (and fuzzed below)."""
    left_out = {route.key for route in tenant_routes() if route.is_api and not _documented(route.pattern)}

    assert left_out == set(NOT_IN_THE_SCHEMA)


@pytest.fixture
def unthrottled(monkeypatch) -> None:
    """No rate limit: a 429 would hide what the fuzzer is looking for."""
    monkeypatch.setattr(KeyThrottle, "allow_request", lambda self, request, view: True)


@pytest.fixture
def vendors() -> None:
    """The tenant set up as an admin sets it up: the signing secrets, and the account the payloads name."""
    connector_configure(connector=Connector.STRIPE, secret=STRIPE_SECRET)
    connector_configure(connector=Connector.ZENDESK, secret=ZENDESK_SECRET)
    connector_configure(connector=Connector.INTERCOM, secret=INTERCOM_SECRET)
    AccountFactory(external_id="ACME")


def _check(response, answers: set[int]) -> None:
    assert response.status_code in answers, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    if response.status_code == 200:
        assert isinstance(body, dict)
    else:
        assert isinstance(body.get("message"), str) and isinstance(body.get("code"), str), body


def _drive(strategy, client, path: str, answers: set[int]) -> None:
    @given(request=strategy)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def call(request):
        body, headers = request
        with transaction.atomic():
            response = client.post(path, body, content_type="application/json", **headers)
            transaction.set_rollback(True)
        _check(response, answers)

    call()


@pytest.mark.parametrize("call", ["batch", "track", "identify", "group", "page", "screen"])
def test_segments_endpoints_answer_any_call_as_documented(client, vendors, unthrottled, call):
    write_key = ApiKeyFactory(name="Segment", scopes=[Scope.INGEST])

    _drive(_segment_request(write_key.secret)(call), client, f"/api/segment/v1/{call}", SEGMENT_ANSWERS)


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
def test_signed_webhooks_answer_any_body_as_documented(client, vendors, path):
    _drive(_webhook_request(path), client, path, WEBHOOK_ANSWERS)
