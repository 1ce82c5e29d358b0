"""The daily digest: each person's overdue, due-today and upcoming work and the new breaches on their
accounts, emailed once a day at the digest hour of the tenant's time zone."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import tenant_time_zone
from metrics.alerts import breach_values
from metrics.models import OPEN_STATUSES, Breach
from notifications.models import NotificationSent
from playbooks.models import ACTIVE_TASK_STATUSES, Task

logger = logging.getLogger(__name__)
DIGEST = "digest"
UPCOMING_DAYS = 7


def _digest_text(user, tasks: list[Task], breaches: list[Breach], now: datetime, today) -> str:
    overdue = [task for task in tasks if task.due_at < now]
    due_today = [task for task in tasks if task.due_at >= now and timezone.localdate(task.due_at) == today]
    upcoming = [task for task in tasks if timezone.localdate(task.due_at) > today]
    lines = [f"Good morning {user.full_name or user.email},", ""]
    for heading, group in (("Overdue", overdue), ("Due today", due_today),
                           (f"Due in the next {UPCOMING_DAYS} days", upcoming)):
        if group:
            lines.append(f"{heading} ({len(group)}):")
            lines += [f"- {task.headline}, due {timezone.localtime(task.due_at):%a %d %b}" for task in group]
            lines.append("")
    if breaches:
        lines.append(f"New breaches on your accounts ({len(breaches)}):")
        lines += [f"- {breach.account.name}: {breach.kpi.name} at {breach_values(breach)}, {breach.severity}"
                  for breach in breaches]
    return "\n".join(lines).rstrip() + "\n"


def digests_send(*, now: datetime | None = None) -> int:
    """Send today's digest to every active person with something in it, once per person and local day.

    Run hourly: nothing happens before the tenant's digest hour; after it, a person who has not had
    today's digest gets it (so a failed hour is retried the next). Returns the number sent.
    """
    now = now or timezone.now()
    zone = ZoneInfo(tenant_time_zone())
    local = now.astimezone(zone)
    if local.hour < getattr(settings, "DIGEST_HOUR", 7):
        return 0
    today = local.date()
    with timezone.override(zone):
        horizon = now + timedelta(days=UPCOMING_DAYS)
        tasks: dict[int, list[Task]] = defaultdict(list)
        for task in (Task.objects.filter(status__in=ACTIVE_TASK_STATUSES, assignee__is_active=True,
                                         due_at__lt=horizon)
                     .select_related("assignee", "account").order_by("due_at")):
            tasks[task.assignee_id].append(task)
        breaches: dict[int, list[Breach]] = defaultdict(list)
        for breach in (Breach.objects.filter(status__in=OPEN_STATUSES, opened_at__gte=now - timedelta(days=1),
                                             account__owner__is_active=True)
                       .select_related("account__owner", "kpi").order_by("-opened_at")):
            breaches[breach.account.owner_id].append(breach)
        people = {task.assignee_id: task.assignee for group in tasks.values() for task in group}
        people |= {owner_id: group[0].account.owner for owner_id, group in breaches.items()}
        sent_already = set(NotificationSent.objects.filter(kind=DIGEST, key=today.isoformat())
                           .values_list("user_id", flat=True))
        sent = 0
        for user_id, user in people.items():
            if user_id in sent_already:
                continue
            try:
                with transaction.atomic():
                    # Claim first: a second worker running the same hour sends nothing twice; a failed
                    # send rolls the claim back so the next hour tries again.
                    NotificationSent.objects.create(kind=DIGEST, user=user, key=today.isoformat())
                    send_mail(subject=f"[Bellwether] Your work for {today:%A %d %B}",
                              message=_digest_text(user, tasks.get(user_id, []), breaches.get(user_id, []),
                                                   now, today),
                              from_email=None, recipient_list=[user.email])
            except IntegrityError:
                continue
            except OSError:
                logger.exception("The digest to %s could not be sent; the next hour tries again.", user.email)
                continue
            sent += 1
    return sent

