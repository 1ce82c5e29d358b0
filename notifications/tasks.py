"""Webhook delivery in the worker, and the sweeper that resends whatever a broker outage dropped."""

from celery import shared_task

from notifications import webhooks
from tenants.tasks import delay_in_each_tenant


@shared_task(ignore_result=True)
def webhook_deliver_task(delivery_id: int) -> None:
    webhooks.delivery_attempt(delivery_id)


@shared_task(ignore_result=True)
def webhook_deliveries_sweep_task() -> None:
    webhooks.deliveries_due_send()


@shared_task(ignore_result=True)
def webhook_deliveries_sweep_all_tenants() -> None:
    delay_in_each_tenant(webhook_deliveries_sweep_task, only_where=webhooks.deliveries_due)


@shared_task(ignore_result=True)
def webhook_deliveries_purge_task() -> None:
    webhooks.deliveries_purge()


@shared_task(ignore_result=True)
def webhook_deliveries_purge_all_tenants() -> None:
    delay_in_each_tenant(webhook_deliveries_purge_task)
