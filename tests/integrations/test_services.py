"""Integration services: issuing, authenticating and revoking API keys; the batch log; stale-feed alerts."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from integrations import services
from integrations.models import ApiKey, DataKind, FeedPolicy, IdempotentRequest, IngestBatch
from integrations.services import (
    ApiKeyError,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    hash_secret,
    idempotent_requests_purge,
    ingest_batch_record,
    stale_feeds_alert,
)
from tests.integrations.factories import ApiKeyFactory, IngestBatchFactory
from tests.users.factories import UserFactory
from users.models import Role

# --- API keys ---------------------------------------------------------------------------------------------


def test_created_key_is_returned_once_and_only_its_hash_is_stored():
    issued = api_key_create(name=" Segment ", scopes="ingest,read")

    stored = ApiKey.objects.get()
    assert issued.secret.startswith(f"bw_{stored.prefix}_")
    assert stored.name == "Segment"
    assert stored.scopes == [Scope.INGEST, Scope.READ]
    assert stored.hashed_secret == hash_secret(issued.secret) != issued.secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM integrations_apikey k")
        assert issued.secret not in cursor.fetchone()[0]


def test_scopes_are_deduplicated_and_put_in_canonical_order():
    issued = api_key_create(name="Ops", scopes=["admin", " read", "read", ""])

    assert issued.api_key.scopes == [Scope.READ, Scope.ADMIN]


@pytest.mark.parametrize(("name", "scopes", "message"), [
    ("Segment", "ingest,write", "Unknown scope"),
    ("Segment", " , ", "at least one scope"),
    ("   ", "read", "needs a name"),
])
def test_a_key_cannot_be_issued_with_bad_scopes_or_no_name(name, scopes, message):
    with pytest.raises(ApiKeyError, match=message):
        api_key_create(name=name, scopes=scopes)

    assert not ApiKey.objects.exists()


def test_a_secret_whose_random_part_holds_underscores_still_authenticates(monkeypatch):
    # token_urlsafe() draws from an alphabet with "_" in it: about half of all real keys contain one.
    monkeypatch.setattr(services.secrets, "token_urlsafe", lambda nbytes: "ab_cd_ef-gh")
    issued = api_key_create(name="Segment", scopes="ingest")

    assert api_key_authenticate(secret=issued.secret) == issued.api_key


def test_authenticating_marks_the_key_used_but_not_on_every_request():
    issued = ApiKeyFactory()

    assert api_key_authenticate(secret=issued.secret) == issued.api_key
    first_use = ApiKey.objects.get().last_used_at
    assert first_use is not None

    api_key_authenticate(secret=issued.secret)
    assert ApiKey.objects.get().last_used_at == first_use

    ApiKey.objects.update(last_used_at=first_use - dt.timedelta(minutes=5))
    api_key_authenticate(secret=issued.secret)
    assert ApiKey.objects.get().last_used_at > first_use


@pytest.mark.parametrize("tamper", [
    lambda secret: secret[:-1] + ("A" if secret[-1] != "A" else "B"),  # right prefix, wrong secret
    lambda secret: secret.replace("bw_", "xx_", 1),
    lambda secret: secret.split("_", 2)[0] + "_" + secret.split("_", 2)[2],  # prefix missing
    lambda secret: "",
])
def test_a_wrong_or_malformed_secret_does_not_authenticate(tamper):
    issued = ApiKeyFactory()

    assert api_key_authenticate(secret=tamper(issued.secret)) is None
    assert ApiKey.objects.get().last_used_at is None


def test_a_revoked_key_no_longer_authenticates_and_revoking_again_changes_nothing():
    issued = ApiKeyFactory()

    assert api_key_revoke(api_key=issued.api_key) is True
    revoked_at = ApiKey.objects.get().revoked_at
    assert api_key_revoke(api_key=issued.api_key) is False

    assert ApiKey.objects.get().revoked_at == revoked_at
    assert api_key_authenticate(secret=issued.secret) is None


def test_a_key_of_another_tenant_does_not_authenticate_here(other_tenant):
    with schema_context(other_tenant.schema_name):
        bravo_key = ApiKeyFactory()

    assert api_key_authenticate(secret=bravo_key.secret) is None
    with schema_context(other_tenant.schema_name):
        assert api_key_authenticate(secret=bravo_key.secret) == bravo_key.api_key


# --- the batch log and idempotent replies -----------------------------------------------------------------


def test_a_rejected_batch_keeps_its_first_hundred_errors_and_counts_them_all():
    errors = [{"index": i, "field": "id", "message": "is required"} for i in range(150)]

    batch = ingest_batch_record(kind=DataKind.EVENTS, items=150, accepted=False, errors=errors)

    stored = IngestBatch.objects.get(pk=batch.pk)
    assert (stored.accepted, stored.items, stored.error_count) == (False, 150, 150)
    assert stored.errors == errors[:100]


def test_stored_idempotent_replies_are_purged_after_the_retention():
    issued = ApiKeyFactory()
    for key in ("old", "recent"):
        IdempotentRequest.objects.create(api_key=issued.api_key, key=key, method="POST", path="/x",
                                         fingerprint="f", status_code=200, response_body=b"{}")
    IdempotentRequest.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(days=8))

    assert idempotent_requests_purge() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["recent"]


# --- stale feeds ------------------------------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def _hours(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def admins():
    """The tenant's admins: the one created with the tenant and one more; an inactive one is not told."""
    UserFactory(email="ops@alpha.example", role=Role.ADMIN)
    UserFactory(email="gone@alpha.example", role=Role.ADMIN, is_active=False)
    UserFactory(email="csm@alpha.example", role=Role.CSM)
    return {"admin@alpha.example", "ops@alpha.example"}


