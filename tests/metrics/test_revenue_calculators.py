"""The revenue calculators give the numbers METRICS.md defines, account by account and for the portfolio.

Every fixture is small enough to check by hand; the arithmetic is in the comments. MRR on a date is the
latest monthly snapshot on or before it (snapshots are dated on the month's first day).
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Account, RevenueSnapshot
from metrics.calculators import CalculatorError, calculator_for
from metrics.models import KPI, MetricValue, Scope, Tier, Unit
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory

COHORT_CALCULATORS = ("revenue.grr", "revenue.nrr", "revenue.expansion_rate", "revenue.contraction_rate",
                      "revenue.revenue_churn", "revenue.logo_churn")


# --- helpers --------------------------------------------------------------------------------------------

def _account(history: dict[tuple[int, int], float] | None = None, *, start: dt.date = dt.date(2024, 1, 1),
             renewal: dt.date | None = None, plan: str = "Growth") -> Account:
    """An account with monthly snapshots {(year, month): mrr}."""
    account = AccountFactory(owner=None, start_date=start, renewal_date=renewal, plan=plan)
    RevenueSnapshot.objects.bulk_create(
        RevenueSnapshot(account=account, month=dt.date(year, month, 1), mrr=Decimal(str(mrr)))
        for (year, month), mrr in (history or {}).items()
    )
    return account


def _kpi(calculator: str, *, label: str = "", **params) -> KPI:
    slug = f"test-{calculator.replace('.', '-').replace('_', '-')}{label}"
    return kpi_create(slug=slug, name=calculator,
                      calculator=calculator, params=params, definition="Under test.", tier=Tier.RETENTION,
                      indicator="lagging", unit=Unit.PERCENT)


def _compute(calculator: str, as_of: dt.date, **params) -> tuple[dict[int, MetricValue], MetricValue]:
    """Compute through the engine; the stored account rows by account id, and the portfolio row."""
    kpi = _kpi(calculator, **params)
    kpi_compute(kpi=kpi, as_of=as_of)
    stored = MetricValue.objects.filter(kpi=kpi, as_of=as_of)
    accounts = {row.account_id: row for row in stored.filter(scope=Scope.ACCOUNT)}
    return accounts, stored.get(scope=Scope.PORTFOLIO)


def _assert_row(row: MetricValue, *, value, numerator, denominator, sample_size) -> None:
    assert (row.numerator, row.denominator, row.sample_size) == pytest.approx(
        (numerator, denominator, sample_size)), row
    if value is None:
        assert row.value is None, row
    else:
        assert row.value == pytest.approx(value), row


@contextmanager
def _rolled_back():
    """Run a block in a savepoint that is always rolled back: hypothesis examples must not see each other."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# --- cohort family --------------------------------------------------------------------------------------

@pytest.fixture
def cohort() -> dict[str, Account]:
    """As of 2026-03-31 with window_months=12 the window starts on 2025-03-31 (March 2025's snapshot)."""
    return {
        "steady": _account({(2025, 3): 1000, (2026, 3): 1000}),                    # 1000 -> 1000
        "expands": _account({(2025, 3): 2000, (2026, 1): 2600}),                   # 2000 -> 2600 (Jan in force)
        "contracts": _account({(2025, 3): 1000, (2026, 3): 400}),                  # 1000 -> 400
        "churns": _account({(2025, 3): 500, (2025, 9): 0}),                        # 500 -> 0
        "returns": _account({(2025, 3): 800, (2025, 6): 0, (2026, 2): 900}),       # 800 -> 0 -> 900
        "new": _account({(2025, 6): 5000, (2026, 3): 5000}, start=dt.date(2025, 6, 1)),  # started mid-window
        "zero_at_start": _account({(2024, 12): 0, (2026, 3): 700}),                # 0 at the window's start
        "no_revenue": _account(),
    }


# Cohort: steady, expands, contracts, churns, returns. Σ MRR then = 1000+2000+1000+500+800 = 5300.
COHORT_AS_OF = dt.date(2026, 3, 31)


