"""The engine: every account at once, segment and portfolio aggregates, idempotent re-runs, versions,
incremental recomputes and computation runs. Survey calculators serve as the example."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics.calculators import CalculatorError
from metrics.models import ComputationRun, KPITarget, KPIVersion, MetricValue
from metrics.services import (
    computation_run_create,
    computation_run_execute,
    kpi_compute,
    kpi_create,
    kpi_target_set,
    kpi_update,
)
from tests.accounts.factories import AccountFactory, SurveyResponseFactory

AS_OF = dt.date(2026, 11, 20)


def _at(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, 12, 0, tzinfo=dt.UTC)


def _answers(account, scores, kind="nps", day=10):
    for score in scores:
        SurveyResponseFactory(account=account, kind=kind, score=score, responded_at=_at(day))


@pytest.fixture
def nps():
    return kpi_create(slug="nps", name="NPS", calculator="surveys.nps", params={"window_days": 30},
                      definition="Promoters minus detractors.", tier="advocacy", indicator="lagging", unit="score",
                      scopes=["account", "segment", "portfolio"])


def _value(kpi, **subject):
    return MetricValue.objects.get(kpi=kpi, as_of=AS_OF, **subject)


def test_nps_per_account_and_portfolio_by_hand(nps):
    growth = AccountFactory(plan="Growth")
    starter = AccountFactory(plan="Starter")
    # growth: promoters 10, 9; passives 8, 7; detractors 6, 0 -> (2 - 2) / 6 = 0
    _answers(growth, [10, 9, 8, 7, 6, 0])
    # starter: two promoters -> 100
    _answers(starter, [10, 10])

    rows = kpi_compute(kpi=nps, as_of=AS_OF)

    assert _value(nps, scope="account", account=growth).value == 0
    assert _value(nps, scope="account", account=starter).value == 100
    growth_row = _value(nps, scope="account", account=growth)
    assert (growth_row.numerator, growth_row.denominator, growth_row.sample_size) == (0, 6, 6)
    assert growth_row.details == {"promoters": 2, "passives": 2, "detractors": 2}
    # portfolio: (4 promoters - 2 detractors) / 8 answers = 25
    portfolio = _value(nps, scope="portfolio")
    assert (portfolio.value, portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (25, 2, 8, 8)
    assert _value(nps, scope="segment", dimension="plan", segment="Growth").value == 0
    assert _value(nps, scope="segment", dimension="plan", segment="Starter").value == 100
    stored = MetricValue.objects.filter(kpi=nps, as_of=AS_OF).count()
    assert (rows.values, rows.written) == (stored, stored)
    assert set(MetricValue.objects.filter(kpi=nps, scope="segment").values_list("dimension", flat=True)) == {
        "plan", "region", "industry", "lifecycle_stage", "size_band", "owner"}


def test_window_includes_its_first_day_and_excludes_the_day_before(nps):
    account = AccountFactory()
    # window_days=30 ending 2026-11-20 -> 2026-10-22 .. 2026-11-20
    SurveyResponseFactory(account=account, kind="nps", score=10,
                          responded_at=dt.datetime(2026, 10, 22, 0, 0, tzinfo=dt.UTC))
    SurveyResponseFactory(account=account, kind="nps", score=0,
                          responded_at=dt.datetime(2026, 10, 21, 23, 59, tzinfo=dt.UTC))
    SurveyResponseFactory(account=account, kind="nps", score=0,
                          responded_at=dt.datetime(2026, 11, 21, 0, 0, tzinfo=dt.UTC))

    kpi_compute(kpi=nps, as_of=AS_OF)

    assert _value(nps, scope="account", account=account).value == 100


def test_no_answers_gives_a_null_portfolio_value_never_zero(nps):
    AccountFactory()

    kpi_compute(kpi=nps, as_of=AS_OF)

    portfolio = _value(nps, scope="portfolio")
    assert portfolio.value is None
    assert portfolio.denominator == 0


def test_csat_and_ces_by_hand():
    csat = kpi_create(slug="csat", name="CSAT", calculator="surveys.csat", definition="d", tier="advocacy",
                      indicator="lagging", unit="percent", scopes=["portfolio"])
    ces = kpi_create(slug="ces", name="CES", calculator="surveys.ces", definition="d", tier="advocacy",
                     indicator="lagging", unit="score", scopes=["portfolio"])
    account = AccountFactory()
    _answers(account, [5, 4, 3, 1], kind="csat")  # 2 of 4 satisfied -> 50
    _answers(account, [7, 6, 2], kind="ces")  # mean 5

    kpi_compute(kpi=csat, as_of=AS_OF)
    kpi_compute(kpi=ces, as_of=AS_OF)

    assert _value(csat, scope="portfolio").value == 50
    assert _value(ces, scope="portfolio").value == 5


def test_recomputing_a_date_replaces_its_values(nps):
    account = AccountFactory()
    _answers(account, [10])
    kpi_compute(kpi=nps, as_of=AS_OF)
    count = MetricValue.objects.filter(kpi=nps).count()
    _answers(account, [0])

    kpi_compute(kpi=nps, as_of=AS_OF)

    assert MetricValue.objects.filter(kpi=nps).count() == count
    assert _value(nps, scope="account", account=account).value == 0  # (1 - 1) / 2


def test_incremental_recompute_touches_only_the_given_accounts_but_refreshes_aggregates(nps):
    changed, untouched = AccountFactory(), AccountFactory()
    _answers(changed, [10])
    _answers(untouched, [10])
    kpi_compute(kpi=nps, as_of=AS_OF)
    _answers(changed, [0, 0, 0])
    _answers(untouched, [0, 0, 0])  # not recomputed: its stored value stays

    kpi_compute(kpi=nps, as_of=AS_OF, account_ids=[changed.pk])

    assert _value(nps, scope="account", account=changed).value == -50  # (1 - 3) / 4
    assert _value(nps, scope="account", account=untouched).value == 100
    # portfolio from the stored account rows: (1 - 3 + 1) / (4 + 1) = -20
    assert _value(nps, scope="portfolio").value == pytest.approx(-20)


def test_changing_params_makes_a_new_version_and_old_values_keep_theirs(nps):
    account = AccountFactory()
    _answers(account, [10])
    kpi_compute(kpi=nps, as_of=AS_OF)

    kpi_update(kpi=nps, params={"window_days": 60}, reason="Quarterly surveys need a longer window")
    kpi_compute(kpi=nps, as_of=AS_OF - dt.timedelta(days=1))

    nps.refresh_from_db()
    assert nps.version == 2
    assert list(KPIVersion.objects.filter(kpi=nps).values_list("version", "params")) == [
        (2, {"window_days": 60}), (1, {"window_days": 30})]
    assert _value(nps, scope="account", account=account).kpi_version == 1
    assert MetricValue.objects.get(kpi=nps, scope="account", as_of=AS_OF - dt.timedelta(days=1)).kpi_version == 2


def test_changing_only_the_name_keeps_the_version(nps):
    kpi_update(kpi=nps, name="Net Promoter Score")

    nps.refresh_from_db()
    assert (nps.version, nps.name) == (1, "Net Promoter Score")
    assert KPIVersion.objects.filter(kpi=nps).count() == 1


@pytest.mark.parametrize(("params", "message"), [
    ({"window_days": 0}, "at least 1"),
    ({"window_days": "ninety"}, "must be a number"),
    ({"window_days": 7.5}, "whole number"),
    ({"window": 30}, "Unknown parameter"),
])
def test_bad_params_are_refused_with_a_clear_message(params, message):
    with pytest.raises(CalculatorError, match=message):
        kpi_create(slug="bad", name="Bad", calculator="surveys.nps", params=params, definition="d",
                   tier="advocacy", indicator="lagging", unit="score")


def test_unknown_calculator_is_refused():
    with pytest.raises(CalculatorError, match=r"Unknown calculator 'surveys\.nope'"):
        kpi_create(slug="bad", name="Bad", calculator="surveys.nope", definition="d", tier="advocacy",
                   indicator="lagging", unit="score")


def test_a_new_target_supersedes_the_old_one_and_keeps_history(nps):
    first = kpi_target_set(kpi=nps, period="2026-Q4", value=30, reason="Board plan")
    second = kpi_target_set(kpi=nps, period="2026-Q4", value=35, reason="Raised after Q3 review")

    first.refresh_from_db()
    assert first.superseded_at is not None
    assert second.superseded_at is None
    assert KPITarget.objects.filter(kpi=nps, period="2026-Q4").count() == 2


def test_run_records_progress_and_a_broken_kpi_does_not_stop_the_others(nps):
    broken = kpi_create(slug="csat", name="CSAT", calculator="surveys.csat", definition="d", tier="advocacy",
                        indicator="lagging", unit="percent")
    type(broken).objects.filter(pk=broken.pk).update(params={"window_days": -1})
    _answers(AccountFactory(), [10])
    run = computation_run_create(as_of=AS_OF, trigger=ComputationRun.Trigger.MANUAL)

    run = computation_run_execute(run=run)

    assert run.status == ComputationRun.Status.FAILED
    assert run.kpis_done == 2
    assert run.errors == [{"kpi": "csat", "error": "Parameter 'window_days' must be at least 1."}]
    assert run.rows_written == run.values_computed == MetricValue.objects.filter(kpi=nps).count() > 0
    assert run.duration_seconds is not None


def test_a_run_delivered_twice_executes_once(nps):
    _answers(AccountFactory(), [10])
    run = computation_run_create(as_of=AS_OF, trigger=ComputationRun.Trigger.MANUAL)
    computation_run_execute(run=run)
    finished = ComputationRun.objects.get(pk=run.pk).finished_at

    again = computation_run_execute(run=run)

    assert again.status == ComputationRun.Status.SUCCEEDED
    assert again.finished_at == finished


def test_incremental_recompute_after_a_version_change_recomputes_every_account(nps):
    first, second = AccountFactory(), AccountFactory()
    _answers(first, [10])
    _answers(second, [10])
    kpi_compute(kpi=nps, as_of=AS_OF)
    kpi_update(kpi=nps, params={"window_days": 15})

    kpi_compute(kpi=nps, as_of=AS_OF, account_ids=[first.pk])

    rows = MetricValue.objects.filter(kpi=nps, as_of=AS_OF, scope="account")
    assert sorted(rows.values_list("account_id", "kpi_version")) == [(first.pk, 2), (second.pk, 2)]
    assert _value(nps, scope="portfolio").kpi_version == 2


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(scores=st.lists(st.lists(st.integers(min_value=0, max_value=10), min_size=0, max_size=6), min_size=1,
                       max_size=5))
def test_nps_always_lies_between_minus_100_and_100(nps, scores):
    from django.db import transaction

    with transaction.atomic():  # each example in a savepoint rolled back: examples must not see each other
        for answers in scores:
            _answers(AccountFactory(), answers)
        kpi_compute(kpi=nps, as_of=AS_OF)
        values = list(MetricValue.objects.filter(kpi=nps, as_of=AS_OF).exclude(value=None)
                      .values_list("value", flat=True))
        assert all(-100 <= value <= 100 for value in values)
        total = sum(len(answers) for answers in scores)
        portfolio = _value(nps, scope="portfolio")
        assert portfolio.sample_size == total
        assert (portfolio.value is None) == (total == 0)
        transaction.set_rollback(True)
