"""The follow-up of accepted batches, an outbox on IngestBatch: each committed batch tells every listener
which accounts and days it touched, once, whether its message arrives or the sweeper finds it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.signals import customer_data_changed
from integrations.models import IngestBatch

# A batch not followed up this long after it arrived lost its message (broker down, worker killed).
FOLLOW_UP_GRACE = timedelta(seconds=settings.INGEST_FOLLOW_UP_GRACE_SECONDS)


def batch_follow_up(*, batch_id: int) -> bool:
    """Tell every listener what the batch touched, and mark it done, in one transaction: a worker killed
    half-way leaves the batch due again. The row lock makes a second worker skip it, so it runs once."""
    with transaction.atomic():
        batch = (IngestBatch.objects.select_for_update(skip_locked=True)
                 .filter(pk=batch_id, follow_up__isnull=False, followed_up_at__isnull=True).first())
        if batch is None:
            return False
        customer_data_changed.send(sender=IngestBatch, kind=batch.kind, account_ids=batch.follow_up["account_ids"],
                                   days=[datetime.fromisoformat(day).date() for day in batch.follow_up["days"]],
                                   created_ids=batch.follow_up.get("created_ids", []))
        IngestBatch.objects.filter(pk=batch.pk).update(followed_up_at=timezone.now())
    return True


def batches_follow_up_due() -> QuerySet[IngestBatch]:
    """The batches whose follow-up is due: not done, and past the grace its message had."""
    return IngestBatch.objects.filter(follow_up__isnull=False, followed_up_at__isnull=True,
                                      received_at__lte=timezone.now() - FOLLOW_UP_GRACE)


def batch_follow_ups_due(*, limit: int = 100) -> int:
    """The sweeper: follow up the batches whose message never arrived. Returns how many it did."""
    due = batches_follow_up_due().order_by("received_at").values_list("pk", flat=True)[:limit]
    return sum(batch_follow_up(batch_id=batch_id) for batch_id in list(due))
