"""The experiments pages: the list, pre-registering (and changing a draft), an experiment's design, arms and
results, and starting and concluding it. Leaders and admins configure; a CSM sees the experiments that include
their accounts, with their own accounts' arms."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import InvalidInput
from metrics.models import KPI
from playbooks.experiments.selectors import experiment_assignments, experiment_list, experiment_results
from playbooks.experiments.services import (
    DESIGN_FIELDS,
    experiment_conclude,
    experiment_register,
    experiment_start,
    experiment_update,
)
from playbooks.models import Experiment, ExperimentDecision, ExperimentStatus
from users.models import Role
from users.permissions import role_required

configurers_only = role_required(Role.ADMIN, Role.LEADER)
ASSIGNMENTS_SHOWN = 50


class ExperimentForm(forms.ModelForm):
    guardrails = forms.ModelMultipleChoiceField(queryset=KPI.objects.filter(is_active=True).order_by("name"),
                                                required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Experiment
        fields = [*DESIGN_FIELDS, "guardrails"]
        widgets = {"hypothesis": forms.Textarea(attrs={"rows": 3})}
        labels = {"kpi": "KPI", "horizon_days": "Horizon (days)", "test": "Statistical test",
                  "baseline": "Baseline", "accounts_per_week": "Eligible accounts per week"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kpi"].queryset = KPI.objects.filter(is_active=True).order_by("name")
        self.fields["test"].required = False
        self.fields["test"].help_text = ("Leave empty: proportions for churn or renewal, Welch's t for a KPI "
                                          "change.")

    def _post_clean(self) -> None:
        """The service validates the whole design (and sizes it); the model's own checks would run too early."""


class ConcludeForm(forms.Form):
    # No default: adopting or stopping an experiment is chosen on purpose, never by one click on the button.
    decision = forms.ChoiceField(choices=[("", "Choose a decision…"), *ExperimentDecision.choices],
                                 error_messages={"required": "Choose a decision: adopt, stop or extend."})
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    extend_days = forms.IntegerField(min_value=1, max_value=3650, required=False)


def _may_configure(user) -> bool:
    return user.role in (Role.ADMIN, Role.LEADER)


def experiments_page(request: HttpRequest) -> HttpResponse:
    return render(request, "playbooks/experiment_list.html", {
        "experiments": list(experiment_list(user=request.user)), "may_configure": _may_configure(request.user)})


def _form_errors(form: forms.Form, error: InvalidInput) -> None:
    for problem in error.errors or [{"field": None, "message": error.detail}]:
        field = problem.get("field")
        form.add_error(field if field in form.fields else None, problem["message"])


@configurers_only
def experiment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Pre-register an experiment, or change a draft's design; the sample size and duration follow."""
    experiment = get_object_or_404(Experiment, pk=pk) if pk is not None else None
    if experiment is not None and experiment.status != ExperimentStatus.DRAFT:
        messages.error(request, "A started experiment's pre-registration cannot change.")
        return redirect("experiment_detail", pk=pk)
    # A feedback theme (or a link from elsewhere) may suggest the name and the hypothesis.
    initial = ({name: request.GET.get(name) for name in ("playbook", "name", "hypothesis") if request.GET.get(name)}
               if experiment is None else None)
    form = ExperimentForm(request.POST or None, instance=experiment, initial=initial)
    if request.method == "POST" and form.is_valid():
        design = {name: form.cleaned_data[name] for name in DESIGN_FIELDS if name in form.cleaned_data}
        design["test"] = design.get("test") or ""
        try:
            if experiment is None:
                experiment = experiment_register(user=request.user, guardrails=form.cleaned_data["guardrails"],
                                                 **design)
            else:
                experiment_update(experiment=experiment, guardrails=form.cleaned_data["guardrails"], **design)
        except InvalidInput as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"Pre-registered '{experiment.name}': {experiment.sample_treated} treated and "
                                      f"{experiment.sample_holdout} held-out accounts, about "
                                      f"{experiment.duration_days} days of entry.")
            return redirect("experiment_detail", pk=experiment.pk)
    return render(request, "playbooks/experiment_form.html", {"form": form, "experiment": experiment},
                  status=400 if request.method == "POST" else 200)


def experiment_detail(request: HttpRequest, pk: int, conclude_form: ConcludeForm | None = None) -> HttpResponse:
    """The experiment's design, its results so far and (for leaders and admins) the decision's form: after a
    refused decision, that form as it was typed with each error beside its field (400)."""
    experiment = get_object_or_404(
        experiment_list(user=request.user).select_related("decided_by", "created_by").prefetch_related("guardrails"),
        pk=pk)
    assignments = experiment_assignments(experiment=experiment, user=request.user)
    return render(request, "playbooks/experiment_detail.html", {
        "experiment": experiment, "results": experiment_results(experiment=experiment, today=timezone.localdate()),
        "assignments": list(assignments[:ASSIGNMENTS_SHOWN]), "assignments_shown": ASSIGNMENTS_SHOWN,
        "may_configure": _may_configure(request.user), "conclude_form": conclude_form or ConcludeForm(),
        "confidence": round((1 - experiment.alpha) * 100),
    }, status=400 if conclude_form is not None else 200)


@require_POST
@configurers_only
def experiment_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    try:
        experiment_start(experiment=experiment, user=request.user)
    except InvalidInput as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Started: {experiment.holdout_share:.0%} of the accounts '{experiment.playbook}' "
                                  f"would start for are now held out.")
    return redirect("experiment_detail", pk=pk)


@require_POST
@configurers_only
def experiment_conclude_view(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    form = ConcludeForm(request.POST)
    if not form.is_valid():
        return experiment_detail(request, pk, conclude_form=form)
    try:
        concluded = experiment_conclude(experiment=experiment, user=request.user, **form.cleaned_data)
    except InvalidInput as error:
        if error.status_code == 409:  # the experiment's state, not the form: said at the top
            messages.error(request, error.detail)
            return redirect("experiment_detail", pk=pk)
        _form_errors(form, error)
        return experiment_detail(request, pk, conclude_form=form)
    else:
        messages.success(request, f"Recorded: {concluded.get_decision_display()}. The next quarterly review lists it.")
    return redirect("experiment_detail", pk=pk)
