"""Periodic integration upkeep: beat fans out per tenant."""

from celery import shared_task

from integrations.services import idempotent_requests_purge, stale_feeds_alert
from tenants.tasks import delay_in_each_tenant


@shared_task(ignore_result=True)
def stale_feeds_check() -> None:
    stale_feeds_alert()


@shared_task(ignore_result=True)
def stale_feeds_check_all_tenants() -> None:
    delay_in_each_tenant(stale_feeds_check)


@shared_task(ignore_result=True)
def idempotent_requests_purge_task() -> None:
    idempotent_requests_purge()


@shared_task(ignore_result=True)
def idempotent_requests_purge_all_tenants() -> None:
    delay_in_each_tenant(idempotent_requests_purge_task)
