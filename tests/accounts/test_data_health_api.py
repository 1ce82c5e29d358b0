"""Data health over the API (admin scope): feed freshness, what each key sent, rejected batches and data gaps,
each tenant seeing only its own."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from integrations.models import ApiKey, DataKind, FeedPolicy, IngestBatch
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, EventItemFactory, IngestBatchFactory, bearer

HEALTH = "/api/v1/data-health/"


def _get(client, path: str, key=None):
    return client.get(path, **(bearer(key) if key else {}))


def test_data_health_needs_the_admin_scope(client, ingest_key):
    response = _get(client, HEALTH, ingest_key)

    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the 'admin' scope."
    assert ApiKey.objects.get().revoked_at is None


def test_an_admin_key_of_another_tenant_is_a_401_here(client, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo_admin = ApiKeyFactory(scopes=[Scope.ADMIN])

    assert _get(client, HEALTH, bravo_admin).status_code == 401


# --- data health ------------------------------------------------------------------------------------------


def _feeds(response) -> dict[str, dict]:
    assert response.status_code == 200, response.content
    return {feed["kind"]: feed for feed in response.json()["feeds"]}


def test_data_health_lists_every_feed_with_its_last_delivery_and_volume(client, admin_key, ingest_key):
    AccountFactory(external_id="CRM-1")
    post_json(client, "/api/v1/events/bulk", {"events": EventItemFactory.build_batch(3)}, ingest_key)
    post_json(client, "/api/v1/events/bulk", {"events": EventItemFactory.build_batch(2)}, ingest_key)
    IngestBatchFactory(kind=DataKind.EVENTS, items=500, received_at=timezone.now() - dt.timedelta(days=8))

    feeds = _feeds(_get(client, HEALTH, admin_key))

    assert list(feeds) == [kind for kind, _ in DataKind.choices]
    events = feeds[DataKind.EVENTS]
    assert (events["items_last_7_days"], events["batches_last_7_days"], events["rejected_last_7_days"]) == (5, 2, 0)
    assert events["stale"] is False
    last = dt.datetime.fromisoformat(events["last_received_at"])
    assert timezone.now() - last < dt.timedelta(minutes=1)
    assert feeds[DataKind.SURVEYS]["last_received_at"] is None
    assert feeds[DataKind.SURVEYS]["stale"] is False


def test_a_feed_quiet_past_its_limit_is_flagged_stale(client, admin_key):
    FeedPolicy.objects.create(kind=DataKind.REVENUE, max_silence_hours=24)
    IngestBatchFactory(kind=DataKind.REVENUE, received_at=timezone.now() - dt.timedelta(hours=25))
    IngestBatchFactory(kind=DataKind.EVENTS, received_at=timezone.now() - dt.timedelta(hours=25))

    feeds = _feeds(_get(client, HEALTH, admin_key))

    assert (feeds[DataKind.REVENUE]["stale"], feeds[DataKind.REVENUE]["max_silence_hours"]) == (True, 24)
    assert (feeds[DataKind.EVENTS]["stale"], feeds[DataKind.EVENTS]["max_silence_hours"]) == (False, 48)


def test_data_health_lists_rejected_batches_with_their_reasons_and_key(client, admin_key, ingest_key):
    AccountFactory(external_id="CRM-1")
    post_json(client, "/api/v1/events/bulk", {"events": [EventItemFactory(account="CRM-404")]}, ingest_key)

    body = _get(client, HEALTH, admin_key).json()

    [rejected] = body["rejected_batches"]
    assert (rejected["kind"], rejected["items"], rejected["error_count"], rejected["api_key"]) == (
        "events", 1, 1, ingest_key.api_key.prefix)
    assert rejected["errors"][0]["message"].startswith("unknown account 'CRM-404'")
    assert _feeds_from(body)[DataKind.EVENTS]["rejected_last_7_days"] == 1


def test_the_page_names_who_sent_a_rejected_batch_as_people_say_it(client):
    from tests.conftest import login
    from tests.users.factories import UserFactory
    from users.models import Role

    for source in ("csv", "segment", "hubspot"):
        IngestBatch.objects.create(kind=DataKind.EVENTS, source=source, accepted=False, items=1, error_count=1,
                                   errors=[{"index": 0, "field": "account", "message": "unknown"}])

    page = login(client, UserFactory(role=Role.ADMIN)).get("/data-health/").content.decode()

    assert all(f"<td>{said}</td>" in page for said in ("A CSV upload", "Segment", "HubSpot")), page
    assert "<td>csv</td>" not in page


def _feeds_from(body: dict) -> dict[str, dict]:
    return {feed["kind"]: feed for feed in body["feeds"]}


def test_data_health_shows_what_each_key_sent(client, admin_key, ingest_key):
    AccountFactory(external_id="CRM-1")
    post_json(client, "/api/v1/events/bulk", {"events": EventItemFactory.build_batch(4)}, ingest_key)
    post_json(client, "/api/v1/events/bulk", {"events": [EventItemFactory(account="nope")]}, ingest_key)

    keys = {row["prefix"]: row for row in _get(client, HEALTH, admin_key).json()["api_keys"]}

    sender = keys[ingest_key.api_key.prefix]
    assert (sender["batches_7d"], sender["items_7d"], sender["rejected_7d"]) == (2, 4, 1)
    assert sender["last_used_at"] is not None
    assert (keys[admin_key.api_key.prefix]["batches_7d"], keys[admin_key.api_key.prefix]["items_7d"]) == (0, 0)


def test_data_health_counts_active_accounts_without_an_owner(client, admin_key):
    AccountFactory(external_id="OWNED")
    orphan = AccountFactory(external_id="ORPHAN", name="Orphan Ltd", owner=None)
    AccountFactory(external_id="GONE", owner=None, status="churned")

    unowned = _get(client, HEALTH, admin_key).json()["accounts_without_owner"]

    assert unowned == {"count": 1, "accounts": [{"id": orphan.pk, "external_id": "ORPHAN", "name": "Orphan Ltd"}]}


def test_data_health_reports_revenue_months_missing_between_known_months(client, admin_key):
    gappy, steady = AccountFactory(name="Gappy Co"), AccountFactory(name="Steady Co")
    for month in (1, 4):
        RevenueSnapshotFactory(account=gappy, month=dt.date(2026, month, 1))
    for month in (1, 2, 3):
        RevenueSnapshotFactory(account=steady, month=dt.date(2026, month, 1))
    across_years = AccountFactory(name="Yearly Co")
    for month in (dt.date(2025, 11, 1), dt.date(2026, 2, 1)):
        RevenueSnapshotFactory(account=across_years, month=month)

    gaps = _get(client, HEALTH, admin_key).json()["revenue_gaps"]

    assert [(gap["name"], gap["months"], gap["missing"]) for gap in gaps] == [
        ("Gappy Co", 2, 2), ("Yearly Co", 2, 2)]
    assert gaps[0]["first_month"] == "2026-01-01"
    assert gaps[0]["last_month"] == "2026-04-01"


def test_data_health_shows_nothing_of_another_tenant(client, admin_key, other_tenant):
    with schema_context(other_tenant.schema_name):
        orphan = AccountFactory(name="Bravo Orphan", owner=None)
        RevenueSnapshotFactory(account=orphan, month=dt.date(2026, 1, 1))
        RevenueSnapshotFactory(account=orphan, month=dt.date(2026, 5, 1))
        IngestBatchFactory(kind=DataKind.TICKETS, accepted=False, errors=[{"message": "bravo"}])
        IngestBatchFactory(kind=DataKind.SURVEYS)

    body = _get(client, HEALTH, admin_key).json()

    assert body["rejected_batches"] == []
    assert body["revenue_gaps"] == []
    assert body["accounts_without_owner"]["count"] == 0
    assert all(feed["last_received_at"] is None for feed in body["feeds"])
    assert not IngestBatch.objects.exists()
