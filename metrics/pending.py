"""The debounce of incremental recomputes: accounts touched by fresh data collect in a Redis set per tenant,
and one task, sent at most once per debounce interval, recomputes them all. Likewise the re-aggregations that
incremental runs leave to the bulk queue (the segments and portfolio of a median, which read every account)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import redis
from django.conf import settings

# Short enough that a breach becomes a task within seconds; long enough to merge a burst of batches.
DEBOUNCE_SECONDS = 2


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


# How long re-aggregations of medians wait for more incremental runs to join them: each reads every account.
REAGGREGATION_DEBOUNCE_SECONDS = 10


def _keys(schema: str, what: str = "accounts") -> tuple[str, str]:
    """The set of pending `what` and the flag of its scheduled task. The schema name in every key: no tenant can
    see or take another's pending work."""
    return f"bellwether:{schema}:metrics:pending-{what}", f"bellwether:{schema}:metrics:{what}-scheduled"


def _add(keys: tuple[str, str], members: list[str], seconds: int) -> bool:
    """Add `members` to the pending set; True when no task is scheduled yet (the caller must send one)."""
    if not members:
        return False
    pending, scheduled = keys
    client = _client()
    client.sadd(pending, *members)
    return bool(client.set(scheduled, "1", nx=True, ex=seconds))


def _take(keys: tuple[str, str]) -> list[str]:
    """Take (and forget) every pending member, atomically, so two workers never take the same ones."""
    pending, scheduled = keys
    client = _client()
    with client.pipeline(transaction=True) as pipe:
        pipe.smembers(pending)
        pipe.delete(pending)
        pipe.delete(scheduled)
        members, _, _ = pipe.execute()
    return sorted(member.decode() for member in members)


def pending_accounts_add(*, schema: str, account_ids: Iterable[int]) -> bool:
    """Remember the accounts; True when the caller must schedule the recompute (none is scheduled yet)."""
    return _add(_keys(schema), [str(account_id) for account_id in account_ids], DEBOUNCE_SECONDS)


def pending_accounts_take(*, schema: str) -> list[int]:
    """Take (and forget) every pending account, atomically, so two workers never recompute the same batch."""
    return sorted(int(member) for member in _take(_keys(schema)))


def pending_reaggregations_add(*, schema: str, as_of: date, kpi_ids: Iterable[int]) -> bool:
    """Remember the KPIs whose segments and portfolio of `as_of` an incremental run left to re-aggregate; True
    when the caller must schedule the re-aggregation (none is scheduled yet)."""
    return _add(_keys(schema, "reaggregations"), [f"{as_of.isoformat()}:{kpi_id}" for kpi_id in kpi_ids],
                REAGGREGATION_DEBOUNCE_SECONDS)


def pending_reaggregations_take(*, schema: str) -> dict[date, list[int]]:
    """Take every pending re-aggregation: the KPIs of each date."""
    taken: dict[date, list[int]] = {}
    for member in _take(_keys(schema, "reaggregations")):
        day, kpi_id = member.split(":")
        taken.setdefault(date.fromisoformat(day), []).append(int(kpi_id))
    return taken