def test_grr_caps_each_account_at_its_starting_mrr(cohort):
    accounts, portfolio = _compute("revenue.grr", COHORT_AS_OF)
    # Σ min = 1000 + 2000 + 400 + 0 + 800 = 4200; 4200 / 5300 = 79.2453%
    _assert_row(portfolio, value=4200 / 5300 * 100, numerator=4200, denominator=5300, sample_size=5)
    _assert_row(accounts[cohort["expands"].pk], value=100, numerator=2000, denominator=2000, sample_size=1)
    _assert_row(accounts[cohort["contracts"].pk], value=40, numerator=400, denominator=1000, sample_size=1)
    _assert_row(accounts[cohort["churns"].pk], value=0, numerator=0, denominator=500, sample_size=1)
    # Churned and came back: counts with its MRR now (900), capped at 800.
    _assert_row(accounts[cohort["returns"].pk], value=100, numerator=800, denominator=800, sample_size=1)
    assert accounts[cohort["contracts"].pk].details == {"window_start": "2025-03-31", "mrr_start": 1000.0,
                                                          "mrr_end": 400.0}


def test_cohort_leaves_out_mid_window_starts_and_accounts_not_paying_at_the_start(cohort):
    for calculator in COHORT_CALCULATORS:
        accounts, _ = _compute(calculator, COHORT_AS_OF)
        expected = {cohort[name].pk for name in ("steady", "expands", "contracts", "churns", "returns")}
        assert set(accounts) == expected, calculator


def test_nrr_counts_expansion_and_returning_accounts(cohort):
    accounts, portfolio = _compute("revenue.nrr", COHORT_AS_OF)
    # Σ MRR now = 1000 + 2600 + 400 + 0 + 900 = 4900; 4900 / 5300 = 92.4528%
    _assert_row(portfolio, value=4900 / 5300 * 100, numerator=4900, denominator=5300, sample_size=5)
    _assert_row(accounts[cohort["expands"].pk], value=130, numerator=2600, denominator=2000, sample_size=1)
    _assert_row(accounts[cohort["returns"].pk], value=112.5, numerator=900, denominator=800, sample_size=1)


def test_expansion_contraction_and_churn_split_the_losses(cohort):
    _, expansion = _compute("revenue.expansion_rate", COHORT_AS_OF)
    accounts, contraction = _compute("revenue.contraction_rate", COHORT_AS_OF)
    churn_accounts, churn = _compute("revenue.revenue_churn", COHORT_AS_OF)
    # Expansion: 600 (expands) + 100 (returns: 900 - 800) = 700.
    _assert_row(expansion, value=700 / 5300 * 100, numerator=700, denominator=5300, sample_size=5)
    # Contraction: only "contracts" (1000 -> 400, still paying) = 600; "churns" is not contraction.
    _assert_row(contraction, value=600 / 5300 * 100, numerator=600, denominator=5300, sample_size=5)
    _assert_row(accounts[cohort["churns"].pk], value=0, numerator=0, denominator=500, sample_size=1)
    # Revenue churn: only "churns" (500 -> 0); "contracts" is not churn.
    _assert_row(churn, value=500 / 5300 * 100, numerator=500, denominator=5300, sample_size=5)
    _assert_row(churn_accounts[cohort["contracts"].pk], value=0, numerator=0, denominator=1000, sample_size=1)
    _assert_row(churn_accounts[cohort["churns"].pk], value=100, numerator=500, denominator=500, sample_size=1)
    # NRR identity: 100 + 700/53 - 600/53 - 500/53 = 4900/53.
    assert 100 + expansion.value - contraction.value - churn.value == pytest.approx(4900 / 5300 * 100)


