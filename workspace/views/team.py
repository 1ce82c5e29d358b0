"""A manager's page: the team's queue (open, due today, overdue, escalated and past SLA per person), SLA
attainment, each CSM's book (accounts, ARR, health mix, renewals due), the escalations and the overdue work,
reassigned in place."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import books
from metrics.selectors import accounts_with_health
from playbooks.selectors import reassign_candidates, sla_attainment, team_members, team_open_tasks
from workspace.cockpit import work_counts
from workspace.task_forms import task_action_forms

SLA_WINDOW_DAYS = 90
RENEWAL_DAYS = 90
ESCALATIONS_SHOWN = 50
OVERDUE_SHOWN = 50


@dataclass
class MemberRow:
    person: object
    open: int = 0
    due_today: int = 0
    overdue: int = 0
    escalated: int = 0
    sla_missed: int = 0
    closed: int = 0
    closed_in_sla: int = 0
    accounts: int = 0
    arr: Decimal = Decimal(0)
    renewals_due: int = 0
    health: Counter = field(default_factory=Counter)

    @property
    def sla_attainment(self) -> float | None:
        return self.closed_in_sla / self.closed if self.closed else None


def team_rows(members: list, tasks: list, attainment: dict, accounts: list, *, now, today) -> list[MemberRow]:
    """One row per person: their queue from the open tasks, attainment from the closed ones, their book."""
    rows = {person.pk: MemberRow(person=person) for person in members}
    for task in tasks:
        row = rows[task.assignee_id]
        row.open += 1
        row.overdue += task.due_at < now
        row.due_today += task.due_at >= now and timezone.localtime(task.due_at).date() == today
        row.escalated += task.escalation_level > 0
        row.sla_missed += task.respond_by < now
    for person_id, (closed, met) in attainment.items():
        rows[person_id].closed, rows[person_id].closed_in_sla = closed, met
    for account in accounts:
        row = rows[account.owner_id]
        row.accounts += 1
        row.arr += account.current_mrr * 12
        row.renewals_due += bool(account.renewal_date and today <= account.renewal_date
                                 <= today + timedelta(days=RENEWAL_DAYS))
        row.health[account.health_band or "unscored"] += 1
    return list(rows.values())


def team(request: HttpRequest) -> HttpResponse:
    """The team's queue and books for a manager (their reports), or every CSM for leaders and admins."""
    if not request.user.leads_a_team:
        raise PermissionDenied("The team page is for managers, leaders and admins.")
    now, today = timezone.now(), timezone.localdate()
    members = list(team_members(user=request.user))
    member_ids = [person.pk for person in members]
    tasks = list(team_open_tasks(member_ids=member_ids))
    accounts = list(accounts_with_health(books(owner_ids=member_ids, today=today)))
    rows = team_rows(members, tasks, sla_attainment(member_ids=member_ids, since=now - timedelta(days=SLA_WINDOW_DAYS)),
                     accounts, now=now, today=today)
    escalated = sorted((task for task in tasks if task.escalation_level > 0),
                       key=lambda task: (-task.escalation_level, task.respond_by))
    overdue = [task for task in tasks if task.due_at < now and task.escalation_level == 0]
    by_member: dict[int, list] = defaultdict(list)
    for task in tasks:
        by_member[task.assignee_id].append(task)
    return render(request, "workspace/team.html", {
        "now": now, "rows": rows, "counts": work_counts(tasks, now=now),
        "escalated": escalated[:ESCALATIONS_SHOWN], "escalated_count": len(escalated),
        "overdue": overdue[:OVERDUE_SHOWN], "overdue_count": len(overdue),
        "forms": task_action_forms(candidates=reassign_candidates(user=request.user)), "may_reassign": True,
        "health_bands": ("red", "yellow", "green", "unscored"), "sla_window": SLA_WINDOW_DAYS,
        "renewal_window": RENEWAL_DAYS, "next": request.get_full_path(),
    })
