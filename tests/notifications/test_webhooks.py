"""Outbound webhooks: recorded with the change, signed, delivered to a real HTTP endpoint, retried with
backoff, given up on honestly, never sent twice by racing workers."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.db import transaction
from django.utils import timezone

from metrics.alerts import alert_rules_evaluate
from metrics.models import AlertRule, MetricValue
from metrics.services import kpi_create
from notifications import webhooks
from notifications.models import DeliveryStatus, WebhookDelivery
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start, task_complete, tasks_escalate
from tests.accounts.factories import AccountFactory
from tests.users.factories import UserFactory
from users.models import Role

DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def _hook(receiver, *events: str, **fields):
    return webhooks.webhook_create(name="CRM", url=receiver.url, events=events, **fields)


@pytest.fixture
def playbook():
    playbook = Playbook.objects.create(name="Adoption rescue", mode="sequence")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the sponsor")
    PlaybookStep.objects.create(playbook=playbook, position=2, title="Send the recap")
    return playbook


@pytest.fixture
def account():
    return AccountFactory(name="Initech", external_id="crm-42", owner=UserFactory(role=Role.CSM))


def _expected_signature(secret: str, header: str, body: bytes) -> bool:
    """The receiver's side, written from the documented scheme rather than with Bellwether's helper."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    digest = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, parts["v1"])


def test_nothing_is_recorded_when_no_endpoint_subscribes(playbook, account, receiver):
    _hook(receiver, "breach.opened")  # subscribed to something else
    webhooks.webhook_create(name="Off", url=receiver.url, events=["task.created"], is_active=False)

    playbook_run_start(playbook=playbook, account=account)

    assert not WebhookDelivery.objects.exists()


def test_task_created_is_recorded_with_the_change_and_delivered_signed(playbook, account, receiver):
    hook = _hook(receiver, "task.created")

    run = playbook_run_start(playbook=playbook, account=account)
    delivery = WebhookDelivery.objects.get()
    result = webhooks.delivery_attempt(delivery.pk)

    task = run.tasks.get()
    assert (result.status, result.attempts, result.response_status) == (DeliveryStatus.DELIVERED, 1, 200)
    [request] = receiver.requests
    assert request.path == "/hooks/bellwether"
    assert request.headers["x-bellwether-event"] == "task.created"
    assert request.headers["x-bellwether-delivery"] == str(delivery.event_id)
    assert _expected_signature(hook.secret, request.headers["x-bellwether-signature"], request.body)
    assert not _expected_signature("whsec_wrong", request.headers["x-bellwether-signature"], request.body)
    body = json.loads(request.body)
    assert (body["event"], body["id"], body["tenant"]) == ("task.created", str(delivery.event_id), "alpha")
    assert body["data"]["id"] == task.pk
    assert body["data"]["title"] == "Call the sponsor"
    assert body["data"]["account"] == {"id": account.pk, "external_id": "crm-42", "name": "Initech"}
    assert body["data"]["assignee"]["email"] == account.owner.email


def test_a_rolled_back_change_leaves_no_event(playbook, account, receiver):
    _hook(receiver, "task.created")

    with pytest.raises(RuntimeError), transaction.atomic():
        playbook_run_start(playbook=playbook, account=account)
        raise RuntimeError("the caller fails after starting the run")

    assert not WebhookDelivery.objects.exists()


def test_every_endpoint_gets_the_event_with_one_event_id(playbook, account, receiver):
    _hook(receiver, "task.created")
    _hook(receiver, "task.created", "task.completed")

    playbook_run_start(playbook=playbook, account=account)

    deliveries = list(WebhookDelivery.objects.all())
    assert len(deliveries) == 2
    assert len({delivery.event_id for delivery in deliveries}) == 1
    assert len({delivery.webhook_id for delivery in deliveries}) == 2


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(settings, playbook, account, receiver):
    settings.WEBHOOK_RETRY_DELAYS = [10, 60]
    _hook(receiver, "task.created")
    receiver.answer(500, 503, 500)
    playbook_run_start(playbook=playbook, account=account)
    delivery = WebhookDelivery.objects.get()

    start = timezone.now()
    first = webhooks.delivery_attempt(delivery.pk, now=start)
    assert (first.status, first.attempts, first.response_status) == (DeliveryStatus.PENDING, 1, 500)
    assert first.error == "The endpoint answered 500."
    assert dt.timedelta(seconds=10) <= first.next_attempt_at - start < dt.timedelta(seconds=12)
    assert webhooks.delivery_attempt(delivery.pk, now=start + dt.timedelta(seconds=5)) is None  # not due yet

    second = webhooks.delivery_attempt(delivery.pk, now=start + dt.timedelta(seconds=11))
    assert (second.status, second.attempts, second.response_status) == (DeliveryStatus.PENDING, 2, 503)
    assert second.next_attempt_at - (start + dt.timedelta(seconds=11)) >= dt.timedelta(seconds=60)

    third = webhooks.delivery_attempt(delivery.pk, now=start + dt.timedelta(seconds=80))
    assert (third.status, third.attempts) == (DeliveryStatus.FAILED, 3)
    assert webhooks.delivery_attempt(delivery.pk, now=start + dt.timedelta(days=1)) is None  # given up: no more
    assert len(receiver.requests) == 3
    assert {request.headers["x-bellwether-delivery"] for request in receiver.requests} == {str(delivery.event_id)}


