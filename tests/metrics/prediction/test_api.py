"""The predictions API: model versions with their back-test in plain words, training on demand, the renewal
forecast with its back-test on past quarters, renewals by quartile of a leading KPI; bad input is a 400."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts.models import RevenueSnapshot
from metrics.models import MetricValue, PredictionModel
from metrics.prediction.selectors import renewal_by_quartile
from metrics.prediction.services import prediction_model_train
from metrics.services import kpi_create
from tests.accounts.factories import AccountFactory
from tests.integrations.conftest import post_json
from tests.integrations.factories import bearer
from tests.metrics.prediction import world
from tests.metrics.prediction.conftest import UNTIL, renewal_kpi, spec_of
from tests.users.factories import UserFactory

TODAY = date(2026, 12, 3)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def test_a_version_lists_its_backtest_in_numbers_and_in_words(client, read_key):
    world.build(world.separable(until=UNTIL), until=UNTIL)
    kpi = renewal_kpi()
    prediction_model_train(spec=spec_of(kpi), cutoff=UNTIL, trigger="manual", kpi_slug=kpi.slug)

    response = client.get("/api/v1/predictions/models/?kpi=renewal-probability", **bearer(read_key))

    assert response.status_code == 200
    (version,) = response.json()["results"]
    assert (version["kpi"], version["status"], version["cutoff"], version["version"]) == (
        "renewal-probability", "trained", UNTIL.isoformat(), 1)
    backtest = version["backtest"]
    assert backtest["pooled"][version["algorithm"]]["auc"] == 1.0
    assert set(backtest["pooled"]) == {"logistic_regression", "gradient_boosting", "base_rate", "health_score",
                                       "usage_trend"}
    assert len(backtest["folds"]) >= 2 and all(fold["train_known_by"] <= fold["test_on"]
                                               for fold in backtest["folds"])
    sentences = [band["says"] for band in backtest["calibration"]]
    assert any(sentence.startswith("Of the ") and "chance to renew" in sentence and sentence.endswith("renewed.")
               for sentence in sentences)
    assert "AUC 1.00" in version["trust"]
    assert version["calibration_label"] and backtest["compared"][0]["name"] == version["algorithm"]
    deciles = backtest["deciles"]
    assert len(deciles) == 10 and sum(row["accounts"] for row in deciles) == backtest["pooled"][
        version["algorithm"]]["rows"]
    assert [row["tenth"] for row in deciles] == list(range(1, 11)) and deciles[0]["predicted"] >= deciles[-1][
        "predicted"] and deciles[0]["says"].endswith("renewed.")
    assert version["training_window"]["censored"] > 0 and "artifact" not in version
    assert "days_since_last_use" in version["features"]


def test_a_version_without_a_model_says_why(client, read_key):
    world.build([world.Customer(start=date(2024, 6, 1)) for _ in range(10)], until=UNTIL)
    kpi = renewal_kpi()
    model = prediction_model_train(spec=spec_of(kpi), cutoff=UNTIL, trigger="manual", kpi_slug=kpi.slug)

    body = client.get(f"/api/v1/predictions/models/{model.pk}/", **bearer(read_key)).json()

    assert body["status"] == "insufficient" and "No account churned" in body["trust"]
    assert "backtest" not in body
    assert client.get("/api/v1/predictions/models/999999/", **bearer(read_key)).status_code == 404


def test_training_on_demand_queues_and_the_worker_stores_a_version(client, admin_key, monkeypatch,
                                                                  django_capture_on_commit_callbacks):
    from metrics import tasks

    world.build(world.separable(until=UNTIL, accounts=30), until=UNTIL)
    renewal_kpi()
    sent = []
    monkeypatch.setattr(tasks.prediction_models_train, "delay", lambda **kwargs: sent.append(kwargs))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, "/api/v1/predictions/models/train",
                             {"kpi": "renewal-probability", "as_of": UNTIL.isoformat()}, admin_key)

    assert response.status_code == 202
    assert response.json() == {"kpis": ["renewal-probability"], "cutoff": UNTIL.isoformat()}
    assert sent == [{"slugs": ["renewal-probability"], "cutoff": UNTIL.isoformat(), "trigger": "manual"}]
    tasks.prediction_models_train(**sent[0])  # what the worker runs
    assert PredictionModel.objects.get().trigger == "manual"


@pytest.mark.parametrize(("body", "field"), [
    ({"kpi": "nope"}, "kpi"),
    ({"kpi": "nps"}, "kpi"),
    ({"as_of": "2999-01-01"}, "as_of"),
    ({"as_of": "yesterday"}, "as_of"),
])
def test_bad_training_requests_are_400_naming_the_field(client, admin_key, body, field):
    renewal_kpi()
    kpi_create(slug="nps", name="NPS", calculator="surveys.nps", params={"window_days": 30},
               definition="Promoters minus detractors.", tier="advocacy", indicator="lagging", unit="score")

    response = post_json(client, "/api/v1/predictions/models/train", body, admin_key)

    assert response.status_code == 400
    assert field in response.content.decode()


def _stored(kpi, as_of: date, account, probability: float, arr: float, renewal: date) -> None:
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=as_of,
                               value=100 * probability, numerator=probability, denominator=1, sample_size=1,
                               details={"arr": arr, "renewal_date": renewal.isoformat()})
    MetricValue.objects.get_or_create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=as_of, account=None,
                                      dimension="", segment="")


def test_the_forecast_sums_probability_times_arr_with_an_interval_by_segment_and_owner(client, read_key):
    kpi = renewal_kpi()
    owner = UserFactory(email="csm@alpha.example")
    as_of = TODAY - timedelta(days=1)
    due = [(0.9, 12000.0, "Growth"), (0.5, 24000.0, "Growth"), (0.2, 6000.0, "Starter")]
    for index, (probability, arr, plan) in enumerate(due):
        _stored(kpi, as_of, AccountFactory(plan=plan, owner=owner, name=f"Due {index}"), probability, arr,
                date(2027, 2, 10 + index))
    _stored(kpi, as_of, AccountFactory(plan="Growth"), 0.1, 99000.0, date(2027, 5, 1))  # next quarter but one

    with time_machine.travel(_at(TODAY), tick=False):
        body = client.get("/api/v1/predictions/forecast", **bearer(read_key)).json()

    forecast = body["forecast"]
    assert (forecast["quarter"], forecast["as_of"]) == ("2027-Q1", as_of.isoformat())
    total = forecast["total"]
    expected = 0.9 * 12000 + 0.5 * 24000 + 0.2 * 6000
    assert total["accounts"] == 3 and total["expected_renewing_arr"] == pytest.approx(expected)
    assert total["expected_renewing_accounts"] == pytest.approx(1.6)
    spread = 1.645 * (0.9 * 0.1 * 12000**2 + 0.5 * 0.5 * 24000**2 + 0.2 * 0.8 * 6000**2) ** 0.5
    # No more can renew than is due: the upper bound stops at the ARR due.
    assert total["interval_90"] == [pytest.approx(expected - spread, abs=0.01), min(42000.0, expected + spread)]
    growth = next(group for group in forecast["by"] if group["dimension"] == "plan" and group["segment"] == "Growth")
    assert growth["expected_renewing_arr"] == pytest.approx(0.9 * 12000 + 0.5 * 24000)
    assert {group["segment"] for group in forecast["by"] if group["dimension"] == "owner"} == {"csm@alpha.example"}
    assert forecast["accounts"][0]["name"] == "Due 1"  # most ARR at risk first


def test_the_forecast_backtest_sets_each_past_quarter_against_what_happened(client, read_key):
    kpi = renewal_kpi()
    start = date(2026, 7, 1)
    renewed, lost = AccountFactory(), AccountFactory()
    for account, mrr_after in ((renewed, 1000), (lost, 0)):
        RevenueSnapshot.objects.create(account=account, month=date(2026, 6, 1), mrr=Decimal(1000))
        RevenueSnapshot.objects.create(account=account, month=date(2026, 9, 1), mrr=Decimal(mrr_after))
    _stored(kpi, start - timedelta(days=3), renewed, 0.8, 12000.0, date(2026, 8, 20))
    _stored(kpi, start - timedelta(days=3), lost, 0.4, 12000.0, date(2026, 8, 10))

    with time_machine.travel(_at(TODAY), tick=False):
        body = client.get("/api/v1/predictions/forecast?quarter=2027-Q1", **bearer(read_key)).json()

    by_quarter = {row["quarter"]: row for row in body["backtest"]}
    q3 = by_quarter["2026-Q3"]
    assert (q3["accounts"], q3["renewed_accounts"], q3["renewed_arr"]) == (2, 1, 12000.0)
    assert q3["expected_renewing_arr"] == pytest.approx(0.8 * 12000 + 0.4 * 12000)
    assert "kpi_backfill" in by_quarter["2026-Q2"]["reason"]


@pytest.mark.parametrize("query", ["quarter=2027-Q5", "quarter=Q1", "kpi=nps", "kpi=nope"])
def test_bad_forecast_queries_are_400(client, read_key, query):
    renewal_kpi()

    assert client.get(f"/api/v1/predictions/forecast?{query}", **bearer(read_key)).status_code == 400


def test_renewals_by_quartile_of_a_leading_kpi_show_whether_it_moves_renewals(client, read_key):
    kpi = kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                     params={"window_days": 30}, definition="Seats used.", tier="adoption", indicator="leading",
                     unit="percent")
    renewal = date(2026, 9, 15)
    for index in range(40):
        account = AccountFactory(renewal_date=renewal, start_date=date(2025, 1, 1))
        RevenueSnapshot.objects.create(account=account, month=date(2026, 8, 1), mrr=Decimal(500))
        # The less a customer uses its seats, the likelier it left: the lowest 10 all churned, the highest none.
        RevenueSnapshot.objects.create(account=account, month=date(2026, 10, 1),
                                       mrr=Decimal(0 if index < 10 or (index < 20 and index % 2) else 500))
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account,
                                   as_of=renewal - timedelta(days=45), value=float(index))

    result = renewal_by_quartile(kpi=kpi, today=TODAY)

    assert [(row["renewals"], row["renewed"]) for row in result["quartiles"]] == [(10, 0), (10, 5), (10, 10),
                                                                                  (10, 10)]
    assert result["spread"] == 1.0 and "renewed 0% of the time" in result["says"]
    with time_machine.travel(_at(TODAY), tick=False):
        body = client.get("/api/v1/kpis/seat-utilization/renewal-by-quartile", **bearer(read_key)).json()
    assert body["renewals"] == 40 and [row["renewed"] for row in body["quartiles"]] == [0, 5, 10, 10]


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/predictions/models/99999999999999999999/", 404),
    ("/api/v1/predictions/models/?target=sideways", 400),
    ("/api/v1/predictions/models/?kpi=%00", 400),
])
def test_out_of_range_and_unknown_parameters_are_refused_never_a_500(client, read_key, path, status):
    assert client.get(path, **bearer(read_key)).status_code == status


@pytest.mark.parametrize("as_of", ["1999-12-31", "0001-01-01"])
def test_training_before_2000_is_refused_naming_as_of(client, admin_key, as_of):
    renewal_kpi()

    response = post_json(client, "/api/v1/predictions/models/train", {"as_of": as_of}, admin_key)

    assert response.status_code == 400 and "as_of" in response.content.decode()
