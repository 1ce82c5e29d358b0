"""Periodic follow-up of review decisions: beat fans out per tenant; each tenant marks missed decisions and
sends the reminders due (each once)."""

from celery import shared_task

from reviews.services import decisions_follow_up
from tenants.tasks import delay_in_each_tenant


@shared_task(ignore_result=True)
def decisions_follow_up_task() -> None:
    decisions_follow_up()


@shared_task(ignore_result=True)
def decisions_follow_up_all_tenants() -> None:
    delay_in_each_tenant(decisions_follow_up_task)
