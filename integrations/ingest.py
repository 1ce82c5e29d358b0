"""The shape every bulk ingest shares: size limits, field checks, cross-item checks, one transactional
write, the data-health log, and follow-up work after commit."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction

from core.errors import InvalidInput
from integrations.models import IngestBatch
from integrations.services import ingest_batch_record
from integrations.validation import BatchRejected, ItemSpec, duplicates_flag

MAX_BATCH_ITEMS = 10_000


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    account_ids: set[int] = field(default_factory=set)
    days: set[date] = field(default_factory=set)
    # Ids of the rows the batch created, for follow-up work that must touch exactly those (comment sentiment).
    created_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "duplicates": self.duplicates}

    def add(self, other: IngestResult) -> None:
        """Fold in the result of another chunk of the same import."""
        self.created += other.created
        self.updated += other.updated
        self.duplicates += other.duplicates
        self.account_ids |= other.account_ids
        self.days |= other.days
        self.created_ids += other.created_ids

    def touched(self) -> dict | None:
        """What the follow-up work needs, or None when the batch changed nothing."""
        if not self.account_ids:
            return None
        touched = {"account_ids": sorted(self.account_ids), "days": sorted(day.isoformat() for day in self.days)}
        if self.created_ids:
            touched["created_ids"] = sorted(self.created_ids)
        return touched


@dataclass(frozen=True)
class Caller:
    """Who sent a batch, for the data-health log."""

    api_key: Any = None
    user: Any = None
    source: str = "api"


@dataclass(frozen=True)
class UniqueKey:
    """What may appear only once in a batch: the field an error names, an item's key, and its name in words."""

    field: str
    what: str
    key: Callable[[dict], Hashable] | None = None  # without it, the value of `field`

    def of(self, item: dict) -> Hashable | None:
        """The item's key, or None when part of it is missing (its own field error says what is wrong)."""
        key = self.key(item) if self.key else item.get(self.field)
        if key is None or (isinstance(key, tuple) and None in key):
            return None
        return key


@dataclass(frozen=True)
class IngestKind:
    """One kind of data and how a batch of it is checked and written.

    `check` adds cross-item errors (beyond `unique`) and returns what `write` needs (e.g. resolved account
    ids); `write` stores parsed items set-based; `follow_up` registers the after-commit work for a batch that
    touched something (recorded on the batch). CSV imports use the same parts, a chunk at a time.
    """

    kind: str
    spec: ItemSpec
    unique: UniqueKey
    check: Callable[[list[dict | None], list[dict]], Any]
    write: Callable[[list[dict], Any], IngestResult]
    follow_up: Callable[[IngestBatch], None]

    def validate(self, items: Sequence, errors: list[dict]) -> tuple[list[dict | None], Any]:
        """Parse and check `items` within themselves and against the database; problems go to `errors`."""
        parsed = self.spec.parse_all(items, errors)
        duplicates_flag([(index, self.unique.of(item)) for index, item in enumerate(parsed) if item],
                        self.unique.field, errors, self.unique.what)
        return parsed, self.check(parsed, errors)

    def record(self, *, result: IngestResult, items: int, caller: Caller) -> IngestBatch:
        """Log the accepted batch with what it touched, and register its follow-up; inside the write's transaction."""
        batch = ingest_batch_record(kind=self.kind, items=items, accepted=True, api_key=caller.api_key,
                                    user=caller.user, source=caller.source, follow_up=result.touched(),
                                    **result.counts())
        if batch.follow_up:
            self.follow_up(batch)
        return batch


# The kinds of data the CSV import takes, by DataKind; registered by the app that owns each kind.
CSV_IMPORTABLE: dict[str, IngestKind] = {}


def csv_importable_register(kind: IngestKind) -> IngestKind:
    CSV_IMPORTABLE[kind.kind] = kind
    return kind


def batch_size_check(items: Sequence) -> None:
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidInput(f"A batch holds at most {MAX_BATCH_ITEMS:,} items; this one has {len(items):,}. "
                           "Split it into smaller batches.")
    if not items:
        raise InvalidInput("The batch is empty: send at least one item.")


def rejection(*, kind: str, errors: list[dict], items: int, caller: Caller, unit: str = "item",
              where: str = "") -> BatchRejected:
    """A refused batch, with what data health records about it."""
    rejected_units = len({error.get("index", error.get("row")) for error in errors})
    return BatchRejected(
        f"The {where or 'batch'} was rejected: {len(errors)} problem(s) in {rejected_units} {unit}(s); "
        "nothing was stored.",
        errors,
        log={"kind": kind, "items": items, "api_key": caller.api_key, "user": caller.user, "source": caller.source},
    )


def batch_ingest(*, kind: IngestKind, items: Sequence, caller: Caller) -> IngestResult:
    """Validate every item, then write the batch in one transaction, or reject it whole (BatchRejected)."""
    batch_size_check(items)
    errors: list[dict] = []
    parsed, context = kind.validate(items, errors)
    if errors:
        raise rejection(kind=kind.kind, errors=errors, items=len(items), caller=caller)
    with transaction.atomic():
        result = kind.write(parsed, context)
        kind.record(result=result, items=len(items), caller=caller)
    return result
