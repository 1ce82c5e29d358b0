"""My work: a person's cockpit, their open tasks grouped by account with filters and live counts, acted on in
place; and the accounts in their book."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import account_list
from metrics.models import Severity
from metrics.selectors import accounts_with_health
from playbooks.permissions import may_reassign
from playbooks.selectors import open_tasks, reassign_candidates
from workspace.cockpit import (
    DUE_WINDOWS,
    RENEWAL_WINDOWS,
    SORTS,
    AccountWork,
    CockpitFilters,
    account_work,
    filter_totals,
    segment_choices,
    work_counts,
)
from workspace.task_forms import task_action_forms


def cockpit_context(*, user, params: Mapping[str, str], now: datetime) -> dict:
    """Everything My work shows for `user` with the filters of `params`: the page renders all of it, and an
    action on a row re-renders its counts, its account's header and the filters' totals from the same numbers."""
    filters, errors = CockpitFilters.from_query(params)
    tasks = list(open_tasks(user=user))
    book = list(accounts_with_health(account_list(owner=user)).order_by("renewal_date", "name"))
    accounts = {account.pk: account for account in book}
    missing = {task.account_id for task in tasks if task.account_id and task.account_id not in accounts}
    if missing:  # work on accounts someone else owns (a manager's, a queue's)
        accounts |= {account.pk: account for account in accounts_with_health(account_list().filter(pk__in=missing))}
    groups = account_work(tasks, accounts, filters, now=now)
    by_focus = filters.sort == "focus"
    return {
        "now": now,
        "counts": work_counts(tasks, now=now),
        "totals": filter_totals(tasks, now=now),
        "by_focus": by_focus,
        "focus": [group for group in groups if group.focus] if by_focus else [],
        "rest": [group for group in groups if not group.focus] if by_focus else groups,
        "filters": filters,
        "filter_errors": errors,
        "accounts": book,
        "accounts_by_id": accounts,
        "playbooks": sorted({(task.run.playbook_id, task.run.playbook.name) for task in tasks if task.run_id},
                            key=lambda item: item[1]),
        "segments": segment_choices(accounts.values()),
    }


def account_group(context: dict, *, account) -> AccountWork:
    """The cockpit's group of `account` (None: the review decisions), empty when no open task of it is left."""
    key = account.pk if account is not None else None
    for group in context["focus"] + context["rest"]:
        if (group.account.pk if group.account is not None else None) == key:
            return group
    return AccountWork(account=context["accounts_by_id"].get(key, account) if key else None)


def my_work(request: HttpRequest) -> HttpResponse:
    """The day's focus first (overdue, due today, missed SLAs, critical work, renewals within 30 days), then
    everything else, one group per account; filters by severity, due, playbook, segment (plan, region, industry,
    lifecycle stage) and renewal window."""
    context = cockpit_context(user=request.user, params=request.GET, now=timezone.now())
    return render(request, "workspace/my_work.html", {
        **context,
        "severities": Severity.choices,
        "due_windows": DUE_WINDOWS,
        "renewal_windows": RENEWAL_WINDOWS,
        "sorts": SORTS,
        "forms": task_action_forms(candidates=reassign_candidates(user=request.user)
                                   if may_reassign(request.user) else None),
        "may_reassign": may_reassign(request.user),
        "next": request.get_full_path(),
    }, status=400 if context["filter_errors"] else 200)
