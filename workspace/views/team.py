"""A manager's page: the team's queue (open, due today, overdue, escalated and past SLA per person), SLA
attainment, each CSM's book (accounts, ARR, health mix, renewals due), the escalations and the overdue work,
reassigned in place."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import account_books, books_by_owner
from metrics.selectors import accounts_with_health
from playbooks.selectors import (
    QUEUE_COUNTS,
    reassign_candidates,
    sla_attainment,
    team_members,
    team_open_tasks,
    team_queue,
)
from workspace.cockpit import WorkCounts
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
    overdue_not_escalated: int = 0
    sla_missed: int = 0
    snoozed: int = 0
    critical: int = 0
    closed: int = 0
    closed_in_sla: int = 0
    accounts: int = 0
    arr: Decimal = Decimal(0)
    renewals_due: int = 0
    health: Counter = field(default_factory=Counter)

    @property
    def sla_attainment(self) -> float | None:
        return self.closed_in_sla / self.closed if self.closed else None


def team_rows(members: list, queue: dict, attainment: dict, books: list[dict]) -> list[MemberRow]:
    """One row per person: their queue and attainment as counted in the database, their book by health band."""
    rows = {person.pk: MemberRow(person=person, **queue.get(person.pk, {})) for person in members}
    for person_id, (closed, met) in attainment.items():
        rows[person_id].closed, rows[person_id].closed_in_sla = closed, met
    for book in books:
        row = rows[book["owner_id"]]
        row.accounts += book["accounts"]
        row.arr += (book["mrr"] or Decimal(0)) * 12
        row.renewals_due += book["renewals"]
        row.health[book["health_band"] or "unscored"] += book["accounts"]
    return list(rows.values())


def team_numbers(*, user, now: datetime) -> dict:
    """The team page's numbers (its counts, one row per person, how many tasks are escalated and overdue), and
    the open work they count: the page renders them, and an action on one of its rows re-renders them."""
    today = timezone.localdate(now)
    day_end = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    members = list(team_members(user=user))
    member_ids = [person.pk for person in members]
    queue = team_queue(member_ids=member_ids, now=now, day_end=day_end)
    totals = {name: sum(counts[name] for counts in queue.values()) for name in QUEUE_COUNTS}
    books = books_by_owner(accounts_with_health(account_books(owner_ids=member_ids)), today=today,
                           renewal_days=RENEWAL_DAYS)
    rows = team_rows(members, queue, sla_attainment(member_ids=member_ids, since=now - timedelta(days=SLA_WINDOW_DAYS)),
                     books)
    tasks = team_open_tasks(member_ids=member_ids)
    return {
        "now": now, "rows": rows, "tasks": tasks, "counts": WorkCounts(**{name: totals[name] for name in (
            "open", "overdue", "due_today", "sla_missed", "snoozed", "critical")}),
        "escalated_count": totals["escalated"], "overdue_count": totals["overdue_not_escalated"],
        "health_bands": ("red", "yellow", "green", "unscored"), "sla_window": SLA_WINDOW_DAYS,
        "renewal_window": RENEWAL_DAYS,
    }


def team(request: HttpRequest) -> HttpResponse:
    """The team's queue and books for a manager (their reports), or every CSM for leaders and admins. Counted in
    the database, whatever the size of the team's work; only the escalations and the overdue work are listed."""
    if not request.user.leads_a_team:
        raise PermissionDenied("The team page is for managers, leaders and admins.")
    now = timezone.now()
    numbers = team_numbers(user=request.user, now=now)
    tasks = numbers.pop("tasks")
    escalated = list(tasks.filter(escalation_level__gt=0).order_by("-escalation_level", "respond_by", "id")
                     [:ESCALATIONS_SHOWN])
    overdue = list(tasks.filter(due_at__lt=now, escalation_level=0).order_by("due_at", "id")[:OVERDUE_SHOWN])
    return render(request, "workspace/team.html", {
        **numbers, "escalated": escalated, "overdue": overdue,
        "forms": task_action_forms(candidates=reassign_candidates(user=request.user)), "may_reassign": True,
        "next": request.get_full_path(),
    })
