"""The shape every bulk ingest shares: size limits, field checks, cross-item checks, one transactional
write, the data-health log, and follow-up work after commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction

from core.errors import InvalidInput
from integrations.models import IngestBatch
from integrations.services import ingest_batch_record
from integrations.validation import BatchRejected, ItemSpec

MAX_BATCH_ITEMS = 10_000


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    account_ids: set[int] = field(default_factory=set)
    days: set[date] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "duplicates": self.duplicates}

    def touched(self) -> dict | None:
        """What the follow-up work needs, or None when the batch changed nothing."""
        if not self.account_ids:
            return None
        return {"account_ids": sorted(self.account_ids), "days": sorted(day.isoformat() for day in self.days)}


@dataclass(frozen=True)
class Caller:
    """Who sent a batch, for the data-health log."""

    api_key: Any = None
    user: Any = None
    source: str = "api"


def batch_size_check(items: Sequence) -> None:
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidInput(f"A batch holds at most {MAX_BATCH_ITEMS:,} items; this one has {len(items):,}. "
                           "Split it into smaller batches.")
    if not items:
        raise InvalidInput("The batch is empty: send at least one item.")


def batch_ingest(
    *,
    kind: str,
    spec: ItemSpec,
    items: Sequence,
    caller: Caller,
    check: Callable[[list[dict | None], list[dict]], Any],
    write: Callable[[list[dict], Any], IngestResult],
    follow_up: Callable[[IngestBatch], None],
) -> IngestResult:
    """Validate every item, then write the batch in one transaction, or reject it whole (BatchRejected).

    `check` adds cross-item errors and returns what `write` needs (e.g. resolved account ids);
    `follow_up` registers the after-commit work for a batch that touched something (recorded on the batch).
    """
    batch_size_check(items)
    errors: list[dict] = []
    parsed = spec.parse_all(items, errors)
    context = check(parsed, errors)
    if errors:
        raise BatchRejected(
            f"The batch was rejected: {len(errors)} problem(s) in {len({e['index'] for e in errors})} item(s); "
            "nothing was stored.",
            errors,
            log={"kind": kind, "items": len(items), "api_key": caller.api_key, "user": caller.user,
                 "source": caller.source},
        )
    with transaction.atomic():
        result = write(parsed, context)
        batch = ingest_batch_record(kind=kind, items=len(items), accepted=True, api_key=caller.api_key,
                                    user=caller.user, source=caller.source, follow_up=result.touched(),
                                    **result.counts())
        if batch.follow_up:
            follow_up(batch)
    return result
