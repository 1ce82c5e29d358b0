"""Configuration in the product, for admins: alert rules (tried on the last 90 days before they are saved) and each
KPI's thresholds, owner, cadence and targets, with bounds that refuse absurd values. Every change is audited (the
models are in audit.services.AUDITED, the actor is the signed-in admin)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from core.numbers import QUARTER_PATTERN
from metrics.alerts import rule_preview
from metrics.bounds import UNIT_BOUNDS, value_check, year_check
from metrics.models import KPI, OPEN_STATUSES, RENEWAL_WINDOW_MAX_DAYS, AlertRule, Condition, Scope
from metrics.selectors import quarter_of
from metrics.services import kpi_target_set
from metrics.templatetags.metrics_tags import DIMENSION_LABELS
from users.models import Role, User
from users.permissions import admin_required

PREVIEW_DAYS = 90
MAX_PERSISTENCE = 30
MAX_LOOKBACK_DAYS = 365
MAX_COOLDOWN_HOURS = 24 * 30
# A drop can take away at most everything; a rise is bounded like any percentage.
CHANGE_BOUNDS = {Condition.DROP: (0.0, 100.0), Condition.RISE: (0.0, 1000.0)}


class AlertRuleForm(forms.ModelForm):
    """An alert rule, checked against its KPI: the threshold in the KPI's unit (or a percentage for a drop or a
    rise), a segment that exists, persistence, lookback and cooldown within sensible limits."""

    persistence = forms.IntegerField(min_value=1, max_value=MAX_PERSISTENCE, initial=1,
                                     help_text="Consecutive evaluations before it opens.")
    lookback_days = forms.IntegerField(min_value=1, max_value=MAX_LOOKBACK_DAYS, initial=30,
                                       label="Compared with N days earlier", help_text="For a drop or a rise.")
    cooldown_hours = forms.IntegerField(min_value=0, max_value=MAX_COOLDOWN_HOURS, initial=0,
                                        label="Cooldown (hours)", help_text="No new breach this soon after one closed.")
    renewal_within_days = forms.IntegerField(
        min_value=1, max_value=RENEWAL_WINDOW_MAX_DAYS, required=False, label="Only accounts renewing within (days)",
        help_text="Account rules: leave empty for every account, or e.g. 120 for those whose next renewal is at "
                  "most 120 days away.")

    class Meta:
        model = AlertRule
        fields = ["name", "kpi", "scope", "condition", "threshold", "lookback_days", "dimension", "segment",
                  "renewal_within_days", "persistence", "hysteresis", "cooldown_hours", "severity", "action",
                  "is_active"]
        labels = {"kpi": "KPI", "dimension": "Only the segment of", "segment": "Segment value", "is_active": "Active"}
        widgets = {"dimension": forms.Select(choices=[("", "Every subject"), *DIMENSION_LABELS.items()])}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kpi"].queryset = KPI.objects.filter(is_active=True).order_by("name")
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}-help"

    def clean(self) -> dict:
        data = super().clean()
        kpi, condition, threshold = data.get("kpi"), data.get("condition"), data.get("threshold")
        scope = data.get("scope")
        if kpi is not None and scope and scope not in kpi.scopes:
            self.add_error("scope", f"{kpi.name} is not computed per {Scope(scope).label.lower()}.")
        if condition in (Condition.BELOW, Condition.ABOVE, Condition.DROP, Condition.RISE) and threshold is None:
            self.add_error("threshold", "This condition needs a threshold.")
        elif kpi is not None and threshold is not None:
            if condition in CHANGE_BOUNDS:
                low, high = CHANGE_BOUNDS[condition]
                if not low < threshold <= high:
                    self.add_error("threshold", f"A {condition} is a percentage above {low:g} and at most {high:g}.")
            else:
                try:
                    value_check(threshold, unit=kpi.unit, field="threshold", what="A threshold of")
                except ValidationError as error:
                    self.add_error(None, error)
        hysteresis = data.get("hysteresis")
        if kpi is not None and hysteresis is not None:
            low, high = UNIT_BOUNDS.get(kpi.unit, (0, 1e10))
            if not 0 <= hysteresis <= high - low:
                self.add_error("hysteresis", f"Hysteresis is between 0 and {high - low:g}.")
        if data.get("renewal_within_days") is not None and scope and scope != Scope.ACCOUNT:
            self.add_error("renewal_within_days", "Only a rule on accounts can look at their renewals.")
        if data.get("dimension") and not data.get("segment"):
            self.add_error("segment", "Name the segment's value, e.g. Enterprise.")
        if not data.get("dimension"):
            data["segment"] = ""
        return data


@admin_required
def alert_rules(request: HttpRequest) -> HttpResponse:
    """Every alert rule with its KPI, condition, severity and how many breaches it has open."""
    rules = (AlertRule.objects.select_related("kpi").annotate(
        open_breaches=Count("breaches", filter=Q(breaches__status__in=OPEN_STATUSES))).order_by("kpi__name", "name"))
    return render(request, "metrics/alert_rules.html", {"rules": rules})


@admin_required
def alert_rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create or change a rule. "Preview" replays the rule as typed over the last 90 days (nothing is saved; on
    demand only, since replaying 90 days of every account's values is the page's one slow part);
    "Save" saves it (audited). A refused form keeps what was typed, each error beside its field."""
    rule = get_object_or_404(AlertRule.objects.select_related("kpi"), pk=pk) if pk is not None else AlertRule()
    form = AlertRuleForm(request.POST or None, instance=rule)
    preview = None
    if request.method == "POST" and form.is_valid():
        candidate = form.save(commit=False)
        if "preview" in request.POST:
            preview = rule_preview(rule=candidate, today=timezone.localdate(), days=PREVIEW_DAYS)
        else:
            if candidate.pk is None:
                candidate.created_by = request.user
            candidate.save()
            messages.success(request, f"Saved the alert rule “{candidate.name}”.")
            return redirect("settings_alert_rules")
    return render(request, "metrics/alert_rule_form.html", {
        "form": form, "rule": rule, "preview": preview, "preview_days": PREVIEW_DAYS,
    }, status=400 if form.errors else 200)


