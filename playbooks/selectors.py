"""Reads of playbook work: a person's open tasks, a task's page, whom a task can go to."""

from __future__ import annotations

from datetime import datetime

from django.db import models
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


def account_runs(*, account_id: int, limit: int = 30) -> QuerySet:
    """The account's playbook runs, newest first, with their playbook and who started them."""
    from playbooks.models import PlaybookRun

    return (PlaybookRun.objects.filter(account_id=account_id).select_related("playbook", "started_by")
            .order_by("-started_at")[:limit])


def account_open_task_count(*, account_id: int) -> int:
    return Task.objects.filter(account_id=account_id, status__in=ACTIVE_TASK_STATUSES).count()


def team_members(*, user) -> QuerySet[User]:
    """The people whose work a person oversees: a manager's active reports; for leaders and admins every active
    CSM and manager."""
    people = User.objects.filter(is_active=True)
    if user.role == Role.MANAGER:
        return people.filter(manager=user).order_by("full_name", "email")
    return people.filter(role__in=(Role.CSM, Role.MANAGER)).order_by("full_name", "email")


def team_open_tasks(*, member_ids) -> QuerySet[Task]:
    """The team's active tasks, with what a row shows (as `open_tasks`), soonest due first."""
    return (Task.objects.filter(assignee_id__in=list(member_ids), status__in=ACTIVE_TASK_STATUSES)
            .select_related("account", "assignee", "run__playbook", "run__breach__kpi", "decision__review")
            .annotate(reason_count=Count("reasons")).order_by("due_at", "id"))


def sla_attainment(*, member_ids, since) -> dict[int, tuple[int, int]]:
    """Per person: (tasks closed as done since `since`, of which within their response SLA). One query."""
    from playbooks.models import TaskStatus

    rows = (Task.objects.filter(assignee_id__in=list(member_ids), status=TaskStatus.DONE, completed_at__gte=since)
            .values("assignee_id").annotate(closed=Count("id"),
                                            met=Count("id", filter=Q(completed_at__lte=models.F("respond_by")))))
    return {row["assignee_id"]: (row["closed"], row["met"]) for row in rows}


QUEUE_COUNTS = ("open", "overdue", "due_today", "escalated", "overdue_not_escalated", "sla_missed", "snoozed",
                "critical")


def team_queue(*, member_ids, now: datetime, day_end: datetime) -> dict[int, dict[str, int]]:
    """Per person: open, overdue, due today (before `day_end`), escalated, overdue but not escalated yet, past
    their response SLA, snoozed and critical tasks, counted in the database. One query."""
    from playbooks.models import TaskStatus

    rows = (Task.objects.filter(assignee_id__in=list(member_ids), status__in=ACTIVE_TASK_STATUSES)
            .values("assignee_id").order_by()
            .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)),
                      due_today=Count("id", filter=Q(due_at__gte=now, due_at__lt=day_end)),
                      escalated=Count("id", filter=Q(escalation_level__gt=0)),
                      overdue_not_escalated=Count("id", filter=Q(due_at__lt=now, escalation_level=0)),
                      sla_missed=Count("id", filter=Q(respond_by__lt=now)),
                      snoozed=Count("id", filter=Q(status=TaskStatus.SNOOZED)),
                      critical=Count("id", filter=Q(severity="critical"))))
    return {row["assignee_id"]: {name: row[name] for name in QUEUE_COUNTS} for row in rows}