def test_a_feed_quiet_past_its_limit_emails_the_active_admins(admins):
    IngestBatchFactory(kind=DataKind.EVENTS, received_at=T0)

    alerted = stale_feeds_alert(now=_hours(49))

    assert alerted == [DataKind.EVENTS]
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == admins
    assert "Usage events feed has been quiet for 49 hours" in mail.outbox[0].subject
    assert FeedPolicy.objects.get(kind=DataKind.EVENTS).alerted_at == _hours(49)


def test_a_feed_within_its_limit_raises_no_alert(admins):
    IngestBatchFactory(kind=DataKind.EVENTS, received_at=T0)

    assert stale_feeds_alert(now=_hours(47)) == []
    assert mail.outbox == []


def test_a_feed_that_never_delivered_or_only_had_rejected_batches_is_not_stale(admins):
    IngestBatchFactory(kind=DataKind.TICKETS, accepted=False, received_at=T0)

    assert stale_feeds_alert(now=_hours(24 * 6)) == []
    assert mail.outbox == []


def test_the_silence_limit_is_configurable_per_kind(admins):
    FeedPolicy.objects.create(kind=DataKind.REVENUE, max_silence_hours=24 * 40)
    IngestBatchFactory(kind=DataKind.REVENUE, received_at=T0)
    IngestBatchFactory(kind=DataKind.SURVEYS, received_at=T0)

    assert stale_feeds_alert(now=_hours(72)) == [DataKind.SURVEYS]


def test_one_silence_alerts_once_and_a_new_silence_after_fresh_data_alerts_again(admins):
    IngestBatchFactory(kind=DataKind.EVENTS, received_at=T0)

    assert stale_feeds_alert(now=_hours(49)) == [DataKind.EVENTS]
    assert stale_feeds_alert(now=_hours(50)) == []
    assert stale_feeds_alert(now=_hours(90)) == []
    assert len(mail.outbox) == 1

    IngestBatchFactory(kind=DataKind.EVENTS, received_at=_hours(100))
    assert stale_feeds_alert(now=_hours(101)) == []
    assert len(mail.outbox) == 1

    assert stale_feeds_alert(now=_hours(149)) == [DataKind.EVENTS]
    assert len(mail.outbox) == 2
    assert "quiet for 49 hours" in mail.outbox[1].subject


def test_alerts_judge_staleness_at_the_time_they_are_asked_about(admins):
    # Data received just now is fresh now, and stale two days and more from now.
    IngestBatchFactory(kind=DataKind.ACCOUNTS)

    assert stale_feeds_alert() == []
    assert stale_feeds_alert(now=timezone.now() + dt.timedelta(hours=49)) == [DataKind.ACCOUNTS]


def test_stale_feed_alerts_of_one_tenant_stay_in_that_tenant(other_tenant, admins):
    with schema_context(other_tenant.schema_name):
        IngestBatchFactory(kind=DataKind.EVENTS, received_at=T0)

    assert stale_feeds_alert(now=_hours(49)) == []
    assert mail.outbox == []
    with schema_context(other_tenant.schema_name):
        assert stale_feeds_alert(now=_hours(49)) == [DataKind.EVENTS]
    assert mail.outbox[0].to == ["admin@bravo.example"]


def test_feed_health_counts_accepted_items_per_day_for_the_last_week():
    import datetime as dt

    from integrations.models import IngestBatch
    from integrations.selectors import feed_health

    now = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
    for days_ago, items, accepted in [(0, 5, True), (0, 7, True), (2, 3, True), (2, 99, False), (9, 50, True)]:
        batch = IngestBatch.objects.create(kind="events", accepted=accepted, items=items)
        IngestBatch.objects.filter(pk=batch.pk).update(received_at=now - dt.timedelta(days=days_ago, hours=1))

    events = next(feed for feed in feed_health(now=now) if feed.kind == "events")

    assert events.daily_items == (0, 0, 0, 0, 3, 0, 12)
    assert events.items_last_7_days == 15