def test_redelivery_after_giving_up_starts_fresh_attempts(settings, playbook, account, receiver):
    settings.WEBHOOK_RETRY_DELAYS = []
    _hook(receiver, "task.created")
    receiver.answer(500)
    playbook_run_start(playbook=playbook, account=account)
    delivery = WebhookDelivery.objects.get()
    assert webhooks.delivery_attempt(delivery.pk).status == DeliveryStatus.FAILED

    assert webhooks.delivery_redeliver(delivery=delivery)
    again = webhooks.delivery_attempt(delivery.pk)

    assert (again.status, again.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert receiver.requests[0].headers["x-bellwether-delivery"] == receiver.requests[1].headers[
        "x-bellwether-delivery"]


def test_an_unreachable_endpoint_and_a_redirect_are_failures_logged_on_the_delivery(playbook, account, receiver):
    webhooks.webhook_create(name="Gone", url="http://127.0.0.1:9/closed", events=["task.created"])
    _hook(receiver, "task.created")
    receiver.answer(302)
    playbook_run_start(playbook=playbook, account=account)

    results = {delivery.webhook.name: webhooks.delivery_attempt(delivery.pk)
               for delivery in WebhookDelivery.objects.select_related("webhook")}

    assert results["Gone"].status == DeliveryStatus.PENDING
    assert results["Gone"].response_status is None
    assert "refused" in results["Gone"].error.lower() or "connect" in results["Gone"].error.lower()
    assert (results["CRM"].status, results["CRM"].response_status) == (DeliveryStatus.PENDING, 302)
    assert len(receiver.requests) == 1  # the redirect was not followed


def test_two_workers_never_send_one_delivery_twice_and_a_dead_workers_lease_expires(playbook, account, receiver):
    _hook(receiver, "task.created")
    playbook_run_start(playbook=playbook, account=account)
    delivery = WebhookDelivery.objects.get()

    start = timezone.now()
    assert webhooks._claim(delivery.pk, start) is not None  # a worker took it, then died before answering
    assert webhooks.delivery_attempt(delivery.pk, now=start) is None
    assert receiver.requests == []

    later = webhooks.delivery_attempt(delivery.pk, now=start + webhooks.LEASE + dt.timedelta(seconds=1))
    assert later.status == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 1


def test_the_sweeper_finds_due_pending_deliveries_only(playbook, account, receiver, monkeypatch):
    _hook(receiver, "task.created", "task.completed")
    run = playbook_run_start(playbook=playbook, account=account)
    task_complete(task=run.tasks.get(), user=account.owner, outcome="resolved")
    due, later, done = WebhookDelivery.objects.order_by("pk")[:3]
    WebhookDelivery.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    WebhookDelivery.objects.filter(pk=done.pk).update(status="delivered", delivered_at=timezone.now())
    sent = []
    monkeypatch.setattr(webhooks, "_send_later", lambda ids, countdown=0: sent.extend(ids))

    assert webhooks.deliveries_due_send() == 1
    assert sent == [due.pk]


def test_private_addresses_are_refused_where_the_operator_forbids_them(settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    with pytest.raises(webhooks.WebhookError, match="private network"):
        _hook(receiver, "task.created")
    with pytest.raises(webhooks.WebhookError, match="not an http or https URL"):
        webhooks.webhook_create(name="x", url="ftp://example.com/hook", events=["task.created"])
    with pytest.raises(webhooks.WebhookError, match="Unknown event"):
        webhooks.webhook_create(name="x", url="https://93.184.216.34/hook", events=["task.exploded"])


def test_a_private_endpoint_allowed_at_creation_is_refused_at_send_time_once_forbidden(settings, playbook, account,
                                                                                         receiver):
    _hook(receiver, "task.created")
    playbook_run_start(playbook=playbook, account=account)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    result = webhooks.delivery_attempt(WebhookDelivery.objects.get().pk)

    assert "private network" in result.error
    assert receiver.requests == []


def test_task_completed_overdue_and_run_completed_events(playbook, account, receiver):
    _hook(receiver, "task.completed", "task.overdue", "playbook_run.completed")
    account.owner.manager = UserFactory(role=Role.MANAGER)
    account.owner.save()
    run = playbook_run_start(playbook=playbook, account=account, now=NOW - dt.timedelta(days=30))

    tasks_escalate(now=NOW)  # the first task is past its SLA
    task_complete(task=run.tasks.get(), user=account.owner, outcome="resolved", note="Called")
    task_complete(task=run.tasks.get(step__position=2), user=account.owner, outcome="resolved")

    events = [(delivery.event, delivery.payload["data"]) for delivery in WebhookDelivery.objects.order_by("pk")]
    assert [event for event, _ in events] == ["task.overdue", "task.completed", "task.completed",
                                              "playbook_run.completed"]
    assert events[0][1]["escalation_level"] == 1
    assert (events[1][1]["status"], events[1][1]["outcome"], events[1][1]["note"]) == ("done", "resolved", "Called")
    assert (events[3][1]["id"], events[3][1]["status"], events[3][1]["playbook"]["name"]) == (
        run.pk, "completed", "Adoption rescue")


def test_breach_opened_and_resolved_events(receiver):
    _hook(receiver, "breach.opened", "breach.resolved")
    kpi = kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                     definition="d", tier="adoption", indicator="leading", unit="percent")
    account = AccountFactory(name="Globex")
    AlertRule.objects.create(kpi=kpi, name="Seats barely used", condition="below", threshold=20, severity="high")
    for day, value in ((DAY, 12), (DAY + dt.timedelta(days=1), 60)):
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=day, value=value)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, value=value)

    alert_rules_evaluate(as_of=DAY, now=NOW)
    alert_rules_evaluate(as_of=DAY + dt.timedelta(days=1), now=NOW + dt.timedelta(days=1))

    opened, resolved = WebhookDelivery.objects.order_by("pk")
    assert (opened.event, resolved.event) == ("breach.opened", "breach.resolved")
    assert opened.payload["data"]["account"]["name"] == "Globex"
    assert (opened.payload["data"]["value_at_open"], opened.payload["data"]["threshold"]) == (12, 20)
    assert (resolved.payload["data"]["status"], resolved.payload["data"]["value_at_resolve"]) == ("resolved", 60)
    assert opened.payload["data"]["id"] == resolved.payload["data"]["id"]