class KPISettingsForm(forms.ModelForm):
    """A KPI's thresholds (the value that earns 0 health points and the one that earns 100), owner, cadence and
    whether it is active, within what its unit can be."""

    class Meta:
        model = KPI
        fields = ["poor_value", "good_value", "owner", "cadence", "is_active", "is_core", "in_review"]
        labels = {"poor_value": "Poor at", "good_value": "Good at", "is_core": "Core KPI (dashboards lead with it)",
                  "in_review": "In the quarterly review", "is_active": "Active"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(is_active=True).exclude(role=Role.VIEWER)

    def clean(self) -> dict:
        data = super().clean()
        unit = self.instance.unit
        for name in ("poor_value", "good_value"):
            try:
                value_check(data.get(name), unit=unit, field=name, what="A threshold of")
            except ValidationError as error:
                self.add_error(None, error)
        poor, good = data.get("poor_value"), data.get("good_value")
        if poor is not None and good is not None and poor == good:
            self.add_error("good_value", "Poor and good must differ: the health score scales between them.")
        return data


class TargetForm(forms.Form):
    period = forms.RegexField(regex=QUARTER_PATTERN, max_length=7, label="Quarter",
                              error_messages={"invalid": "A quarter is written like 2026-Q4."})
    value = forms.FloatField(label="Target")
    reason = forms.CharField(max_length=500, label="Why", error_messages={"required": "Say why the target is set."})

    def __init__(self, *args, kpi: KPI, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kpi = kpi

    def clean(self) -> dict:
        data = super().clean()
        try:
            value_check(data.get("value"), unit=self.kpi.unit, field="value", what="A target of")
        except ValidationError as error:
            self.add_error(None, error)
        if data.get("period"):
            try:
                year_check(int(data["period"][:4]), today=timezone.localdate(), field="period", what="The quarter")
            except ValidationError as error:
                self.add_error(None, error)
        return data


@admin_required
def kpi_settings(request: HttpRequest) -> HttpResponse:
    """Every KPI with its thresholds, owner, cadence and this quarter's target."""
    kpis = KPI.objects.select_related("owner").order_by("tier", "name")
    quarter = quarter_of(timezone.localdate())
    targets = dict(KPI.objects.filter(targets__period=quarter, targets__dimension="",
                                      targets__superseded_at__isnull=True).values_list("pk", "targets__value"))
    return render(request, "metrics/kpi_settings.html", {"kpis": kpis, "targets": targets, "quarter": quarter})


@admin_required
def kpi_settings_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a KPI's thresholds, owner and cadence, or set a quarter's target (each audited)."""
    kpi = get_object_or_404(KPI, slug=slug)
    quarter = quarter_of(timezone.localdate())
    posted = request.POST if request.method == "POST" else None
    settings_form = KPISettingsForm(posted if posted and "save_settings" in posted else None, instance=kpi)
    target_form = TargetForm(posted if posted and "set_target" in posted else None, kpi=kpi,
                             initial={"period": quarter})
    if settings_form.is_bound and settings_form.is_valid():
        settings_form.save()
        messages.success(request, f"Saved {kpi.name}'s settings.")
        return redirect("settings_kpi_edit", slug=kpi.slug)
    if target_form.is_bound and target_form.is_valid():
        try:
            kpi_target_set(kpi=kpi, set_by=request.user, **target_form.cleaned_data)
        except ValidationError as error:
            target_form.add_error(None, error)
        else:
            messages.success(request, f"Set {kpi.name}'s target for {target_form.cleaned_data['period']}.")
            return redirect("settings_kpi_edit", slug=kpi.slug)
    refused = settings_form.errors or target_form.errors
    return render(request, "metrics/kpi_settings_edit.html", {
        "kpi": kpi, "settings_form": settings_form, "target_form": target_form,
        "targets": kpi.targets.select_related("set_by").order_by("-period", "-created_at")[:20],
        "bounds": UNIT_BOUNDS.get(kpi.unit),
    }, status=400 if refused else 200)
