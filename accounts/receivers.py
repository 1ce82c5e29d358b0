"""Keep the usage rollups in step with ingested events, for exactly the accounts and days touched."""

from django.dispatch import receiver

from accounts.services import usage_rollups_refresh
from accounts.signals import customer_data_changed
from integrations.models import DataKind


@receiver(customer_data_changed)
def usage_rollups_on_events(sender, *, kind: str, account_ids: list[int], days: list, **kwargs) -> None:
    if kind == DataKind.EVENTS and days:
        usage_rollups_refresh(days=days, account_ids=account_ids)