def test_a_ping_reaches_the_endpoint(receiver):
    hook = _hook(receiver, "task.created")

    delivery = webhooks.ping_send(webhook=hook)
    result = webhooks.delivery_attempt(delivery.pk)

    assert result.status == DeliveryStatus.DELIVERED
    assert json.loads(receiver.requests[0].body)["event"] == "ping"


def test_signature_valid_refuses_stale_and_forged_signatures():
    body = b'{"a":1}'
    header = webhooks.signature("whsec_x", 1_000_000, body)

    assert webhooks.signature_valid("whsec_x", header, body, now=1_000_100)
    assert not webhooks.signature_valid("whsec_x", header, body, now=1_000_000 + 301)  # replayed late
    assert not webhooks.signature_valid("whsec_x", header, b'{"a":2}', now=1_000_100)
    assert not webhooks.signature_valid("whsec_y", header, body, now=1_000_100)
    assert not webhooks.signature_valid("whsec_x", "garbage", body)


def test_old_deliveries_are_purged_by_status_and_age_pending_ones_never(receiver):
    hook = _hook(receiver, "task.created")
    now = timezone.now()
    ages = {("delivered", 31): "gone", ("delivered", 29): "kept", ("failed", 91): "gone", ("failed", 60): "kept",
            ("pending", 400): "kept"}
    made = {}
    for (status, days), _ in ages.items():
        delivery = WebhookDelivery.objects.create(webhook=hook, event="task.created", payload={}, status=status,
                                                  next_attempt_at=now,
                                                  delivered_at=now if status == "delivered" else None)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=now - dt.timedelta(days=days))
        made[(status, days)] = delivery.pk

    assert webhooks.deliveries_purge(now=now) == 2

    left = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert left == {made[key] for key, fate in ages.items() if fate == "kept"}


def test_deliveries_are_sent_to_the_delivery_task_by_its_registered_name():
    """webhooks.py sends the task by name (the task module imports webhooks.py, not the other way round)."""
    from notifications.tasks import webhook_deliver_task

    assert webhook_deliver_task.name == webhooks.DELIVER_TASK
