"""The demo tenant's metrics: the catalogue with targets for this quarter and last, and a history of values
so charts and trends have something to show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from metrics.catalogue import catalogue_install, default_rules_install
from metrics.models import KPI, ComputationRun
from metrics.prediction.selectors import quarter_bounds
from metrics.services import kpi_target_set, kpis_compute

# Targets a CS leader might set for the demo's KPIs (same unit as the KPI).
DEMO_TARGETS = {
    "grr": 92, "nrr": 108, "logo-churn": 8, "renewal-rate": 88, "nps": 35, "csat": 85, "ces": 5.5,
    "activation-rate": 70, "time-to-first-value": 14, "feature-adoption": 40, "adoption-breadth": 50,
    "stickiness": 25, "seat-utilization": 65, "usage-trend": 0, "ticket-load": 4, "first-response-hours": 6,
    "health-score": 70, "renewal-probability": 85, "expansion-potential": 15,
}
HISTORY_WEEKS = 12

# Rules a CS team would start with: (KPI, name, scope, condition, threshold, severity, action, extra fields).
DEMO_RULES = (
    ("health-score", "Account health turned red", "account", "below", 50, "high", "start_playbook",
     {"hysteresis": 5, "persistence": 1}),
    ("seat-utilization", "Seats barely used", "account", "below", 20, "medium", "start_playbook",
     {"hysteresis": 5}),
    ("nps", "Account is a detractor", "account", "below", 0, "high", "start_playbook", {"hysteresis": 10}),
    ("usage-trend", "Usage fell by a third", "account", "below", -33, "critical", "start_playbook",
     {"hysteresis": 10}),
    ("nrr", "Net revenue retention off target", "portfolio", "off_target", None, "high", "notify_owner", {}),
)
# Quarters back for which the renewal forecast is made from the values of the quarter's first day, so the forecast
# page can set each past quarter's forecast against what happened (each is a true back-test: see kpi_backfill).
FORECAST_QUARTERS_BACK = 4


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def previous_quarter(day: date) -> str:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return quarter_of(first - timedelta(days=1))


def demo_metrics_seed(*, as_of: date, owner=None, history_weeks: int = HISTORY_WEEKS,
                      before_compute: Callable[[], object] | None = None) -> int:
    """Install the catalogue and alert rules, set targets for this quarter and the last, and compute the
    last complete day plus one value a week for the previous weeks. `before_compute` lets the caller add
    what reacts to the values (the playbooks of the rules). Returns the number of values written."""
    catalogue_install(owner=owner)
    default_rules_install(owner=owner)  # a tenant made before the defaults existed gets them too
    _demo_rules(owner)
    if before_compute is not None:
        before_compute()
    for slug, value in DEMO_TARGETS.items():
        kpi = KPI.objects.filter(slug=slug).first()
        if kpi is None:
            continue
        for period in (previous_quarter(as_of), quarter_of(as_of)):
            if not kpi.targets.filter(period=period, superseded_at__isnull=True, dimension="").exists():
                kpi_target_set(kpi=kpi, period=period, value=value, set_by=owner,
                               reason="Demo: the CS leader's plan for the quarter")
    written = 0
    last_day = as_of - timedelta(days=1)
    now = timezone.now()
    for weeks_back in range(history_weeks, -1, -1):
        day = last_day - timedelta(weeks=weeks_back)
        # Each past week's values are "seen" the morning after that day, so the breaches of the history open
        # and resolve weeks apart, as they would have, and playbook effectiveness has real durations.
        seen = min(now, timezone.make_aware(datetime.combine(day + timedelta(days=1), time(6))))
        run = kpis_compute(as_of=day, trigger=ComputationRun.Trigger.BACKFILL, detected_at=seen)
        written += run.rows_written
    renewal = KPI.objects.filter(slug="renewal-probability").first()
    if renewal is not None and history_weeks:
        for first in _quarter_starts(as_of, FORECAST_QUARTERS_BACK):
            written += kpis_compute(as_of=first, trigger=ComputationRun.Trigger.BACKFILL, kpis=[renewal],
                                    detected_at=timezone.make_aware(datetime.combine(first, time(6)))).rows_written
    return written


def _quarter_starts(as_of: date, count: int) -> list[date]:
    """The first days of the `count` quarters before as_of's, oldest first."""
    starts = [quarter_bounds(as_of)[0]]
    for _ in range(count):
        starts.append(quarter_bounds(starts[-1] - timedelta(days=1))[0])
    return starts[:0:-1]


def _demo_rules(owner) -> None:
    from metrics.models import AlertRule

    for slug, name, scope, condition, threshold, severity, action, extra in DEMO_RULES:
        kpi = KPI.objects.filter(slug=slug).first()
        if kpi is not None and not AlertRule.objects.filter(kpi=kpi, name=name).exists():
            AlertRule.objects.create(kpi=kpi, name=name, scope=scope, condition=condition, threshold=threshold,
                                     severity=severity, action=action, created_by=owner, **extra)
