"""Reads of playbook work: a person's open tasks, a task's page, whom a task can go to."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from playbooks.models import ACTIVE_TASK_STATUSES, Task, TaskEvent
from users.models import Role, User


def account_tasks(*, account_id: int) -> QuerySet[Task]:
    return Task.objects.filter(account_id=account_id).select_related("assignee", "run__playbook").order_by(
        "-created_at")[:50]


def startable_playbooks() -> QuerySet:
    """Playbooks a person may start by hand on an account page."""
    from playbooks.models import Playbook

    return Playbook.objects.filter(is_active=True).order_by("name")


def open_tasks(*, user) -> QuerySet[Task]:
    """The user's active tasks with what the cockpit shows beside them (account, playbook, the breach and its
    KPI, a review decision) and how many other reasons each serves. One query."""
    return (Task.objects.filter(assignee=user, status__in=ACTIVE_TASK_STATUSES)
            .select_related("account", "run__playbook", "run__breach__kpi", "decision__review")
            .annotate(reason_count=Count("reasons")).order_by("due_at", "id"))


def task_for_page(*, pk: int) -> Task:
    """A task with everything its page shows in one row: account and owner, assignee and manager, the run,
    its playbook, step and breach (rule and KPI), or the review decision. Raises Task.DoesNotExist."""
    return (Task.objects.select_related("account__owner", "assignee__manager", "run__playbook", "step",
                                        "run__breach__kpi", "run__breach__rule", "decision__review")
            .get(pk=pk))


def task_history(*, task: Task) -> QuerySet[TaskEvent]:
    """What happened to the task, oldest first, with who did it."""
    return task.events.select_related("actor").order_by("created_at", "id")


def task_reasons(*, task: Task) -> QuerySet:
    """The other runs this task serves (linked reasons), with their playbook and breach."""
    return task.reasons.select_related("run__playbook", "run__breach__kpi", "step").order_by("created_at", "id")


def reassign_candidates(*, user) -> QuerySet[User]:
    """Whom the user may hand a task to: a manager their team and themselves; leaders and admins every active
    CSM and manager."""
    people = User.objects.filter(is_active=True, role__in=(Role.CSM, Role.MANAGER))
    if user.role == Role.MANAGER:
        people = people.filter(Q(manager=user) | Q(pk=user.pk))
    return people.order_by("full_name", "email")
