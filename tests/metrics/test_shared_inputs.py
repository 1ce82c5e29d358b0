"""Inputs shared by the KPIs of a run (metrics.inputs): made once per run, sized for the longest window, giving
the values each KPI gives computed on its own, and surviving a KPI that fails after making one."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics.calculators.usage import ACTIVITY_BITS, Stickiness
from metrics.models import ComputationRun, MetricValue
from metrics.services import computation_run_create, computation_run_execute, kpi_compute
from tests.accounts.factories import RevenueSnapshotFactory
from tests.metrics.test_usage_calculators import T, account, active, kpi_for

USAGE = [("usage.stickiness", {"window_days": 28}), ("usage.seat_utilization", {"window_days": 30}),
         ("usage.feature_adoption", {"window_days": 30}), ("usage.stickiness", {"window_days": 7}),
         ("usage.seat_utilization", {"window_days": ACTIVITY_BITS}),
         ("usage.seat_utilization", {"window_days": 90}), ("usage.stickiness", {"window_days": 90})]
REVENUE = [("revenue.grr", {}), ("revenue.nrr", {}), ("revenue.logo_churn", {}), ("revenue.nrr", {"window_months": 6})]


@pytest.fixture
def activity():
    """Three accounts whose users were active across 100 days, a few of them on the feature."""
    accounts = [account(licensed_seats=seats) for seats in (4, 10, 0)]
    for index, subject in enumerate(accounts):
        for user in range(4):
            active(subject, f"u{user}", *(T - dt.timedelta(days=back) for back in range(user + index, 100, 3 + user)))
    return accounts


@pytest.fixture
def revenue():
    paying = [account(start_date=dt.date(2024, 1, 1)) for _ in range(3)]
    for n, subject in enumerate(paying):
        for month in range(1, 13):
            RevenueSnapshotFactory(account=subject, month=dt.date(2025 + month // 12, month % 12 + 1, 1),
                                   mrr=100 * (n + 1) + month * (n - 1) * 5)
    return paying


def _values(kpis) -> dict:
    """Every stored number, to 9 decimals: aggregates may sum in another order and differ in the last bit."""
    return {(kpi.pk, row.scope, row.account_id, row.dimension, row.segment): tuple(
                None if number is None else round(number, 9)
                for number in (row.value, row.numerator, row.denominator, row.sample_size))
            for kpi in kpis for row in MetricValue.objects.filter(kpi=kpi, as_of=T)}


def _run(kpis) -> ComputationRun:
    return computation_run_execute(run=computation_run_create(as_of=T, trigger="manual", kpis=kpis))


def test_a_run_makes_each_input_once_and_gives_the_values_each_kpi_gives_on_its_own(activity, revenue):
    kpis = [kpi_for(calculator, params) for calculator, params in USAGE + REVENUE]
    for kpi in kpis:
        kpi_compute(kpi=kpi, as_of=T)  # on its own: every input inlined, sized by the KPI itself
    alone = _values(kpis)
    MetricValue.objects.all().delete()

    with CaptureQueriesContext(connection) as queries:
        run = _run(kpis)

    assert run.status == "succeeded", run.errors
    assert _values(kpis) == alone and len(alone) > 60
    made = [query["sql"] for query in queries.captured_queries if "CREATE TEMPORARY TABLE metrics_run_input" in
            query["sql"]]
    # Activity once, sized for the longest window that fits a bigint (63 days; the 90-day KPIs read the rollup);
    # the cohort once per window (12 and 6 months); the feature's users once.
    assert len(made) == 4
    assert sum("accounts_usageevent" in sql for sql in made) == 1
    [made_activity] = [sql for sql in made if "userdaily" in sql]
    assert f"({ACTIVITY_BITS}::int - 1)" in made_activity


def test_windows_longer_than_the_shared_activity_read_the_rollup_with_the_same_arithmetic(activity):
    # Stickiness over 90 days (t - 89 .. t) by hand: user k of account i is active on t - back for back in
    # range(k + i, 100, 3 + k); days inside the window are those with back < 90.
    kpi = kpi_for("usage.stickiness", {"window_days": 90})
    kpi_compute(kpi=kpi, as_of=T)
    for index, subject in enumerate(activity):
        user_days = sum(len(range(user + index, 90, 3 + user)) for user in range(4))
        row = MetricValue.objects.get(kpi=kpi, as_of=T, account=subject)
        assert (row.numerator, row.denominator) == pytest.approx((user_days / 90, 4))
        assert row.value == pytest.approx(100 * user_days / 90 / 4)


def test_a_kpi_failing_after_making_an_input_leaves_it_to_the_next(activity, monkeypatch):
    broken = kpi_for("usage.stickiness", {"window_days": 28})
    seats = kpi_for("usage.seat_utilization", {"window_days": 30})
    kpi_compute(kpi=seats, as_of=T)
    alone = _values([seats])
    MetricValue.objects.all().delete()
    monkeypatch.setattr(Stickiness, "aggregate_sql", lambda self, params: "SELECT no_such_column FROM members")

    run = _run([broken, seats])

    assert run.status == "failed"
    assert [error["kpi"] for error in run.errors] == [broken.slug]
    assert _values([seats]) == alone and not MetricValue.objects.filter(kpi=broken).exists()