def test_logo_churn_counts_accounts_at_zero_not_new_ones(cohort):
    accounts, portfolio = _compute("revenue.logo_churn", COHORT_AS_OF)
    # 1 of the 5 cohort accounts ("churns") is at 0; "returns" pays again; "new" never enters.
    _assert_row(portfolio, value=20, numerator=1, denominator=5, sample_size=5)
    _assert_row(accounts[cohort["churns"].pk], value=100, numerator=1, denominator=1, sample_size=1)
    _assert_row(accounts[cohort["returns"].pk], value=0, numerator=0, denominator=1, sample_size=1)
    assert cohort["new"].pk not in accounts


def test_month_window_ending_on_march_31_compares_with_february_28():
    account = _account({(2026, 1): 100, (2026, 2): 200, (2026, 3): 300})
    accounts, portfolio = _compute("revenue.nrr", dt.date(2026, 3, 31), window_months=1)
    # 2026-03-31 minus 1 month = 2026-02-28 -> February's 200 (not March 1st's 300): 300 / 200 = 150%.
    _assert_row(portfolio, value=150, numerator=300, denominator=200, sample_size=1)
    assert accounts[account.pk].details["window_start"] == "2026-02-28"


def test_month_window_ending_on_may_31_over_three_months_compares_with_february_28():
    account = _account({(2026, 1): 100, (2026, 2): 200, (2026, 3): 300, (2026, 5): 400})
    accounts, portfolio = _compute("revenue.nrr", dt.date(2026, 5, 31), window_months=3)
    # 2026-05-31 minus 3 months = 2026-02-28 -> 200; May's 400 now: 200%.
    _assert_row(portfolio, value=200, numerator=400, denominator=200, sample_size=1)
    assert accounts[account.pk].details["window_start"] == "2026-02-28"


def test_an_account_started_after_the_window_start_is_outside_even_with_that_months_snapshot():
    # As of 2026-03-10 (w=12) the window starts on 2025-03-10; March 2025's snapshot is in force then,
    # but the account started on 2025-03-15, after the window's start.
    late = _account({(2025, 3): 1000, (2026, 3): 1000}, start=dt.date(2025, 3, 15))
    on_time = _account({(2025, 3): 1000, (2026, 3): 500}, start=dt.date(2025, 3, 10))
    accounts, portfolio = _compute("revenue.grr", dt.date(2026, 3, 10))
    assert set(accounts) == {on_time.pk}
    assert late.pk not in accounts
    _assert_row(portfolio, value=50, numerator=500, denominator=1000, sample_size=1)


def test_empty_cohort_gives_null_not_zero():
    _account({(2026, 1): 1000})  # paying only after the window's start
    for calculator in COHORT_CALCULATORS:
        accounts, portfolio = _compute(calculator, COHORT_AS_OF)
        assert accounts == {}
        _assert_row(portfolio, value=None, numerator=0, denominator=0, sample_size=0)


def test_computing_some_accounts_keeps_the_others_and_reaggregates(cohort):
    kpi = _kpi("revenue.grr")
    kpi_compute(kpi=kpi, as_of=COHORT_AS_OF)
    RevenueSnapshot.objects.filter(account=cohort["contracts"], month=dt.date(2026, 3, 1)).update(mrr=900)
    kpi_compute(kpi=kpi, as_of=COHORT_AS_OF, account_ids=[cohort["contracts"].pk])
    stored = MetricValue.objects.filter(kpi=kpi, as_of=COHORT_AS_OF)
    assert stored.filter(scope=Scope.ACCOUNT).count() == 5
    # Σ min = 1000 + 2000 + 900 + 0 + 800 = 4700.
    _assert_row(stored.get(scope=Scope.PORTFOLIO), value=4700 / 5300 * 100, numerator=4700, denominator=5300,
                sample_size=5)


# --- quick ratio ----------------------------------------------------------------------------------------

