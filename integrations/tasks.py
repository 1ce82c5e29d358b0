"""Integration work in the background: CSV imports, and periodic upkeep (beat fans out per tenant)."""

from celery import shared_task

from integrations.csv_import import csv_import_run, csv_imports_resend, csv_imports_resend_due
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


@shared_task(ignore_result=True)
def csv_import_task(*, csv_import_id: int) -> None:
    """Import a queued CSV file, all or nothing."""
    csv_import_run(csv_import_id=csv_import_id)


@shared_task(ignore_result=True)
def csv_imports_resend_task() -> None:
    """Send again the imports of this tenant whose message was lost or whose worker died."""
    csv_imports_resend()


@shared_task(ignore_result=True)
def csv_imports_resend_all_tenants() -> None:
    delay_in_each_tenant(csv_imports_resend_task, only_where=csv_imports_resend_due)
