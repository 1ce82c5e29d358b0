"""A task in front of the person working it: its page (why it exists, the KPI against its threshold, the
instructions, due date and SLA clock, history, comments, outcome) and the actions on it from any page, in
place with htmx (My work's row and counts) or as a plain form post that comes back with a message."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from metrics.models import Severity
from metrics.selectors import kpi_values
from playbooks.models import Task
from playbooks.permissions import may_act_on_task, may_reassign, may_see_task
from playbooks.selectors import (
    open_tasks,
    reassign_candidates,
    task_for_page,
    task_history,
    task_reasons,
)
from workspace.cockpit import DUE_WINDOWS, work_counts
from workspace.task_forms import task_action_apply, task_action_forms
from workspace.views.my_work import account_group, cockpit_context
from workspace.views.team import team_numbers

# The KPI's history shown around a breach: enough to see the fall and whether it recovered.
CHART_DAYS_BEFORE = 90


def _task_or_404(pk: int) -> Task:
    try:
        return task_for_page(pk=pk)
    except Task.DoesNotExist:
        raise Http404("No such task.") from None


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def _live_numbers(request: HttpRequest, task: Task, *, now) -> dict:
    """What the page that sent the action re-renders beside the task's row: on the team page (`counts=team`),
    its counts, the queue per person and the escalated and overdue totals; on My work, its counts, the task's
    account header, the sections' totals and the filters' totals, with the filters of the page's own URL."""
    if request.POST.get("counts") == "team" and request.user.leads_a_team:
        return {"on_team_page": True, **team_numbers(user=request.user, now=now)}
    back = urlsplit(_back(request, ""))
    if back.path != reverse("my_work"):
        return {"counts": work_counts(open_tasks(user=request.user), now=now)}
    cockpit = cockpit_context(user=request.user, params=QueryDict(back.query), now=now)
    return {**cockpit, "on_my_work": True, "group": account_group(cockpit, account=task.account),
            "severities": Severity.choices, "due_windows": DUE_WINDOWS}


@require_POST
def task_act(request: HttpRequest, pk: int) -> HttpResponse:
    """Start, complete (with an outcome chosen on purpose), snooze, comment or reassign. From My work (htmx) the
    answer is the live counts, with the task's row swapped beside them, its confirmation or error in the row;
    from a plain form, a redirect back with a message."""
    task = _task_or_404(pk)
    if not may_act_on_task(request.user, task):
        raise PermissionDenied("You may act only on your own tasks (managers: their team's).")
    candidates = reassign_candidates(user=request.user) if may_reassign(request.user) else None
    result = task_action_apply(task=task, user=request.user, data=request.POST, candidates=candidates)
    if request.headers.get("HX-Request") == "true":
        task = _task_or_404(pk)
        now = timezone.now()
        return render(request, "workspace/_task_acted.html", {
            **_live_numbers(request, task, now=now),
            "task": task, "result": result, "now": now, "closed": task.status not in ("open", "in_progress",
                                                                                       "snoozed"),
            "forms": task_action_forms(candidates=candidates), "may_reassign": may_reassign(request.user),
            "next": _back(request, "/work/"),
        }, status=200 if result.done else 400)
    (messages.success if result.done else messages.error)(request, result.message)
    return redirect(_back(request, "my_work"))


def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Why the task exists (the breach: its KPI's value against the threshold, charted), its instructions, due
    date and SLA clock, the other reasons it serves, its history and comments, and its outcome or the actions."""
    task = _task_or_404(pk)
    if not may_see_task(request.user, task):
        raise PermissionDenied("This task is someone else's work.")
    breach = task.run.breach if task.run_id else None
    chart = []
    if breach is not None and breach.account_id:
        start = breach.opened_as_of - timedelta(days=CHART_DAYS_BEFORE)
        chart = list(kpi_values(kpi=breach.kpi, scope="account", account={"account_id": breach.account_id},
                                start=start).values_list("as_of", "value"))
    history = list(task_history(task=task))
    may_act = may_act_on_task(request.user, task)
    candidates = reassign_candidates(user=request.user) if may_act and may_reassign(request.user) else None
    return render(request, "workspace/task_detail.html", {
        "task": task, "breach": breach, "now": timezone.now(),
        "chart_dates": [day for day, _ in chart], "chart_values": [value for _, value in chart],
        "reasons": list(task_reasons(task=task)),
        "history": [event for event in history if event.kind != "comment"],
        "comments": [event for event in history if event.kind == "comment"],
        "may_act": may_act and task.status in ("open", "in_progress", "snoozed"),
        "may_comment": may_act,
        "forms": task_action_forms(candidates=candidates), "may_reassign": candidates is not None,
        "next": request.get_full_path(),
    })
