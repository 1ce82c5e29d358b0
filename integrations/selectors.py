"""Data health: how fresh each feed is, who sends what, what was refused, and gaps in the data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from integrations.models import ApiKey, DataKind, FeedPolicy, IngestBatch

DEFAULT_MAX_SILENCE_HOURS = 48
HEALTH_WINDOW_DAYS = 7


@dataclass(frozen=True)
class FeedHealth:
    kind: str
    label: str
    last_received_at: datetime | None
    items_last_7_days: int
    batches_last_7_days: int
    rejected_last_7_days: int
    max_silence_hours: int
    as_of: datetime
    daily_items: tuple[int, ...] = ()  # items accepted per UTC day, oldest first, the last 7 days

    @property
    def is_stale(self) -> bool:
        """A feed that has delivered before and, at `as_of`, had been quiet longer than its limit."""
        if self.last_received_at is None:
            return False
        return self.as_of - self.last_received_at > timedelta(hours=self.max_silence_hours)


@dataclass(frozen=True)
class HealthReport:
    """A problem another app of the data layer sees in the data (calls held for an unknown account...), shown on
    data health without this app importing it: the app registers a provider in its ready()."""

    title: str
    count: int
    detail: str
    rows: list[str] = field(default_factory=list)
    link: str = ""


DATA_HEALTH_REPORTS: list[Callable[[], HealthReport | None]] = []


def data_health_report_register(provider: Callable[[], HealthReport | None]) -> None:
    if provider not in DATA_HEALTH_REPORTS:
        DATA_HEALTH_REPORTS.append(provider)


def data_health_reports() -> list[HealthReport]:
    """The registered reports that have something to say."""
    return [report for provider in DATA_HEALTH_REPORTS if (report := provider()) is not None]


def _daily_items(since: datetime, now: datetime) -> dict[str, tuple[int, ...]]:
    days = [(since + timedelta(days=offset + 1)).date() for offset in range(HEALTH_WINDOW_DAYS)]
    counts: dict[tuple[str, object], int] = {
        (row["kind"], row["day"]): row["items"]
        for row in IngestBatch.objects.filter(accepted=True, received_at__gt=since, received_at__lte=now)
        .annotate(day=TruncDate("received_at")).values("kind", "day").annotate(items=Sum("items"))
    }
    return {kind: tuple(counts.get((kind, day), 0) for day in days) for kind in DataKind.values}


def feed_health(*, now: datetime | None = None) -> list[FeedHealth]:
    """One row per kind of data, in three queries."""
    now = now or timezone.now()
    since = now - timedelta(days=HEALTH_WINDOW_DAYS)
    accepted = Q(accepted=True)
    recent = Q(received_at__gte=since)
    stats = {row["kind"]: row for row in IngestBatch.objects.values("kind").annotate(
        last=Max("received_at", filter=accepted),
        items=Sum("items", filter=accepted & recent, default=0),
        batches=Count("id", filter=accepted & recent),
        rejected=Count("id", filter=Q(accepted=False) & recent),
    )}
    limits = dict(FeedPolicy.objects.values_list("kind", "max_silence_hours"))
    daily = _daily_items(since, now)
    return [
        FeedHealth(
            kind=kind, label=label, last_received_at=stats.get(kind, {}).get("last"),
            items_last_7_days=stats.get(kind, {}).get("items", 0),
            batches_last_7_days=stats.get(kind, {}).get("batches", 0),
            rejected_last_7_days=stats.get(kind, {}).get("rejected", 0),
            max_silence_hours=limits.get(kind, DEFAULT_MAX_SILENCE_HOURS), as_of=now, daily_items=daily[kind],
        )
        for kind, label in DataKind.choices
    ]


def api_key_activity(*, now: datetime | None = None) -> list[dict]:
    """Each key with its last use and what it sent in the last 7 days."""
    since = (now or timezone.now()) - timedelta(days=HEALTH_WINDOW_DAYS)
    recent = Q(batches__received_at__gte=since)
    return list(ApiKey.objects.annotate(
        batches_7d=Count("batches", filter=recent),
        items_7d=Sum("batches__items", filter=recent & Q(batches__accepted=True), default=0),
        rejected_7d=Count("batches", filter=recent & Q(batches__accepted=False)),
    ).values("id", "name", "prefix", "scopes", "last_used_at", "revoked_at", "batches_7d", "items_7d",
             "rejected_7d").order_by("-last_used_at", "name"))


def rejected_batches(*, limit: int = 20):
    return IngestBatch.objects.filter(accepted=False).select_related("api_key").order_by("-received_at")[:limit]
