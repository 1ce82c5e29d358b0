"""Health-score configuration as a settings page: where the yellow and green bands begin and how much each
component weighs, for every account and for the accounts of a segment (a plan, region, industry or lifecycle
stage, which may weigh the components and draw the bands differently). A change is a change of the health KPI's
parameters, so it makes a new KPI version (stored values keep the version that produced them) with the admin's
reason, and the audit log records it."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from metrics.calculators import calculator_for
from metrics.calculators.base import CalculatorError
from metrics.calculators.health import SEGMENT_DIMENSIONS, segment_key
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

    def __init__(self, *args, components: list[dict], names: Mapping[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.components = components
        for index, component in enumerate(components):
            self.fields[f"weight_{index}"] = forms.FloatField(
                label=f"Weight of {names.get(component['kpi'], component['kpi'])}", min_value=0,
                initial=component["weight"])
        self.order_fields(["red", "yellow", *(f"weight_{index}" for index in range(len(components))), "reason"])

    def params(self, current: dict) -> dict:
        """The health KPI's parameters with this form's bands and weights."""
        data = self.cleaned_data
        components = [{**component, "weight": data[f"weight_{index}"]}
                      for index, component in enumerate(self.components)]
        return {**current, "bands": {"red": data["red"], "yellow": data["yellow"]}, "components": components}


class SegmentOverrideForm(forms.Form):
    """The weights and bands of one segment's accounts; what is left blank stays the tenant's."""

    dimension = forms.ChoiceField(choices=[(dimension, dimension.replace("_", " ").capitalize())
                                           for dimension in SEGMENT_DIMENSIONS])
    segment = forms.CharField(max_length=200, help_text="As the accounts have it, e.g. Enterprise or EMEA.")
    red = forms.FloatField(label="Yellow begins at", min_value=0, max_value=100, required=False,
                           help_text="Blank: the tenant's.")
    yellow = forms.FloatField(label="Green begins at", min_value=0, max_value=100, required=False,
                              help_text="Blank: the tenant's.")
    reason = forms.CharField(max_length=500, help_text="Why: kept with the new version of the health score.")

    def __init__(self, *args, components: list[str], names: Mapping[str, str], **kwargs) -> None:
        # Its own element ids: it shares the page (and field names like `red`) with the tenant-wide form, and a
        # label must point at its own field.
        kwargs.setdefault("auto_id", "segment_%s")
        super().__init__(*args, **kwargs)
        self.components = components
        for index, slug in enumerate(components):
            self.fields[f"weight_{index}"] = forms.FloatField(
                label=f"Weight of {names.get(slug, slug)}", min_value=0, required=False,
                help_text="Blank or 0: not a component for this segment.")
        # The bands and the reason after the weights, as on the tenant-wide form.
        self.order_fields(["dimension", "segment", *(f"weight_{index}" for index in range(len(components))),
                           "red", "yellow", "reason"])

    @property
    def key(self) -> str:
        return f"{self.cleaned_data['dimension']}:{self.cleaned_data['segment'].strip()}"

    def clean(self) -> dict:
        data = super().clean()
        weights = [data.get(f"weight_{index}") for index in range(len(self.components))]
        if not any(weights) and data.get("red") is None and data.get("yellow") is None:
            raise forms.ValidationError("Give the segment some weights or a band: otherwise it is like every "
                                        "other account.")
        return data

    def params(self, current: dict) -> dict:
        """The health KPI's parameters with this segment's override replacing the one it had."""
        data = self.cleaned_data
        params = _without_segment(current, self.key)
        components = [{"kpi": slug, "weight": data[f"weight_{index}"]}
                      for index, slug in enumerate(self.components) if data[f"weight_{index}"]]
        if components:
            params["segment_weights"][self.key] = components
        own = {band: data[band] for band in ("red", "yellow") if data[band] is not None}
        if own:
            params["segment_bands"][self.key] = own
        return params


def _health() -> tuple[KPI, dict]:
    """The health KPI and its parameters as the forms read and write them: cleaned, except that a segment's bands
    stay as entered (a bound left out follows the tenant's, and must not be frozen by the next save)."""
    kpi = get_object_or_404(KPI, calculator=HEALTH_CALCULATOR, is_active=True)
    current = calculator_for(HEALTH_CALCULATOR).clean_params(kpi.params)
    entered = kpi.params.get("segment_bands") or {}
    current["segment_bands"] = {segment_key("segment_bands", key): dict(bands) for key, bands in entered.items()}
    return kpi, current


def _saved(form: forms.Form, kpi: KPI, params: dict, request: HttpRequest) -> bool:
    """Save `params` as the health KPI's new version, or put the calculator's objection on the form."""
    try:
        calculator_for(HEALTH_CALCULATOR).clean_params(params)
    except CalculatorError as error:
        form.add_error(None, str(error))
        return False
    kpi_update(kpi=kpi, params=params, changed_by=request.user, reason=form.cleaned_data["reason"])
    return True


def _segment_components(current: dict) -> list[str]:
    """The KPIs a segment can weigh: the tenant's components, then any a segment already uses."""
    slugs = [component["kpi"] for component in current["components"]]
    for components in current["segment_weights"].values():
        slugs += [component["kpi"] for component in components if component["kpi"] not in slugs]
    return slugs


def _segment_initial(current: dict, key: str) -> dict:
    """The override form filled with segment `key`'s weights and bands (an edit)."""
    dimension, _, segment = key.partition(":")
    weights = {component["kpi"]: component["weight"] for component in current["segment_weights"].get(key, [])}
    bands = current["segment_bands"].get(key, {})
    initial = {"dimension": dimension, "segment": segment, **bands}
    initial.update({f"weight_{index}": weights.get(slug)
                    for index, slug in enumerate(_segment_components(current))})
    return initial


def _segments_with_own(current: dict) -> set[str]:
    """The segments ("dimension:segment") with weights or bands of their own."""
    return {*current["segment_weights"], *current["segment_bands"]}


def _without_segment(current: dict, key: str) -> dict:
    """The parameters with segment `key`'s weights and bands gone (its accounts back to the tenant's)."""
    return {**current,
            "segment_weights": {other: value for other, value in current["segment_weights"].items() if other != key},
            "segment_bands": {other: value for other, value in current["segment_bands"].items() if other != key}}


def _overrides(current: dict) -> list[dict]:
    """Every segment with weights or bands of its own, for the page's table."""
    return [{"key": key, "dimension": key.split(":", 1)[0], "segment": key.split(":", 1)[-1],
             "components": current["segment_weights"].get(key), "bands": current["segment_bands"].get(key)}
            for key in sorted(_segments_with_own(current))]


def kpi_names() -> dict[str, str]:
    """Every KPI's name by its slug: the components are stored by slug and shown by name. One query."""
    return dict(KPI.objects.values_list("slug", "name"))


def _page(request: HttpRequest, kpi: KPI, current: dict, names: Mapping[str, str], form: forms.Form | None = None,
          segment_form: forms.Form | None = None) -> HttpResponse:
    form = form or HealthSettingsForm(components=current["components"], names=names, initial={
        "red": current["bands"]["red"], "yellow": current["bands"]["yellow"]})
    editing = request.GET.get("segment", "")
    segment_form = segment_form or SegmentOverrideForm(
        components=_segment_components(current), names=names,
        initial=_segment_initial(current, editing) if editing in _segments_with_own(current) else None)
    errors = form.errors or segment_form.errors
    return render(request, "settings/health.html", {
        "kpi": kpi, "form": form, "segment_form": segment_form, "current": current,
        "overrides": _overrides(current), "names": names}, status=400 if errors else 200)


@admin_required
def settings_health(request: HttpRequest) -> HttpResponse:
    kpi, current = _health()
    names = kpi_names()
    if request.method != "POST":
        return _page(request, kpi, current, names)
    form = HealthSettingsForm(request.POST, components=current["components"], names=names)
    if form.is_valid() and _saved(form, kpi, form.params(current), request):
        return redirect("settings_health")
    return _page(request, kpi, current, names, form=form)


@admin_required
@require_POST
def settings_health_segment(request: HttpRequest) -> HttpResponse:
    """Give a segment's accounts weights or bands of their own (replacing what the segment had)."""
    kpi, current = _health()
    names = kpi_names()
    form = SegmentOverrideForm(request.POST, components=_segment_components(current), names=names)
    if form.is_valid() and _saved(form, kpi, form.params(current), request):
        return redirect("settings_health")
    return _page(request, kpi, current, names, segment_form=form)


class SegmentRemoveForm(forms.Form):
    key = forms.CharField(max_length=230)
    reason = forms.CharField(max_length=500)


@admin_required
@require_POST
def settings_health_segment_remove(request: HttpRequest) -> HttpResponse:
    """The segment's accounts go back to the tenant's weights and bands."""
    kpi, current = _health()
    form = SegmentRemoveForm(request.POST)
    if not form.is_valid():
        return HttpResponse("A segment to remove and a reason are required.", status=400,
                            content_type="text/plain")
    key = form.cleaned_data["key"]
    if key not in _segments_with_own(current):
        return HttpResponse(f"No segment {key!r} has weights or bands of its own.", status=404,
                            content_type="text/plain")
    kpi_update(kpi=kpi, params=_without_segment(current, key), changed_by=request.user,
               reason=form.cleaned_data["reason"])
    return redirect("settings_health")
