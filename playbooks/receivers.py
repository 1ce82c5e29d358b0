"""Breaches start and close playbook runs; new accounts start onboarding."""

from django.dispatch import receiver

from accounts.signals import customer_data_changed
from integrations.models import DataKind
from metrics.alerts import breach_opened, breach_resolved
from playbooks.services import onboarding_runs_start, runs_close_for_recovered_breaches, runs_start_for_breaches


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
