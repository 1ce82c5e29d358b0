"""The bulk endpoints over HTTP: counts and rows, all-or-nothing refusals, limits, keys and scopes,
idempotent retries, tenant isolation and the follow-up work after commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import (
    Account,
    RevenueSnapshot,
    SupportTicket,
    SurveyResponse,
    UsageDaily,
    UsageEvent,
    UserDaily,
)
from config.celery import app as celery_app
from core.api.scopes import Scope
from core.api.throttling import CallerRateThrottle
from integrations.api.bulk import BulkIngestView
from integrations.models import DataKind, IdempotentRequest, IngestBatch
from integrations.services import api_key_revoke
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    UsageDailyFactory,
    UsageEventFactory,
    UserDailyFactory,
)
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import (
    AccountItemFactory,
    ApiKeyFactory,
    EventItemFactory,
    RevenueItemFactory,
    SurveyItemFactory,
    TicketItemFactory,
    bearer,
)
from tests.users.factories import UserFactory
from users.models import Role

# kind -> (path, list key, item factory, model)
KINDS = {
    DataKind.ACCOUNTS: ("/api/v1/accounts/bulk", "accounts", AccountItemFactory, Account),
    DataKind.EVENTS: ("/api/v1/events/bulk", "events", EventItemFactory, UsageEvent),
    DataKind.REVENUE: ("/api/v1/revenue/bulk", "snapshots", RevenueItemFactory, RevenueSnapshot),
    DataKind.SURVEYS: ("/api/v1/surveys/bulk", "responses", SurveyItemFactory, SurveyResponse),
    DataKind.TICKETS: ("/api/v1/tickets/bulk", "tickets", TicketItemFactory, SupportTicket),
}
EVENTS = KINDS[DataKind.EVENTS][0]
DROP = object()  # as a field's value in an override: leave the field out


@pytest.fixture
def crm1():
    return AccountFactory(external_id="CRM-1")


def _send(client, kind: str, items: list, key=None, **extra):
    path, list_key, _, _ = KINDS[kind]
    return post_json(client, path, {list_key: items}, key, **extra)


def _item(kind: str, /, **overrides) -> dict:
    item = KINDS[kind][2](**{name: value for name, value in overrides.items() if value is not DROP})
    for name in [name for name, value in overrides.items() if value is DROP]:
        del item[name]
    return item


def _stored(kind: str) -> int:
    """Rows of the kind that a batch could have written (the fixture account CRM-1 aside)."""
    model = KINDS[kind][3]
    return model.objects.exclude(external_id="CRM-1").count() if model is Account else model.objects.count()


def _future(hours: float = 25) -> str:
    return (timezone.now() + dt.timedelta(hours=hours)).isoformat()


# --- happy paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_bulk_endpoint_stores_the_batch_and_answers_with_counts(client, crm1, ingest_key, kind):
    response = _send(client, kind, KINDS[kind][2].build_batch(3), ingest_key)

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 3, "updated": 0, "duplicates": 0}
    assert _stored(kind) == 3
    batch = IngestBatch.objects.get()
    assert (batch.kind, batch.accepted, batch.items, batch.created, batch.api_key) == (
        kind, True, 3, 3, ingest_key.api_key)


@pytest.mark.parametrize("kind", list(KINDS))
def test_resending_a_batch_creates_nothing_and_counts_duplicates(client, crm1, ingest_key, kind):
    items = KINDS[kind][2].build_batch(3)
    _send(client, kind, items, ingest_key)

    response = _send(client, kind, items, ingest_key)

    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "duplicates": 3}
    assert _stored(kind) == 3
    assert list(IngestBatch.objects.values_list("duplicates", flat=True)) == [3, 0]


def test_accounts_bulk_upserts_by_external_id_and_keeps_fields_not_sent(client, ingest_key):
    owner = UserFactory(email="csm@alpha.example")
    _send(client, DataKind.ACCOUNTS, [{"external_id": "CRM-7", "name": "Initech", "plan": "Starter",
                                       "region": "NA", "seats": 10, "owner": "csm@alpha.example"}], ingest_key)

    response = _send(client, DataKind.ACCOUNTS, [{"external_id": "CRM-7", "plan": "Growth", "seats": 30}],
                     ingest_key)

    assert response.json() == {"created": 0, "updated": 1, "duplicates": 0}
    account = Account.objects.get()
    assert (account.name, account.plan, account.region, account.licensed_seats, account.owner) == (
        "Initech", "Growth", "NA", 30, owner)


def test_revenue_bulk_updates_the_mrr_of_a_month_already_known(client, crm1, ingest_key):
    RevenueSnapshotFactory(account=crm1, month=dt.date(2026, 10, 1), mrr=Decimal("1000"))

    response = _send(client, DataKind.REVENUE, [RevenueItemFactory(month="2026-10", mrr="1250.00")], ingest_key)

    assert response.json() == {"created": 0, "updated": 1, "duplicates": 0}
    assert RevenueSnapshot.objects.get().mrr == Decimal("1250.00")


def test_tickets_bulk_updates_a_ticket_resent_when_resolved(client, crm1, ingest_key):
    _send(client, DataKind.TICKETS, [TicketItemFactory(id="T-1", subject="SSO loop")], ingest_key)

    response = _send(client, DataKind.TICKETS, [TicketItemFactory(id="T-1", resolved_at="2026-11-02T10:00:00Z",
                                                                  handling_minutes=35)], ingest_key)

    assert response.json() == {"created": 0, "updated": 1, "duplicates": 0}
    ticket = SupportTicket.objects.get()
    assert (ticket.resolved_at, ticket.handling_minutes, ticket.subject) == (
        dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC), 35, "SSO loop")


def test_events_may_arrive_as_ndjson_one_per_line(client, crm1, ingest_key):
    lines = [orjson.dumps(EventItemFactory(id=f"nd-{n}")) for n in range(3)]
    body = b"\n".join([lines[0], b"", lines[1], lines[2]]) + b"\n"

    response = client.post(EVENTS, body, content_type="application/x-ndjson", **bearer(ingest_key))

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 3, "updated": 0, "duplicates": 0}
    assert sorted(UsageEvent.objects.values_list("idempotency_key", flat=True)) == ["nd-0", "nd-1", "nd-2"]


def test_an_ndjson_line_that_is_not_json_rejects_the_body_naming_the_line(client, crm1, ingest_key):
    body = orjson.dumps(EventItemFactory()) + b"\n{not json\n"

    response = client.post(EVENTS, body, content_type="application/x-ndjson", **bearer(ingest_key))

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Line 2 is not valid JSON")
    assert not UsageEvent.objects.exists()


def test_ndjson_is_only_for_events(client, ingest_key):
    body = orjson.dumps(AccountItemFactory())

    response = client.post("/api/v1/accounts/bulk", body, content_type="application/x-ndjson", **bearer(ingest_key))

    assert response.status_code == 415
    assert not Account.objects.exists()


# --- bad items: the whole batch is refused, every problem listed ------------------------------------------

BAD_ITEMS = [
    (DataKind.EVENTS, {"account": "CRM-404"}, "account", "unknown account 'CRM-404'"),
    (DataKind.EVENTS, {"timestamp": "2026-11-01T10:00:00"}, "timestamp", "needs a time zone"),
    (DataKind.EVENTS, {"timestamp": "01/11/2026 10:00"}, "timestamp", "must be an ISO 8601 date-time"),
    (DataKind.EVENTS, {"timestamp": "FUTURE"}, "timestamp", "is more than a day in the future"),
    (DataKind.EVENTS, {"user": DROP}, "user", "is required"),
    (DataKind.EVENTS, {"properties": ["a"]}, "properties", "must be a JSON object"),
    (DataKind.EVENTS, {"event": {"name": "login"}}, "event", "must be a string"),
    (DataKind.SURVEYS, {"kind": "nps", "score": 11}, "score", "must be between 0 and 10 for nps"),
    (DataKind.SURVEYS, {"kind": "csat", "score": 0}, "score", "must be between 1 and 5 for csat"),
    (DataKind.SURVEYS, {"kind": "ces", "score": 8}, "score", "must be between 1 and 7 for ces"),
    (DataKind.SURVEYS, {"score": "9"}, "score", "must be a whole number"),
    (DataKind.SURVEYS, {"kind": "star"}, "kind", "must be one of: nps, csat, ces"),
    (DataKind.SURVEYS, {"responded_at": "FUTURE"}, "responded_at", "is more than a day in the future"),
    (DataKind.REVENUE, {"mrr": -10}, "mrr", "must not be negative"),
    (DataKind.REVENUE, {"mrr": "lots"}, "mrr", "must be a number"),
    (DataKind.REVENUE, {"month": "2026-13"}, "month", "must be a month YYYY-MM"),
    (DataKind.REVENUE, {"account": DROP}, "account", "is required"),
    (DataKind.TICKETS, {"priority": "p1"}, "priority", "must be one of: low, normal, high, urgent"),
    (DataKind.TICKETS, {"handling_minutes": -5}, "handling_minutes", "must be at least 0"),
    (DataKind.TICKETS, {"opened_at": "FUTURE"}, "opened_at", "is more than a day in the future"),
    (DataKind.TICKETS, {"resolved_at": "2026-10-01T00:00:00Z"}, "resolved_at", "must not be before opened_at"),
    (DataKind.ACCOUNTS, {"seats": "many"}, "seats", "must be a whole number"),
    (DataKind.ACCOUNTS, {"colour": "red"}, "colour", "unknown field(s): colour"),
    (DataKind.ACCOUNTS, {"name": DROP}, "name", "is required for a new account"),
    (DataKind.ACCOUNTS, {"start_date": "2026-06-01", "renewal_date": "2026-05-01"}, "renewal_date",
     "must not be before the start date 2026-06-01"),
    (DataKind.ACCOUNTS, {"owner": "ghost@alpha.example"}, "owner", "no active user with email"),
    (DataKind.ACCOUNTS, {"start_date": "1 June 2026"}, "start_date", "must be a date YYYY-MM-DD"),
]


@pytest.mark.parametrize(("kind", "overrides", "field", "message"), BAD_ITEMS,
                         ids=[f"{kind}-{field}-{i}" for i, (kind, _, field, _) in enumerate(BAD_ITEMS)])
def test_one_bad_item_rejects_the_batch_with_its_index_field_and_message(client, crm1, ingest_key, kind,
                                                                         overrides, field, message):
    overrides = {name: _future() if value == "FUTURE" else value for name, value in overrides.items()}

    response = _send(client, kind, [_item(kind), _item(kind, **overrides), _item(kind)], ingest_key)

    assert response.status_code == 400, response.content
    body = response.json()
    assert "nothing was stored" in body["detail"]
    assert len(body["errors"]) == 1
    assert (body["errors"][0]["index"], body["errors"][0]["field"]) == (1, field)
    assert message in body["errors"][0]["message"]
    assert _stored(kind) == 0


@pytest.mark.parametrize(("kind", "id_field"), [
    (DataKind.ACCOUNTS, "external_id"), (DataKind.EVENTS, "id"), (DataKind.SURVEYS, "id"), (DataKind.TICKETS, "id"),
    (DataKind.REVENUE, "month"),
])
def test_the_same_id_twice_in_one_batch_rejects_it(client, crm1, ingest_key, kind, id_field):
    first = _item(kind)
    repeat = _item(kind, **{id_field: first[id_field]})

    response = _send(client, kind, [first, _item(kind), repeat], ingest_key)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (2, id_field)
    assert error["message"].startswith("duplicate") and error["message"].endswith("(first at index 0)")
    assert _stored(kind) == 0


def test_every_bad_item_of_a_batch_is_listed(client, crm1, ingest_key):
    items = [EventItemFactory(), EventItemFactory(account="CRM-404"), EventItemFactory(timestamp="soon"),
             EventItemFactory(), 17]

    response = _send(client, DataKind.EVENTS, items, ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "account",
         "message": "unknown account 'CRM-404': send it to /api/v1/accounts/bulk first"},
        {"index": 2, "field": "timestamp", "message": "must be an ISO 8601 date-time, e.g. 2026-11-22T10:00:00Z"},
        {"index": 4, "field": None, "message": "must be a JSON object"},
    ]
    assert not UsageEvent.objects.exists()


def test_a_rejected_batch_is_logged_for_data_health_with_its_errors(client, crm1, ingest_key):
    _send(client, DataKind.SURVEYS, [SurveyItemFactory(), SurveyItemFactory(kind="nps", score=11)], ingest_key)

    batch = IngestBatch.objects.get()
    assert (batch.kind, batch.accepted, batch.items, batch.error_count, batch.api_key) == (
        DataKind.SURVEYS, False, 2, 1, ingest_key.api_key)
    assert batch.errors == [{"index": 1, "field": "score", "message": "must be between 0 and 10 for nps"}]


def test_an_unknown_field_whose_name_holds_a_nul_is_refused_and_logged_not_a_server_error(client, crm1, ingest_key):
    response = _send(client, DataKind.EVENTS, [EventItemFactory(**{"x\x00y": 1})], ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 0, "field": "x\x00y", "message": "unknown field(s): x\x00y"}]
    assert IngestBatch.objects.get().errors == [
        {"index": 0, "field": "x\ufffdy", "message": "unknown field(s): x\ufffdy"}]


# --- bad bodies -------------------------------------------------------------------------------------------


def test_more_than_ten_thousand_items_are_refused(client, crm1, ingest_key):
    response = _send(client, DataKind.EVENTS, [{}] * 10_001, ingest_key)

    assert response.status_code == 400
    assert "at most 10,000 items" in response.json()["detail"]
    assert not UsageEvent.objects.exists()


def test_ten_thousand_items_are_accepted(client, crm1, ingest_key):
    response = _send(client, DataKind.EVENTS, EventItemFactory.build_batch(10_000), ingest_key)

    assert response.json() == {"created": 10_000, "updated": 0, "duplicates": 0}
    assert UsageEvent.objects.count() == 10_000


@pytest.mark.parametrize(("body", "message"), [
    (b'{"events": []}', "The batch is empty"),
    (b'{"events": [', "The body is not valid JSON"),
    (b'[{"id": "e-1"}]', 'The body must be a JSON object with a "events" list'),
    (b'{"items": []}', 'The body must be a JSON object with a "events" list'),
    (b'{"events": [], "source": "x"}', "Unknown top-level field(s): source"),
    (b'{"events": {"id": "e-1"}}', '"events" must be a list'),
])
def test_a_body_that_is_not_a_batch_is_a_400(client, ingest_key, body, message):
    response = post_json(client, EVENTS, body, ingest_key)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(message)
    assert not IngestBatch.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv"])
def test_a_wrong_content_type_is_a_415(client, crm1, ingest_key, content_type):
    body = orjson.dumps({"events": [EventItemFactory()]})

    response = client.post(EVENTS, body, content_type=content_type, **bearer(ingest_key))

    assert response.status_code == 415
    assert "send application/json or application/x-ndjson" in response.json()["detail"]
    assert not UsageEvent.objects.exists()


def test_json_with_a_charset_parameter_is_accepted(client, crm1, ingest_key):
    body = orjson.dumps({"events": [EventItemFactory()]})

    response = client.post(EVENTS, body, content_type="application/json; charset=utf-8", **bearer(ingest_key))

    assert response.status_code == 200


def test_a_body_over_the_size_limit_is_a_413(client, crm1, ingest_key, monkeypatch):
    monkeypatch.setattr(BulkIngestView, "max_body_bytes", 500)

    response = _send(client, DataKind.EVENTS, EventItemFactory.build_batch(10), ingest_key)

    assert response.status_code == 413
    assert "the limit is 500" in response.json()["detail"]
    assert not UsageEvent.objects.exists()


def test_a_body_over_every_limit_is_a_413_also_with_an_idempotency_key(client, crm1, ingest_key, monkeypatch):
    # The body must be refused by its declared length before anything reads it, idempotency included.
    monkeypatch.setattr(BulkIngestView, "max_body_bytes", 500)

    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = _send(client, DataKind.EVENTS, EventItemFactory.build_batch(20), ingest_key,
                         HTTP_IDEMPOTENCY_KEY="big-1")

    assert response.status_code == 413
    assert "the limit is 500" in response.json()["detail"]
    assert not UsageEvent.objects.exists()
    assert not IdempotentRequest.objects.exists()


# --- keys, scopes and rate limits -------------------------------------------------------------------------


def test_no_key_is_a_401_that_says_how_to_authenticate(client, crm1):
    response = _send(client, DataKind.EVENTS, [EventItemFactory()])

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not UsageEvent.objects.exists()
    assert not IngestBatch.objects.exists()


@pytest.mark.parametrize("authorization", [
    "Bearer bw_0123abcd_not-a-real-secret", "Bearer nonsense", "Bearer", "Bearer two parts",
])
def test_an_unknown_or_malformed_key_is_a_401(client, crm1, ingest_key, authorization):
    response = post_json(client, EVENTS, {"events": [EventItemFactory()]}, HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not UsageEvent.objects.exists()


def test_a_revoked_key_is_a_401(client, crm1, ingest_key):
    api_key_revoke(api_key=ingest_key.api_key)

    response = _send(client, DataKind.EVENTS, [EventItemFactory()], ingest_key)

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API key for this tenant."
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_key_without_the_ingest_scope_is_a_403(client, crm1, kind):
    read_and_admin = ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])

    response = _send(client, kind, [_item(kind)], read_and_admin)

    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the 'ingest' scope."
    assert _stored(kind) == 0


def test_bulk_ingest_is_never_rate_limited_while_reads_with_the_same_key_are(client, crm1, ingest_key, monkeypatch):
    monkeypatch.setattr(CallerRateThrottle, "rate", "2/min", raising=False)
    cache.delete(CallerRateThrottle.cache_format % {"scope": "caller", "ident": f"key:{ingest_key.api_key.pk}"})

    statuses = [_send(client, DataKind.EVENTS, [EventItemFactory()], ingest_key).status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert UsageEvent.objects.count() == 5
    reads = [client.get("/api/v1/accounts/", **bearer(ingest_key)) for _ in range(3)]
    assert [r.status_code for r in reads] == [200, 200, 429]
    assert 0 < int(reads[2]["Retry-After"]) <= 60


# --- session users ----------------------------------------------------------------------------------------


def test_an_admin_may_ingest_with_their_session(client, crm1):
    admin = UserFactory(role=Role.ADMIN)
    login(client, admin)

    response = _send(client, DataKind.EVENTS, [EventItemFactory()])

    assert response.status_code == 200
    assert UsageEvent.objects.count() == 1
    batch = IngestBatch.objects.get()
    assert (batch.user, batch.api_key) == (admin, None)


@pytest.mark.parametrize("role", [Role.LEADER, Role.MANAGER, Role.CSM, Role.VIEWER])
def test_other_roles_may_not_ingest_with_their_session(client, crm1, role):
    login(client, UserFactory(role=role))

    response = _send(client, DataKind.EVENTS, [EventItemFactory()])

    assert response.status_code == 403
    assert not UsageEvent.objects.exists()


# --- Idempotency-Key --------------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_gets_the_first_response(client, crm1, ingest_key):
    items = EventItemFactory.build_batch(2)
    first = _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="batch-1")

    retry = _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry.json() == {"created": 2, "updated": 0, "duplicates": 0}
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert UsageEvent.objects.count() == 2
    assert IngestBatch.objects.count() == 1
    assert IdempotentRequest.objects.get().key == "batch-1"


def test_a_retry_never_reapplies_an_old_batch_over_newer_data(client, crm1, ingest_key):
    old = {"snapshots": [RevenueItemFactory(month="2026-10", mrr=100)]}
    post_json(client, "/api/v1/revenue/bulk", old, ingest_key, HTTP_IDEMPOTENCY_KEY="mrr-oct")
    post_json(client, "/api/v1/revenue/bulk", {"snapshots": [RevenueItemFactory(month="2026-10", mrr=300)]},
              ingest_key)

    retry = post_json(client, "/api/v1/revenue/bulk", old, ingest_key, HTTP_IDEMPOTENCY_KEY="mrr-oct")

    assert retry.json() == {"created": 1, "updated": 0, "duplicates": 0}
    assert RevenueSnapshot.objects.get().mrr == Decimal("300.00")
    assert IngestBatch.objects.count() == 2


def test_a_concurrent_retry_that_loses_the_race_is_rolled_back_whole_and_replays_the_winner(
        client, crm1, ingest_key, monkeypatch):
    from integrations.api import idempotency

    items = [EventItemFactory()]
    winner = _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="race")
    # The loser looked before the winner committed: it saw no stored reply and ran the batch itself.
    lookups = iter([None])
    stored = idempotency._stored
    monkeypatch.setattr(idempotency, "_stored", lambda request, key: next(lookups, None) or stored(request, key))

    loser = _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="race")

    assert loser.status_code == 200
    assert loser.content == winner.content
    assert loser["Idempotent-Replayed"] == "true"
    assert IngestBatch.objects.count() == 1
    assert IdempotentRequest.objects.count() == 1


def test_the_same_idempotency_key_with_a_different_body_is_a_422(client, crm1, ingest_key):
    _send(client, DataKind.EVENTS, [EventItemFactory(id="e-1")], ingest_key, HTTP_IDEMPOTENCY_KEY="batch-1")

    response = _send(client, DataKind.EVENTS, [EventItemFactory(id="e-2")], ingest_key,
                     HTTP_IDEMPOTENCY_KEY="batch-1")

    assert response.status_code == 422
    assert "already used for a different request" in response.json()["detail"]
    assert list(UsageEvent.objects.values_list("idempotency_key", flat=True)) == ["e-1"]
    assert IngestBatch.objects.count() == 1


def test_the_same_idempotency_key_on_another_endpoint_is_a_422(client, crm1, ingest_key):
    body = {"events": [EventItemFactory()]}
    post_json(client, EVENTS, body, ingest_key, HTTP_IDEMPOTENCY_KEY="k-1")

    response = post_json(client, "/api/v1/surveys/bulk", body, ingest_key, HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 422
    assert not SurveyResponse.objects.exists()


def test_different_idempotency_keys_are_independent_requests(client, crm1, ingest_key):
    items = [EventItemFactory()]
    _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="batch-1")

    second = _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="batch-2")

    assert second.json() == {"created": 0, "updated": 0, "duplicates": 1}
    assert "Idempotent-Replayed" not in second
    assert IngestBatch.objects.count() == 2
    assert IdempotentRequest.objects.count() == 2


def test_idempotency_keys_belong_to_one_api_key(client, crm1, ingest_key):
    other_key = ApiKeyFactory()
    _send(client, DataKind.EVENTS, [EventItemFactory(id="e-1")], ingest_key, HTTP_IDEMPOTENCY_KEY="batch-1")

    response = _send(client, DataKind.EVENTS, [EventItemFactory(id="e-2")], other_key,
                     HTTP_IDEMPOTENCY_KEY="batch-1")

    assert response.status_code == 200
    assert response.json() == {"created": 1, "updated": 0, "duplicates": 0}
    assert sorted(UsageEvent.objects.values_list("idempotency_key", flat=True)) == ["e-1", "e-2"]
    assert set(IdempotentRequest.objects.values_list("api_key", flat=True)) == {ingest_key.api_key.pk,
                                                                                 other_key.api_key.pk}


def test_idempotency_keys_of_a_session_user_are_their_own(client, crm1):
    login(client, UserFactory(role=Role.ADMIN))
    items = [EventItemFactory()]
    _send(client, DataKind.EVENTS, items, HTTP_IDEMPOTENCY_KEY="upload-1")

    retry = _send(client, DataKind.EVENTS, items, HTTP_IDEMPOTENCY_KEY="upload-1")

    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == {"created": 1, "updated": 0, "duplicates": 0}
    assert IngestBatch.objects.count() == 1


def test_a_rejected_batch_sent_with_an_idempotency_key_is_logged_and_not_replayed(client, crm1, ingest_key):
    bad = _send(client, DataKind.EVENTS, [EventItemFactory(account="CRM-404")], ingest_key,
                HTTP_IDEMPOTENCY_KEY="batch-1")
    assert bad.status_code == 400
    rejected = IngestBatch.objects.get()
    assert (rejected.accepted, rejected.error_count, rejected.errors[0]["field"]) == (False, 1, "account")
    assert not IdempotentRequest.objects.exists()

    corrected = _send(client, DataKind.EVENTS, [EventItemFactory()], ingest_key, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert corrected.status_code == 200
    assert "Idempotent-Replayed" not in corrected
    assert UsageEvent.objects.count() == 1
    assert list(IngestBatch.objects.order_by("id").values_list("accepted", flat=True)) == [False, True]


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
def test_an_empty_or_overlong_idempotency_key_is_a_400(client, crm1, ingest_key, key):
    response = _send(client, DataKind.EVENTS, [EventItemFactory()], ingest_key, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert "Idempotency-Key must be 1-200 characters" in response.json()["detail"]
    assert not UsageEvent.objects.exists()


# --- tenant isolation -------------------------------------------------------------------------------------


@pytest.fixture
def bravo_key(other_tenant):
    with schema_context(other_tenant.schema_name):
        AccountFactory(external_id="CRM-1")
        return ApiKeyFactory()


def test_a_key_of_another_tenant_is_a_401_and_stores_nothing_anywhere(client, crm1, bravo_key, other_tenant):
    response = _send(client, DataKind.EVENTS, [EventItemFactory()], bravo_key)

    assert response.status_code == 401
    assert not UsageEvent.objects.exists()
    assert not IngestBatch.objects.exists()
    with schema_context(other_tenant.schema_name):
        assert not UsageEvent.objects.exists()
        assert not IngestBatch.objects.exists()


def test_a_key_works_only_on_its_own_tenants_host(client, other_client, crm1, ingest_key, other_tenant):
    assert _send(other_client, DataKind.EVENTS, [EventItemFactory()], ingest_key).status_code == 401

    assert _send(client, DataKind.EVENTS, [EventItemFactory()], ingest_key).status_code == 200
    with schema_context(other_tenant.schema_name):
        assert not UsageEvent.objects.exists()


def test_a_signed_in_admin_of_one_tenant_cannot_ingest_into_another(client, other_client, bravo_key, other_tenant):
    login(client, UserFactory(role=Role.ADMIN))
    other_client.cookies = client.cookies

    response = _send(other_client, DataKind.EVENTS, [EventItemFactory()])

    assert response.status_code in (401, 403)
    with schema_context(other_tenant.schema_name):
        assert not UsageEvent.objects.exists()


def test_an_account_known_only_to_another_tenant_is_unknown_here(client, ingest_key, bravo_key):
    response = _send(client, DataKind.EVENTS, [EventItemFactory(account="CRM-1")], ingest_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("unknown account 'CRM-1'")


def test_idempotent_replies_of_one_tenant_are_not_replayed_in_another(client, other_client, crm1, ingest_key,
                                                                      bravo_key, other_tenant):
    items = [EventItemFactory()]
    _send(client, DataKind.EVENTS, items, ingest_key, HTTP_IDEMPOTENCY_KEY="same")

    response = _send(other_client, DataKind.EVENTS, items, bravo_key, HTTP_IDEMPOTENCY_KEY="same")

    assert "Idempotent-Replayed" not in response
    with schema_context(other_tenant.schema_name):
        assert UsageEvent.objects.count() == 1


# --- after commit -----------------------------------------------------------------------------------------


@pytest.fixture
def eager_celery():
    """Tasks run in-process when sent, so the after-commit follow-up does its work inside the test."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def test_ingested_events_refresh_the_rollups_of_exactly_the_accounts_and_days_touched(
        client, crm1, ingest_key, eager_celery, django_capture_on_commit_callbacks):
    nov1, nov2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    UsageEventFactory(account=crm1, user_id="ann", event_name="login",
                      occurred_at=dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC))
    untouched = AccountFactory(external_id="CRM-2")
    UsageDailyFactory(account=untouched, day=nov1, event_name="login", events=99, distinct_users=9)
    UserDailyFactory(account=untouched, day=nov1, user_id="zed", events=99)
    UsageDailyFactory(account=crm1, day=dt.date(2026, 10, 1), event_name="login", events=42, distinct_users=4)
    items = [EventItemFactory(user="bob", event="login", timestamp="2026-11-01T09:00:00Z"),
             EventItemFactory(user="bob", event="export", timestamp="2026-11-01T10:00:00Z"),
             EventItemFactory(user="cy", event="login", timestamp="2026-11-02T10:00:00Z")]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _send(client, DataKind.EVENTS, items, ingest_key)

    assert response.status_code == 200
    assert len(callbacks) == 1
    daily = {(r.account_id, r.day, r.event_name): (r.events, r.distinct_users) for r in UsageDaily.objects.all()}
    assert daily == {
        (crm1.pk, nov1, "login"): (2, 2),
        (crm1.pk, nov1, "export"): (1, 1),
        (crm1.pk, nov2, "login"): (1, 1),
        (crm1.pk, dt.date(2026, 10, 1), "login"): (42, 4),
        (untouched.pk, nov1, "login"): (99, 9),
    }
    users = {(r.account_id, r.day, r.user_id): r.events for r in UserDaily.objects.all()}
    assert users == {(crm1.pk, nov1, "ann"): 1, (crm1.pk, nov1, "bob"): 2, (crm1.pk, nov2, "cy"): 1,
                     (untouched.pk, nov1, "zed"): 99}


def test_the_follow_up_is_sent_only_after_commit_with_the_accounts_touched(
        client, crm1, ingest_key, monkeypatch, django_capture_on_commit_callbacks):
    from accounts.tasks import ingest_follow_up

    sent = []
    monkeypatch.setattr(ingest_follow_up, "delay", lambda **kwargs: sent.append(kwargs))

    with django_capture_on_commit_callbacks() as callbacks:
        _send(client, DataKind.TICKETS, [TicketItemFactory()], ingest_key)
        assert sent == []

    for callback in callbacks:
        callback()
    batch = IngestBatch.objects.get(kind=DataKind.TICKETS)
    assert sent == [{"batch_id": batch.pk}]
    assert (batch.follow_up, batch.followed_up_at) == ({"account_ids": [crm1.pk], "days": []}, None)