def test_quick_ratio_sums_month_to_month_movements_inside_the_window():
    # As of 2026-05-31 with window_months=3 the window starts on 2026-02-28: the movements into March,
    # April and May count; February's own movement does not.
    expands_then_contracts = _account({(2026, 1): 1000, (2026, 2): 1000, (2026, 3): 1200, (2026, 5): 1100})
    new = _account({(2026, 4): 500})
    churns = _account({(2026, 2): 300, (2026, 4): 0})
    returns = _account({(2025, 10): 400, (2025, 12): 0, (2026, 3): 450})
    moved_before = _account({(2026, 1): 100, (2026, 2): 900})
    flat = _account({(2026, 2): 50, (2026, 3): 50})
    accounts, portfolio = _compute("revenue.quick_ratio", dt.date(2026, 5, 31))

    # +200 expansion in March, -100 contraction in May: 200 / 100 = 2.
    _assert_row(accounts[expands_then_contracts.pk], value=2, numerator=200, denominator=100, sample_size=1)
    assert accounts[expands_then_contracts.pk].details == {"new": 0, "expansion": 200, "contraction": 100,
                                                             "churn": 0}
    # Only gains: no denominator, so null, never 0 or infinity.
    _assert_row(accounts[new.pk], value=None, numerator=500, denominator=0, sample_size=1)
    _assert_row(accounts[churns.pk], value=0, numerator=0, denominator=300, sample_size=1)
    # A reactivation (0 -> 450) is new MRR.
    _assert_row(accounts[returns.pk], value=None, numerator=450, denominator=0, sample_size=1)
    assert accounts[returns.pk].details["new"] == 450
    _assert_row(accounts[flat.pk], value=None, numerator=0, denominator=0, sample_size=1)
    assert moved_before.pk not in accounts
    # (200 + 500 + 450) / (100 + 300) = 1150 / 400 = 2.875.
    _assert_row(portfolio, value=2.875, numerator=1150, denominator=400, sample_size=5)


def test_quick_ratio_without_losses_is_null():
    _account({(2026, 3): 100, (2026, 4): 300})
    _, portfolio = _compute("revenue.quick_ratio", dt.date(2026, 5, 31))
    _assert_row(portfolio, value=None, numerator=300, denominator=0, sample_size=1)


# --- renewal rate ---------------------------------------------------------------------------------------

RENEWAL_AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def renewals() -> dict[str, Account]:
    """As of 2026-06-30 (window 90, grace 30) the decided renewals are dated 2026-03-03 .. 2026-05-31:
    2026-06-30 - 119 days = 2026-03-03 and 2026-06-30 - 30 days = 2026-05-31. The ARR up for renewal is the
    MRR in force at the end of the month before the renewal month."""
    return {
        # Renews 03-15, still paying on 04-14 (April's 1000).
        "renewed": _account({(2026, 2): 1000, (2026, 3): 1000, (2026, 4): 1000}, renewal=dt.date(2026, 3, 15)),
        # Renews 04-20, at 0 on 05-20.
        "churned": _account({(2026, 3): 2000, (2026, 4): 2000, (2026, 5): 0}, renewal=dt.date(2026, 4, 20)),
        # Renews 05-31 (the window's last day), 600 on 06-30: renewed with a downgrade of 400.
        "downgraded": _account({(2026, 4): 1000, (2026, 5): 1000, (2026, 6): 600}, renewal=dt.date(2026, 5, 31)),
        # Renews 04-01, 800 on 05-01: an expansion, counted at its ARR up for renewal only.
        "expanded": _account({(2026, 3): 500, (2026, 4): 500, (2026, 5): 800}, renewal=dt.date(2026, 4, 1)),
        # Renews 05-10, pays 700 in May but 0 on 06-09, the end of its grace period: not renewed.
        "lapsed_in_grace": _account({(2026, 4): 700, (2026, 5): 700, (2026, 6): 0}, renewal=dt.date(2026, 5, 10)),
        # 06-01: its grace period ends 07-01, after t: undecided, left out.
        "undecided": _account({(2026, 6): 900}, renewal=dt.date(2026, 6, 1)),
        # 03-02: before the window.
        "too_early": _account({(2026, 3): 900}, renewal=dt.date(2026, 3, 2)),
        # Not paying going into its renewal (March: 0): not up for renewal.
        "not_paying": _account({(2026, 3): 0}, renewal=dt.date(2026, 4, 10)),
    }


