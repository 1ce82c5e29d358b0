"""Health-score configuration as a settings page: where the yellow and green bands begin and how much each
component weighs. A change is a change of the health KPI's parameters, so it makes a new KPI version (stored
values keep the version that produced them) with the admin's reason, and the audit log records it."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from metrics.calculators import calculator_for
from metrics.calculators.base import CalculatorError
from metrics.models import KPI
from metrics.services import kpi_update
from users.permissions import admin_required

HEALTH_CALCULATOR = "health.score"


class HealthSettingsForm(forms.Form):
    red = forms.FloatField(label="Yellow begins at", min_value=0, max_value=100,
                           help_text="Scores below this are red.")
    yellow = forms.FloatField(label="Green begins at", min_value=0, max_value=100,
                              help_text="Scores below this (and at least the first) are yellow.")
    reason = forms.CharField(max_length=500, help_text="Why: kept with the new version of the health score.")

    def __init__(self, *args, components: list[dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.components = components
        for index, component in enumerate(components):
            self.fields[f"weight_{index}"] = forms.FloatField(
                label=f"Weight of {component['kpi']}", min_value=0, initial=component["weight"])

    def params(self, current: dict) -> dict:
        """The health KPI's parameters with this form's bands and weights."""
        data = self.cleaned_data
        components = [{**component, "weight": data[f"weight_{index}"]}
                      for index, component in enumerate(self.components)]
        return {**current, "bands": {"red": data["red"], "yellow": data["yellow"]}, "components": components}


@admin_required
def settings_health(request: HttpRequest) -> HttpResponse:
    kpi = get_object_or_404(KPI, calculator=HEALTH_CALCULATOR, is_active=True)
    calculator = calculator_for(HEALTH_CALCULATOR)
    current = calculator.clean_params(kpi.params)
    form = HealthSettingsForm(request.POST or None, components=current["components"],
                              initial={"red": current["bands"]["red"], "yellow": current["bands"]["yellow"]})
    if request.method == "POST" and form.is_valid():
        try:
            calculator.clean_params(form.params(current))
        except CalculatorError as error:
            form.add_error(None, str(error))
        else:
            kpi_update(kpi=kpi, params=form.params(current), changed_by=request.user,
                       reason=form.cleaned_data["reason"])
            return redirect("settings_health")
    return render(request, "settings/health.html", {"kpi": kpi, "form": form, "current": current},
                  status=400 if form.errors else 200)
