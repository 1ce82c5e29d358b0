"""Breaches start and close playbook runs; new accounts start onboarding; a new tenant gets the default playbooks;
a deleted alert rule leaves its playbooks (their runs and tasks are history) as manual ones."""

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from accounts.signals import customer_data_changed
from integrations.models import DataKind
from metrics.alerts import breach_opened, breach_resolved
from metrics.models import AlertRule
from playbooks.defaults import default_playbooks_install
from playbooks.models import Playbook, Trigger
from playbooks.services import onboarding_runs_start, runs_close_for_recovered_breaches, runs_start_for_breaches
from tenants.signals import tenant_created


@receiver(breach_opened)
def start_playbooks(sender, *, breach_ids: list[int], **kwargs) -> None:
    runs_start_for_breaches(breach_ids=breach_ids)


@receiver(breach_resolved)
def close_recovered_runs(sender, *, breach_ids: list[int], **kwargs) -> None:
    runs_close_for_recovered_breaches(breach_ids=breach_ids)


@receiver(customer_data_changed)
def start_onboarding(sender, *, kind: str, account_ids: list[int], **kwargs) -> None:
    if kind == DataKind.ACCOUNTS:
        onboarding_runs_start(account_ids=account_ids)


@receiver(tenant_created)
def install_default_playbooks(sender, **kwargs) -> None:
    """After metrics' receiver (metrics is installed first) has created the default alert rules they answer."""
    default_playbooks_install()


@receiver(pre_delete, sender=AlertRule)
def keep_the_playbooks_of_a_deleted_rule(sender, instance: AlertRule, **kwargs) -> None:
    """Deleting a rule (or its KPI) empties the playbook's rule, which an alert-triggered playbook may not lack: it
    becomes a manual playbook, inactive, so it starts nothing by itself and keeps its runs, tasks and audit trail.
    Saved one by one so the audit log records the change."""
    for playbook in Playbook.objects.filter(alert_rule=instance, trigger=Trigger.ALERT):
        playbook.trigger, playbook.is_active = Trigger.MANUAL, False
        playbook.save(update_fields=["trigger", "is_active"])
