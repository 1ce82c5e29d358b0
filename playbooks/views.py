"""The CSM's work: their inbox of tasks and their accounts; completing a task from it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.selectors import account_list
from playbooks.models import Task, TaskOutcome
from playbooks.selectors import inbox
from playbooks.services import task_complete


def my_work(request: HttpRequest) -> HttpResponse:
    """A CSM's home: overdue tasks first, then today's and upcoming ones; and the accounts in their book."""
    return render(request, "playbooks/my_work.html", {
        "inbox": inbox(user=request.user, now=timezone.now()),
        "accounts": account_list(owner=request.user).order_by("renewal_date", "name"),
        "outcomes": TaskOutcome.choices,
    })


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(choices=TaskOutcome.choices)
    note = forms.CharField(required=False, max_length=2000)


@require_POST
def task_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=pk)
    if task.assignee_id != request.user.pk:
        raise PermissionDenied("Only the assignee completes a task.")
    form = CompleteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an outcome to complete the task.")
    elif task_complete(task=task, user=request.user, **form.cleaned_data):
        messages.success(request, f"Completed: {task.title}.")
    return redirect("my_work")


@require_POST
def playbook_start_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """Start a playbook for the account from its page (its owner, managers, leaders and admins)."""
    from accounts.models import Account
    from playbooks.models import Playbook
    from playbooks.services import PlaybookError, playbook_run_start
    from users.models import Role

    account = get_object_or_404(Account, pk=account_id)
    if request.user.role == Role.VIEWER or (request.user.role == Role.CSM and account.owner_id != request.user.pk):
        raise PermissionDenied("You cannot start playbooks for this account.")
    playbook = get_object_or_404(Playbook, pk=request.POST.get("playbook") or 0, is_active=True)
    try:
        playbook_run_start(playbook=playbook, account=account, trigger="manual", started_by=request.user)
    except PlaybookError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Started '{playbook.name}' for {account.name}.")
    return redirect("account_detail", pk=account.pk)
