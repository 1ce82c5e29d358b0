"""Segment's HTTP Tracking API on the tenant's host, called as its specification says: what each call stores,
how a call is authenticated, held and replayed, limited and refused. The real client libraries drive the
same endpoints in test_segment_clients.py."""

from __future__ import annotations

import gzip
import uuid
from datetime import date
from decimal import Decimal

import orjson
import pytest
from django.core.cache import cache
from django.test import override_settings
from django_tenants.utils import schema_context

from accounts.models import Account, Contact, RevenueSnapshot, UsageEvent
from connectors.http import unauthenticated_calls
from connectors.models import Connector, ConnectorCall, ConnectorSettings, HeldCall
from integrations.models import IngestBatch, Scope
from integrations.services import api_key_revoke
from tests.accounts.factories import AccountFactory
from tests.connectors.conftest import basic, segment_post
from tests.integrations.factories import ApiKeyFactory
from tests.users.factories import UserFactory

NOW = "2026-11-20T10:00:00.000Z"


def _group(group_id="ACME", user="u-1", **traits):
    return {"type": "group", "messageId": str(uuid.uuid4()), "userId": user, "groupId": group_id,
            "traits": traits, "timestamp": NOW, "context": {"library": {"name": "analytics-python"}},
            "integrations": {}, "anonymousId": None}


def _identify(user="u-1", group_id=None, **traits):
    call = {"type": "identify", "messageId": str(uuid.uuid4()), "userId": user, "traits": traits, "timestamp": NOW}
    if group_id:
        call["context"] = {"groupId": group_id}
    return call


def _track(event="report_exported", user="u-1", group_id=None, message_id=None, **properties):
    call = {"type": "track", "messageId": message_id or str(uuid.uuid4()), "userId": user, "event": event,
            "properties": properties, "timestamp": NOW}
    if group_id:
        call["context"] = {"groupId": group_id}
    return call


def _batch(*calls) -> dict:
    return {"batch": list(calls), "sentAt": NOW, "context": {"library": {"name": "analytics-python"}}}


def test_a_group_call_creates_the_account_with_its_traits_mapped(client, write_key):
    owner = UserFactory(email="csm@alpha.example")

    response = segment_post(client, "batch", _batch(_group(
        "ACME", name="Acme Corp", plan="Enterprise", industry="Retail", region="EMEA", seats="40",
        owner_email="CSM@alpha.example", renewal_date="2027-03-01T00:00:00Z", mrr=1250.5)), write_key)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["accounts"] == {"created": 1, "updated": 0, "duplicates": 0}
    account = Account.objects.get(external_id="ACME")
    assert (account.name, account.plan, account.industry, account.region, account.licensed_seats, account.owner,
            account.renewal_date) == ("Acme Corp", "Enterprise", "Retail", "EMEA", 40, owner, date(2027, 3, 1))
    assert RevenueSnapshot.objects.get(account=account).mrr == Decimal("1250.50")
    assert RevenueSnapshot.objects.get(account=account).month == date(2026, 11, 1)
    contact = Contact.objects.get(external_id="u-1")
    assert contact.account == account
    assert IngestBatch.objects.filter(source="segment", kind="accounts", accepted=True).count() == 1


def test_a_trait_that_does_not_fit_is_left_out_with_a_warning_and_the_rest_is_stored(client, write_key):
    response = segment_post(client, "batch", _batch(
        _group("ACME", name="Acme", seats="many", owner_email="nobody@alpha.example"),
        _track(group_id="ACME")), write_key)

    assert response.status_code == 200, response.content
    warnings = response.json()["warnings"]
    assert [(w["index"], w["field"]) for w in warnings] == [(0, "traits.seats"), (0, "traits.owner_email")]
    assert "no active user" in warnings[1]["message"]
    account = Account.objects.get(external_id="ACME")
    assert account.licensed_seats is None and account.owner is None
    assert UsageEvent.objects.filter(account=account).count() == 1


def test_identify_records_a_contact_of_the_account_it_names(client, write_key):
    account = AccountFactory(external_id="ACME")

    response = segment_post(client, "batch", _batch(
        _identify("u-7", group_id="ACME", email="Ann@Acme.example", firstName="Ann", lastName="Lee")), write_key)

    assert response.status_code == 200, response.content
    contact = Contact.objects.get(external_id="u-7")
    assert (contact.account, contact.email, contact.name) == (account, "ann@acme.example", "Ann Lee")
    assert contact.first_seen_at == contact.last_seen_at


