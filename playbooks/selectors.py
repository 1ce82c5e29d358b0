"""Reads of playbook work: a person's inbox, overdue first."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from playbooks.models import ACTIVE_TASK_STATUSES, Task


def inbox(*, user, now: datetime) -> dict[str, list[Task]]:
    """The user's active tasks in three groups: overdue, due today, upcoming. One query."""
    tasks = (Task.objects.filter(assignee=user, status__in=ACTIVE_TASK_STATUSES)
             .select_related("account", "run__playbook", "decision__review").order_by("due_at"))
    groups: dict[str, list[Task]] = {"overdue": [], "today": [], "upcoming": []}
    for task in tasks:
        if task.due_at < now:
            groups["overdue"].append(task)
        elif task.due_at.date() == now.date():
            groups["today"].append(task)
        else:
            groups["upcoming"].append(task)
    return groups


def account_tasks(*, account_id: int) -> QuerySet[Task]:
    return Task.objects.filter(account_id=account_id).select_related("assignee", "run__playbook").order_by(
        "-created_at")[:50]


def startable_playbooks() -> QuerySet:
    """Playbooks a person may start by hand on an account page."""
    from playbooks.models import Playbook

    return Playbook.objects.filter(is_active=True).order_by("name")
