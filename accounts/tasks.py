"""Celery adapters for customer-data upkeep: beat fans out per tenant, each tenant refreshes its own."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import get_tenant_model, tenant_context

from accounts.services import usage_days_received_since, usage_rollups_refresh

# The sweeper looks back twice its beat interval, so one missed beat loses nothing.
SWEEP_LOOKBACK = timedelta(minutes=30)


@shared_task(ignore_result=True)
def usage_rollups_refresh_recent() -> None:
    """Refresh the rollup days of events received recently, in the tenant the task was sent from."""
    usage_rollups_refresh(days=usage_days_received_since(since=timezone.now() - SWEEP_LOOKBACK))


@shared_task(ignore_result=True)
def usage_rollups_refresh_all_tenants() -> None:
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            usage_rollups_refresh_recent.delay()