def test_identify_may_name_the_account_by_the_configured_trait(client, write_key):
    account = AccountFactory(external_id="ACME")
    ConnectorSettings.objects.create(connector=Connector.SEGMENT, options={"user_account_trait": "company_id"})

    segment_post(client, "identify", _identify("u-7", company_id="ACME"), write_key)

    assert Contact.objects.get(external_id="u-7").account == account


def test_track_and_page_become_events_of_the_account_named_or_of_the_users_last_group(client, write_key):
    account = AccountFactory(external_id="ACME")
    other = AccountFactory(external_id="GLOBEX")
    page = {"type": "page", "messageId": "page-1", "userId": "u-1", "name": "Dashboard", "category": "App",
            "properties": {"path": "/dash"}, "timestamp": NOW}

    response = segment_post(client, "batch", _batch(
        _group("ACME", user="u-1"), _track("report_exported", user="u-1", message_id="t-1", format="pdf"), page,
        _track("invite_sent", user="u-2", message_id="t-2", groupId="GLOBEX")), write_key)

    assert response.status_code == 200, response.content
    assert response.json()["events"] == {"created": 3, "updated": 0, "duplicates": 0}
    events = {event.idempotency_key: event for event in UsageEvent.objects.all()}
    assert (events["t-1"].account, events["t-1"].event_name, events["t-1"].properties) == (
        account, "report_exported", {"format": "pdf"})
    assert (events["page-1"].account, events["page-1"].event_name) == (account, "Viewed App Dashboard Page")
    assert events["page-1"].properties == {"path": "/dash", "name": "Dashboard", "category": "App"}
    assert events["t-2"].account == other  # by the configured property (groupId by default)
    assert Contact.objects.get(external_id="u-2").account == other


def test_a_resent_batch_stores_each_event_once(client, write_key):
    AccountFactory(external_id="ACME")
    batch = _batch(_track(group_id="ACME", message_id="m-1"), _track(group_id="ACME", message_id="m-2"))

    first = segment_post(client, "batch", batch, write_key)
    again = segment_post(client, "batch", batch, write_key, compress=True)

    assert first.json()["events"] == {"created": 2, "updated": 0, "duplicates": 0}
    assert again.status_code == 200
    assert again.json()["events"] == {"created": 0, "updated": 0, "duplicates": 2}
    assert UsageEvent.objects.count() == 2


def test_a_call_whose_account_is_unknown_is_held_and_applied_when_the_group_call_comes(client, write_key):
    held = segment_post(client, "batch", _batch(_track(user="u-9", message_id="early"),
                                                _identify("u-8", group_id="LATE", email="bo@late.example")),
                        write_key)

    assert held.status_code == 200 and held.json()["held"] == 2
    assert not UsageEvent.objects.exists()
    assert set(HeldCall.objects.values_list("kind", "account_key", "user_id")) == {
        ("track", "", "u-9"), ("identify", "LATE", "u-8")}

    replay = segment_post(client, "batch", _batch(_group("LATE", user="u-9", name="Late Inc")), write_key)

    assert replay.json()["replayed"] == 2
    account = Account.objects.get(external_id="LATE")
    assert UsageEvent.objects.get(idempotency_key="early").account == account
    assert Contact.objects.get(external_id="u-8").email == "bo@late.example"
    assert not HeldCall.objects.exists()


def test_held_calls_are_applied_when_the_account_arrives_by_the_bulk_api(client, write_key, ingest_key_bulk):
    segment_post(client, "track", _track(group_id="CRM-5", message_id="waiting"), write_key)
    assert HeldCall.objects.count() == 1

    from connectors.services import held_calls_replay_for_accounts

    account = AccountFactory(external_id="CRM-5")
    assert held_calls_replay_for_accounts(account_ids=[account.pk]) == 1
    assert UsageEvent.objects.get(idempotency_key="waiting").account == account


@pytest.fixture
def ingest_key_bulk():
    return ApiKeyFactory(scopes=[Scope.INGEST])


