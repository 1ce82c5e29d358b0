"""Ticket load, first response hours, cost to serve and margin, checked against hand-computed values."""

import datetime as dt
from statistics import median

import pytest
from django.db import connection

from accounts.models import AccountStatus
from metrics.calculators import CalculatorError, calculator_for
from metrics.models import Indicator, MetricValue, Scope, Tier, Unit
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory, SupportTicketFactory
from tests.users.factories import UserFactory

AS_OF = dt.date(2026, 10, 30)  # a 30-day window ending here is 1-30 October
UTC = dt.UTC


def _kpi(slug, calculator, params=None):
    return kpi_create(slug=slug, name=slug, calculator=calculator, params=params, definition="Test KPI.",
                      tier=Tier.PROFITABILITY, indicator=Indicator.LAGGING, unit=Unit.COUNT,
                      scopes=[Scope.ACCOUNT, Scope.PORTFOLIO])


def _accounts(kpi, as_of=AS_OF):
    return {row.account_id: row for row in MetricValue.objects.filter(kpi=kpi, as_of=as_of, scope=Scope.ACCOUNT)}


def _portfolio(kpi, as_of=AS_OF):
    return MetricValue.objects.get(kpi=kpi, as_of=as_of, scope=Scope.PORTFOLIO)


def _at(day, hour=12, minute=0):
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def _ticket(account, opened_at, *, response_after=None, minutes=0):
    return SupportTicketFactory(account=account, opened_at=opened_at, handling_minutes=minutes, resolved_at=None,
                                first_response_at=None if response_after is None else opened_at + response_after)


# --- ticket load ------------------------------------------------------------------------------------------

