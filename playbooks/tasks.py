"""Periodic playbook upkeep: beat fans out per tenant; each tenant escalates its overdue tasks."""

from celery import shared_task

from playbooks.digest import digests_send
from playbooks.services import renewal_runs_start, tasks_escalate, tasks_escalation_due
from tenants.tasks import delay_in_each_tenant


@shared_task(ignore_result=True)
def tasks_escalate_task() -> None:
    tasks_escalate()


@shared_task(ignore_result=True)
def tasks_escalate_all_tenants() -> None:
    delay_in_each_tenant(tasks_escalate_task, only_where=tasks_escalation_due)


@shared_task(ignore_result=True)
def renewal_runs_start_task() -> None:
    renewal_runs_start()


@shared_task(ignore_result=True)
def renewal_runs_start_all_tenants() -> None:
    delay_in_each_tenant(renewal_runs_start_task)


@shared_task(ignore_result=True)
def digests_send_task() -> None:
    digests_send()


@shared_task(ignore_result=True)
def digests_send_all_tenants() -> None:
    delay_in_each_tenant(digests_send_task)
