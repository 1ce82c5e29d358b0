"""Renewal probability and expansion potential as KPIs: stored values with drivers, honest history (no value for
t depends on anything after t), nulls with their reason, bad parameters refused, scheduled runs that never
crash."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics.models import ComputationRun, MetricValue, PredictionModel
from metrics.services import kpi_compute, kpi_create, kpis_compute
from tests.integrations.conftest import post_json
from tests.metrics.prediction import world
from tests.metrics.prediction.conftest import EVENTS, UNTIL, renewal_kpi


def _values(kpi, as_of: date) -> dict:
    """{subject: (value, numerator, details without the model's row id)} of a KPI on a date."""
    result = {}
    for row in MetricValue.objects.filter(kpi=kpi, as_of=as_of):
        details = {key: value for key, value in (row.details or {}).items() if key not in ("model_id",)}
        result[(row.scope, row.account_id, row.dimension, row.segment)] = (row.value, row.numerator, details)
    return result


def test_every_paying_account_gets_a_probability_with_its_drivers_and_the_portfolio_the_expected_renewals():
    ids = world.build(world.separable(until=UNTIL), until=UNTIL)
    kpi = renewal_kpi()

    kpi_compute(kpi=kpi, as_of=UNTIL)

    accounts = MetricValue.objects.filter(kpi=kpi, as_of=UNTIL, scope="account")
    paying = {row.account_id: row for row in accounts if row.value is not None}
    assert len(paying) == 80 and set(paying) <= set(ids)  # the 40 churned ones pay nothing on the date
    assert all(0 <= row.value <= 100 for row in paying.values())
    sample = next(iter(paying.values()))
    assert sample.details["model_cutoff"] <= UNTIL.isoformat()
    assert sample.details["arr"] == 12000 and sample.details["horizon_days"] == 90
    # Every one of them renews in this world and looks like the average renewing account: nothing moves it.
    assert sample.details["drivers"] == [] and sample.value > 99
    portfolio = MetricValue.objects.get(kpi=kpi, as_of=UNTIL, scope="portfolio")
    assert portfolio.value == pytest.approx(sum(row.value for row in paying.values()) / 80)
    assert portfolio.numerator == pytest.approx(sum(row.numerator for row in paying.values()))
    assert portfolio.details["expected_renewing"] == pytest.approx(portfolio.numerator, abs=0.01)
    assert portfolio.details["expected_renewing_arr"] == pytest.approx(12000 * portfolio.numerator, rel=1e-3)
    assert portfolio.details["accounts"] == 80


def test_each_segment_gets_the_mean_probability_and_its_expected_renewing_accounts_and_arr():
    customers = world.separable(until=UNTIL, accounts=90)
    for index, customer in enumerate(customers):
        customer.plan, customer.mrr = ("Starter", 500.0) if index % 2 else ("Growth", 2000.0)
    ids = world.build(customers, until=UNTIL)
    kpi = renewal_kpi()

    kpi_compute(kpi=kpi, as_of=UNTIL)

    plans = dict(zip(ids, ("Starter" if index % 2 else "Growth" for index in range(len(ids))), strict=True))
    accounts = [row for row in MetricValue.objects.filter(kpi=kpi, as_of=UNTIL, scope="account")
                if row.value is not None]
    for plan in ("Starter", "Growth"):
        members = [row for row in accounts if plans[row.account_id] == plan]
        segment = MetricValue.objects.get(kpi=kpi, as_of=UNTIL, scope="segment", dimension="plan", segment=plan)
        assert segment.value == pytest.approx(sum(row.value for row in members) / len(members))
        assert segment.details["accounts"] == len(members)
        assert segment.details["expected_renewing"] == pytest.approx(sum(row.numerator for row in members),
                                                                     abs=0.01)
        assert segment.details["expected_renewing_arr"] == pytest.approx(
            sum(row.numerator * row.details["arr"] for row in members), abs=0.05)
        assert segment.details["arr"] == pytest.approx(12 * (500 if plan == "Starter" else 2000) * len(members))


def test_the_health_score_weighs_the_renewal_probability_like_any_kpi_in_the_same_run():
    customers = world.separable(until=UNTIL, accounts=60)
    customers.append(world.Customer(start=date(2024, 9, 1), silent_from=UNTIL - timedelta(days=40)))
    world.build(customers, until=UNTIL)
    renewal = renewal_kpi()
    renewal.poor_value, renewal.good_value = 50, 90
    renewal.save(update_fields=["poor_value", "good_value"])
    health = kpi_create(slug="health-score", name="Health score", calculator="health.score",
                        params={"components": [{"kpi": "renewal-probability", "weight": 1}]}, definition="d",
                        tier="advocacy", indicator="leading", unit="score")

    run = kpis_compute(as_of=UNTIL, trigger=ComputationRun.Trigger.SCHEDULE)

    assert run.status == ComputationRun.Status.SUCCEEDED, run.errors
    probabilities = {row.account_id: row.value for row in MetricValue.objects.filter(
        kpi=renewal, as_of=UNTIL, scope="account", value__isnull=False)}
    scores = dict(MetricValue.objects.filter(kpi=health, as_of=UNTIL, scope="account").values_list(
        "account_id", "value"))
    assert min(probabilities.values()) < 50 < 90 < max(probabilities.values())  # both clamps are exercised
    for account_id, probability in probabilities.items():
        assert scores[account_id] == pytest.approx(min(max((probability - 50) / 40 * 100, 0), 100), abs=0.01)


def test_silent_accounts_are_given_a_low_probability_and_silence_is_their_top_driver():
    customers = world.separable(until=UNTIL)
    customers.append(world.Customer(start=date(2024, 9, 1), silent_from=UNTIL - timedelta(days=40)))
    ids = world.build(customers, until=UNTIL)
    kpi = renewal_kpi()

    kpi_compute(kpi=kpi, as_of=UNTIL)

    silent = MetricValue.objects.get(kpi=kpi, as_of=UNTIL, account_id=ids[-1])
    others = MetricValue.objects.filter(kpi=kpi, as_of=UNTIL, scope="account", value__isnull=False).exclude(
        account_id=ids[-1])
    assert silent.value < 50 < min(row.value for row in others)
    top = silent.details["drivers"][0]
    assert top["points"] < -20 and top["feature"] in ("days_since_last_use", "events_30", "active_days_30")
    assert {"feature", "label", "says", "points", "log_odds"} == set(top)


def test_changing_data_after_t_changes_no_value_for_t():
    ids = world.build(world.separable(until=UNTIL), until=UNTIL)
    kpi = renewal_kpi()
    t = UNTIL - timedelta(days=45)
    kpi_compute(kpi=kpi, as_of=t)
    before = _values(kpi, t)

    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_usagedaily SET events = 0 WHERE day > %s", [t])
        cursor.execute("DELETE FROM accounts_userdaily WHERE day > %s", [t])
        cursor.execute("UPDATE accounts_revenuesnapshot SET mrr = 0 WHERE month > %s AND account_id = ANY(%s)",
                       [t, ids[:30]])
        cursor.execute("INSERT INTO accounts_surveyresponse (account_id, external_id, kind, score, comment, "
                       "respondent, responded_at) SELECT id, 'late-' || id, 'nps', 0, '', '', %s "
                       "FROM accounts_account", [UNTIL])
    PredictionModel.objects.all().delete()  # and trained again, on the changed data
    kpi_compute(kpi=kpi, as_of=t)

    assert _values(kpi, t) == before
    assert PredictionModel.objects.get().cutoff == t


def test_a_backfill_is_a_true_back_test_each_date_made_by_a_model_trained_on_or_before_it():
    world.build(world.separable(until=UNTIL), until=UNTIL)
    kpi = renewal_kpi(retrain_days=20)
    days = [UNTIL - timedelta(days=days) for days in (60, 45, 30, 15, 0)]

    for day in days:
        kpi_compute(kpi=kpi, as_of=day)

    for day in days:
        cutoffs = {row.details["model_cutoff"] for row in MetricValue.objects.filter(
            kpi=kpi, as_of=day, scope="account", value__isnull=False)}
        assert len(cutoffs) == 1 and cutoffs.pop() <= day.isoformat()
    assert sorted(PredictionModel.objects.values_list("cutoff", flat=True)) == [days[0], days[2], days[4]]
    for model in PredictionModel.objects.all():
        for fold in model.metrics["folds"]:
            assert fold["train_known_by"] <= fold["test_on"] < model.cutoff.isoformat()


def _scoring_statements(queries) -> int:
    """The statements that read every account's features for scoring (not the training frame, which has labels)."""
    return sum(1 for query in queries if "JOIN windowed w" in query["sql"] and "known_on" not in query["sql"])


def test_a_tenant_without_churn_gets_nulls_with_the_reason_and_its_scheduled_run_succeeds():
    world.build([world.Customer(start=date(2024, 6, 1), renewal=date(2026, 8, 15)) for _ in range(25)], until=UNTIL)
    renewal_kpi(horizon_days=None)

    with CaptureQueriesContext(connection) as training:
        run = kpis_compute(as_of=UNTIL, trigger=ComputationRun.Trigger.SCHEDULE)

    assert run.status == ComputationRun.Status.SUCCEEDED, run.errors
    values = MetricValue.objects.filter(as_of=UNTIL)
    assert values.filter(scope="account").count() == 25
    assert all(row.value is None and "No account churned" in row.details["reason"] for row in values)
    assert PredictionModel.objects.get().status == PredictionModel.Status.INSUFFICIENT
    # The value still says what it would have been about: the account's horizon, renewal and ARR.
    account = values.filter(scope="account").first()
    assert account.details["horizon_days"] == 46 and account.details["renewal_date"] == "2026-08-15"
    assert account.details["arr"] == 12000 and account.details["through_renewal"] is True
    # The labels told the training there was nothing to learn before any feature was read.
    assert not any("JOIN windowed w" in query["sql"] for query in training.captured_queries)

    # With no model to score them, computing the date again reads no account's features (a full frame of usage,
    # surveys and tickets for nothing: 131 s of a 10,000-account catalogue run once).
    with CaptureQueriesContext(connection) as queries:
        again = kpis_compute(as_of=UNTIL, trigger=ComputationRun.Trigger.SCHEDULE)
    assert again.status == ComputationRun.Status.SUCCEEDED and again.rows_written == 0
    assert _scoring_statements(queries.captured_queries) == 0


def test_kpis_sharing_a_model_read_the_accounts_features_once_per_run():
    world.build(world.separable(until=UNTIL, accounts=60), until=UNTIL)
    first = renewal_kpi()
    second = kpi_create(slug="renewal-probability-copy", name="Renewal probability (copy)",
                        calculator="prediction.renewal", params=first.params, definition="The same question.",
                        tier="retention", indicator="leading", unit="percent")
    kpi_compute(kpi=first, as_of=UNTIL)  # trains the version both KPIs use

    with CaptureQueriesContext(connection) as queries:
        run = kpis_compute(as_of=UNTIL, kpis=[first, second], trigger=ComputationRun.Trigger.MANUAL)

    assert run.status == ComputationRun.Status.SUCCEEDED, run.errors
    assert _scoring_statements(queries.captured_queries) == 1
    assert PredictionModel.objects.get().status == PredictionModel.Status.TRAINED
    values = _values(first, UNTIL)
    assert any(value is not None for value, _, _ in values.values())
    assert values == _values(second, UNTIL)


def test_an_account_without_revenue_gets_a_null_with_the_reason():
    ids = world.build(world.separable(until=UNTIL), until=UNTIL)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_revenuesnapshot WHERE account_id = %s", [ids[1]])
    kpi = renewal_kpi()

    kpi_compute(kpi=kpi, as_of=UNTIL)

    value = MetricValue.objects.get(kpi=kpi, as_of=UNTIL, account_id=ids[1])
    assert value.value is None and value.details == {"reason": f"No revenue recorded on or before {UNTIL}."}


def test_a_horizon_longer_than_the_history_gives_nulls_with_the_reason():
    world.build(world.separable(until=UNTIL, accounts=30), until=UNTIL)
    kpi = renewal_kpi(horizon_days=720)

    kpi_compute(kpi=kpi, as_of=UNTIL)

    portfolio = MetricValue.objects.get(kpi=kpi, as_of=UNTIL, scope="portfolio")
    assert portfolio.value is None and "No outcome is known yet" in portfolio.details["reason"]


def test_expansion_potential_learns_who_grows():
    customers = []
    for index in range(90):
        start = date(2024, 6, 1)
        if index % 3 == 0:  # grows 50% at a month start; used the product ten times as much from 60 days before
            grow = world.month_start(UNTIL - timedelta(days=40 + 4 * index))
            customers.append(world.Customer(start=start, expand_on=grow, expanded_mrr=1500, events=10,
                                            busy_from=grow - timedelta(days=60), busy_events=100))
        else:
            customers.append(world.Customer(start=start, events=10))
    world.build(customers, until=UNTIL)
    kpi = kpi_create(slug="expansion-potential", name="Expansion potential", calculator="prediction.expansion",
                     params={**EVENTS, "horizon_days": 90, "min_events": 5, "share": 0.2},
                     definition="Likelihood to grow.", tier="expansion", indicator="leading", unit="percent")

    kpi_compute(kpi=kpi, as_of=UNTIL)

    model = PredictionModel.objects.get()
    assert model.target == "expansion" and model.events > 0, model.reason
    pooled = model.metrics["pooled"]
    # The rise of use before a growth is learned out of time (0.84 here; the usage trend alone ranks 0.83).
    assert pooled[model.algorithm]["auc"] >= 0.8
    assert pooled[model.algorithm]["brier"] < pooled[model.algorithm]["brier_base_rate"]
    portfolio = MetricValue.objects.get(kpi=kpi, as_of=UNTIL, scope="portfolio")
    assert portfolio.details["expected_expanding"] == pytest.approx(portfolio.numerator, abs=0.01)
    assert all(0 <= row.value <= 100 for row in MetricValue.objects.filter(kpi=kpi, scope="account",
                                                                            value__isnull=False))


@pytest.mark.parametrize(("params", "message"), [
    ({"horizon_days": 0}, "horizon_days"),
    ({"horizon_days": 1000}, "horizon_days"),
    ({"grace_days": -1}, "grace_days"),
    ({"min_events": 1}, "min_events"),
    ({"share": 50}, "share"),
    ({"history_days": "long"}, "history_days"),
    ({"horizon": 90}, "horizon"),
])
def test_parameters_out_of_range_are_refused_with_400_naming_them(client, admin_key, params, message):
    response = post_json(client, "/api/v1/kpis/", {
        "slug": "expansion-potential", "name": "Expansion potential", "calculator": "prediction.expansion",
        "params": params, "definition": "Likelihood to grow.", "tier": "expansion", "indicator": "leading",
        "unit": "percent"}, admin_key)

    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"] or message in response.content.decode()


def test_the_command_trains_a_version_on_demand_and_says_how_it_did(tenant):
    from io import StringIO

    from django.core.management import call_command

    world.build(world.separable(until=UNTIL), until=UNTIL)
    renewal_kpi()
    out = StringIO()

    call_command("predict_train", tenant=tenant.slug, kpi=["renewal-probability"], as_of=UNTIL.isoformat(), stdout=out)

    model = PredictionModel.objects.get()
    assert (model.cutoff, model.trigger, model.kpi_slug, model.version) == (UNTIL, "manual", "renewal-probability", 1)
    assert "back-test AUC 1.000" in out.getvalue()


def test_the_scheduled_task_trains_yesterday_for_every_predictive_kpi():
    import time_machine

    from metrics.tasks import prediction_models_train

    world.build(world.separable(until=UNTIL, accounts=30), until=UNTIL)
    renewal_kpi()

    with time_machine.travel(datetime.combine(UNTIL + timedelta(days=1), time(12), UTC), tick=False):
        prediction_models_train()

    model = PredictionModel.objects.get()
    assert (model.cutoff, model.trigger) == (UNTIL, "schedule")


def test_the_command_refuses_a_kpi_that_is_not_predictive(tenant):
    from django.core.management import CommandError, call_command

    kpi_create(slug="nps", name="NPS", calculator="surveys.nps", params={"window_days": 30},
               definition="Promoters minus detractors.", tier="advocacy", indicator="lagging", unit="score")

    with pytest.raises(CommandError, match="Not predictive KPI"):
        call_command("predict_train", tenant=tenant.slug, kpi=["nps"])


@pytest.mark.parametrize(("as_of", "message"), [("1999-12-31", "on or after 2000-01-01"),
                                                 ("2999-01-01", "cannot be in the future")])
def test_the_command_refuses_a_cutoff_out_of_bounds(tenant, as_of, message):
    from django.core.management import CommandError, call_command

    renewal_kpi()

    with pytest.raises(CommandError, match=message):
        call_command("predict_train", tenant=tenant.slug, as_of=as_of)


def test_accounts_scored_in_chunks_get_the_same_values_as_scored_at_once(monkeypatch):
    """Predictions are made and turned into JSON a chunk of accounts at a time, so a 100,000-account tenant's
    never sit in memory at once; the chunks must not change a single number or driver."""
    from metrics.prediction import services

    world.build(world.separable(until=UNTIL, accounts=60), until=UNTIL)
    kpi = renewal_kpi()
    kpi_compute(kpi=kpi, as_of=UNTIL)
    at_once = _values(kpi, UNTIL)
    assert sum(value is not None for value, _, _ in at_once.values()) > 30

    monkeypatch.setattr(services, "CHUNK", 7)
    computed = kpi_compute(kpi=kpi, as_of=UNTIL)
    assert computed.written == 0 and _values(kpi, UNTIL) == at_once

    # In a run the chunks go to a temporary table by COPY instead of one JSON parameter: the same numbers again,
    # and the table is gone when the run ends. The model is loaded afresh (a query) as a new worker would: no
    # query may run on the connection while the COPY is open (it would wait for the COPY forever).
    services._LOADED.clear()
    run = kpis_compute(as_of=UNTIL, kpis=[kpi], trigger=ComputationRun.Trigger.MANUAL)
    assert run.status == ComputationRun.Status.SUCCEEDED and run.rows_written == 0, run.errors
    assert _values(kpi, UNTIL) == at_once
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'metrics_run_%%' AND relpersistence = 't'")
        assert cursor.fetchone()[0] == 0
