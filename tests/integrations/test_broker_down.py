"""With the broker down, ingest still stores the data and answers; the periodic sweep catches up."""

import datetime as dt

from kombu.exceptions import OperationalError

from accounts.models import UsageDaily, UsageEvent
from accounts.tasks import ingest_follow_up, usage_rollups_refresh_recent
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import bearer


def test_events_are_stored_and_answered_when_the_broker_is_down(client, ingest_key, monkeypatch,
                                                                django_capture_on_commit_callbacks):
    AccountFactory(external_id="ACME-1")

    def broker_down(**kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:63799. Connection refused.")

    monkeypatch.setattr(ingest_follow_up, "delay", broker_down)
    timestamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = {"events": [{"id": "e-1", "account": "ACME-1", "user": "u", "event": "login",
                        "timestamp": timestamp.isoformat()}]}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/events/bulk", body, content_type="application/json", **bearer(ingest_key))

    assert response.status_code == 200
    assert response.json()["created"] == 1
    assert UsageEvent.objects.filter(idempotency_key="e-1").exists()
    assert not UsageDaily.objects.exists()

    usage_rollups_refresh_recent()  # what beat's sweep runs once the broker is back

    assert UsageDaily.objects.get().events == 1
