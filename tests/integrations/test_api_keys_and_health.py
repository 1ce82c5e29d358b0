"""API keys and data health over the API (admin scope): secrets shown once and stored hashed, revocation,
feed freshness, rejected batches and data gaps, each tenant seeing only its own."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from integrations.models import ApiKey, DataKind, FeedPolicy, IngestBatch
from integrations.services import hash_secret
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, EventItemFactory, IngestBatchFactory, bearer
from tests.users.factories import UserFactory
from users.models import Role

KEYS = "/api/v1/api-keys/"
HEALTH = "/api/v1/data-health/"


def _get(client, path: str, key=None):
    return client.get(path, **(bearer(key) if key else {}))


# --- API keys ---------------------------------------------------------------------------------------------


def test_admins_list_keys_without_any_secret(client, admin_key):
    ApiKeyFactory(name="Segment", scopes=[Scope.INGEST])

    response = _get(client, KEYS, admin_key)

    assert response.status_code == 200
    rows = response.json()
    assert [row["name"] for row in rows] == ["Segment", admin_key.api_key.name]
    assert set(rows[0]) == {"id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"}
    assert rows[0]["scopes"] == ["ingest"]
    assert admin_key.secret not in response.content.decode()


def test_a_created_key_is_shown_once_stored_hashed_and_works(client, admin_key):
    response = post_json(client, KEYS, {"name": "Segment", "scopes": ["ingest", "read"]}, admin_key)

    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["key"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert secret.startswith(f"bw_{body['prefix']}_")
    assert (stored.name, stored.scopes, stored.hashed_secret) == ("Segment", ["ingest", "read"], hash_secret(secret))
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM integrations_apikey k")
        assert not any(secret in row for (row,) in cursor.fetchall())
    assert secret not in _get(client, KEYS, admin_key).content.decode()
    AccountFactory(external_id="CRM-1")
    pushed = post_json(client, "/api/v1/events/bulk", {"events": [EventItemFactory()]},
                       HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert pushed.status_code == 200


def test_a_key_created_by_a_signed_in_admin_records_who(client):
    admin = UserFactory(role=Role.ADMIN)
    login(client, admin)

    response = post_json(client, KEYS, {"name": "Zapier", "scopes": ["read"]})

    assert response.status_code == 201
    assert ApiKey.objects.get().created_by == admin


@pytest.mark.parametrize("payload", [
    {"name": "Segment", "scopes": ["write"]}, {"name": "Segment", "scopes": []}, {"scopes": ["read"]},
    {"name": "", "scopes": ["read"]}, {"name": "Segment", "scopes": "read"},
])
def test_a_key_with_bad_scopes_or_no_name_is_a_400_and_not_created(client, admin_key, payload):
    response = post_json(client, KEYS, payload, admin_key)

    assert response.status_code == 400
    assert list(ApiKey.objects.all()) == [admin_key.api_key]


def test_a_revoked_key_is_refused_at_once(client, admin_key, ingest_key):
    response = post_json(client, f"/api/v1/api-keys/{ingest_key.api_key.pk}/revoke", b"", admin_key)

    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert ApiKey.objects.get(pk=ingest_key.api_key.pk).revoked_at is not None
    assert _get(client, "/api/v1/accounts/", ingest_key).status_code == 401


def test_revoking_twice_keeps_the_first_revocation_time(client, admin_key, ingest_key):
    first = post_json(client, f"/api/v1/api-keys/{ingest_key.api_key.pk}/revoke", b"", admin_key).json()

    again = post_json(client, f"/api/v1/api-keys/{ingest_key.api_key.pk}/revoke", b"", admin_key)

    assert again.status_code == 200
    assert again.json()["revoked_at"] == first["revoked_at"]


def test_revoking_an_unknown_key_is_a_404(client, admin_key):
    assert post_json(client, "/api/v1/api-keys/999999/revoke", b"", admin_key).status_code == 404


@pytest.mark.parametrize(("method", "path"), [("get", KEYS), ("post", KEYS), ("post", "/api/v1/api-keys/{pk}/revoke"),
                                              ("get", HEALTH)])
def test_keys_and_data_health_need_the_admin_scope(client, ingest_key, method, path):
    path = path.format(pk=ingest_key.api_key.pk)

    if method == "post":
        response = post_json(client, path, {"name": "X", "scopes": ["admin"]}, ingest_key)
    else:
        response = _get(client, path, ingest_key)

    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the 'admin' scope."
    assert ApiKey.objects.get().revoked_at is None


@pytest.mark.parametrize("role", [Role.LEADER, Role.MANAGER, Role.CSM])
def test_people_other_than_admins_cannot_manage_keys(client, role):
    login(client, UserFactory(role=role))

    assert client.get(KEYS).status_code == 403
    assert post_json(client, KEYS, {"name": "X", "scopes": ["admin"]}).status_code == 403
    assert not ApiKey.objects.exists()


def test_keys_of_another_tenant_are_neither_listed_nor_revocable_here(client, admin_key, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo = ApiKeyFactory(name="Bravo CRM")

    listed = _get(client, KEYS, admin_key)
    revoke = post_json(client, f"/api/v1/api-keys/{bravo.api_key.pk}/revoke", b"", admin_key)

    assert "Bravo CRM" not in listed.content.decode()
    assert revoke.status_code == 404
    with schema_context(other_tenant.schema_name):
        assert ApiKey.objects.get().revoked_at is None


def test_an_admin_key_of_another_tenant_is_a_401_here(client, other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo_admin = ApiKeyFactory(scopes=[Scope.ADMIN])

    assert _get(client, KEYS, bravo_admin).status_code == 401
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
