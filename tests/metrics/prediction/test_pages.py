"""The prediction pages: how far to trust each model, the renewal forecast, renewals by quartile on a leading
KPI's page, and an account's drivers beside its health."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import time_machine
from django.contrib.messages import get_messages
from django.db import connection

from metrics.models import MetricValue
from metrics.prediction.features import observations, training_sample
from metrics.prediction.learning import learn
from metrics.prediction.services import prediction_model_train
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.metrics.prediction import world
from tests.metrics.prediction.conftest import UNTIL, renewal_kpi, spec_of
from tests.users.factories import UserFactory

TODAY = date(2026, 12, 3)


def _person(client, role: str):
    return login(client, UserFactory(role=role))


def test_the_predictions_page_says_how_far_to_trust_the_model(client):
    world.build(world.separable(until=UNTIL), until=UNTIL)
    kpi = renewal_kpi()
    prediction_model_train(spec=spec_of(kpi), cutoff=UNTIL, trigger="manual", kpi_slug=kpi.slug)

    page = _person(client, "leader").get("/predictions/").content.decode()

    assert "AUC 1.00; 0.50 is a coin toss" in page
    assert "chance to renew" in page and "renewed.</td>" in page
    assert "Days since last use" in page  # what it learns from
    assert "Train the models now" not in page  # admins only
    # Beside the alternatives, in words (no algorithm or calibration codes), with the calibration by tenth of the
    # accounts drawn against the line where predicted equals happened.
    assert "Beside the alternatives" in page and "The base rate (everyone gets the same probability)" in page
    assert 'class="calibration-chart"' in page and "as predicted" in page and "By tenth of the accounts" in page
    assert "logistic_regression" not in page and "gradient_boosting" not in page
    assert any(words in page for words in ("from isotonic regression", "from Platt", "its own probabilities"))


def test_a_big_tenant_learns_from_a_fixed_sample_of_its_accounts_and_the_page_says_so(client, settings):
    ids = world.build(world.separable(until=UNTIL), until=UNTIL)
    settings.PREDICTION_TRAINING_MAX_ACCOUNTS = 60
    spec = spec_of(renewal_kpi())

    screened = []  # the accounts of the statement that counts the outcomes screening the history

    def record(execute, sql, params, many, context):
        if "GROUP BY 1, 2, 3, 4" in sql:
            screened.append(params["account_ids"])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        learned = learn(spec, UNTIL)
    again = training_sample(cutoff=UNTIL, limit=60)

    assert screened == [learned.sample.account_ids]  # the sample's outcomes, not every account's
    assert (learned.sample.accounts, learned.sample.of) == (60, len(ids))
    assert again.account_ids == learned.sample.account_ids  # the same accounts at every training
    assert set(learned.sample.account_ids) <= set(ids)
    learned_from = set(observations(spec=spec, cutoff=UNTIL, steps=spec.steps,
                                    account_ids=learned.sample.account_ids).account_ids.tolist())
    everyone = observations(spec=spec, cutoff=UNTIL, steps=spec.steps)
    assert learned.rows < len(everyone) and learned_from <= set(learned.sample.account_ids)
    assert training_sample(cutoff=UNTIL, limit=len(ids)).account_ids is None  # at the limit: every account

    prediction_model_train(spec=spec, cutoff=UNTIL, trigger="manual", kpi_slug="renewal-probability")
    page = _person(client, "leader").get("/predictions/").content.decode()

    assert f"a fixed sample of 60 of the {len(ids)} accounts with revenue" in page


def test_an_admin_trains_from_the_page_and_a_failed_attempt_shows_its_reason(client, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    from metrics import tasks

    world.build([world.Customer(start=date(2024, 6, 1)) for _ in range(10)], until=UNTIL)
    kpi = renewal_kpi()
    prediction_model_train(spec=spec_of(kpi), cutoff=UNTIL, trigger="manual", kpi_slug=kpi.slug)
    admin = _person(client, "admin")
    sent = []
    monkeypatch.setattr(tasks.prediction_models_train, "delay", lambda **kwargs: sent.append(kwargs))

    assert "No account churned" in admin.get("/predictions/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post("/predictions/train/")

    assert response.status_code == 302 and sent[0]["slugs"] == ["renewal-probability"]
    assert "Training renewal-probability" in str(next(iter(get_messages(response.wsgi_request))))


def test_the_forecast_page_shows_the_quarter_and_a_bad_quarter_is_a_400(client):
    kpi = renewal_kpi()
    account = AccountFactory(name="Acme Widgets")
    for scope, subject in (("account", account), ("portfolio", None)):
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope=scope, account=subject, as_of=TODAY - timedelta(1),
                                   value=60, numerator=0.6, denominator=1,
                                   details={"arr": 10000, "renewal_date": "2027-02-01"})
    leader = _person(client, "leader")

    with time_machine.travel(datetime.combine(TODAY, time(12), UTC), tick=False):
        page = leader.get("/predictions/forecast/").content.decode()
        bad = leader.get("/predictions/forecast/?quarter=2027-Q9")

    assert "2027-Q1" in page and "Acme Widgets" in page and "6,000" in page
    assert "The same forecast on past quarters" in page
    assert bad.status_code == 400 and "Quarter must look like 2026-Q3" in bad.content.decode()


def test_a_leading_kpi_page_shows_renewals_by_quartile_and_a_predictive_one_links_its_backtest(client):
    kpi_create(slug="stickiness", name="Stickiness", calculator="usage.stickiness", params={"window_days": 28},
               definition="Daily over monthly.", tier="adoption", indicator="leading", unit="percent")
    renewal_kpi()
    leader = _person(client, "leader")

    leading = leader.get("/kpis/stickiness/").content.decode()
    predictive = leader.get("/kpis/renewal-probability/").content.decode()

    assert "Does it predict renewal here?" in leading and "Not enough decided renewals" in leading
    assert 'href="/predictions/#renewal-probability"' in predictive and "the renewal forecast" in predictive
    assert "Does it predict renewal here?" not in predictive


def test_the_account_page_shows_the_drivers_of_its_renewal_probability(client):
    customers = world.separable(until=UNTIL)
    customers.append(world.Customer(start=date(2024, 9, 1), silent_from=UNTIL - timedelta(days=40)))
    ids = world.build(customers, until=UNTIL)
    kpi = renewal_kpi()
    kpi_compute(kpi=kpi, as_of=UNTIL)

    page = _person(client, "csm").get(f"/accounts/{ids[-1]}/").content.decode()

    value = MetricValue.objects.get(kpi=kpi, account_id=ids[-1], as_of=UNTIL)
    assert f"Renewal probability {value.value:.0f}%" in page
    assert value.details["drivers"][0]["says"] in page