def test_ticket_load_counts_tickets_opened_in_the_window_and_zero_for_quiet_accounts():
    busy, quiet = AccountFactory(), AccountFactory()
    not_started = AccountFactory(start_date=dt.date(2026, 11, 1))
    churned_quiet = AccountFactory(status=AccountStatus.CHURNED)
    churned_busy = AccountFactory(status=AccountStatus.CHURNED)
    for day in (1, 15, 30):
        _ticket(busy, _at(day))
    _ticket(busy, dt.datetime(2026, 9, 30, 23, 59, tzinfo=UTC))  # the day before the window
    _ticket(busy, dt.datetime(2026, 10, 31, 0, 0, tzinfo=UTC))  # the day after as_of
    _ticket(churned_busy, _at(10))
    kpi = _kpi("ticket-load", "support.ticket_load", {"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    rows = _accounts(kpi)
    # busy 3, quiet 0 (active and started), churned_busy 1 (served in the window); not_started and
    # churned_quiet are outside the book.
    assert set(rows) == {busy.id, quiet.id, churned_busy.id}
    assert not_started.id not in rows and churned_quiet.id not in rows
    assert (rows[busy.id].value, rows[busy.id].numerator, rows[busy.id].denominator,
            rows[busy.id].sample_size) == (3, 3, 1, 3)
    assert (rows[quiet.id].value, rows[quiet.id].numerator, rows[quiet.id].denominator) == (0, 0, 1)
    assert rows[churned_busy.id].value == 1
    # Portfolio: (3 + 0 + 1) tickets / 3 accounts = 1.333...
    portfolio = _portfolio(kpi)
    assert (portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (4, 3, 4)
    assert portfolio.value == pytest.approx(4 / 3)


def test_ticket_load_window_is_counted_in_the_tenant_time_zone(monkeypatch):
    monkeypatch.setattr(connection.tenant, "time_zone", "America/New_York")  # UTC-4 in October
    account = AccountFactory()
    _ticket(account, dt.datetime(2026, 10, 1, 3, 59, tzinfo=UTC))  # 30 Sep 23:59 local: out
    _ticket(account, dt.datetime(2026, 10, 1, 4, 0, tzinfo=UTC))  # 1 Oct 00:00 local: in
    _ticket(account, dt.datetime(2026, 10, 31, 3, 59, tzinfo=UTC))  # 30 Oct 23:59 local: in
    _ticket(account, dt.datetime(2026, 10, 31, 4, 0, tzinfo=UTC))  # 31 Oct 00:00 local: out
    kpi = _kpi("ticket-load", "support.ticket_load", {"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    assert _accounts(kpi)[account.id].value == 2


def test_ticket_load_portfolio_is_null_without_accounts():
    kpi = _kpi("ticket-load", "support.ticket_load")

    kpi_compute(kpi=kpi, as_of=AS_OF)

    assert _accounts(kpi) == {}
    assert _portfolio(kpi).value is None


# --- first response hours ---------------------------------------------------------------------------------

def test_first_response_hours_is_the_median_per_account_and_over_all_tickets_of_the_portfolio():
    steady, mixed, waiting = AccountFactory(), AccountFactory(), AccountFactory()
    # steady: 1 h, 3 h, 2 h -> median 2 h; one ticket unanswered and one answered after as_of: 2 unanswered.
    _ticket(steady, _at(2, 9), response_after=dt.timedelta(hours=1))
    _ticket(steady, _at(3, 9), response_after=dt.timedelta(hours=3))
    _ticket(steady, _at(4, 9), response_after=dt.timedelta(hours=2))
    _ticket(steady, _at(5, 9))
    _ticket(steady, _at(30, 20), response_after=dt.timedelta(hours=5))  # answered 31 Oct 01:00, after as_of
    _ticket(steady, dt.datetime(2026, 9, 29, 9, tzinfo=UTC), response_after=dt.timedelta(hours=50))  # before window
    # mixed: 30 min and 4 h -> median (0.5 + 4) / 2 = 2.25 h.
    _ticket(mixed, _at(6, 9), response_after=dt.timedelta(minutes=30))
    _ticket(mixed, _at(7, 9), response_after=dt.timedelta(hours=4))
    # waiting: one ticket, never answered -> no value, but the row says why.
    _ticket(waiting, _at(8, 9))
    AccountFactory()  # no tickets: no row
    kpi = _kpi("first-response-hours", "support.first_response_hours", {"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    rows = _accounts(kpi)
    assert set(rows) == {steady.id, mixed.id, waiting.id}
    assert rows[steady.id].value == pytest.approx(2.0)
    assert (rows[steady.id].numerator, rows[steady.id].denominator, rows[steady.id].sample_size) == (None, 3, 3)
    assert rows[steady.id].details == {"response_hours": [1.0, 2.0, 3.0], "unanswered": 2}
    assert rows[mixed.id].value == pytest.approx(2.25)
    assert rows[mixed.id].details == {"response_hours": [0.5, 4.0], "unanswered": 0}
    assert rows[waiting.id].value is None
    assert (rows[waiting.id].sample_size, rows[waiting.id].details) == (0, {"response_hours": [], "unanswered": 1})
    # Portfolio: median of 0.5, 1, 2, 3, 4 = 2 h; the mean of the medians would have been 2.125.
    portfolio = _portfolio(kpi)
    assert portfolio.value == pytest.approx(2.0)
    assert (portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (None, 5, 5)
    assert portfolio.details == {"unanswered": 3}


def test_first_response_hours_account_value_can_be_recomputed_from_its_details():
    account = AccountFactory()
    for minutes in (7, 95, 13, 61, 240, 2):
        _ticket(account, _at(10, 8), response_after=dt.timedelta(minutes=minutes))
    kpi = _kpi("first-response-hours", "support.first_response_hours", {"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    row = _accounts(kpi)[account.id]
    # Sorted minutes 2, 7, 13, 61, 95, 240 -> median (13 + 61) / 2 = 37 min = 0.6166... h.
    assert row.value == pytest.approx(37 / 60)
    assert row.value == pytest.approx(median(row.details["response_hours"]))


def test_first_response_hours_segment_aggregate_is_the_median_of_the_segments_tickets():
    enterprise = AccountFactory(plan="Enterprise")
    starter = AccountFactory(plan="Starter")
    for hours in (1, 2, 10):
        _ticket(enterprise, _at(12), response_after=dt.timedelta(hours=hours))
    _ticket(starter, _at(12), response_after=dt.timedelta(hours=20))
    kpi = _kpi("first-response-hours", "support.first_response_hours", {"window_days": 30})

    kpi_compute(kpi=kpi, as_of=AS_OF)

    segment = MetricValue.objects.get(kpi=kpi, as_of=AS_OF, scope=Scope.SEGMENT, dimension="plan",
                                      segment="Enterprise")
    assert segment.value == pytest.approx(2.0)  # median of 1, 2, 10
    assert _portfolio(kpi).value == pytest.approx(6.0)  # median of 1, 2, 10, 20 = (2 + 10) / 2


# --- cost to serve ----------------------------------------------------------------------------------------

def _cost_book():
    """Two CSMs and an unowned account; the costs are worked out in the tests' comments."""
    first_csm, second_csm = UserFactory(), UserFactory()
    a = AccountFactory(owner=first_csm)
    b = AccountFactory(owner=first_csm)
    c = AccountFactory(owner=second_csm)
    d = AccountFactory(owner=None)
    AccountFactory(owner=first_csm, start_date=dt.date(2026, 12, 1))  # not started: not in the book
    AccountFactory(owner=first_csm, status=AccountStatus.CHURNED)  # churned, no ticket: not in the book
    _ticket(a, _at(3), minutes=30)
    _ticket(a, _at(4), minutes=60)
    _ticket(c, _at(5), minutes=120)
    _ticket(d, _at(6), minutes=15)
    _ticket(d, dt.datetime(2026, 7, 1, tzinfo=UTC), minutes=600)  # outside the 90 days
    return a, b, c, d


# csm_monthly_cost 121.75 = 4 per day (121.75 / 30.4375), so a 90-day window costs 360 per CSM.
COST_PARAMS = {"window_days": 90, "hourly_support_cost": 100, "csm_monthly_cost": 121.75}


def test_cost_to_serve_adds_support_hours_and_the_csm_cost_shared_by_the_book():
    a, b, c, d = _cost_book()
    kpi = _kpi("cost-to-serve", "support.cost_to_serve", COST_PARAMS)

    kpi_compute(kpi=kpi, as_of=AS_OF)

    rows = _accounts(kpi)
    assert set(rows) == {a.id, b.id, c.id, d.id}
    # a: (30 + 60) min = 1.5 h x 100 = 150, plus 360 / 2 accounts in its CSM's book = 180 -> 330
    assert rows[a.id].value == pytest.approx(330)
    assert (rows[a.id].numerator, rows[a.id].denominator, rows[a.id].sample_size) == (pytest.approx(330), 1, 2)
    assert rows[a.id].details == {"tickets": 2, "handling_hours": 1.5, "support_cost": 150.0,
                                  "csm_cost": pytest.approx(180), "csm_book_size": 2,
                                  "months": pytest.approx(90 / 30.4375)}
    # b: no ticket, 0 + 180 -> 180
    assert rows[b.id].value == pytest.approx(180)
    # c: 2 h x 100 = 200, plus 360 / 1 -> 560
    assert rows[c.id].value == pytest.approx(560)
    # d: 0.25 h x 100 = 25, no CSM -> 25
    assert rows[d.id].value == pytest.approx(25)
    assert rows[d.id].details["csm_book_size"] is None and rows[d.id].details["csm_cost"] == 0
    # Portfolio: mean per account = (330 + 180 + 560 + 25) / 4 = 273.75
    portfolio = _portfolio(kpi)
    assert portfolio.value == pytest.approx(273.75)
    assert (portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (pytest.approx(1095), 4, 4)


def test_cost_to_serve_incremental_run_splits_the_csm_cost_over_the_whole_book():
    a, *_ = _cost_book()
    kpi = _kpi("cost-to-serve", "support.cost_to_serve", COST_PARAMS)
    kpi_compute(kpi=kpi, as_of=AS_OF)

    kpi_compute(kpi=kpi, as_of=AS_OF, account_ids=[a.id])

    assert _accounts(kpi)[a.id].value == pytest.approx(330)  # still 360 / 2, not 360 / 1
    assert _portfolio(kpi).value == pytest.approx(273.75)


def test_cost_to_serve_incremental_run_reads_only_the_touched_accounts_books():
    """An incremental run of the first CSM's account and the unowned one: their values as a full run gives them,
    and no row for the second CSM's account, whose book is not read."""
    _, b, _, d = _cost_book()
    kpi = _kpi("cost-to-serve", "support.cost_to_serve", COST_PARAMS)

    kpi_compute(kpi=kpi, as_of=AS_OF, account_ids=[b.id, d.id])

    rows = _accounts(kpi)
    assert set(rows) == {b.id, d.id}
    assert rows[b.id].value == pytest.approx(180)  # 360 / 2: the book of a and b, a's tickets read for it
    assert rows[d.id].value == pytest.approx(25) and rows[d.id].details["csm_book_size"] is None


def test_cost_to_serve_default_params():
    account = AccountFactory()
    _ticket(account, _at(20), minutes=45)
    kpi = _kpi("cost-to-serve", "support.cost_to_serve")

    kpi_compute(kpi=kpi, as_of=AS_OF)

    # 0.75 h x 60 = 45, plus 8000 / 1 account x 90 / 30.4375 months = 23655.03 -> 23700.03
    assert _accounts(kpi)[account.id].value == pytest.approx(45 + 8000 * 90 / 30.4375)


# --- parameters -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("calculator", "params", "message"), [
    ("support.ticket_load", {"window_days": 0}, "at least 1"),
    ("support.ticket_load", {"days": 30}, "Unknown parameter(s) days"),
    ("support.first_response_hours", {"window_days": 2.5}, "whole number"),
    ("support.cost_to_serve", {"hourly_support_cost": -1}, "at least 0"),
    ("support.cost_to_serve", {"csm_monthly_cost": "8000"}, "must be a number"),
])
def test_bad_parameters_are_refused_with_a_clear_message(calculator, params, message):
    with pytest.raises(CalculatorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        calculator_for(calculator).clean_params(params)


def test_formulas_name_the_chosen_definitions():
    assert "median" in calculator_for("support.first_response_hours").formula
    assert "not a mean of medians" in calculator_for("support.first_response_hours").formula
    assert "30.4375" in calculator_for("support.cost_to_serve").formula
    assert "mean per account" in calculator_for("support.cost_to_serve").formula
    assert "per account" in calculator_for("support.ticket_load").formula


# --- margin -----------------------------------------------------------------------------------------------

def test_margin_is_the_revenue_earned_in_the_window_minus_the_cost_to_serve():
    # The 90 days ending 2026-10-30 are 2026-08-02 .. 2026-10-30: 30 days of August, 30 of September, 30 of October.
    paying, silent = AccountFactory(owner=None), AccountFactory(owner=None)
    for month, mrr in ((dt.date(2026, 6, 1), 5000), (dt.date(2026, 7, 1), 1000), (dt.date(2026, 9, 1), 2000),
                       (dt.date(2026, 10, 1), 0), (dt.date(2026, 11, 1), 9000)):  # November is after t
        RevenueSnapshotFactory(account=paying, month=month, mrr=mrr)
    _ticket(paying, _at(20), minutes=60)
    kpi = _kpi("margin", "support.margin", COST_PARAMS)

    kpi_compute(kpi=kpi, as_of=AS_OF)

    rows = _accounts(kpi)
    # revenue: (30 x 1000 + 30 x 2000 + 30 x 0) / 30.4375 = 2956.88; cost: 1 h x 100, no CSM -> margin 2856.88
    revenue = 90_000 / 30.4375
    assert rows[paying.id].value == pytest.approx(revenue - 100)
    assert rows[paying.id].details["revenue"] == pytest.approx(revenue)
    assert rows[paying.id].details["cost_to_serve"] == pytest.approx(100)
    # No revenue and no cost: a margin of 0, not a missing value.
    assert rows[silent.id].value == 0
    # Portfolio: the mean per account.
    assert _portfolio(kpi).value == pytest.approx((revenue - 100) / 2)
    assert "revenue in the last window_days days - cost to serve" in calculator_for("support.margin").formula
