"""The whole path on the real stack: a Celery worker delivers a committed event to a real HTTP endpoint,
retries after the endpoint fails, and logs both attempts; the sweeper resends what the broker never got."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from notifications.tasks import webhook_deliver_task, webhook_deliveries_sweep_all_tenants
from tests.realstack import raw_connection, stop


@pytest.fixture
def committed_delivery(tenant, receiver):
    """A webhook and one pending delivery committed in alpha's schema; removed afterwards."""
    event_id = uuid.uuid4()
    payload = {"id": str(event_id), "event": "task.created", "tenant": "alpha", "data": {"id": 1}}
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{tenant.schema_name}"')
        webhook_id = raw.execute(
            "INSERT INTO notifications_webhook (name, url, secret, events, is_active, created_at)"
            " VALUES ('worker-test', %s, 'whsec_worker', '[\"task.created\"]', true, now()) RETURNING id",
            [receiver.url]).fetchone()[0]
        delivery_id = raw.execute(
            "INSERT INTO notifications_webhookdelivery (webhook_id, event, event_id, payload, status, attempts,"
            " next_attempt_at, response_body, error, created_at) VALUES (%s, 'task.created', %s, %s, 'pending', 0,"
            " now(), '', '', now()) RETURNING id", [webhook_id, event_id, json.dumps(payload)]).fetchone()[0]
    yield delivery_id
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{tenant.schema_name}"')
        raw.execute("DELETE FROM notifications_webhookdelivery WHERE webhook_id = %s", [webhook_id])
        raw.execute("DELETE FROM notifications_webhook WHERE id = %s", [webhook_id])


def _delivery(schema: str, delivery_id: int) -> tuple:
    with raw_connection() as raw:
        raw.execute(f'SET search_path = "{schema}"')
        return raw.execute("SELECT status, attempts, response_status FROM notifications_webhookdelivery"
                           " WHERE id = %s", [delivery_id]).fetchone()


def _wait_for(condition, worker, seconds: float = 45):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out\n{stop(worker)[-3000:]}")


def test_a_worker_delivers_retries_after_a_failure_and_logs_both(tenant, committed_delivery, receiver,
                                                                 celery_worker_process):
    receiver.answer(503)

    webhook_deliver_task.delay(committed_delivery)  # sent from alpha: runs in alpha's schema

    _wait_for(lambda: _delivery(tenant.schema_name, committed_delivery)[0] == "delivered", celery_worker_process)
    assert _delivery(tenant.schema_name, committed_delivery) == ("delivered", 2, 200)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["x-bellwether-delivery"] == receiver.requests[1].headers[
        "x-bellwether-delivery"]


def test_the_sweeper_sends_a_delivery_whose_message_was_lost(tenant, committed_delivery, receiver,
                                                              celery_worker_process):
    from django.db import connection

    connection.set_schema_to_public()  # beat sends the fan-out from the public schema
    webhook_deliveries_sweep_all_tenants.delay()

    _wait_for(lambda: _delivery(tenant.schema_name, committed_delivery)[0] == "delivered", celery_worker_process)
    assert len(receiver.requests) == 1
