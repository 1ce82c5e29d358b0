"""Pinning notes to KPIs, and the one rule of who may pin them (pages and the API both ask it)."""

from __future__ import annotations

import datetime

from django.db import transaction

from metrics.models import KPI, Annotation
from users.models import Role, User

TEXT_MAX_LENGTH = Annotation._meta.get_field("text").max_length


def can_annotate(user: User) -> bool:
    """Anyone who works the numbers may explain them; viewers only read."""
    return bool(user.is_authenticated and user.is_active and user.role != Role.VIEWER)


@transaction.atomic
def annotation_create(*, kpi: KPI, date: datetime.date, text: str, author: User | None) -> Annotation:
    """Pin a dated note to a KPI. `author` is None when an integration pins it; the text is stripped and
    must say something."""
    annotation = Annotation(kpi=kpi, date=date, text=(text or "").strip(), author=author)
    annotation.full_clean()
    annotation.save()
    return annotation

