"""Zendesk's and Intercom's webhooks, signed as each vendor signs: tickets created, updated and solved, and CSAT
ratings, stored once through the ingest services; unsigned, tampered, stale and replayed calls refused or ignored;
a call whose account is unknown held until the account exists."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from django_tenants.utils import schema_context

from accounts.models import Contact, SupportTicket, SurveyResponse
from connectors.models import Connector, HeldCall
from connectors.services import connector_configure, held_calls_replay_for_accounts
from tests.accounts.factories import AccountFactory

ZENDESK_SECRET = "dGhpc19pc19hX3plbmRlc2tfc2VjcmV0"
INTERCOM_SECRET = "intercom-client-secret-alpha"


def zendesk_post(client, ticket: dict, *, secret: str = ZENDESK_SECRET, invocation: str = "inv-1",
                 signed_at: datetime | None = None, body: bytes | None = None):
    payload = json.dumps({"ticket": ticket}).encode()
    timestamp = (signed_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + payload, hashlib.sha256).digest())
    return client.post("/api/zendesk/webhook", body or payload, content_type="application/json",
                       HTTP_X_ZENDESK_WEBHOOK_SIGNATURE=signature.decode(),
                       HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP=timestamp,
                       HTTP_X_ZENDESK_WEBHOOK_INVOCATION_ID=invocation)


def intercom_post(client, notification: dict, *, secret: str = INTERCOM_SECRET):
    payload = json.dumps(notification).encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha1).hexdigest()
    return client.post("/api/intercom/webhook", payload, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE=f"sha1={signature}")


def _ticket(status="open", **changes) -> dict:
    return {"id": "4821", "status": status, "priority": "high", "subject": "Export is slow",
            "created_at": "2026-11-20T09:00:00Z", "updated_at": "2026-11-20T11:30:00Z",
            "organization_external_id": "ACME", "satisfaction_rating": "unoffered",
            "satisfaction_comment": ""} | changes


def _conversation_notification(topic: str, notification_id: str, **conversation) -> dict:
    """Intercom's notification envelope around a conversation, as its webhooks send it."""
    item = {"type": "conversation", "id": "215470512", "created_at": 1763629200, "updated_at": 1763636400,
            "title": "Cannot invite teammates", "state": "open", "priority": "not_priority", "open": True,
            "source": {"type": "conversation", "id": "301", "delivered_as": "customer_initiated", "subject": "",
                       "author": {"type": "user", "id": "6543", "name": "Ann Lee", "email": "ann@acme.example"}},
            "contacts": {"type": "contact.list",
                         "contacts": [{"type": "contact", "id": "6543", "external_id": "u-ann"}]},
            "statistics": {"type": "conversation_statistics", "first_admin_reply_at": 1763630100,
                           "last_close_at": None},
            "conversation_rating": None, "custom_attributes": {}} | conversation
    return {"type": "notification_event", "app_id": "abc123", "data": {"type": "notification_event_data",
            "item": item}, "links": {}, "id": notification_id, "topic": topic, "delivery_status": "pending",
            "delivery_attempts": 1, "delivered_at": 0, "first_sent_at": 1763636401, "created_at": 1763636400,
            "self": None}


@pytest.fixture
def acme():
    connector_configure(connector=Connector.ZENDESK, secret=ZENDESK_SECRET)
    connector_configure(connector=Connector.INTERCOM, secret=INTERCOM_SECRET)
    return AccountFactory(external_id="ACME")


def test_a_zendesk_ticket_is_created_then_solved_with_its_csat(client, acme):
    created = zendesk_post(client, _ticket(), invocation="inv-1")
    solved = zendesk_post(client, _ticket("solved", satisfaction_rating="good", satisfaction_comment="Quick!",
                                          updated_at="2026-11-21T08:00:00Z"), invocation="inv-2")

    assert created.status_code == solved.status_code == 200, solved.content
    ticket = SupportTicket.objects.get(external_id="zendesk-4821")
    assert (ticket.account, ticket.priority, ticket.subject) == (acme, "high", "Export is slow")
    assert ticket.resolved_at == datetime(2026, 11, 21, 8, tzinfo=UTC)
    csat = SurveyResponse.objects.get(external_id="zendesk-csat-4821")
    assert (csat.kind, csat.score, csat.comment) == ("csat", 5, "Quick!")


def test_a_reopened_zendesk_ticket_is_no_longer_resolved(client, acme):
    zendesk_post(client, _ticket("solved"), invocation="inv-1")
    zendesk_post(client, _ticket("open", updated_at="2026-11-21T08:00:00Z"), invocation="inv-2")

    assert SupportTicket.objects.get().resolved_at is None


