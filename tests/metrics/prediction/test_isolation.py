"""Predictions stay in their tenant: the API lists only this tenant's model versions, forecasts and renewals by
quartile from this tenant's values, refuses another tenant's key, and a fitted model loaded in one tenant is never
served to another whose version has the same id (ids are per schema)."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta

import time_machine
from django.db import connection

from metrics.models import MetricValue, PredictionModel
from metrics.prediction import services
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import bearer
from tests.metrics.prediction.conftest import renewal_kpi

TODAY = date(2026, 12, 3)
SECRET = "BRAVO-SECRET"


def _version(pk: int, payload: dict) -> PredictionModel:
    blob = pickle.dumps(payload)
    return PredictionModel.objects.create(
        pk=pk, target="renewal", spec_key="k" * 32, spec={}, version=1, cutoff=TODAY, status="trained",
        trigger="manual", kpi_slug="renewal-probability", reason=SECRET if payload["tenant"] == "bravo" else "",
        metrics={}, artifact=blob, artifact_digest=services._digest(blob))


def _bravo_has_predictions() -> None:
    kpi = renewal_kpi()
    account = AccountFactory(name=f"{SECRET} account")
    for scope, subject in (("account", account), ("portfolio", None)):
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope=scope, account=subject, as_of=TODAY - timedelta(1),
                                   value=40, numerator=0.4, denominator=1,
                                   details={"arr": 99000, "renewal_date": "2027-02-01"})


def test_the_api_shows_only_this_tenants_predictions_and_refuses_another_tenants_key(client, other_client,
                                                                                     read_key, in_other_tenant):
    with in_other_tenant():
        _version(501, {"tenant": "bravo"})
        _bravo_has_predictions()
    renewal_kpi()

    with time_machine.travel(datetime.combine(TODAY, time(12), UTC), tick=False):
        models = client.get("/api/v1/predictions/models/", **bearer(read_key))
        forecast = client.get("/api/v1/predictions/forecast", **bearer(read_key))
        detail = client.get("/api/v1/predictions/models/501/", **bearer(read_key))
        foreign = other_client.get("/api/v1/predictions/models/", **bearer(read_key))

    assert models.status_code == 200 and models.json()["results"] == []
    assert forecast.status_code == 200 and forecast.json()["forecast"]["total"] is None
    assert detail.status_code == 404
    assert foreign.status_code in (401, 403)
    for response in (models, forecast, detail, foreign):
        assert SECRET not in response.content.decode()


def test_a_fitted_model_is_never_served_to_another_tenant_with_the_same_version_id(in_other_tenant):
    with in_other_tenant():
        bravo = services._bundle(_version(502, {"tenant": "bravo"}))
    alpha = services._bundle(_version(502, {"tenant": "alpha"}))

    assert (alpha["tenant"], bravo["tenant"]) == ("alpha", "bravo")
    assert connection.schema_name == "alpha"