def test_logo_renewal_rate_counts_accounts_still_paying_after_the_grace_period(renewals):
    accounts, portfolio = _compute("revenue.renewal_rate", RENEWAL_AS_OF)
    up = {"renewed", "churned", "downgraded", "expanded", "lapsed_in_grace"}
    assert set(accounts) == {renewals[name].pk for name in up}
    # Renewed: renewed, downgraded, expanded = 3 of 5 = 60%.
    _assert_row(portfolio, value=60, numerator=3, denominator=5, sample_size=5)
    _assert_row(accounts[renewals["downgraded"].pk], value=100, numerator=1, denominator=1, sample_size=1)
    _assert_row(accounts[renewals["lapsed_in_grace"].pk], value=0, numerator=0, denominator=1, sample_size=1)


def test_dollar_renewal_rate_subtracts_churned_and_downgrade_arr(renewals):
    accounts, portfolio = _compute("revenue.renewal_rate", RENEWAL_AS_OF, basis="dollar")
    # ARR up = 12 x (1000 + 2000 + 1000 + 500 + 700) = 62400; churned = 12 x (2000 + 700) = 32400;
    # downgrade = 12 x 400 = 4800; (62400 - 32400 - 4800) / 62400 = 25200 / 62400 = 40.3846%.
    _assert_row(portfolio, value=25200 / 62400 * 100, numerator=25200, denominator=62400, sample_size=5)
    _assert_row(accounts[renewals["downgraded"].pk], value=60, numerator=7200, denominator=12000, sample_size=1)
    _assert_row(accounts[renewals["expanded"].pk], value=100, numerator=6000, denominator=6000, sample_size=1)
    assert accounts[renewals["churned"].pk].details == {
        "renewal_date": "2026-04-20", "arr_up_for_renewal": 24000.0, "arr_after_grace": 0.0,
        "churned_arr": 24000.0, "downgrade_arr": 0}


def test_renewal_grace_period_is_configurable():
    # Renewal 2026-05-10; pays 700 in May, 0 from June. As of 2026-06-15:
    # grace 30 -> window 2026-02-16 .. 2026-05-16, decided on 06-09 (June: 0): not renewed;
    # grace 5 -> window 2026-03-13 .. 2026-06-10, decided on 05-15 (May: 700): renewed.
    _account({(2026, 4): 700, (2026, 5): 700, (2026, 6): 0}, renewal=dt.date(2026, 5, 10))
    _, strict = _compute("revenue.renewal_rate", dt.date(2026, 6, 15))
    _assert_row(strict, value=0, numerator=0, denominator=1, sample_size=1)
    kpi = _kpi("revenue.renewal_rate", label="-grace-5", grace_days=5)
    kpi_compute(kpi=kpi, as_of=dt.date(2026, 6, 15))
    lenient = MetricValue.objects.get(kpi=kpi, scope=Scope.PORTFOLIO)
    _assert_row(lenient, value=100, numerator=1, denominator=1, sample_size=1)


def test_renewal_rate_without_renewals_is_null():
    _account({(2026, 3): 1000}, renewal=dt.date(2027, 1, 1))
    accounts, portfolio = _compute("revenue.renewal_rate", RENEWAL_AS_OF)
    assert accounts == {}
    _assert_row(portfolio, value=None, numerator=0, denominator=0, sample_size=0)


# --- ARPA -----------------------------------------------------------------------------------------------

def test_arpa_averages_mrr_over_paying_accounts_only():
    big = _account({(2026, 1): 3000})                  # in force on 2026-03-31
    small = _account({(2026, 3): 1000})
    churned = _account({(2026, 1): 500, (2026, 2): 0})
    _account()                                           # no revenue at all
    accounts, portfolio = _compute("revenue.arpa", dt.date(2026, 3, 31))
    assert set(accounts) == {big.pk, small.pk}
    assert churned.pk not in accounts
    _assert_row(accounts[big.pk], value=3000, numerator=3000, denominator=1, sample_size=1)
    # (3000 + 1000) / 2 = 2000.
    _assert_row(portfolio, value=2000, numerator=4000, denominator=2, sample_size=2)