def test_a_zendesk_delivery_sent_again_is_applied_once(client, acme):
    zendesk_post(client, _ticket("solved", satisfaction_rating="bad"), invocation="inv-7")
    SupportTicket.objects.update(subject="changed since")

    again = zendesk_post(client, _ticket("solved", satisfaction_rating="bad"), invocation="inv-7")

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert SupportTicket.objects.get().subject == "changed since" and SurveyResponse.objects.get().score == 1


@pytest.mark.parametrize("problem", ["tampered", "stale", "wrong secret", "unsigned"])
def test_a_zendesk_call_not_signed_now_with_the_tenants_secret_is_refused(client, acme, problem):
    if problem == "tampered":
        response = zendesk_post(client, _ticket(), body=json.dumps({"ticket": _ticket(priority="urgent")}).encode())
    elif problem == "stale":
        response = zendesk_post(client, _ticket(), signed_at=datetime.fromtimestamp(time.time() - 600, tz=UTC))
    elif problem == "wrong secret":
        response = zendesk_post(client, _ticket(), secret="bravo-secret")
    else:
        response = client.post("/api/zendesk/webhook", json.dumps({"ticket": _ticket()}),
                               content_type="application/json")

    assert response.status_code == 401 and response.json()["message"]
    assert not SupportTicket.objects.exists()


def test_a_zendesk_ticket_of_an_unknown_organization_is_held_then_applied(client, acme):
    response = zendesk_post(client, _ticket(organization_external_id="NEWCO"))

    assert response.json()["held"] is True and HeldCall.objects.get().account_key == "NEWCO"
    account = AccountFactory(external_id="NEWCO")
    assert held_calls_replay_for_accounts(account_ids=[account.pk]) == 1
    assert SupportTicket.objects.get().account == account


def test_a_body_that_is_not_the_expected_ticket_is_refused_with_the_reason(client, acme):
    response = zendesk_post(client, {"id": ""})

    assert response.status_code == 400 and "body shown on the Zendesk connector" in response.json()["message"]


def test_an_intercom_conversation_becomes_a_ticket_of_its_contacts_account_and_its_rating_a_csat(client, acme):
    Contact.objects.create(external_id="u-ann", account=acme, first_seen_at=datetime(2026, 11, 1, tzinfo=UTC),
                           last_seen_at=datetime(2026, 11, 1, tzinfo=UTC))

    opened = intercom_post(client, _conversation_notification("conversation.user.created", "notif_1"))
    closed = intercom_post(client, _conversation_notification(
        "conversation.rating.added", "notif_2", state="closed", priority="priority",
        statistics={"first_admin_reply_at": 1763630100, "last_close_at": 1763636000},
        conversation_rating={"rating": 4, "remark": "Helpful", "created_at": 1763636300,
                             "contact": {"type": "contact", "id": "6543"}}))

    assert opened.status_code == closed.status_code == 200, closed.content
    ticket = SupportTicket.objects.get(external_id="intercom-215470512")
    assert (ticket.account, ticket.priority, ticket.subject) == (acme, "high", "Cannot invite teammates")
    assert ticket.first_response_at == datetime.fromtimestamp(1763630100, tz=UTC)
    assert ticket.resolved_at == datetime.fromtimestamp(1763636000, tz=UTC)
    assert SurveyResponse.objects.get().score == 4


def test_an_intercom_conversation_may_name_its_account_by_attribute(client, acme):
    intercom_post(client, _conversation_notification("conversation.user.created", "notif_3", contacts={"contacts": []},
                                                     custom_attributes={"account_id": "ACME"}))

    assert SupportTicket.objects.get().account == acme


def test_an_intercom_ping_and_unread_topics_are_acknowledged(client, acme):
    ping = {"type": "notification_event", "id": "notif_ping", "topic": "ping",
            "data": {"type": "notification_event_data", "item": {"type": "ping", "message": "something"}}}

    response = intercom_post(client, ping)

    assert response.status_code == 200 and response.json()["ignored"] is True


def test_an_intercom_notification_signed_with_another_tenants_secret_is_refused(client, other_tenant, acme):
    with schema_context(other_tenant.schema_name):
        connector_configure(connector=Connector.INTERCOM, secret="bravo-client-secret")

    response = intercom_post(client, _conversation_notification("conversation.user.created", "notif_9"),
                             secret="bravo-client-secret")

    assert response.status_code == 401 and "does not match" in response.json()["message"]
    assert not SupportTicket.objects.exists()
