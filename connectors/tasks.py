"""Celery adapters for the connectors."""

from celery import shared_task

from connectors.services import held_calls_replay_for_accounts


@shared_task(ignore_result=True)
def held_calls_replay_task(*, account_ids: list[int]) -> None:
    """Apply the calls held for these accounts (they arrived after the calls that named them)."""
    held_calls_replay_for_accounts(account_ids=account_ids)
