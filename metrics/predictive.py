"""The predictive KPIs and their models: which KPIs predict, the question each one's model answers, and training
a new version for each (what the schedule, the API and `manage.py predict_train` call)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from metrics.calculators import CalculatorError, calculator_for
from metrics.models import KPI, PredictionModel
from metrics.prediction.services import prediction_model_train
from metrics.prediction.spec import Spec

logger = logging.getLogger(__name__)


def predictive_kpis(slugs: Sequence[str] | None = None) -> list[KPI]:
    """The active KPIs computed by a predictive calculator (or those of `slugs`, active or not)."""
    kpis = KPI.objects.filter(calculator__startswith="prediction.")
    return list(kpis.filter(slug__in=slugs) if slugs else kpis.filter(is_active=True))


def kpi_spec(kpi: KPI) -> Spec:
    """The question a predictive KPI's model answers (CalculatorError when its parameters are broken)."""
    calculator = calculator_for(kpi.calculator)
    return calculator.spec(calculator.clean_params(kpi.params))


def prediction_models_train(*, cutoff: date, trigger: str,
                            slugs: Sequence[str] | None = None) -> list[PredictionModel]:
    """A new version for each predictive KPI (the active ones, or those named) on what was known on `cutoff`.
    A KPI whose parameters are broken is skipped and logged: one bad KPI does not stop the others."""
    trained = []
    for kpi in predictive_kpis(slugs):
        try:
            spec = kpi_spec(kpi)
        except CalculatorError:
            logger.exception("Predictive KPI %s has broken parameters; no model trained", kpi.slug)
            continue
        trained.append(prediction_model_train(spec=spec, cutoff=cutoff, trigger=trigger, kpi_slug=kpi.slug))
    return trained
