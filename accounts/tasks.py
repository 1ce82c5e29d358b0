"""Celery adapters for customer-data upkeep: the ingest follow-up and the periodic rollup sweep
(beat fans out per tenant, each tenant refreshes its own)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from accounts.follow_up import batch_follow_up, batch_follow_ups_due, batches_follow_up_due
from accounts.models import UsageEvent
from accounts.services import usage_days_received_since, usage_rollups_refresh
from tenants.tasks import delay_in_each_tenant

# The sweeper looks back twice its beat interval, so one missed beat loses nothing.
SWEEP_LOOKBACK = timedelta(minutes=30)


@shared_task(ignore_result=True, acks_late=True)
def ingest_follow_up(*, batch_id: int) -> None:
    """Tell every listener which accounts (and days) a committed batch touched."""
    batch_follow_up(batch_id=batch_id)


@shared_task(ignore_result=True)
def ingest_follow_ups_due() -> None:
    """Follow up the batches of this tenant whose message a broker outage or a dead worker lost."""
    batch_follow_ups_due()


@shared_task(ignore_result=True)
def ingest_follow_ups_due_all_tenants() -> None:
    delay_in_each_tenant(ingest_follow_ups_due, only_where=batches_follow_up_due)


@shared_task(ignore_result=True)
def usage_rollups_refresh_recent() -> None:
    """Refresh the rollup days of events received recently, in the tenant the task was sent from."""
    usage_rollups_refresh(days=usage_days_received_since(since=timezone.now() - SWEEP_LOOKBACK))


@shared_task(ignore_result=True)
def usage_rollups_refresh_all_tenants() -> None:
    delay_in_each_tenant(usage_rollups_refresh_recent, only_where=lambda: UsageEvent.objects.filter(
        received_at__gte=timezone.now() - SWEEP_LOOKBACK))
