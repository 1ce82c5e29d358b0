"""The scenarios pages: the saved scenarios with a form to try and save drivers (today's values filled in),
and a scenario's projection beside today's trajectory, with the arithmetic and the staffing it implies."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import InvalidInput
from reviews.backlog import improvement_backlog
from reviews.models import Review, Scenario
from reviews.permissions import may_read_scenarios, may_run_reviews
from reviews.scenario_inputs import scenario_today
from reviews.scenario_services import scenario_save
from reviews.scenarios import Drivers
from reviews.selectors import scenario_list, scenario_view
from users.models import Role

LABELS = {"grr": "GRR (% a year)", "expansion": "Expansion (% a year)", "logo_churn": "Logo churn (% a year)",
          "activation_rate": "Activation rate (%)", "new_arr": "New ARR per quarter",
          "cost_to_serve": "Cost to serve (per account, a year)", "ticket_growth": "Ticket growth (% a quarter)"}


class ScenarioForm(forms.Form):
    name = forms.CharField(max_length=200)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    review = forms.ModelChoiceField(queryset=Review.objects.order_by("-quarter", "-id"), required=False,
                                    label="Attach to review")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in Drivers.names():
            self.fields[name] = forms.FloatField(label=LABELS[name])


def _readers_only(request: HttpRequest) -> None:
    if not may_read_scenarios(request.user):
        raise PermissionDenied("Scenarios are portfolio numbers: leaders, admins, managers and viewers read them.")


def _save(request: HttpRequest, form: ScenarioForm, scenario: Scenario | None) -> Scenario | None:
    if not may_run_reviews(request.user):
        raise PermissionDenied("Only CS leaders and admins save scenarios.")
    if not form.is_valid():
        return None
    data = dict(form.cleaned_data)
    try:
        return scenario_save(name=data.pop("name"), notes=data.pop("notes"), review=data.pop("review"),
                             values=data, user=request.user, scenario=scenario)
    except InvalidInput as error:
        for problem in error.errors or [{"field": None, "message": error.detail}]:
            form.add_error(problem["field"] if problem["field"] in form.fields else None, problem["message"])
        return None


def scenarios_page(request: HttpRequest) -> HttpResponse:
    _readers_only(request)
    baseline, today = scenario_today(today=timezone.localdate())
    form = ScenarioForm(request.POST or None, initial={"name": "", **today.as_dict()})
    if request.method == "POST":
        saved = _save(request, form, None)
        if saved is not None:
            messages.success(request, f"Saved '{saved.name}'.")
            return redirect("scenario_detail", pk=saved.pk)
    return render(request, "reviews/scenario_list.html", {
        "scenarios": list(scenario_list()), "form": form, "baseline": baseline, "today": today,
        "may_save": may_run_reviews(request.user)}, status=400 if request.method == "POST" else 200)


def scenario_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _readers_only(request)
    scenario = get_object_or_404(Scenario.objects.select_related("review"), pk=pk)
    initial = {"name": scenario.name, "notes": scenario.notes, "review": scenario.review_id,
               **{name: getattr(scenario, name) for name in Drivers.names()}}
    form = ScenarioForm(request.POST or None, initial=initial)
    if request.method == "POST":
        saved = _save(request, form, scenario)
        if saved is not None:
            messages.success(request, f"Saved '{saved.name}' with today's numbers.")
            return redirect("scenario_detail", pk=saved.pk)
    view = scenario_view(scenario=scenario)
    return render(request, "reviews/scenario_detail.html", {
        "view": view, "rows": list(zip(view.quarters, view.trajectory, strict=True)), "form": form,
        "labels": LABELS, "may_save": may_run_reviews(request.user)},
        status=400 if request.method == "POST" else 200)


@require_POST
def scenario_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if not may_run_reviews(request.user):
        raise PermissionDenied("Only CS leaders and admins delete scenarios.")
    scenario = get_object_or_404(Scenario, pk=pk)
    scenario.delete()
    messages.success(request, f"Deleted '{scenario.name}'.")
    return redirect("scenario_list")


def backlog_page(request: HttpRequest) -> HttpResponse:
    """The improvement backlog, most revenue at stake first (a CSM's stake: their own accounts)."""
    mine = request.user if request.user.role == Role.CSM else None
    return render(request, "reviews/backlog.html", {
        "items": improvement_backlog(today=timezone.localdate(), owner=mine), "own_only": mine is not None})
