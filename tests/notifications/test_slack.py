"""Webhooks in Slack's incoming-webhook format: a breach or a task arrives at a (local) Slack endpoint as a short
message linking to the tenant's pages, with anything a customer typed escaped."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from metrics.events import breach_event_data
from metrics.models import AlertRule, Breach
from notifications import webhooks
from notifications.models import DeliveryStatus, WebhookDelivery, WebhookFormat
from notifications.slack import slack_message
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def account():
    return AccountFactory(name="Initech <Labs> & Co", external_id="crm-42",
                          owner=UserFactory(role=Role.CSM, email="csm@alpha.example"))


def _slack_hook(receiver, *events: str):
    return webhooks.webhook_create(name="CS channel", url=receiver.url, events=events, format=WebhookFormat.SLACK)


def test_a_new_task_arrives_in_slack_as_a_linked_message(account, receiver):
    _slack_hook(receiver, "task.created")
    playbook = Playbook.objects.create(name="Adoption rescue", mode="sequence")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the sponsor")

    playbook_run_start(playbook=playbook, account=account)
    delivery = webhooks.delivery_attempt(WebhookDelivery.objects.get().pk)

    assert delivery.status == DeliveryStatus.DELIVERED
    message = json.loads(receiver.requests[0].body)
    assert set(message) == {"text", "blocks"}
    account_link = f"<http://alpha.localhost:8000/accounts/{account.pk}/|Initech &lt;Labs&gt; &amp; Co>"
    assert message["text"].startswith(
        f"New task: <http://alpha.localhost:8000/work/|Call the sponsor> for {account_link}")
    assert "csm@alpha.example" in message["text"]
    assert message["blocks"][0]["text"]["type"] == "mrkdwn" and message["blocks"][0]["text"]["text"].startswith(
        "*New task*\n")


def test_a_breach_opened_names_the_kpi_account_value_threshold_and_deadline(account):
    kpi = KPIFactory(slug="nps", name="NPS")
    rule = AlertRule.objects.create(kpi=kpi, name="NPS below zero", condition="below", threshold=0,
                                    severity="critical")
    opened = datetime(2026, 11, 20, 10, tzinfo=UTC)
    breach = Breach.objects.create(rule=rule, kpi=kpi, scope="account", account=account, severity="critical",
                                   opened_at=opened, opened_as_of=date(2026, 11, 19), value_at_open=-12, threshold=0,
                                   respond_by=opened + timedelta(hours=24))
    payload = json.loads(json.dumps({"event": "breach.opened", "tenant": "alpha", "data": breach_event_data(breach)},
                                    default=str))

    message = slack_message(payload)

    assert message["text"] == (
        "Breach opened: <http://alpha.localhost:8000/kpis/nps/|NPS> for "
        f"<http://alpha.localhost:8000/accounts/{account.pk}/|Initech &lt;Labs&gt; &amp; Co> at -12 (threshold 0), "
        "critical: respond by 2026-11-21 10:00 UTC.")


def test_a_ping_reaches_slack_and_the_format_is_kept_per_webhook(receiver):
    hook = _slack_hook(receiver, "breach.opened")

    webhooks.delivery_attempt(webhooks.ping_send(webhook=hook).pk)

    assert json.loads(receiver.requests[0].body)["text"] == "Test delivery: Bellwether test delivery"
    with pytest.raises(webhooks.WebhookError, match="Unknown format"):
        webhooks.webhook_update(webhook=hook, format="teams")
