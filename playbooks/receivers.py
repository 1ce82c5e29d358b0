"""Breaches start and close playbook runs."""

from django.dispatch import receiver

from metrics.alerts import breach_opened, breach_resolved
from playbooks.services import runs_close_for_recovered_breaches, runs_start_for_breaches


@receiver(breach_opened)
def start_playbooks(sender, *, breach_ids: list[int], **kwargs) -> None:
    runs_start_for_breaches(breach_ids=breach_ids)


@receiver(breach_resolved)
def close_recovered_runs(sender, *, breach_ids: list[int], **kwargs) -> None:
    runs_close_for_recovered_breaches(breach_ids=breach_ids)
