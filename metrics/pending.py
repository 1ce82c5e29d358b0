"""The debounce of incremental recomputes: accounts touched by fresh data collect in a Redis set per tenant,
and one task, sent at most once per debounce interval, recomputes them all."""

from __future__ import annotations

from collections.abc import Iterable

import redis
from django.conf import settings

# Short enough that a breach becomes a task within seconds; long enough to merge a burst of batches.
DEBOUNCE_SECONDS = 2


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _keys(schema: str) -> tuple[str, str]:
    # The schema name in every key: no tenant can see or take another's pending accounts.
    return f"bellwether:{schema}:metrics:pending-accounts", f"bellwether:{schema}:metrics:recompute-scheduled"


def pending_accounts_add(*, schema: str, account_ids: Iterable[int]) -> bool:
    """Remember the accounts; True when the caller must schedule the recompute (none is scheduled yet)."""
    ids = [str(account_id) for account_id in account_ids]
    if not ids:
        return False
    pending, scheduled = _keys(schema)
    client = _client()
    client.sadd(pending, *ids)
    return bool(client.set(scheduled, "1", nx=True, ex=DEBOUNCE_SECONDS))


def pending_accounts_take(*, schema: str) -> list[int]:
    """Take (and forget) every pending account, atomically, so two workers never recompute the same batch."""
    pending, scheduled = _keys(schema)
    client = _client()
    with client.pipeline(transaction=True) as pipe:
        pipe.smembers(pending)
        pipe.delete(pending)
        pipe.delete(scheduled)
        members, _, _ = pipe.execute()
    return sorted(int(member) for member in members)
