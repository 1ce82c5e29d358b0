"""Celery adapters for the connectors."""

from celery import shared_task

from connectors.services import connector_logs_purge, held_calls_replay_for_accounts
from tenants.tasks import delay_in_each_tenant


@shared_task(ignore_result=True)
def held_calls_replay_task(*, account_ids: list[int]) -> None:
    """Apply the calls held for these accounts (they arrived after the calls that named them)."""
    held_calls_replay_for_accounts(account_ids=account_ids)


@shared_task(ignore_result=True)
def connector_logs_purge_task() -> None:
    connector_logs_purge()


@shared_task(ignore_result=True)
def connector_logs_purge_all_tenants() -> None:
    delay_in_each_tenant(connector_logs_purge_task)
