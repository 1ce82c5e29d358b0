"""The playbooks pages: the list, a playbook with its effectiveness, and the editor; starting a playbook for an
account from its page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.numbers import whole_number
from playbooks.effectiveness import effectiveness_explained, playbook_effectiveness, playbooks_effectiveness
from playbooks.experiments.selectors import held_out_message
from playbooks.forms import PlaybookForm, WindowForm, playbook_editor_save, step_formset
from playbooks.models import Playbook
from users.models import Role
from users.permissions import admin_required


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
        run = playbook_run_start(playbook=playbook, account=account, trigger="manual", started_by=request.user)
    except PlaybookError as error:
        messages.error(request, str(error))
    else:
        if run is None:
            messages.warning(request, held_out_message(playbook=playbook, account=account))
        else:
            messages.success(request, f"Started '{playbook.name}' for {account.name}.")
    return redirect("account_detail", pk=account.pk)


def _may_edit(user) -> bool:
    return user.role == Role.ADMIN


def playbook_list(request: HttpRequest) -> HttpResponse:
    """Every playbook with how its runs went: runs, completion, on-time and resolved rates."""
    playbooks = Playbook.objects.select_related("alert_rule").order_by("name", "id")
    return render(request, "playbooks/playbook_list.html", {
        "reports": playbooks_effectiveness(playbooks=playbooks), "may_edit": _may_edit(request.user)})


def playbook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A playbook's trigger and steps, and its effectiveness (for a period when asked) explained."""
    playbook = get_object_or_404(Playbook.objects.select_related("alert_rule__kpi"), pk=pk)
    window_form = WindowForm(request.GET or None)
    valid = window_form.is_valid() if window_form.is_bound else True
    window = window_form.window() if window_form.is_bound and valid else None
    report = playbook_effectiveness(playbook=playbook, window=window)
    return render(request, "playbooks/playbook_detail.html", {
        "playbook": playbook, "steps": playbook.steps.select_related("assignee").order_by("position"),
        "window_form": window_form, "report": report, "explanation": effectiveness_explained(report),
        "kpi": playbook.alert_rule.kpi if playbook.alert_rule_id else None, "may_edit": _may_edit(request.user),
    }, status=200 if valid else 400)


@admin_required
def playbook_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create or change a playbook and its ordered steps (add, remove, reorder). "Add a step" shows the form
    again with one more blank row, so no script is needed."""
    playbook = get_object_or_404(Playbook, pk=pk) if pk is not None else Playbook()
    stored_name = playbook.name
    data = request.POST if request.method == "POST" else None
    adding_a_step = data is not None and "add_step" in data
    if adding_a_step:
        rows = data.get("steps-TOTAL_FORMS", "")
        data = data.copy()
        count = whole_number(rows, minimum=0, maximum=1000)
        data["steps-TOTAL_FORMS"] = rows if count is None else str(count + 1)  # a bad count: the form says so
    form = PlaybookForm(data, instance=playbook)
    formset = step_formset(playbook=playbook, data=data)
    if data is not None and not adding_a_step and form.is_valid() and formset.is_valid():
        saved = playbook_editor_save(form=form, formset=formset)
        if saved is not None:
            messages.success(request, f"Saved '{saved.name}'.")
            return redirect("playbook_detail", pk=saved.pk)
    return render(request, "playbooks/playbook_form.html", {
        "form": form, "formset": formset, "playbook": playbook, "stored_name": stored_name,
    }, status=400 if data is not None and not adding_a_step else 200)
