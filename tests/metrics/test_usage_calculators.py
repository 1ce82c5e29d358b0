"""Usage calculators against hand-computed fixtures: the arithmetic is in the comments, so a reader can check
every expected number. Unless a test says otherwise t = 2026-11-30 and the tenant's time zone is UTC."""

import datetime as dt
import itertools
from contextlib import contextmanager
from fractions import Fraction

import pytest
from django.db import connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import UsageDaily, UserDaily
from accounts.services import usage_rollups_refresh_all
from metrics.calculators import CalculatorError, calculator_for
from metrics.calculators.usage import kaplan_meier_median
from metrics.models import KPI, Indicator, MetricValue, Scope, Tier, Unit
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory, UsageDailyFactory, UsageEventFactory, UserDailyFactory

T = dt.date(2026, 11, 30)
_slugs = itertools.count()


def day(month: int, day_of_month: int) -> dt.date:
    return dt.date(2026, month, day_of_month)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def at(month: int, day_of_month: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day_of_month, hour, minute, tzinfo=dt.UTC)


def account(**fields):
    return AccountFactory(owner=None, **fields)


def usage(account, on: dt.date, events: int = 1, event_name: str = "login") -> None:
    UsageDailyFactory(account=account, day=on, event_name=event_name, events=events, distinct_users=1)


def daily_events(account, events_by_day: dict[dt.date, int]) -> None:
    UsageDaily.objects.bulk_create(
        UsageDailyFactory.build(account=account, day=on, events=events, distinct_users=1)
        for on, events in events_by_day.items())


def active(account, user_id: str, *on: dt.date) -> None:
    UserDaily.objects.bulk_create(UserDailyFactory.build(account=account, day=d, user_id=user_id) for d in on)


def kpi_for(calculator: str, params: dict | None = None) -> KPI:
    return kpi_create(slug=f"usage-{next(_slugs)}", name=calculator, calculator=calculator, params=params or {},
                      definition="Test KPI.", tier=Tier.ADOPTION, indicator=Indicator.LEADING, unit=Unit.PERCENT,
                      scopes=[Scope.ACCOUNT, Scope.PORTFOLIO])


def stored(kpi: KPI, as_of: dt.date = T) -> tuple[dict[int, MetricValue], MetricValue]:
    values = MetricValue.objects.filter(kpi=kpi, as_of=as_of)
    return ({row.account_id: row for row in values.filter(scope=Scope.ACCOUNT)},
            values.get(scope=Scope.PORTFOLIO))


def compute(calculator: str, params: dict | None = None, as_of: dt.date = T):
    """Compute a new KPI on this calculator through the engine and read back the stored rows."""
    kpi = kpi_for(calculator, params)
    kpi_compute(kpi=kpi, as_of=as_of)
    return stored(kpi, as_of)


def numbers(row) -> tuple:
    return row.value, row.numerator, row.denominator, row.sample_size


def expect(value, numerator, denominator, sample_size):
    return pytest.approx((value, numerator, denominator, sample_size))


