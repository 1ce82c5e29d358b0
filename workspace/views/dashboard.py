"""The dashboard of leaders and managers: KPI tiles against target for the portfolio or a segment, the cohort
retention heat map, the health distribution and the at-risk accounts, beside the portfolio's MRR."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.selectors import portfolio_summary
from metrics import selectors
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
    return render(request, "workspace/dashboard.html", context, status=400 if segment_error else 200)
