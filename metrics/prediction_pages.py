"""Pages for the predictions: how far to trust each predictive KPI (its model's back-test in plain words), and
the renewal forecast for leaders with its own back-test on past quarters."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from metrics.calculators import CalculatorError
from metrics.models import KPI, PredictionModel
from metrics.prediction import selectors
from metrics.prediction.spec import ALGORITHM_LABELS
from metrics.predictive import kpi_spec, predictive_kpis
from users.models import Role
from users.permissions import admin_required

VERSIONS_SHOWN = 12


def predictions(request: HttpRequest) -> HttpResponse:
    """Each predictive KPI's latest model: its back-test against the baselines, per fold, and its calibration in
    plain words; the earlier versions; what it learns from."""
    entries = []
    keys = {}
    for kpi in predictive_kpis():
        try:
            keys[kpi] = kpi_spec(kpi).key()
        except CalculatorError:
            continue  # broken parameters: the KPI's own page says so
    by_key = selectors.latest_versions(spec_keys=list(keys.values()), per_key=VERSIONS_SHOWN)
    for kpi, key in keys.items():
        versions = by_key[key]
        for version in versions:
            version.auc = selectors.pooled_auc(version)
            version.algorithm_label = ALGORITHM_LABELS.get(version.algorithm, "")
        latest = next((version for version in versions if version.status == PredictionModel.Status.TRAINED), None)
        entries.append({
            "kpi": kpi, "versions": versions,
            "report": selectors.model_report(latest) if latest else None,
            "last_attempt": versions[0] if versions else None,
            "features": selectors.feature_glossary(latest.features) if latest else [],
        })
    return render(request, "metrics/predictions.html", {
        "entries": entries, "can_train": request.user.role == Role.ADMIN,
        "baseline_labels": selectors.BASELINE_LABELS})


@admin_required
@require_POST
def predictions_train(request: HttpRequest) -> HttpResponse:
    """Train every predictive KPI's model now, in the background, on what was known yesterday."""
    from metrics.tasks import prediction_models_train

    slugs = [kpi.slug for kpi in predictive_kpis()]
    if not slugs:
        messages.error(request, "There is no active predictive KPI to train.")
        return redirect("predictions")
    cutoff = timezone.localdate() - timedelta(days=1)
    transaction.on_commit(lambda: prediction_models_train.delay(
        slugs=slugs, cutoff=cutoff.isoformat(), trigger=PredictionModel.Trigger.MANUAL))
    messages.success(request, f"Training {', '.join(slugs)} on what was known on {cutoff}: the new versions appear "
                              "here in a minute or two.")
    return redirect("predictions")


def renewal_forecast(request: HttpRequest) -> HttpResponse:
    """Renewals due in a quarter (default the next), expected renewing ARR with a 90% interval, by segment and
    owner, the accounts with most ARR at stake, and how the forecast did on past quarters."""
    today = timezone.localdate()
    kpi = KPI.objects.filter(calculator="prediction.renewal", is_active=True).order_by("id").first()
    quarter, error = request.GET.get("quarter", ""), ""
    try:
        first, last = (selectors.parse_quarter(quarter) if quarter
                       else selectors.quarter_bounds(selectors.quarter_bounds(today)[1] + timedelta(days=1)))
    except ValueError as problem:
        error = f"{str(problem)[:1].upper()}{str(problem)[1:]}."
        first, last = selectors.quarter_bounds(selectors.quarter_bounds(today)[1] + timedelta(days=1))
    context = {"kpi": kpi, "error": error, "quarter": selectors.quarter_label(first), "forecast": None,
               "backtest": []}
    if kpi is not None:
        forecast = selectors.renewal_forecast(kpi=kpi, first=first, last=last, today=today)
        context.update(forecast=forecast, backtest=selectors.forecast_backtest(kpi=kpi, today=today),
                       by_dimension=_by_dimension(forecast["by"]))
    return render(request, "metrics/renewal_forecast.html", context, status=400 if error else 200)


def _by_dimension(groups: list[dict]) -> list[tuple[str, list[dict]]]:
    grouped: dict[str, list[dict]] = {}
    for group in groups:
        grouped.setdefault(group["dimension"], []).append(group)
    return list(grouped.items())
