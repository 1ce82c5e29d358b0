"""Celery adapters for the metrics engine: scheduled runs at each KPI's cadence, on-demand runs, and the
debounced incremental recompute of the accounts that fresh data touched."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.db import connection
from django.utils import timezone

from metrics.models import KPI, Cadence, ComputationRun
from metrics.pending import pending_accounts_take
from metrics.services import computation_run_create, computation_run_execute
from tenants.tasks import delay_in_each_tenant


def due_cadences(day: date) -> set[str]:
    """Which cadences report on `day`: daily always, the others on the last day of their period."""
    due = {Cadence.DAILY}
    tomorrow = day + timedelta(days=1)
    if day.weekday() == 6:
        due.add(Cadence.WEEKLY)
    if tomorrow.day == 1:
        due.add(Cadence.MONTHLY)
        if tomorrow.month in (1, 4, 7, 10):
            due.add(Cadence.QUARTERLY)
    return due


@shared_task(ignore_result=True, acks_late=True)
def computation_run_task(run_id: int) -> None:
    run = ComputationRun.objects.filter(pk=run_id).first()
    if run is not None:  # gone: nothing to do
        computation_run_execute(run=run)


@shared_task(ignore_result=True)
def kpis_compute_scheduled() -> None:
    """Yesterday (the last complete day) for every active KPI whose cadence reports on it."""
    day = timezone.localdate() - timedelta(days=1)
    kpis = list(KPI.objects.filter(is_active=True, cadence__in=due_cadences(day)))
    if kpis:
        run = computation_run_create(as_of=day, trigger=ComputationRun.Trigger.SCHEDULE, kpis=kpis)
        computation_run_execute(run=run)


@shared_task(ignore_result=True)
def kpis_compute_scheduled_all_tenants() -> None:
    delay_in_each_tenant(kpis_compute_scheduled)


@shared_task(ignore_result=True, acks_late=True)
def kpis_recompute_touched_accounts() -> None:
    """Recompute today's values of every active KPI for the accounts fresh data touched since the last run."""
    account_ids = pending_accounts_take(schema=connection.schema_name)
    if account_ids:
        run = computation_run_create(as_of=timezone.localdate(), trigger=ComputationRun.Trigger.INGEST,
                                     account_ids=account_ids)
        computation_run_execute(run=run)
