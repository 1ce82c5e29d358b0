"""Reading the audit log, filtered the way admins and auditors ask: by object, by kind of actor."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEntry


def audit_entries(*, object_type: str | None = None, object_id: str | None = None,
                  actor_kind: str | None = None) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if actor_kind:
        entries = entries.filter(actor_kind=actor_kind)
    return entries