def test_an_account_made_by_the_bulk_api_enqueues_the_replay_of_its_held_calls(
        client, write_key, django_capture_on_commit_callbacks):
    from accounts.follow_up import batch_follow_up
    from connectors import tasks

    segment_post(client, "track", _track(group_id="CRM-6", message_id="waiting-6"), write_key)
    sent = []
    tasks.held_calls_replay_task.delay = lambda **kwargs: sent.append(kwargs)  # the broker is the edge here
    try:
        from integrations.models import DataKind

        batch = IngestBatch.objects.create(kind=DataKind.ACCOUNTS, accepted=True, items=1,
                                           follow_up={"account_ids": [AccountFactory(external_id="CRM-6").pk],
                                                      "days": []})
        with django_capture_on_commit_callbacks(execute=True):
            batch_follow_up(batch_id=batch.pk)
    finally:
        del tasks.held_calls_replay_task.delay
    assert sent == [{"account_ids": batch.follow_up["account_ids"]}]


def test_the_single_call_endpoints_take_one_call_each(client, write_key):
    AccountFactory(external_id="ACME")

    for call, payload in (("track", _track(group_id="ACME")), ("identify", _identify("u-3", group_id="ACME")),
                          ("group", _group("ACME", name="Acme 2")),
                          ("page", {"userId": "u-3", "name": "Home", "context": {"groupId": "ACME"}})):
        response = segment_post(client, call, {**payload, "writeKey": write_key.secret})
        assert response.status_code == 200, (call, response.content)
    assert UsageEvent.objects.count() == 2 and Account.objects.get().name == "Acme 2"
    assert "writeKey" not in str(list(HeldCall.objects.values_list("message", flat=True)))


def test_a_single_call_endpoint_refuses_a_call_of_another_type(client, write_key):
    response = segment_post(client, "track", _identify("u-1"), write_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 0, "field": "type", "message": "must be 'track'"}]


def test_the_write_key_is_accepted_in_the_body_and_as_a_bearer(client, write_key):
    AccountFactory(external_id="ACME")

    in_body = segment_post(client, "batch", {**_batch(_track(group_id="ACME")), "writeKey": write_key.secret})
    as_bearer = segment_post(client, "batch", _batch(_track(group_id="ACME")),
                             HTTP_AUTHORIZATION=f"Bearer {write_key.secret}")

    assert (in_body.status_code, as_bearer.status_code) == (200, 200)


@pytest.mark.parametrize(("headers", "status", "reason"), [
    ({}, 401, "No write key"),
    (basic("bw_00000000_not-a-key"), 401, "Invalid or revoked write key"),
    ({"HTTP_AUTHORIZATION": "Basic !!!"}, 401, "Malformed HTTP Basic"),
])
def test_a_call_without_a_valid_write_key_is_refused_with_the_reason(client, headers, status, reason):
    response = segment_post(client, "batch", _batch(_track()), **headers)

    assert response.status_code == status
    assert reason in response.json()["message"] and response.json()["code"] == "unauthorized"
    assert not ConnectorCall.objects.exists()  # no stranger writes into a tenant; the page reads the cache
    assert unauthenticated_calls(Connector.SEGMENT)[0]["status_code"] == status


def test_a_revoked_key_and_a_key_without_the_ingest_scope_are_refused(client, write_key):
    read_only = ApiKeyFactory(scopes=[Scope.READ])
    api_key_revoke(api_key=write_key.api_key)

    assert segment_post(client, "batch", _batch(_track()), write_key).status_code == 401
    refused = segment_post(client, "batch", _batch(_track()), read_only)
    assert refused.status_code == 403 and "ingest" in refused.json()["message"]


