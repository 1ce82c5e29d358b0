"""Pages for leaders and everyone who reads KPIs: the dashboard, a KPI's page with its notes, the glossary."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.selectors import portfolio_summary
from metrics import selectors
from metrics.annotations import TEXT_MAX_LENGTH, annotation_create, can_annotate
from metrics.calculators import calculator_for
from metrics.models import KPI
from metrics.segments import DIMENSIONS, account_segments
from metrics.templatetags.metrics_tags import DIMENSION_LABELS

COHORT_MEASURES = {"logo_retention": "Logo retention", "grr": "Gross revenue retention",
                   "nrr": "Net revenue retention"}
COHORT_MONTHS = 12  # month 0 .. 12 after the start, for the 12 most recent cohorts
# The heat map's colour range per measure: retention mostly lives between these, NRR above 100 too.
COHORT_SCALES = {"logo_retention": "50:100", "grr": "50:100", "nrr": "60:120"}
AT_RISK_LIMIT = 25
HEALTH_BAND_LABELS = {"red": "Red", "yellow": "Yellow", "green": "Green"}


def _segment_param(raw: str) -> tuple[tuple[str, str] | None, str]:
    """`plan:Growth` as ("plan", "Growth"), or no segment and what is wrong with it."""
    if not raw:
        return None, ""
    dimension, separator, segment = raw.partition(":")
    if not separator or dimension not in DIMENSIONS or not segment:
        return None, (f"Unknown segment {raw!r}: choose one from the list (a dimension among "
                      f"{', '.join(DIMENSIONS)}, then its value).")
    return (dimension, segment), ""


def _cohort_grid(cohorts: list[dict], measure: str) -> list[dict]:
    """The latest cohorts as rows of month-k cells (None where month k is still in the future)."""
    rows = []
    for cohort in cohorts[-COHORT_MONTHS:]:
        by_k = {month["k"]: month[measure] for month in cohort["months"]}
        rows.append({"start_month": cohort["start_month"], "accounts": cohort["accounts"],
                     "cells": [by_k.get(k) for k in range(COHORT_MONTHS + 1)]})
    return rows


def dashboard(request: HttpRequest) -> HttpResponse:
    """KPI tiles (core first) against this quarter's targets for the portfolio or one segment, the cohort
    retention heat map, the health distribution and the at-risk accounts by ARR. A CSM asking for it is
    sent to their own work."""
    if not request.user.lands_on_dashboard:
        return redirect("my_work")
    today = timezone.localdate()
    segment, segment_error = _segment_param(request.GET.get("segment", ""))
    measure = request.GET.get("cohort", "logo_retention")
    if measure not in COHORT_MEASURES:
        measure = "logo_retention"
    tiles = selectors.dashboard_tiles(today=today, segment=segment)
    latest = max((tile.as_of for tile in tiles if tile.as_of), default=None)
    options = selectors.segment_options(kpis=[tile.kpi for tile in tiles], as_of=latest)
    if segment and segment[1] not in options.get(segment[0], []):
        segment_error = f"No KPI values for {DIMENSION_LABELS[segment[0]]} {segment[1]!r} on {latest or today}."
        segment = None
        tiles = selectors.dashboard_tiles(today=today)
    members = None
    if segment:
        members = [account_id for account_id, segments in account_segments(as_of=latest or today).items()
                   if segments[segment[0]] == segment[1]]
    health_kpi = next((tile.kpi for tile in tiles if tile.kpi.calculator == "health.score"), None)
    health = selectors.health_distribution(health_kpi=health_kpi, segment=segment)
    context = {
        "summary": portfolio_summary(today=today),
        "core_tiles": [tile for tile in tiles if tile.kpi.is_core],
        "other_tiles": [tile for tile in tiles if not tile.kpi.is_core],
        "segment": segment,
        "segment_value": f"{segment[0]}:{segment[1]}" if segment else "",
        "segment_label": f"{DIMENSION_LABELS[segment[0]]}: {segment[1]}" if segment else "",
        "segment_error": segment_error,
        "segment_options": [(DIMENSION_LABELS[dimension], [(f"{dimension}:{value}", value) for value in values])
                            for dimension, values in options.items()],
        "cohort_measure": measure,
        "cohort_measure_label": COHORT_MEASURES[measure],
        "cohort_measures": COHORT_MEASURES,
        "cohort_months": range(COHORT_MONTHS + 1),
        "cohorts": _cohort_grid(selectors.cohort_retention(as_of=today, months=COHORT_MONTHS, account_ids=members),
                                measure),
        "cohort_scale": COHORT_SCALES[measure],
        "cohort_range": COHORT_SCALES[measure].replace(":", " to "),
        "health": health,
        "health_rows": [(HEALTH_BAND_LABELS[band], band, count, 100 * count / health.total if health.total else 0)
                        for band, count in health.counts.items()],
        "at_risk": selectors.at_risk_accounts(health_kpi=health_kpi, as_of=health.as_of, account_ids=members,
                                              limit=AT_RISK_LIMIT),
        "at_risk_limit": AT_RISK_LIMIT,
    }
    return render(request, "metrics/dashboard.html", context, status=400 if segment_error else 200)


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
    return render(request, "metrics/kpi_detail.html", {
        "kpi": kpi,
        "formula": calculator_for(kpi.calculator).formula,
        "as_of": as_of,
        "values": values,
        "history": [row.value for row in values],
        "dates": [row.as_of for row in values],
        "annotations": selectors.annotations_for(kpis=[kpi])[kpi.pk],
        "form": form,
        "can_annotate": can_annotate(request.user),
        "versions": kpi.versions.select_related("changed_by"),
        "targets": kpi.targets.select_related("set_by").order_by("-period", "-created_at"),
        "segments": selectors.kpi_segment_breakdown(kpi=kpi, as_of=as_of) if as_of else {},
        "explain": selectors.kpi_explain(kpi=kpi, as_of=as_of) if as_of else None,
    }, status=400 if form.errors else 200)


def glossary(request: HttpRequest) -> HttpResponse:
    return render(request, "metrics/glossary.html", {"entries": selectors.glossary()})


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
