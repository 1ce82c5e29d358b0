"""Pages for everyone who reads KPIs: a KPI's page with its notes, the glossary and the alerts. (The dashboard
composes accounts too, so it lives in workspace.)"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from metrics import selectors
from metrics.annotations import TEXT_MAX_LENGTH, annotation_create, can_annotate
from metrics.calculators import calculator_for
from metrics.models import KPI


class AnnotationForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}),
                           help_text="The day the note is about; it is marked on the chart there.")
    text = forms.CharField(max_length=TEXT_MAX_LENGTH, label="Note",
                           widget=forms.TextInput(attrs={"placeholder": "Price change for Growth plan"}))


def kpi_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A KPI's definition, values over time with its notes marked, segments, explain, targets and versions.
    A POST pins a note (any signed-in person but a viewer)."""
    kpi = get_object_or_404(KPI.objects.select_related("owner"), slug=slug)
    form = AnnotationForm(request.POST or None, initial={"date": timezone.localdate()})
    if request.method == "POST":
        if not can_annotate(request.user):
            raise PermissionDenied("Viewers read KPIs; pinning notes is for the team.")
        if form.is_valid():
            try:
                annotation_create(kpi=kpi, author=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Pinned the note to {kpi.name} on {form.cleaned_data['date']}.")
                return redirect("kpi_detail", slug=kpi.slug)
    as_of = selectors.kpi_latest_as_of(kpi=kpi)
    values = list(selectors.kpi_values(kpi=kpi, scope="portfolio").reverse()[:60])[::-1]  # the latest 60
    targets = list(kpi.targets.select_related("set_by").order_by("-period", "-created_at"))
    quarter = selectors.quarter_of(timezone.localdate())
    current_target = next((target.value for target in targets if target.period == quarter and not target.dimension
                           and target.superseded_at is None), None)
    return render(request, "metrics/kpi_detail.html", {
        "kpi": kpi,
        "current_target": current_target,
        "formula": calculator_for(kpi.calculator).formula,
        "as_of": as_of,
        "values": values,
        "history": [row.value for row in values],
        "dates": [row.as_of for row in values],
        "annotations": selectors.annotations_for(kpis=[kpi])[kpi.pk],
        "form": form,
        "can_annotate": can_annotate(request.user),
        "versions": kpi.versions.select_related("changed_by"),
        "targets": targets,
        "segments": selectors.kpi_segment_breakdown(kpi=kpi, as_of=as_of) if as_of else {},
        "explain": selectors.kpi_explain(kpi=kpi, as_of=as_of) if as_of else None,
        "predictive": kpi.calculator.startswith("prediction."),
        "quartiles": _renewal_quartiles(kpi),
    }, status=400 if form.errors else 200)


def _renewal_quartiles(kpi: KPI) -> dict | None:
    """For a leading KPI with account values (not itself a prediction): renewals by quartile of its value."""
    from metrics.models import Indicator, Scope
    from metrics.prediction.selectors import renewal_by_quartile

    if (kpi.indicator != Indicator.LEADING or Scope.ACCOUNT not in kpi.scopes
            or kpi.calculator.startswith("prediction.")):
        return None
    return renewal_by_quartile(kpi=kpi, today=timezone.localdate())


def glossary(request: HttpRequest) -> HttpResponse:
    """Every KPI's definition and formula, with stored codes as people say them and owners by name."""
    from metrics.models import Cadence, Direction, Tier, Unit
    from users.models import User

    entries = selectors.glossary()
    names = {user.email: str(user) for user in User.objects.filter(email__in={e["owner"] for e in entries})}
    for entry in entries:
        entry.update(owner_name=names.get(entry["owner"]), tier_label=Tier(entry["tier"]).label,
                     unit_label=Unit(entry["unit"]).label, direction_label=Direction(entry["direction"]).label,
                     cadence_label=Cadence(entry["cadence"]).label)
    return render(request, "metrics/glossary.html", {"entries": entries})


ALERTS_PER_SEVERITY = 50
ALERTS_PAGE_SIZE = 100


def alerts(request: HttpRequest) -> HttpResponse:
    """Open breaches by severity with their age and response SLA: the oldest of each severity, or every
    breach of one severity page by page (?severity=high&page=2)."""
    from django.core.paginator import Paginator

    from metrics.models import Severity

    severity = request.GET.get("severity", "")
    if severity:
        if severity not in Severity.values:
            return HttpResponse(f"severity must be one of {', '.join(Severity.values)}.", status=400)
        page = Paginator(selectors.open_breaches_of_severity(severity), ALERTS_PAGE_SIZE).get_page(
            request.GET.get("page"))
        groups = [(severity, list(page), page.paginator.count)]
    else:
        page, groups = None, selectors.open_breaches_by_severity(per_severity=ALERTS_PER_SEVERITY)
    return render(request, "metrics/alerts.html", {"groups": groups, "page": page, "severity": severity,
                                                   "now": timezone.now()})


@require_POST
def breach_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    from django.core.exceptions import PermissionDenied

    from metrics.alerts import breach_acknowledge, may_acknowledge
    from metrics.models import Breach

    if not may_acknowledge(request.user):
        raise PermissionDenied("Viewers only read: a CSM, manager or leader acknowledges breaches.")
    breach_acknowledge(breach=get_object_or_404(Breach, pk=pk), user=request.user)
    return redirect("alerts")