def test_another_tenants_write_key_is_refused_and_nothing_is_stored_anywhere(client, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo_key = ApiKeyFactory(scopes=[Scope.INGEST])
        AccountFactory(external_id="ACME")

    response = segment_post(client, "batch", _batch(_group("ACME", name="Hijack"), _track(group_id="ACME")),
                            bravo_key)

    assert response.status_code == 401
    assert not Account.objects.exists() and not UsageEvent.objects.exists()
    with schema_context(other_tenant.schema_name):
        assert Account.objects.get().name != "Hijack" and not UsageEvent.objects.exists()


@pytest.mark.parametrize(("call", "field", "message"), [
    ({"type": "track", "userId": "u", "timestamp": NOW}, "event", "is required"),
    ({"type": "track", "event": "x", "timestamp": NOW}, "userId", "userId or anonymousId is required"),
    ({"type": "track", "userId": "u", "event": "x", "timestamp": "yesterday"}, "timestamp", "ISO 8601"),
    ({"type": "track", "userId": "u", "event": "x", "timestamp": "2026-11-20T10:00:00"}, "timestamp", "time zone"),
    ({"type": "group", "userId": "u"}, "groupId", "is required"),
    ({"type": "track", "userId": "u", "event": "x", "properties": []}, "properties", "JSON object"),
    ({"type": "launch", "userId": "u"}, "type", "must be one of"),
    ("not a call", None, "JSON object"),
])
def test_a_malformed_call_refuses_the_whole_batch_naming_the_call_and_field(client, write_key, call, field, message):
    AccountFactory(external_id="ACME")

    response = segment_post(client, "batch", _batch(_track(group_id="ACME"), call), write_key)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_request" and "nothing was stored" in body["message"]
    assert [(error["index"], error["field"]) for error in body["errors"]] == [(1, field)]
    assert message in body["errors"][0]["message"]
    assert not UsageEvent.objects.exists()


def test_a_call_that_the_ingest_refuses_refuses_the_batch_and_names_the_call(client, write_key):
    AccountFactory(external_id="ACME")

    response = segment_post(client, "batch", _batch(_track(group_id="ACME"), _track(
        group_id="ACME", **{f"p{number}": number for number in range(101)})),
                            write_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 1
    assert "as an event" in response.json()["errors"][0]["message"]
    assert not UsageEvent.objects.exists()
    assert IngestBatch.objects.get(accepted=False).kind == "events"


def test_unused_fields_are_ignored_and_alias_calls_too(client, write_key):
    AccountFactory(external_id="ACME")
    call = _track(group_id="ACME") | {"sentAt": NOW, "integrations": {"All": False}, "anonymousId": None,
                                      "context": {"groupId": "ACME", "library": {"name": "x"}, "ip": "0.0.0.0"},
                                      "receivedAt": NOW, "version": 2, "channel": "server"}
    alias = {"type": "alias", "userId": "u-1", "previousId": "anon-1"}

    response = segment_post(client, "batch", _batch(call, alias), write_key)

    assert response.status_code == 200, response.content
    assert response.json()["ignored"] == 1 and UsageEvent.objects.count() == 1


def test_a_call_over_32_kb_or_a_batch_over_500_kb_is_refused(client, write_key):
    big_call = _track(blob="x" * 33_000)

    too_big_call = segment_post(client, "batch", _batch(big_call), write_key)
    too_big_batch = segment_post(client, "batch", _batch(*[_track(blob="x" * 20_000) for _ in range(30)]), write_key)

    assert too_big_call.status_code == 400 and "32 KB" in too_big_call.json()["errors"][0]["message"]
    assert too_big_batch.status_code == 413 and "limit" in too_big_batch.json()["message"]


def test_gzip_bodies_are_read_and_a_gzip_bomb_or_broken_stream_is_refused(client, write_key):
    AccountFactory(external_id="ACME")
    bomb = gzip.compress(b'{"batch": [' + b" " * 5_000_000 + b"]}")

    ok = segment_post(client, "batch", _batch(_track(group_id="ACME")), write_key, compress=True)
    exploded = segment_post(client, "batch", bomb, write_key, HTTP_CONTENT_ENCODING="gzip")
    broken = segment_post(client, "batch", gzip.compress(orjson.dumps(_batch(_track())))[:-12], write_key,
                          HTTP_CONTENT_ENCODING="gzip")
    unknown = segment_post(client, "batch", b"{}", write_key, HTTP_CONTENT_ENCODING="br")

    assert ok.status_code == 200 and UsageEvent.objects.count() == 1
    assert len(bomb) < 10_000 and exploded.status_code == 413 and "decompresses" in exploded.json()["message"]
    assert broken.status_code == 400 and "gzip" in broken.json()["message"]
    assert unknown.status_code == 415


@override_settings(CONNECTOR_RATE_LIMIT="2/min")
def test_over_the_rate_limit_the_answer_is_429_with_retry_after(client, write_key):
    cache.clear()
    AccountFactory(external_id="ACME")

    answers = [segment_post(client, "track", _track(group_id="ACME"), write_key) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert UsageEvent.objects.count() == 2
    cache.clear()


def test_success_is_exactly_200_with_a_json_body(client, write_key):
    AccountFactory(external_id="ACME")

    response = segment_post(client, "track", _track(group_id="ACME"), write_key)

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert ConnectorCall.objects.get().summary.startswith("1 new event(s)")


def test_only_post_is_answered(client, write_key):
    assert client.get("/api/segment/v1/batch", **basic(write_key.secret)).status_code == 405
