"""Reads for the connectors' pages and data health: recent calls, calls held, activity per connector."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.urls import reverse
from django.utils import timezone

from connectors.models import ConnectorCall, HeldCall
from integrations.selectors import HealthReport

RECENT_CALLS = 50


def calls_recent(*, connector: str, refused: bool | None = None, limit: int = RECENT_CALLS) -> list[ConnectorCall]:
    calls = ConnectorCall.objects.filter(connector=connector).select_related("api_key")
    if refused is not None:
        calls = calls.filter(status_code__gte=300) if refused else calls.filter(status_code__lt=300)
    return list(calls.order_by("-received_at", "-id")[:limit])


def connector_activity(*, now: datetime | None = None) -> dict[str, dict]:
    """Per connector: the last call, and calls accepted and refused in the last 7 days; one query."""
    since = (now or timezone.now()) - timedelta(days=7)
    rows = ConnectorCall.objects.values("connector").annotate(
        last=Max("received_at"),
        accepted=Count("id", filter=Q(received_at__gte=since, status_code__lt=300)),
        refused=Count("id", filter=Q(received_at__gte=since, status_code__gte=300)),
    )
    return {row["connector"]: row for row in rows}


def held_calls(*, connector: str, limit: int = RECENT_CALLS) -> tuple[int, list[HeldCall]]:
    held = HeldCall.objects.filter(connector=connector)
    return held.count(), list(held.order_by("-received_at", "-id")[:limit])


def held_calls_by_account(*, limit: int = 10) -> list[dict]:
    """The account ids held calls wait for, most calls first (a blank one: calls of users with no account)."""
    return list(HeldCall.objects.values("connector", "account_key").annotate(
        calls=Count("id"), since=Min("received_at")).order_by("-calls", "account_key")[:limit])


def held_calls_report() -> HealthReport | None:
    """Data health's line on held calls: how many, waiting for which accounts, since when."""
    total = HeldCall.objects.count()
    if not total:
        return None
    rows = [f"{row['account_key'] or '(no account named: users without a group call)'} — {row['calls']} call(s) "
            f"from {row['connector']}, since {row['since']:%Y-%m-%d %H:%M}" for row in held_calls_by_account()]
    return HealthReport(
        title="Calls held for an unknown account", count=total, rows=rows,
        detail=("These calls named an account (or came from a user) that Bellwether does not know yet. They are "
                "kept, not dropped, and applied as soon as the account arrives: a group call, an account import, "
                "or the bulk API. A call still held after 90 days is let go."),
        link=reverse("connector_detail", args=["segment"]),
    )
