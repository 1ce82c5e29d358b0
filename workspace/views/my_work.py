"""My work: a person's cockpit, their open tasks grouped by account with filters and live counts, acted on in
place; and the accounts in their book."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import account_list
from metrics.models import Severity
from metrics.selectors import accounts_with_health
from playbooks.permissions import may_reassign
from playbooks.selectors import open_tasks, reassign_candidates
from workspace.cockpit import DUE_WINDOWS, RENEWAL_WINDOWS, SORTS, CockpitFilters, account_work, work_counts
from workspace.task_forms import task_action_forms


def my_work(request: HttpRequest) -> HttpResponse:
    """The day's focus first (overdue, due today, missed SLAs, critical work, renewals within 30 days), then
    everything else, one group per account; filters by severity, due, playbook, plan and renewal window."""
    now = timezone.now()
    filters, errors = CockpitFilters.from_query(request.GET)
    tasks = list(open_tasks(user=request.user))
    book = accounts_with_health(account_list(owner=request.user)).order_by("renewal_date", "name")
    book = list(book)
    accounts = {account.pk: account for account in book}
    missing = {task.account_id for task in tasks if task.account_id and task.account_id not in accounts}
    if missing:  # work on accounts someone else owns (a manager's, a queue's)
        accounts |= {account.pk: account for account in accounts_with_health(account_list().filter(pk__in=missing))}
    groups = account_work(tasks, accounts, filters, now=now)
    playbooks = sorted({(task.run.playbook_id, task.run.playbook.name) for task in tasks if task.run_id},
                       key=lambda item: item[1])
    return render(request, "workspace/my_work.html", {
        "now": now,
        "counts": work_counts(tasks, now=now),
        "focus": [group for group in groups if group.focus] if filters.sort == "focus" else [],
        "rest": [group for group in groups if not group.focus] if filters.sort == "focus" else groups,
        "filters": filters,
        "filter_errors": errors,
        "severities": Severity.choices,
        "due_windows": DUE_WINDOWS,
        "renewal_windows": RENEWAL_WINDOWS,
        "sorts": SORTS,
        "playbooks": playbooks,
        "plans": sorted({account.plan for account in accounts.values() if account.plan}),
        "accounts": book,
        "forms": task_action_forms(candidates=reassign_candidates(user=request.user)
                                   if may_reassign(request.user) else None),
        "may_reassign": may_reassign(request.user),
        "next": request.get_full_path(),
    }, status=400 if errors else 200)