def test_arpa_without_paying_accounts_is_null():
    _account({(2026, 1): 0})
    _, portfolio = _compute("revenue.arpa", dt.date(2026, 3, 31))
    _assert_row(portfolio, value=None, numerator=0, denominator=0, sample_size=0)


# --- LTV ------------------------------------------------------------------------------------------------

LTV_AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def lifetimes() -> dict[str, Account]:
    """As of 2026-06-30 the six one-month periods end on 06-30, 05-30, 04-30, 03-30, 02-28 and 01-30 (k = 0..5),
    each starting one month before (the last one on 2025-12-30)."""
    return {
        "steady": _account({(2025, 12): 1000}, plan="A"),
        "big": _account({(2025, 12): 3000}, plan="B"),
        # Paying 500 until February, 0 from March: churned in the period 02-28 .. 03-30 (k = 3).
        "churns": _account({(2025, 12): 500, (2026, 3): 0}, plan="A"),
        # Starts in April: paying at the start of the periods k = 0 (05-30) and k = 1 (04-30) only.
        "new": _account({(2026, 4): 2000}, start=dt.date(2026, 4, 1), plan="B"),
        "never_paid": _account(plan="A"),
    }


def test_ltv_is_arpa_times_margin_over_mean_monthly_logo_churn(lifetimes):
    accounts, portfolio = _compute("revenue.ltv", LTV_AS_OF)
    # Paying at the start / churned per period k = 0..5:
    #   k0: steady, big, new = 3 / 0    k1: 3 / 0    k2 (from 03-30): steady, big = 2 / 0
    #   k3 (from 02-28): steady, big, churns = 3 / 1    k4: 3 / 0    k5: 3 / 0
    # Mean monthly churn = (1/3) / 6 = 1/18. ARPA = (1000 + 3000 + 2000) / 3 = 2000.
    # LTV = 2000 x 0.8 / (1/18) = 28800.
    _assert_row(portfolio, value=28800, numerator=1600, denominator=1 / 18, sample_size=3)
    assert portfolio.details["arpa"] == pytest.approx(2000)
    assert [month["paying_at_start"] for month in portfolio.details["months"]] == [3, 3, 2, 3, 3, 3]
    assert [month["churned"] for month in portfolio.details["months"]] == [0, 0, 0, 1, 0, 0]
    assert portfolio.details["months"][3]["period_end"] == "2026-03-30"
    assert set(accounts) == {lifetimes[name].pk for name in ("steady", "big", "churns", "new")}
    # An account has no LTV of its own; it carries what it contributes.
    _assert_row(accounts[lifetimes["churns"].pk], value=None, numerator=0, denominator=0, sample_size=0)
    assert accounts[lifetimes["churns"].pk].details == {"mrr": 0.0, "paying_at_start": [0, 0, 0, 1, 1, 1],
                                                          "churned": [0, 0, 0, 1, 0, 0]}
    assert accounts[lifetimes["new"].pk].details["paying_at_start"] == [1, 1, 0, 0, 0, 0]
    _assert_row(accounts[lifetimes["big"].pk], value=None, numerator=3000, denominator=1, sample_size=1)


def test_ltv_is_computed_per_segment(lifetimes):
    kpi = _kpi("revenue.ltv", gross_margin=0.5)
    kpi_compute(kpi=kpi, as_of=LTV_AS_OF)
    plans = {row.segment: row for row in MetricValue.objects.filter(kpi=kpi, dimension="plan")}
    # Plan A (steady, churns): ARPA 1000; churn per period 0, 0, 0 (steady alone), 1/2, 0, 0 -> mean 1/12;
    # LTV = 1000 x 0.5 / (1/12) = 6000.
    _assert_row(plans["A"], value=6000, numerator=500, denominator=1 / 12, sample_size=1)
    # Plan B (big, new): nobody churned -> null, never infinite or 0.
    _assert_row(plans["B"], value=None, numerator=1250, denominator=0, sample_size=2)


