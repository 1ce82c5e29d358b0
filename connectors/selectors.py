"""Reads for the connectors' pages and data health: recent calls, calls held, activity per connector."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from connectors.catalogue import SLACK
from connectors.models import ConnectorCall, HeldCall
from integrations.selectors import HealthReport
from notifications.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookFormat

RECENT_CALLS = 50


def calls_recent(*, connector: str, refused: bool | None = None, limit: int = RECENT_CALLS) -> list[ConnectorCall]:
    calls = ConnectorCall.objects.filter(connector=connector).select_related("api_key")
    if refused is not None:
        calls = calls.filter(status_code__gte=300) if refused else calls.filter(status_code__lt=300)
    return list(calls.order_by("-received_at", "-id")[:limit])


def connector_activity(*, now: datetime | None = None) -> dict[str, dict]:
    """Per connector: the last call, and calls accepted and refused in the last 7 days (Slack: its deliveries,
    delivered and failing); two queries."""
    since = (now or timezone.now()) - timedelta(days=7)
    rows = ConnectorCall.objects.values("connector").annotate(
        last=Max("received_at"),
        accepted=Count("id", filter=Q(received_at__gte=since, status_code__lt=300)),
        refused=Count("id", filter=Q(received_at__gte=since, status_code__gte=300)),
    )
    return {row["connector"]: row for row in rows} | {SLACK: slack_activity(now=now)}


# A Slack delivery that went wrong: given up on, or waiting for its next attempt after a failed one.
SLACK_FAILING = Q(status=DeliveryStatus.FAILED) | Q(status=DeliveryStatus.PENDING, attempts__gt=0)


def slack_webhooks() -> list[Webhook]:
    return list(Webhook.objects.filter(format=WebhookFormat.SLACK).order_by("name", "id"))


def slack_deliveries(*, failing: bool, limit: int = 20) -> list[WebhookDelivery]:
    """The last deliveries to Slack: delivered, or failing (given up, or to be retried after a failure)."""
    deliveries = WebhookDelivery.objects.filter(webhook__format=WebhookFormat.SLACK).select_related("webhook")
    deliveries = deliveries.filter(SLACK_FAILING) if failing else deliveries.filter(status=DeliveryStatus.DELIVERED)
    return list(deliveries.order_by("-created_at", "-id")[:limit])


def slack_activity(*, now: datetime | None = None) -> dict:
    """The Slack line of the connectors list, as `connector_activity` gives the others: one query."""
    since = (now or timezone.now()) - timedelta(days=7)
    return WebhookDelivery.objects.filter(webhook__format=WebhookFormat.SLACK).aggregate(
        last=Max("created_at"),
        accepted=Count("id", filter=Q(created_at__gte=since, status=DeliveryStatus.DELIVERED)),
        refused=Count("id", filter=Q(SLACK_FAILING, created_at__gte=since)))


def held_calls(*, connector: str, limit: int = RECENT_CALLS) -> tuple[int, list[HeldCall]]:
    held = HeldCall.objects.filter(connector=connector)
    return held.count(), list(held.order_by("-received_at", "-id")[:limit])


def held_calls_by_account(*, limit: int = 10) -> list[dict]:
    """The account ids held calls wait for, most calls first (a blank one: calls of users with no account)."""
    return list(HeldCall.objects.values("connector", "account_key").annotate(
        calls=Count("id"), since=Min("received_at")).order_by("-calls", "account_key")[:limit])


def held_calls_report() -> HealthReport | None:
    """Data health's line on held calls: how many, waiting for which accounts, since when."""
    held = HeldCall.objects.aggregate(total=Count("id"), connectors=ArrayAgg("connector", distinct=True, default=[]))
    total = held["total"]
    if not total:
        return None
    # The page of the connector whose calls wait, or the list of connectors when several have some.
    only = held["connectors"][0] if len(held["connectors"]) == 1 else None
    rows = [f"{row['account_key'] or '(no account named: users without a group call)'} — {row['calls']} call(s) "
            f"from {row['connector']}, since {row['since']:%Y-%m-%d %H:%M}" for row in held_calls_by_account()]
    return HealthReport(
        title="Calls held for an unknown account", count=total, rows=rows,
        detail=("These calls named an account (or came from a user) that Bellwether does not know yet. They are "
                "kept, not dropped, and applied as soon as the account arrives: a group call, an account import, "
                "or the bulk API. A call still held after 90 days is let go."),
        link=reverse("connector_detail", args=[only]) if only else reverse("connectors"),
    )
