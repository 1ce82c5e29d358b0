"""The segment and portfolio aggregates computed in SQL, checked against Python references on tricky inputs, and
the engine's query count, which must not grow with the number of accounts."""

import datetime as dt
import itertools
from collections import Counter
from statistics import median

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.calculators.base import median_of_sorted
from metrics.calculators.usage import kaplan_meier_median, kaplan_meier_of_counts
from metrics.models import ComputationRun, Indicator, MetricValue, Scope, Tier, Unit
from metrics.segments import segments_materialised
from metrics.services import kpi_compute, kpi_create, kpis_compute
from tests.accounts.factories import AccountFactory, SupportTicketFactory, SurveyResponseFactory

AS_OF = dt.date(2026, 10, 30)
_slugs = itertools.count()


def _kpi(calculator, params=None):
    return kpi_create(slug=f"aggregate-{next(_slugs)}", name=calculator, calculator=calculator, params=params,
                      definition="Test KPI.", tier=Tier.ADVOCACY, indicator=Indicator.LAGGING, unit=Unit.COUNT,
                      scopes=[Scope.ACCOUNT, Scope.SEGMENT, Scope.PORTFOLIO])


def _sql_median(values):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {median_of_sorted('(%(hours)s::float8[])')}", {"hours": sorted(values)})
        return cursor.fetchone()[0]


@pytest.mark.parametrize("values", [
    [3.0],
    [1.0, 2.0],  # even count: the mean of the two middle values
    [0.1, 0.2],  # (a + b) / 2, not a + (b - a) / 2: the last bit must match Python's
    [5.0, 5.0, 5.0, 5.0],  # ties
    [1.0, 7.0, 7.0, 2.0, 7.0, 1.0],  # ties across the middle, unsorted input
    [2.5, 1e-9, 1e9, 3.3333333333333335, 0.0],
])
def test_sql_median_equals_python_statistics_median(values):
    assert _sql_median(values) == median(values)


def test_sql_median_of_nothing_is_null():
    assert _sql_median([]) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=40))
def test_sql_median_equals_python_on_any_list(values):
    assert _sql_median(values) == median(values)


def _ticket(account, day, hours):
    opened = dt.datetime(2026, 10, day, 9, tzinfo=dt.UTC)
    SupportTicketFactory(account=account, opened_at=opened, handling_minutes=0, resolved_at=None,
                         first_response_at=None if hours is None else opened + dt.timedelta(hours=hours))


def test_first_response_median_per_segment_is_over_every_ticket_leaving_unanswered_out():
    # Growth: 1 + 4 hours on one account, 4 + 0.1 on another, one unanswered: median of 0.1, 1, 4, 4 = 2.5.
    # Starter: 0.2 and 0.1 hours: an even count of fractional hours, (0.1 + 0.2) / 2 in float8.
    growth_a, growth_b = AccountFactory(plan="Growth", owner=None), AccountFactory(plan="Growth", owner=None)
    starter = AccountFactory(plan="Starter", owner=None)
    for account, hours in ((growth_a, [1, 4]), (growth_b, [4, 0.1, None]), (starter, [0.2, 0.1])):
        for day, hour in enumerate(hours, start=1):
            _ticket(account, day, hour)
    kpi = _kpi("support.first_response_hours", {"window_days": 30})

    kpis_compute(as_of=AS_OF, kpis=[kpi])

    growth = MetricValue.objects.get(kpi=kpi, scope=Scope.SEGMENT, dimension="plan", segment="Growth")
    assert (growth.value, growth.denominator, growth.sample_size) == (2.5, 4, 4)
    assert growth.details == {"unanswered": 1}
    starter_row = MetricValue.objects.get(kpi=kpi, scope=Scope.SEGMENT, dimension="plan", segment="Starter")
    assert starter_row.value == median([0.2, 0.1])
    portfolio = MetricValue.objects.get(kpi=kpi, scope=Scope.PORTFOLIO)
    assert portfolio.value == median([1, 4, 4, 0.1, 0.2, 0.1])
    assert portfolio.details == {"unanswered": 1}


def test_an_empty_portfolio_still_gets_its_row_with_empty_numbers():
    kpi = _kpi("support.first_response_hours", {"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    portfolio = MetricValue.objects.get(kpi=kpi, scope=Scope.PORTFOLIO)
    assert (portfolio.value, portfolio.denominator, portfolio.sample_size) == (None, 0, 0)
    assert portfolio.details == {"unanswered": 0}
    assert not MetricValue.objects.filter(kpi=kpi, scope=Scope.SEGMENT).exists()


def test_aggregates_are_the_same_with_segments_materialised_for_a_run_or_computed_inline():
    for plan, scores in (("Growth", [10, 9, 3]), ("Starter", [7]), ("", [0, 10])):
        account = AccountFactory(plan=plan, owner=None)
        for score in scores:
            SurveyResponseFactory(account=account, kind="nps", score=score,
                                  responded_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    kpi = _kpi("surveys.nps", {"window_days": 90})

    def aggregates():
        return sorted(MetricValue.objects.filter(kpi=kpi).exclude(scope=Scope.ACCOUNT).values_list(
            "scope", "dimension", "segment", "value", "numerator", "denominator", "sample_size"))

    kpi_compute(kpi=kpi, as_of=AS_OF)
    inline = aggregates()
    with segments_materialised(as_of=AS_OF):
        kpi_compute(kpi=kpi, as_of=AS_OF)

    assert aggregates() == inline
    assert ("segment", "plan", "(none)", 0.0, 0.0, 2.0, 2) in inline  # an empty plan is the "(none)" segment
    # 3 promoters (10, 9, 10) and 2 detractors (3, 0) of 6 answers
    assert ("portfolio", "", "", pytest.approx(100 * (3 - 2) / 6), 1.0, 6.0, 6) in inline


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=40))
def test_kaplan_meier_of_counts_matches_the_fraction_reference(observations):
    median_days, curve = kaplan_meier_median(observations)

    counted_median, counted_curve = kaplan_meier_of_counts(Counter(observations).items())

    assert counted_median == median_days
    assert [(duration, surviving / at_start) for duration, surviving, at_start in counted_curve] == [
        (duration, float(survival)) for duration, survival in curve]


def test_the_number_of_queries_of_a_run_does_not_grow_with_the_accounts(monkeypatch):
    monkeypatch.setattr("metrics.services.PROGRESS_SECONDS", 3600)  # progress is timed: keep it out of the count
    kpis = [_kpi("surveys.nps", {"window_days": 90}), _kpi("support.first_response_hours", {"window_days": 30}),
            _kpi("usage.time_to_first_value"), _kpi("revenue.ltv")]

    def queries_of_a_run(new_accounts: int) -> int:
        for _ in range(new_accounts):
            account = AccountFactory(owner=None)
            SurveyResponseFactory(account=account, kind="nps", score=9,
                                  responded_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
            _ticket(account, 2, 3)
        with CaptureQueriesContext(connection) as run_queries:
            run = kpis_compute(as_of=AS_OF, kpis=kpis, trigger=ComputationRun.Trigger.MANUAL)
        assert run.status == ComputationRun.Status.SUCCEEDED, run.errors
        return len(run_queries.captured_queries)

    few, many = queries_of_a_run(2), queries_of_a_run(20)

    assert few == many
    # Per KPI: savepoint, delete, accounts' insert, aggregates' insert (or select, and a COPY that is not
    # captured), release. The run: create, claim, KPIs, version check, session set up (3) and torn down (2),
    # alert rules, status, refresh.
    assert many <= 5 * len(kpis) + 13