def test_ltv_churn_uses_the_logo_churn_cohort_rule_for_late_starts():
    # Started 2026-05-31 with May's snapshot: paying now, but it started after the last period's start
    # (05-30), so, as in logo churn, it is at risk in no period.
    late = _account({(2026, 5): 2000}, start=dt.date(2026, 5, 31))
    accounts, _ = _compute("revenue.ltv", LTV_AS_OF)
    assert accounts[late.pk].details["paying_at_start"] == [0, 0, 0, 0, 0, 0]
    _assert_row(accounts[late.pk], value=None, numerator=2000, denominator=1, sample_size=1)


def test_ltv_is_null_when_nobody_churned():
    _account({(2025, 12): 1000})
    _account({(2026, 2): 3000})
    _, portfolio = _compute("revenue.ltv", LTV_AS_OF)
    # ARPA 2000 x 0.8 = 1600, churn 0 -> null.
    _assert_row(portfolio, value=None, numerator=1600, denominator=0, sample_size=2)


def test_ltv_without_any_revenue_is_null():
    _account()
    accounts, portfolio = _compute("revenue.ltv", LTV_AS_OF)
    assert accounts == {}
    assert portfolio.value is None
    assert portfolio.numerator is None


# --- parameters -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("calculator", "params", "message"), [
    ("revenue.grr", {"window_months": 0}, "'window_months' must be at least 1"),
    ("revenue.quick_ratio", {"window_months": 2.5}, "'window_months' must be a whole number"),
    ("revenue.ltv", {"gross_margin": 1.5}, "'gross_margin' must be at most 1"),
    ("revenue.ltv", {"gross_margin": -0.1}, "'gross_margin' must be at least 0"),
    ("revenue.nrr", {"window_days": 30}, "Unknown parameter(s) window_days for revenue.nrr; known: window_months"),
    ("revenue.renewal_rate", {"basis": "arr"}, "'basis' must be one of logo, dollar; got 'arr'"),
    ("revenue.renewal_rate", {"grace_days": -1}, "'grace_days' must be at least 0"),
    ("revenue.arpa", {"window_months": 3}, "Unknown parameter(s) window_months for revenue.arpa; known: none"),
])
def test_bad_parameters_are_refused_with_a_clear_message(calculator, params, message):
    with pytest.raises(CalculatorError) as error:
        _kpi(calculator, **params)
    assert message in str(error.value)
    assert not KPI.objects.filter(calculator=calculator, slug__startswith="test-").exists()


def test_defaults_match_the_catalogue():
    defaults = {calculator: calculator_for(calculator).clean_params({}) for calculator in (
        "revenue.grr", "revenue.quick_ratio", "revenue.renewal_rate", "revenue.arpa", "revenue.ltv")}
    assert defaults == {
        "revenue.grr": {"window_months": 12},
        "revenue.quick_ratio": {"window_months": 3},
        "revenue.renewal_rate": {"window_days": 90, "grace_days": 30, "basis": "logo"},
        "revenue.arpa": {},
        "revenue.ltv": {"gross_margin": 0.8},
    }


# --- properties -----------------------------------------------------------------------------------------