@contextmanager
def rolled_back():
    """A savepoint undone at the end, so each hypothesis example starts from an empty tenant."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@contextmanager
def tenant_time_zone(name: str):
    connection.tenant.time_zone = name
    try:
        yield
    finally:
        connection.tenant.time_zone = "UTC"


# --- activation rate ---------------------------------------------------------------------------------------

def test_activation_rate_counts_accounts_whose_window_closed_in_the_cohort_and_leaves_open_windows_out():
    # window 30, cohort 180: the cohort starts in 2026-06-04 .. 2026-11-30 (t-179 .. t) and a window has
    # closed when start + 30 <= t, i.e. start <= 2026-10-31.
    quick = account(start_date=day(10, 1))
    usage(quick, day(10, 30), event_name="report_created")  # start + 29: the window's last day -> activated
    late = account(start_date=day(9, 1))
    usage(late, day(8, 31), event_name="report_created")  # before the start: does not count
    usage(late, day(10, 1), event_name="report_created")  # start + 30: one day too late
    usage(late, day(9, 2), event_name="login")  # not an activation event -> not activated
    edge = account(start_date=day(10, 31))  # start + 30 = t: closed
    usage(edge, day(11, 29), event_name="workflow_created")  # start + 29 -> activated
    still_open = account(start_date=day(11, 1))  # start + 30 = 12-01 > t: censored, no row
    usage(still_open, day(11, 2), event_name="report_created")
    too_old = account(start_date=day(6, 3))  # t - 180: before the cohort
    usage(too_old, day(6, 4), event_name="report_created")
    oldest = account(start_date=day(6, 4))  # t - 179: in the cohort, never active -> not activated
    account(start_date=None)

    accounts, portfolio = compute("usage.activation_rate")

    assert set(accounts) == {quick.pk, late.pk, edge.pk, oldest.pk}
    assert numbers(accounts[quick.pk]) == expect(100, 1, 1, 1)
    assert numbers(accounts[late.pk]) == expect(0, 0, 1, 1)
    assert numbers(accounts[edge.pk]) == expect(100, 1, 1, 1)
    assert numbers(accounts[oldest.pk]) == expect(0, 0, 1, 1)
    assert accounts[edge.pk].details == {"start_date": "2026-10-31", "activated_on": "2026-11-29"}
    # 2 activated (quick, edge) / 4 in the cohort = 50 %
    assert numbers(portfolio) == expect(50, 2, 4, 4)


def test_activation_rate_is_null_not_zero_when_every_cohort_account_is_still_inside_its_window():
    fresh = account(start_date=day(11, 15))
    usage(fresh, day(11, 16), event_name="report_created")

    accounts, portfolio = compute("usage.activation_rate")

    assert accounts == {}
    assert portfolio.value is None
    assert portfolio.denominator == 0


def test_activation_rate_uses_the_kpi_events_and_windows():
    # window 7, cohort 30: cohort = starts in 11-01 .. 11-30 with start + 7 <= t, i.e. start <= 11-23.
    invited = account(start_date=day(11, 10))
    usage(invited, day(11, 16), event_name="user_invited")  # start + 6 -> activated
    reported = account(start_date=day(11, 10))
    usage(reported, day(11, 11), event_name="report_created")  # not an activation event for this KPI
    account(start_date=day(10, 31))  # t - 30: outside a 30-day cohort

    accounts, portfolio = compute("usage.activation_rate",
                                  {"events": ["user_invited"], "window_days": 7, "cohort_days": 30})

    assert {pk: row.value for pk, row in accounts.items()} == {invited.pk: 100, reported.pk: 0}
    assert numbers(portfolio) == expect(50, 1, 2, 2)


# --- time to first value -----------------------------------------------------------------------------------

def test_time_to_first_value_aggregate_is_the_kaplan_meier_median_with_censored_accounts():
    two = account(start_date=day(11, 1))
    usage(two, day(11, 3), event_name="report_created")  # 2 days, observed
    five = account(start_date=day(11, 25))
    usage(five, day(11, 26), event_name="login")  # no value event: censored at t - start = 5
    seven = account(start_date=day(10, 1))
    usage(seven, day(10, 2), event_name="login")
    usage(seven, day(10, 8), event_name="report_created")  # first value event: 7 days, observed
    usage(seven, day(10, 20), event_name="report_created")
    nine = account(start_date=day(11, 21))
    usage(nine, day(12, 2), event_name="report_created")  # after t: censored at t - start = 9
    account(start_date=day(12, 5), renewal_date=dt.date(2027, 12, 5))  # not started by t: no row
    account(start_date=None)  # no start: no duration, no row

    accounts, portfolio = compute("usage.time_to_first_value")

    assert set(accounts) == {two.pk, five.pk, seven.pk, nine.pk}
    assert numbers(accounts[two.pk]) == expect(2, 2, 1, 1)
    assert numbers(accounts[seven.pk]) == expect(7, 7, 1, 1)
    assert numbers(accounts[five.pk]) == (None, None, None, 1)
    assert numbers(accounts[nine.pk]) == (None, None, None, 1)
    assert accounts[five.pk].details == {"duration": 5, "observed": False, "first_value_on": None}
    assert accounts[seven.pk].details == {"duration": 7, "observed": True, "first_value_on": "2026-10-08"}
    # Kaplan-Meier over 2, 5 (censored), 7, 9 (censored):
    #   d=2: 4 at risk, 1 event -> S = 3/4
    #   d=5: censored, leaves the risk set without an event
    #   d=7: 2 at risk (7 and 9), 1 event -> S = 3/4 x 1/2 = 3/8 <= 1/2 -> median 7 days
    assert portfolio.value == 7
    assert portfolio.sample_size == 4
    assert portfolio.details == {"observed": 2, "censored": 2, "survival": [[2, 0.75], [7, 0.375]],
                                 # the counts the curve is drawn from, which an incremental run corrects
                                 "counts": [[2, True, 1], [5, False, 1], [7, True, 1], [9, False, 1]]}


def test_time_to_first_value_median_is_null_when_survival_never_reaches_one_half():
    first = account(start_date=day(11, 28))
    usage(first, day(11, 30), event_name="report_created")  # 2 days, observed
    account(start_date=day(11, 27))  # censored at 3
    account(start_date=day(11, 26))  # censored at 4
    # d=2: 3 at risk, 1 event -> S = 2/3; no later event, so S never gets to 1/2.

    _, portfolio = compute("usage.time_to_first_value")

    assert portfolio.value is None
    assert portfolio.sample_size == 3


def test_time_to_first_value_counts_a_value_event_before_the_start_as_day_zero():
    piloted = account(start_date=day(11, 10))
    usage(piloted, day(11, 8), event_name="integration_connected")  # the KPI's value event, in a pilot

    accounts, portfolio = compute("usage.time_to_first_value", {"event": "integration_connected"})

    assert numbers(accounts[piloted.pk]) == expect(0, 0, 1, 1)
    assert portfolio.value == 0  # d=0: 1 at risk, 1 event -> S = 0


def test_time_to_first_value_incremental_run_aggregates_from_the_stored_details():
    quick = account(start_date=day(11, 1))
    usage(quick, day(11, 3), event_name="report_created")  # 2, observed
    slow = account(start_date=day(10, 1))
    usage(slow, day(10, 8), event_name="report_created")  # 7, observed
    account(start_date=day(11, 21))  # censored at 9
    # d=2: 3 at risk -> S = 2/3; d=7: 2 at risk -> S = 1/3 <= 1/2 -> median 7
    kpi = kpi_for("usage.time_to_first_value")
    kpi_compute(kpi=kpi, as_of=T)

    kpi_compute(kpi=kpi, as_of=T, account_ids=[quick.pk])

    accounts, portfolio = stored(kpi)
    assert len(accounts) == 3
    assert portfolio.value == 7


@pytest.mark.parametrize(("observations", "median", "curve"), [
    # 2, 5+, 7, 9+: S(2) = 3/4, S(7) = 3/4 x 1/2 = 3/8 -> 7
    ([(2, True), (5, False), (7, True), (9, False)], 7, [(2, Fraction(3, 4)), (7, Fraction(3, 8))]),
    # S(1) = 1/2 exactly, and "<= 1/2" takes it -> 1
    ([(1, True), (4, True)], 1, [(1, Fraction(1, 2)), (4, Fraction(0))]),
    # a tie at 3: the censored account is still at risk there: S(3) = 1 - 1/3 = 2/3; S(5) = 2/3 x 0 = 0 -> 5
    ([(3, True), (3, False), (5, True)], 5, [(3, Fraction(2, 3)), (5, Fraction(0))]),
    # two events at 4 among 4 at risk: S(4) = 1 - 2/4 = 1/2 -> 4
    ([(4, True), (4, True), (6, False), (8, True)], 4, [(4, Fraction(1, 2)), (8, Fraction(0))]),
    ([(4, False)], None, []),
    ([], None, []),
])
def test_kaplan_meier_median_by_hand(observations, median, curve):
    assert kaplan_meier_median(observations) == (median, curve)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.booleans()), max_size=30))
def test_kaplan_meier_median_is_an_observed_duration_or_null(observations):
    median, curve = kaplan_meier_median(observations)

    if median is None:
        assert all(survival > Fraction(1, 2) for _, survival in curve)
    else:
        assert (median, True) in observations
        assert dict(curve)[median] <= Fraction(1, 2)
        assert all(survival > Fraction(1, 2) for duration, survival in curve if duration < median)


# --- feature adoption --------------------------------------------------------------------------------------

def test_feature_adoption_is_feature_users_over_active_users_in_the_window():
    # window 30: 11-01 .. 11-30 (UTC)
    busy = account()
    UsageEventFactory(account=busy, user_id="ann", event_name="report_created", occurred_at=at(11, 1, 9))
    UsageEventFactory(account=busy, user_id="ann", event_name="login", occurred_at=at(11, 2, 9))
    UsageEventFactory(account=busy, user_id="bob", event_name="login", occurred_at=at(11, 15, 9))
    UsageEventFactory(account=busy, user_id="cy", event_name="report_created", occurred_at=at(10, 31, 23))
    UsageEventFactory(account=busy, user_id="dee", event_name="login", occurred_at=at(11, 30, 12))
    UsageEventFactory(account=busy, user_id="dee", event_name="report_created", occurred_at=at(12, 1, 0, 30))
    UsageEventFactory(account=busy, user_id="eve", event_name="report_created", occurred_at=at(11, 30, 23, 59))
    silent = account()
    browsing = account()
    UsageEventFactory(account=browsing, user_id="xavier", event_name="login", occurred_at=at(11, 10, 9))
    usage_rollups_refresh_all()

    accounts, portfolio = compute("usage.feature_adoption")

    # busy: active ann, bob, dee, eve (cy only before the window) = 4; feature users ann, eve = 2 -> 50 %
    assert numbers(accounts[busy.pk]) == expect(50, 2, 4, 4)
    assert numbers(accounts[silent.pk]) == (None, 0, 0, 0)  # nobody active: null, never 0
    assert numbers(accounts[browsing.pk]) == expect(0, 0, 1, 1)  # active but no feature use: a real 0
    # (2 + 0 + 0) / (4 + 0 + 1) = 40 %
    assert numbers(portfolio) == expect(40, 2, 5, 5)


def test_feature_adoption_window_edges_are_local_days_in_the_tenant_time_zone():
    # Auckland is UTC+13 in November: local 11-01 .. 11-30 is 10-31 11:00 UTC .. 11-30 11:00 UTC.
    start_edge, end_edge = account(), account()
    # 10-31 12:00 UTC = 11-01 01:00 local: inside
    UsageEventFactory(account=start_edge, user_id="early", event_name="report_created", occurred_at=at(10, 31, 12))
    # 10-31 10:00 UTC = 10-31 23:00 local: outside; the user is active in the window through a login
    UsageEventFactory(account=start_edge, user_id="before", event_name="report_created", occurred_at=at(10, 31, 10))
    UsageEventFactory(account=start_edge, user_id="before", event_name="login", occurred_at=at(11, 15, 0))
    # 11-30 10:30 UTC = 11-30 23:30 local: inside
    UsageEventFactory(account=end_edge, user_id="last", event_name="report_created", occurred_at=at(11, 30, 10, 30))
    # 11-30 11:30 UTC = 12-01 00:30 local: outside
    UsageEventFactory(account=end_edge, user_id="after", event_name="report_created", occurred_at=at(11, 30, 11, 30))
    UsageEventFactory(account=end_edge, user_id="after", event_name="login", occurred_at=at(11, 15, 0))

    with tenant_time_zone("Pacific/Auckland"):
        usage_rollups_refresh_all()
        accounts, _ = compute("usage.feature_adoption")

    # each: 1 feature user of 2 active = 50 % (read in UTC it would be 0 of 1 and 2 of 2)
    assert numbers(accounts[start_edge.pk]) == expect(50, 1, 2, 2)
    assert numbers(accounts[end_edge.pk]) == expect(50, 1, 2, 2)


# --- breadth -----------------------------------------------------------------------------------------------

CORE = ["report_created", "dashboard_viewed", "alert_configured", "workflow_created"]


def test_breadth_is_distinct_core_features_used_over_core_features_defined():
    # window 30: 11-01 .. 11-30; 4 core features defined
    some = account()
    usage(some, day(11, 1), event_name="report_created")
    usage(some, day(11, 20), event_name="report_created")  # the same feature twice is one feature
    usage(some, day(11, 30), event_name="dashboard_viewed")
    usage(some, day(11, 5), event_name="login")  # not a core feature
    usage(some, day(10, 31), event_name="alert_configured")  # before the window
    unused = account()
    every = account()
    for feature in CORE:
        usage(every, day(11, 15), event_name=feature)

    accounts, portfolio = compute("usage.breadth", {"features": CORE})

    assert numbers(accounts[some.pk]) == expect(50, 2, 4, 1)  # 2 / 4
    assert accounts[some.pk].details == {"used": ["dashboard_viewed", "report_created"]}
    assert numbers(accounts[unused.pk]) == expect(0, 0, 4, 1)  # features are defined: 0 is a real 0
    assert numbers(accounts[every.pk]) == expect(100, 4, 4, 1)
    # mean breadth: (2 + 0 + 4) / (4 + 4 + 4) = 50 %
    assert numbers(portfolio) == expect(50, 6, 12, 3)


def test_breadth_defaults_to_the_six_core_features_and_counts_a_listed_feature_once():
    viewer = account()
    usage(viewer, day(11, 30), event_name="dashboard_viewed")

    default_accounts, _ = compute("usage.breadth")
    doubled_accounts, _ = compute("usage.breadth", {"features": ["dashboard_viewed", "dashboard_viewed", "api_call"]})

    assert numbers(default_accounts[viewer.pk]) == expect(100 / 6, 1, 6, 1)  # 1 of 6
    assert numbers(doubled_accounts[viewer.pk]) == expect(50, 1, 2, 1)  # 1 of 2 distinct names


# --- stickiness --------------------------------------------------------------------------------------------

def test_stickiness_is_mean_daily_active_users_over_distinct_active_users():
    # window 28: 11-03 .. 11-30
    loyal = account()
    active(loyal, "ann", *days(day(11, 2), T))  # 11-02 is outside: 28 active days inside
    active(loyal, "bob", *days(day(11, 24), T))  # 7 days
    active(loyal, "cy", day(11, 2))  # outside the window only
    once = account()
    active(once, "dora", day(11, 3))  # the window's first day
    idle = account()
    newcomer = account(start_date=day(11, 23))  # started mid-window: every day since, 8 days
    active(newcomer, "nina", *days(day(11, 23), T))

    accounts, portfolio = compute("usage.stickiness")

    # loyal: Σ DAU = 28 + 7 = 35, mean 35/28 = 1.25, distinct 2 -> 62.5 %
    assert numbers(accounts[loyal.pk]) == expect(62.5, 1.25, 2, 2)
    # once: 1/28 / 1 = 3.571 %
    assert numbers(accounts[once.pk]) == expect(100 / 28, 1 / 28, 1, 1)
    assert numbers(accounts[idle.pk]) == (None, 0, 0, 0)
    # newcomer: the mean is over all 28 days of the window as METRICS.md says: 8/28 / 1 = 28.57 %
    assert numbers(accounts[newcomer.pk]) == expect(100 * 8 / 28, 8 / 28, 1, 1)
    # (35/28 + 1/28 + 0 + 8/28) / (2 + 1 + 0 + 1) = (44/28) / 4 = 39.29 %
    assert numbers(portfolio) == expect(100 * 44 / 28 / 4, 44 / 28, 4, 4)


@settings(max_examples=30, deadline=None)
@given(activity=st.sets(st.tuples(st.integers(0, 4), st.integers(0, 40)), max_size=40),
       window_days=st.integers(1, 35))
def test_stickiness_lies_between_0_and_100(activity, window_days):
    with rolled_back():
        subject = account()
        for user, back in activity:
            active(subject, f"u{user}", T - dt.timedelta(days=back))

        [row] = calculator_for("usage.stickiness").account_values(
            as_of=T, params={"window_days": window_days}, account_ids=[subject.pk])

        in_window = [(user, back) for user, back in activity if back < window_days]
        if in_window:
            assert 0 < row.value <= 100
            assert row.numerator == pytest.approx(len(in_window) / window_days)
        else:
            assert row.value is None


# --- seat utilisation --------------------------------------------------------------------------------------

def test_seat_utilization_is_distinct_active_users_over_licensed_seats():
    # window 30: 11-01 .. 11-30
    licensed = account(licensed_seats=10)
    active(licensed, "ann", day(11, 1))
    active(licensed, "bob", day(11, 2), day(11, 30))  # two days, one user
    active(licensed, "cy", day(10, 31))  # before the window
    unknown = account(licensed_seats=None)
    for user in ("a", "b", "c"):
        active(unknown, user, day(11, 10))
    zero = account(licensed_seats=0)
    active(zero, "z", day(11, 10))
    unused = account(licensed_seats=4)
    crowded = account(licensed_seats=2)
    for user in ("p", "q", "r"):
        active(crowded, user, day(11, 20))
    account(start_date=day(12, 5), renewal_date=dt.date(2027, 12, 5), licensed_seats=5)  # not a customer yet

    accounts, portfolio = compute("usage.seat_utilization")

    assert set(accounts) == {licensed.pk, unknown.pk, zero.pk, unused.pk, crowded.pk}
    assert numbers(accounts[licensed.pk]) == expect(20, 2, 10, 1)  # 2 / 10
    assert numbers(accounts[unknown.pk]) == (None, None, None, 0)  # no seats: null, out of the aggregate
    assert accounts[unknown.pk].details == {"active_users": 3, "licensed_seats": None}
    assert numbers(accounts[zero.pk]) == (None, None, None, 0)
    assert numbers(accounts[unused.pk]) == expect(0, 0, 4, 1)  # seats nobody uses: a real 0
    assert numbers(accounts[crowded.pk]) == expect(150, 3, 2, 1)  # 3 / 2
    # (2 + 0 + 3) / (10 + 4 + 2) = 5 / 16 = 31.25 %; the 3 + 1 users without seats stay out
    assert numbers(portfolio) == expect(31.25, 5, 16, 3)


def test_calculators_compute_only_the_given_accounts():
    wanted, other = account(licensed_seats=4), account(licensed_seats=4)
    active(wanted, "ann", day(11, 30))
    active(other, "bob", day(11, 30))

    rows = calculator_for("usage.seat_utilization").account_values(
        as_of=T, params={"window_days": 30}, account_ids=[wanted.pk])

    assert [(row.account_id, row.value) for row in rows] == [(wanted.pk, 25)]


@settings(max_examples=30, deadline=None)
@given(seats=st.one_of(st.none(), st.integers(0, 30)),
       activity=st.sets(st.tuples(st.integers(0, 40), st.integers(0, 45)), max_size=40))
def test_seat_utilization_is_never_negative_and_null_only_without_seats(seats, activity):
    with rolled_back():
        subject = account(licensed_seats=seats)
        for user, back in activity:
            active(subject, f"u{user}", T - dt.timedelta(days=back))

        [row] = calculator_for("usage.seat_utilization").account_values(
            as_of=T, params={"window_days": 30}, account_ids=[subject.pk])

        users = {user for user, back in activity if back < 30}
        if seats:
            assert row.value >= 0
            assert row.value == pytest.approx(100 * len(users) / seats)
        else:
            assert row.value is None


# --- usage trend -------------------------------------------------------------------------------------------

def test_usage_trend_compares_the_last_window_with_the_one_before():
    # window 30: last = 11-01 .. 11-30, before = 10-02 .. 10-31
    growing = account()
    usage(growing, day(10, 1), 999)  # before both windows
    usage(growing, day(10, 2), 40)
    usage(growing, day(10, 31), 60)  # before: 100
    usage(growing, day(11, 1), 30)
    usage(growing, day(11, 1), 20, event_name="report_created")
    usage(growing, day(11, 30), 70)  # last: 30 + 20 + 70 = 120
    usage(growing, day(12, 1), 999)  # after t
    new = account()
    usage(new, day(11, 15), 30)  # nothing before
    shrinking = account()
    usage(shrinking, day(10, 15), 50)
    usage(shrinking, day(11, 15), 10)
    idle = account()

    accounts, portfolio = compute("usage.trend")

    assert numbers(accounts[growing.pk]) == expect(20, 20, 100, 1)  # (120 - 100) / 100
    assert accounts[growing.pk].details == {"events": 120, "events_before": 100}
    assert numbers(accounts[new.pk]) == (None, 30, 0, 1)  # nothing before: null, never 0
    assert numbers(accounts[shrinking.pk]) == expect(-80, -40, 50, 1)  # (10 - 50) / 50
    assert numbers(accounts[idle.pk]) == (None, 0, 0, 0)
    # portfolio: (120 + 30 + 10 - (100 + 0 + 50)) / (100 + 0 + 50) = 10 / 150 = 6.67 %
    assert numbers(portfolio) == expect(100 * 10 / 150, 10, 150, 3)


# --- anomalies ---------------------------------------------------------------------------------------------

HISTORY = days(day(11, 2), day(11, 29))  # window 28: the 28 days before t


def test_anomaly_is_a_robust_z_score_of_today_against_the_account_history():
    spiking, steady = account(), account()
    for subject, today in ((spiking, 20), (steady, 12)):
        # 14 days of 10 and 14 of 12: median 11, every deviation 1 -> MAD 1
        daily_events(subject, {d: 10 if d <= day(11, 15) else 12 for d in HISTORY} | {T: today})
    sparse = account()
    # 20 days of 10 then 8 days without events: median 10; deviations 20 x 0 and 8 x 10 -> MAD 0,
    # mean absolute deviation 80 / 28 = 20/7
    daily_events(sparse, dict.fromkeys(HISTORY[:20], 10) | {T: 25})
    flat = account(start_date=day(11, 2))  # started t - 28: a full history
    daily_events(flat, dict.fromkeys(HISTORY, 5) | {T: 5})
    jumping = account()
    daily_events(jumping, dict.fromkeys(HISTORY, 5) | {T: 9})
    newcomer = account(start_date=day(11, 10))  # history shorter than the window: left out
    daily_events(newcomer, dict.fromkeys(HISTORY[8:], 5) | {T: 50})
    dormant = account()
    usage(dormant, day(10, 1), 40)  # nothing in the history or on t: left out

    accounts, portfolio = compute("usage.anomaly")

    assert set(accounts) == {spiking.pk, steady.pk, sparse.pk, flat.pk, jumping.pk}
    # spiking: 0.6745 x (20 - 11) / 1 = 6.07 > 3.5
    assert numbers(accounts[spiking.pk]) == expect(0.6745 * 9, 1, 1, 1)
    assert accounts[spiking.pk].details == {"today": 20, "median": 11, "mad": 1, "mean_ad": 1, "anomalous": True}
    # steady: 0.6745 x (12 - 11) / 1 = 0.67
    assert numbers(accounts[steady.pk]) == expect(0.6745, 0, 1, 1)
    # sparse, the MAD = 0 fallback: (25 - 10) / (1.253314 x 20/7) = 4.19 > 3.5
    assert numbers(accounts[sparse.pk]) == expect(15 / (1.253314 * 20 / 7), 1, 1, 1)
    assert accounts[sparse.pk].details["mad"] == 0
    # flat: constant history and today the same: 0, not anomalous
    assert numbers(accounts[flat.pk]) == expect(0, 0, 1, 1)
    # jumping: constant history (both deviations 0) and today differs: undecidable, null
    assert numbers(accounts[jumping.pk]) == (None, None, None, 1)
    assert accounts[jumping.pk].details["anomalous"] is None
    # anomalous (spiking, sparse) / accounts with a score (spiking, steady, sparse, flat) = 2 / 4 = 50 %
    assert numbers(portfolio) == expect(50, 2, 4, 4)


def test_anomaly_threshold_and_a_silent_day_after_steady_use():
    spiking = account()
    daily_events(spiking, {d: 10 if d <= day(11, 15) else 12 for d in HISTORY} | {T: 20})  # z = 6.07
    stopped = account()
    daily_events(stopped, {d: 10 if d <= day(11, 15) else 12 for d in HISTORY})  # today 0: z = 0.6745 x -11

    accounts, portfolio = compute("usage.anomaly", {"threshold": 7})

    assert accounts[spiking.pk].details["anomalous"] is False  # 6.07 <= 7
    assert accounts[stopped.pk].value == pytest.approx(-0.6745 * 11)  # -7.42: |z| > 7
    assert accounts[stopped.pk].details["today"] == 0
    assert numbers(portfolio) == expect(50, 1, 2, 2)


# --- parameters --------------------------------------------------------------------------------------------

def test_default_parameters_are_the_catalogue_defaults():
    defaults = {calculator: calculator_for(calculator).clean_params({}) for calculator in (
        "usage.activation_rate", "usage.time_to_first_value", "usage.feature_adoption", "usage.breadth",
        "usage.stickiness", "usage.seat_utilization", "usage.trend", "usage.anomaly")}

    assert defaults == {
        "usage.activation_rate": {"events": ["report_created", "integration_connected", "workflow_created"],
                                  "window_days": 30, "cohort_days": 180},
        "usage.time_to_first_value": {"event": "report_created"},
        "usage.feature_adoption": {"feature": "report_created", "window_days": 30},
        "usage.breadth": {"features": ["dashboard_viewed", "report_created", "report_exported", "alert_configured",
                                       "integration_connected", "workflow_created"], "window_days": 30},
        "usage.stickiness": {"window_days": 28},
        "usage.seat_utilization": {"window_days": 30},
        "usage.trend": {"window_days": 30},
        "usage.anomaly": {"window_days": 28, "threshold": 3.5},
    }


@pytest.mark.parametrize(("calculator", "params", "message"), [
    ("usage.stickiness", {"window_days": 0}, "'window_days' must be at least 1"),
    ("usage.trend", {"window_days": 1.5}, "'window_days' must be a whole number"),
    ("usage.breadth", {"features": []}, "'features' needs at least one event name"),
    ("usage.activation_rate", {"events": []}, "'events' needs at least one event name"),
    ("usage.activation_rate", {"events": ["login", ""]}, "'events' must be a list of non-empty strings"),
    ("usage.activation_rate", {"window_days": 30, "cohort_days": 30}, "must be shorter than cohort_days"),
    ("usage.time_to_first_value", {"event": " "}, "'event' must be a non-empty string"),
    ("usage.seat_utilization", {"seats": 10}, "Unknown parameter(s) seats for usage.seat_utilization"),
    ("usage.anomaly", {"threshold": 0}, "'threshold' must be at least 0.1"),
    ("usage.anomaly", {"window_days": 3}, "'window_days' must be at least 7"),
])
def test_bad_parameters_are_refused_with_a_clear_message(calculator, params, message):
    with pytest.raises(CalculatorError) as error:
        calculator_for(calculator).clean_params(params)

    assert message in str(error.value)


def test_a_kpi_with_bad_parameters_is_not_created():
    with pytest.raises(CalculatorError, match="at least 1"):
        kpi_for("usage.seat_utilization", {"window_days": 0})

    assert not KPI.objects.exists()
