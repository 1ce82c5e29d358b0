"""Pages for leaders and everyone who reads KPIs: the dashboard, a KPI's page, and the glossary."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.selectors import portfolio_summary
from metrics import selectors
from metrics.calculators import calculator_for
from metrics.models import KPI


def dashboard(request: HttpRequest) -> HttpResponse:
    """KPI tiles (core first) against this quarter's targets, and the portfolio's headline figures.
    A CSM asking for it is sent to their own work."""
    if not request.user.lands_on_dashboard:
        return redirect("my_work")
    today = timezone.localdate()
    tiles = selectors.dashboard_tiles(today=today)
    return render(request, "metrics/dashboard.html", {
        "summary": portfolio_summary(today=today),
        "core_tiles": [tile for tile in tiles if tile.kpi.is_core],
        "other_tiles": [tile for tile in tiles if not tile.kpi.is_core],
    })


def kpi_detail(request: HttpRequest, slug: str) -> HttpResponse:
    kpi = get_object_or_404(KPI.objects.select_related("owner"), slug=slug)
    as_of = selectors.kpi_latest_as_of(kpi=kpi)
    values = list(selectors.kpi_values(kpi=kpi, scope="portfolio"))
    return render(request, "metrics/kpi_detail.html", {
        "kpi": kpi,
        "formula": calculator_for(kpi.calculator).formula,
        "as_of": as_of,
        "values": values[-60:],
        "history": [row.value for row in values[-60:]],
        "versions": kpi.versions.select_related("changed_by"),
        "targets": kpi.targets.select_related("set_by").order_by("-period", "-created_at"),
        "segments": selectors.kpi_segment_breakdown(kpi=kpi, as_of=as_of) if as_of else {},
        "explain": selectors.kpi_explain(kpi=kpi, as_of=as_of) if as_of else None,
    })


def glossary(request: HttpRequest) -> HttpResponse:
    return render(request, "metrics/glossary.html", {"entries": selectors.glossary()})


def alerts(request: HttpRequest) -> HttpResponse:
    """Open breaches by severity, with their age and response SLA."""
    return render(request, "metrics/alerts.html", {"groups": selectors.open_breaches_by_severity(),
                                                   "now": timezone.now()})


@require_POST
def breach_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    from metrics.alerts import breach_acknowledge
    from metrics.models import Breach

    breach_acknowledge(breach=get_object_or_404(Breach, pk=pk), user=request.user)
    return redirect("alerts")