# Up to 5 accounts, each with up to 8 snapshots among the 18 months 2025-01 .. 2026-06.
_HISTORIES = st.lists(
    st.dictionaries(st.integers(min_value=0, max_value=17), st.sampled_from([0, 0, 50, 100, 250.5, 1000, 4000]),
                    max_size=8),
    min_size=1, max_size=5,
)
_AS_OF = st.sampled_from([dt.date(2026, 6, 30), dt.date(2026, 5, 31), dt.date(2026, 3, 31), dt.date(2026, 2, 15)])
_PROPERTIES = settings(max_examples=40, deadline=None, database=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _insert(histories: list[dict[int, float]]) -> None:
    for history in histories:
        _account({(2025 + month // 12, month % 12 + 1): mrr for month, mrr in history.items()})


def _portfolio(calculator: str, as_of: dt.date, window_months: int) -> MetricValue:
    return _compute(calculator, as_of, window_months=window_months)[1]


@_PROPERTIES
@given(histories=_HISTORIES, as_of=_AS_OF, window_months=st.integers(min_value=1, max_value=12))
def test_cohort_rates_stay_in_range_and_nrr_identity_holds(histories, as_of, window_months):
    with _rolled_back():
        _insert(histories)
        results = {calculator: _compute(calculator, as_of, window_months=window_months)
                   for calculator in COHORT_CALCULATORS}
        for calculator, (accounts, portfolio) in results.items():
            for row in [*accounts.values(), portfolio]:
                if row.value is None:
                    assert not row.denominator, calculator
                    continue
                assert row.value >= 0, calculator
                if calculator != "revenue.nrr" and calculator != "revenue.expansion_rate":
                    assert row.value <= 100 + 1e-9, calculator
        grr, nrr = results["revenue.grr"][1], results["revenue.nrr"][1]
        expansion, contraction = results["revenue.expansion_rate"][1], results["revenue.contraction_rate"][1]
        churn = results["revenue.revenue_churn"][1]
        values = [grr.value, nrr.value, expansion.value, contraction.value, churn.value]
        if nrr.value is None:
            assert values == [None] * 5
        else:
            assert nrr.value == pytest.approx(100 + expansion.value - contraction.value - churn.value, abs=1e-6)
            assert grr.value <= nrr.value + 1e-9
            assert grr.value == pytest.approx(100 - contraction.value - churn.value, abs=1e-6)


@_PROPERTIES
@given(histories=_HISTORIES, as_of=_AS_OF, window_months=st.integers(min_value=1, max_value=6))
def test_quick_ratio_movements_add_up_to_the_change_in_mrr(histories, as_of, window_months):
    with _rolled_back():
        _insert(histories)
        portfolio = _portfolio("revenue.quick_ratio", as_of, window_months)
        # Gains - losses = Σ MRR now - Σ MRR in the month the window starts from (0 before a first snapshot).
        window_start = _first_of_month_before(as_of, window_months)
        change = sum(_mrr_on(history, as_of) - _mrr_on(history, window_start) for history in histories)
        assert (portfolio.numerator or 0) - (portfolio.denominator or 0) == pytest.approx(change, abs=1e-6)
        if portfolio.denominator:
            assert portfolio.value == pytest.approx(portfolio.numerator / portfolio.denominator)
        else:
            assert portfolio.value is None


def _mrr_on(history: dict[int, float], day: dt.date) -> float:
    """The generated history's MRR in force on `day` (month index 0 is 2025-01)."""
    months = [month for month in history if dt.date(2025 + month // 12, month % 12 + 1, 1) <= day]
    return history[max(months)] if months else 0


def _first_of_month_before(as_of: dt.date, months: int) -> dt.date:
    """The first day of the month `months` months before `as_of`'s month."""
    index = as_of.year * 12 + as_of.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


@_PROPERTIES
@given(histories=_HISTORIES)
def test_examples_do_not_leak_into_each_other(histories):
    with _rolled_back():
        assert not Account.objects.exists()
        assert not KPI.objects.filter(slug__startswith="test-").exists()
        _insert(histories)
        _compute("revenue.arpa", dt.date(2026, 6, 30))


def test_a_non_renewal_already_at_zero_in_the_renewal_month_still_counts_as_up_for_renewal():
    # Billing shows 0 from April, the renewal month; it paid 900 going in (March): up, and not renewed.
    lost = _account({(2026, 3): 900, (2026, 4): 0}, renewal=dt.date(2026, 4, 10))
    accounts, portfolio = _compute("revenue.renewal_rate", RENEWAL_AS_OF)
    _assert_row(accounts[lost.pk], value=0, numerator=0, denominator=1, sample_size=1)
    _assert_row(portfolio, value=0, numerator=0, denominator=1, sample_size=1)
