"""Held calls wait for their account: when accounts arrive by any path (the bulk API, a CSV, a CRM export),
the calls that named them are applied."""

from django.dispatch import receiver

from accounts.signals import customer_data_changed
from connectors.models import HeldCall
from integrations.models import DataKind
from tenants.tasks import on_commit_in_tenant


@receiver(customer_data_changed)
def held_calls_on_accounts(sender, *, kind: str, account_ids: list[int], **kwargs) -> None:
    if kind != DataKind.ACCOUNTS or not account_ids or not HeldCall.objects.exists():
        return
    from connectors.tasks import held_calls_replay_task

    on_commit_in_tenant(lambda: held_calls_replay_task.delay(account_ids=list(account_ids)))
