"""Predictive KPI fixtures: the two KPIs with the worlds' single event, and the spec their models answer."""

from __future__ import annotations

from datetime import date

import pytest

from metrics.calculators import calculator_for
from metrics.prediction.spec import Spec
from metrics.services import kpi_create
from tests.metrics.conftest import admin_key  # noqa: F401

UNTIL = date(2026, 6, 30)
EVENTS = {"core_features": ["report_created"], "key_feature": "report_created",
          "activation_events": ["report_created"], "value_event": "report_created"}


def renewal_kpi(**params):
    return kpi_create(slug="renewal-probability", name="Renewal probability", calculator="prediction.renewal",
                      params={**EVENTS, "horizon_days": 90, "min_events": 10, **params},
                      definition="Likelihood to renew.", tier="retention", indicator="leading", unit="percent")


def spec_of(kpi) -> Spec:
    calculator = calculator_for(kpi.calculator)
    return calculator.spec(calculator.clean_params(kpi.params))


@pytest.fixture
def spec() -> Spec:
    return Spec(target="renewal", horizon_days=90, min_events=10, core_features=("report_created",),
                key_feature="report_created", activation_events=("report_created",), value_event="report_created")
