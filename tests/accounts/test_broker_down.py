"""With the broker down, ingest still stores the data and answers; what the batch must set off waits in
the outbox (on the batch row) and happens once, when the sweeper runs after the broker is back."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection
from django.dispatch import receiver
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.follow_up import FOLLOW_UP_GRACE, batch_follow_up, batch_follow_ups_due
from accounts.models import UsageDaily, UsageEvent
from accounts.signals import customer_data_changed
from accounts.tasks import ingest_follow_up
from integrations.models import IngestBatch
from metrics.pending import _client, _keys
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import bearer


@pytest.fixture(autouse=True)
def _forget_pending_recomputes():
    """Follow-ups put the touched accounts in the Redis debounce set, which no test transaction rolls back."""
    yield
    _client().delete(*_keys(connection.schema_name))


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:63799. Connection refused.")

    monkeypatch.setattr(ingest_follow_up, "delay", refuse)


def _send_event(client, key, event_id: str = "e-1"):
    timestamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = {"events": [{"id": event_id, "account": "ACME-1", "user": "u", "event": "login",
                        "timestamp": timestamp.isoformat()}]}
    return client.post("/api/v1/events/bulk", body, content_type="application/json", **bearer(key))


def _age(batch: IngestBatch) -> None:
    """As if the batch arrived longer ago than the sweeper's grace period."""
    IngestBatch.objects.filter(pk=batch.pk).update(received_at=timezone.now() - FOLLOW_UP_GRACE * 2)


def test_events_are_stored_and_answered_and_followed_up_once_the_broker_is_back(
        client, ingest_key, broker_down, django_capture_on_commit_callbacks):
    account = AccountFactory(external_id="ACME-1")

    with django_capture_on_commit_callbacks(execute=True):
        response = _send_event(client, ingest_key)

    assert response.status_code == 200
    assert response.json()["created"] == 1
    assert UsageEvent.objects.filter(idempotency_key="e-1").exists()
    batch = IngestBatch.objects.get()
    assert batch.follow_up["account_ids"] == [account.pk] and batch.followed_up_at is None
    assert not UsageDaily.objects.exists()

    assert batch_follow_ups_due() == 0  # within the grace period its message may still be on its way
    _age(batch)
    assert batch_follow_ups_due() == 1  # what beat's sweeper runs once the broker is back
    assert batch_follow_ups_due() == 0  # once

    assert UsageDaily.objects.get(account=account).events == 1
    batch.refresh_from_db()
    assert batch.followed_up_at is not None


def test_a_follow_up_delivered_twice_runs_once():
    AccountFactory(external_id="ACME-1")
    heard = []

    @receiver(customer_data_changed, weak=False)
    def listen(sender, **kwargs):
        heard.append(kwargs["account_ids"])

    try:
        batch = IngestBatch.objects.create(kind="events", items=1, accepted=True,
                                           follow_up={"account_ids": [7], "days": ["2026-11-20"]})
        assert batch_follow_up(batch_id=batch.pk) is True
        assert batch_follow_up(batch_id=batch.pk) is False
    finally:
        customer_data_changed.disconnect(listen)
    assert heard == [[7]]


def test_a_follow_up_that_fails_half_way_stays_due_for_the_sweeper():
    batch = IngestBatch.objects.create(kind="events", items=1, accepted=True,
                                       follow_up={"account_ids": [7], "days": []})
    calls = []

    @receiver(customer_data_changed, weak=False)
    def fail_once(sender, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseError("the worker's connection dropped")

    try:
        with pytest.raises(DatabaseError):
            batch_follow_up(batch_id=batch.pk)
        batch.refresh_from_db()
        assert batch.followed_up_at is None
        _age(batch)
        assert batch_follow_ups_due() == 1
    finally:
        customer_data_changed.disconnect(fail_once)
    batch.refresh_from_db()
    assert batch.followed_up_at is not None and len(calls) == 2
