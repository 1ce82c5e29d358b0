"""Celery adapters for the metrics engine: scheduled runs at each KPI's cadence, on-demand runs, and the
debounced incremental recompute of the accounts that fresh data touched."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from metrics.models import KPI, Cadence, ComputationRun, PredictionModel
from metrics.pending import pending_accounts_take, pending_reaggregations_take
from metrics.services import aggregates_refresh, computation_run_create, computation_run_execute
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


# A run still "running" this long after it started lost its worker (a full catalogue at 10k accounts takes
# under a minute here); the sweeper runs it again.
STALE_RUN_AFTER = timedelta(minutes=30)


def _run_again(run_id: int) -> None:
    """Put a run whose worker died back to pending. Each KPI's values are replaced in one transaction, so
    what the dead worker committed is whole, and running everything again duplicates nothing."""
    ComputationRun.objects.filter(pk=run_id, status=ComputationRun.Status.RUNNING).update(
        status=ComputationRun.Status.PENDING)


@shared_task(bind=True, ignore_result=True, acks_late=True)
def computation_run_task(self, run_id: int) -> None:
    run = ComputationRun.objects.filter(pk=run_id).first()
    if run is None:  # gone: nothing to do
        return
    if (self.request.delivery_info or {}).get("redelivered"):
        # The broker gave the message back because the worker running it was lost (acks_late).
        _run_again(run_id)
    computation_run_execute(run=run)


def computation_runs_stale() -> QuerySet[ComputationRun]:
    """Runs still marked running long after they started: their worker died mid-way."""
    return ComputationRun.objects.filter(status=ComputationRun.Status.RUNNING,
                                         started_at__lt=timezone.now() - STALE_RUN_AFTER)


@shared_task(ignore_result=True)
def computation_runs_stale_resume() -> int:
    """Run again the runs whose worker died mid-way without the broker noticing (a whole worker killed)."""
    stale = list(computation_runs_stale().values_list("pk", flat=True))
    for run_id in stale:
        _run_again(run_id)
        computation_run_execute(run=ComputationRun.objects.get(pk=run_id))
    return len(stale)


@shared_task(ignore_result=True)
def computation_runs_stale_resume_all_tenants() -> None:
    delay_in_each_tenant(computation_runs_stale_resume, only_where=computation_runs_stale)


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


@shared_task(ignore_result=True, acks_late=True)
def aggregates_refresh_task() -> None:
    """Re-aggregate what incremental runs left to the bulk queue (the segments and portfolio of medians)."""
    for as_of, kpi_ids in pending_reaggregations_take(schema=connection.schema_name).items():
        aggregates_refresh(as_of=as_of, kpi_ids=kpi_ids)


@shared_task(ignore_result=True)
def prediction_models_train(slugs: list[str] | None = None, cutoff: str | None = None,
                            trigger: str = PredictionModel.Trigger.SCHEDULE) -> None:
    """A new model version for each predictive KPI (or those named), on what was known on `cutoff` (default:
    yesterday, the last complete day, the date the nightly computation values)."""
    from metrics.predictive import prediction_models_train as train

    day = date.fromisoformat(cutoff) if cutoff else timezone.localdate() - timedelta(days=1)
    train(cutoff=day, trigger=trigger, slugs=slugs)


@shared_task(ignore_result=True)
def prediction_models_train_all_tenants() -> None:
    delay_in_each_tenant(prediction_models_train)


@shared_task(ignore_result=True)
def survey_comments_score_task(*, response_ids: list[int]) -> None:
    """Score the next claim of these answers' comments; while a full claim was scored, queue the next one
    behind the work waiting meanwhile (one task never holds a worker for long)."""
    from metrics.sentiment import CLAIM_SIZE, survey_comments_score

    if survey_comments_score(response_ids=response_ids) == CLAIM_SIZE:
        survey_comments_score_task.delay(response_ids=response_ids)
