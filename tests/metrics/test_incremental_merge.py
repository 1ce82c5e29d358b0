"""An incremental run corrects the stored segment and portfolio aggregates by what its touched accounts add now and
added before, instead of reading every other account's stored row again (the cost that grew with the accounts:
about 190 ms a KPI at 100,000). Merging must give what re-aggregating every stored row gives, in every case:
accounts that stay, accounts that move to other segments (touched or not), accounts that lose their value, dates
never aggregated, aggregates that are not plain ratios (health's band counts, anomaly shares)."""

import datetime as dt
import random

import pytest
from django.db import connection

from accounts.models import Account
from metrics.calculators.base import Calculator
from metrics.models import MetricValue, Scope
from metrics.segments import KEYED_SQL
from metrics.services import kpi_compute, kpi_create, kpis_compute
from tests.accounts.factories import AccountFactory, SurveyResponseFactory
from tests.metrics.surveys import nps_answer, nps_kpi

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture
def nps():
    return nps_kpi()



def _groups(kpi) -> dict[tuple[str, str], tuple]:
    return {(row.dimension, row.segment): (row.value, row.numerator, row.denominator, row.sample_size, row.details)
            for row in MetricValue.objects.filter(kpi=kpi, as_of=AS_OF).exclude(scope=Scope.ACCOUNT)}


def _reaggregated(kpi, monkeypatch) -> dict[tuple[str, str], tuple]:
    """The groups as re-aggregating every stored account row gives them (the engine's path before merging)."""
    with monkeypatch.context() as patched:
        patched.setattr(Calculator, "merges_aggregates", property(lambda self: False))
        kpi_compute(kpi=kpi, as_of=AS_OF, account_ids=[])
    return _groups(kpi)


def _assert_same_groups(merged: dict, reaggregated: dict) -> None:
    assert merged.keys() == reaggregated.keys()
    for key, (value, numerator, denominator, sample_size, details) in merged.items():
        expected = reaggregated[key]
        assert (value is None) == (expected[0] is None), key
        assert (value, numerator, denominator) == pytest.approx(expected[:3], abs=1e-9), key
        assert (sample_size, details) == expected[3:], key


def _touch(kpi, accounts) -> None:
    kpi_compute(kpi=kpi, as_of=AS_OF, account_ids=[account.pk for account in accounts])


def test_an_incremental_run_adds_the_touched_accounts_difference_to_the_stored_aggregates(nps):
    touched, *others = AccountFactory.create_batch(3, plan="Growth")
    for account in (touched, *others):
        nps_answer(account, 10)
    kpi_compute(kpi=nps, as_of=AS_OF)
    # A stored aggregate that is not what its accounts sum to: merging keeps the difference, re-reading would not.
    MetricValue.objects.filter(kpi=nps, scope=Scope.PORTFOLIO).update(numerator=30)
    nps_answer(touched, 0)  # touched: 1 promoter - 0 detractors of 1 -> 1 - 1 of 2

    _touch(nps, [touched])

    portfolio = MetricValue.objects.get(kpi=nps, scope=Scope.PORTFOLIO)
    assert (portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (30 + 0 - 1, 3 + 2 - 1, 4)
    assert portfolio.value == pytest.approx(100 * 29 / 4)
    kpi_compute(kpi=nps, as_of=AS_OF)  # a full computation reads every account again
    assert MetricValue.objects.get(kpi=nps, scope=Scope.PORTFOLIO).value == pytest.approx(100 * 2 / 4)


def test_merged_aggregates_equal_a_full_reaggregation_over_many_rounds(nps, monkeypatch):
    generator = random.Random(19)
    accounts = [AccountFactory(plan=generator.choice(["Starter", "Growth", "Enterprise"]),
                               region=generator.choice(["NA", "EMEA"]), industry=generator.choice(["SaaS", "Retail"]))
                for _ in range(30)]
    for account in accounts[:25]:
        nps_answer(account, generator.randint(0, 10))
    kpi_compute(kpi=nps, as_of=AS_OF)

    for day in range(11, 17):
        touched = generator.sample(accounts, 5)
        for account in touched:
            nps_answer(account, generator.randint(0, 10), day=day)
        _touch(nps, touched)
        merged = _groups(nps)
        _assert_same_groups(merged, _reaggregated(nps, monkeypatch))


def test_a_touched_account_that_moved_to_another_segment_leaves_the_old_one(nps, monkeypatch):
    mover, stayer = AccountFactory(plan="Legacy", region="NA"), AccountFactory(plan="Growth", region="NA")
    nps_answer(mover, 10)
    nps_answer(stayer, 0)
    kpi_compute(kpi=nps, as_of=AS_OF)
    Account.objects.filter(pk=mover.pk).update(plan="Growth")
    nps_answer(mover, 0, day=12)

    _touch(nps, [mover])

    merged = _groups(nps)
    assert ("plan", "Legacy") not in merged
    assert merged[("plan", "Growth")][:4] == (pytest.approx(100 * -1 / 3), -1, 3, 3)  # mover 1 - 1, stayer 0 - 1
    _assert_same_groups(merged, _reaggregated(nps, monkeypatch))
    keys = _current_keys()
    assert dict(MetricValue.objects.filter(kpi=nps, scope=Scope.ACCOUNT).values_list("account_id",
                                                                                      "segment_key")) == keys


def test_an_untouched_account_that_moved_and_came_back_is_counted_where_it_is(nps, monkeypatch):
    """An untouched account that moved is re-placed when a run re-aggregates (here because a touched account moved
    too), and its row's segments are refreshed with it: merging later must subtract it from where it was counted,
    not from where it was first stored."""
    wanderer, anchor, mover = (AccountFactory(plan="Growth"), AccountFactory(plan="Growth"),
                               AccountFactory(plan="Starter"))
    for account in (wanderer, anchor, mover):
        nps_answer(account, 10)
    kpi_compute(kpi=nps, as_of=AS_OF)
    Account.objects.filter(pk=wanderer.pk).update(plan="Enterprise")
    Account.objects.filter(pk=mover.pk).update(plan="Legacy")
    _touch(nps, [mover])  # re-aggregates: the wanderer is now counted in Enterprise
    assert _groups(nps)[("plan", "Growth")][:4] == (100, 1, 1, 1)
    Account.objects.filter(pk=wanderer.pk).update(plan="Growth")  # back where it was first stored
    nps_answer(wanderer, 0, day=12)

    _touch(nps, [wanderer])

    merged = _groups(nps)
    assert ("plan", "Enterprise") not in merged
    assert merged[("plan", "Growth")][:4] == (pytest.approx(100 / 3), 1, 3, 3)  # wanderer 1 - 1 of 2, anchor 1
    _assert_same_groups(merged, _reaggregated(nps, monkeypatch))


def test_a_touched_account_that_lost_its_value_empties_its_segment(nps, monkeypatch):
    leaving, staying = AccountFactory(plan="Legacy"), AccountFactory(plan="Growth")
    nps_answer(leaving, 10)
    nps_answer(staying, 0)
    kpi_compute(kpi=nps, as_of=AS_OF)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_surveyresponse WHERE account_id = %s", [leaving.pk])

    _touch(nps, [leaving])

    merged = _groups(nps)
    assert ("plan", "Legacy") not in merged
    assert merged[("", "")][:4] == (-100, -1, 1, 1)
    assert not MetricValue.objects.filter(kpi=nps, account=leaving).exists()
    _assert_same_groups(merged, _reaggregated(nps, monkeypatch))


def test_rows_stored_without_their_segments_are_re_aggregated_and_given_them(nps, monkeypatch):
    """Rows of an older engine carry no segment key: the first incremental run re-aggregates, then merges."""
    first, second = AccountFactory(plan="Growth"), AccountFactory(plan="Starter")
    nps_answer(first, 10)
    nps_answer(second, 0)
    kpi_compute(kpi=nps, as_of=AS_OF)
    MetricValue.objects.filter(kpi=nps).update(segment_key=None)
    MetricValue.objects.filter(kpi=nps, scope=Scope.PORTFOLIO).update(numerator=50)  # re-aggregating corrects it
    nps_answer(first, 0, day=12)

    _touch(nps, [first])

    assert MetricValue.objects.get(kpi=nps, scope=Scope.PORTFOLIO).numerator == -1  # 1 - 1, and 0 - 1
    touched_key = MetricValue.objects.get(kpi=nps, account=first).segment_key
    assert touched_key == _current_keys()[first.pk]
    _assert_same_groups(_groups(nps), _reaggregated(nps, monkeypatch))


def test_a_date_never_aggregated_is_aggregated_in_full(nps):
    account = AccountFactory(plan="Growth")
    nps_answer(account, 10)

    _touch(nps, [account])

    assert _groups(nps)[("plan", "Growth")][:4] == (100, 1, 1, 1)
    assert _groups(nps)[("", "")][:4] == (100, 1, 1, 1)


def test_every_account_row_stores_the_segments_it_was_aggregated_under(nps):
    for account in AccountFactory.create_batch(4):
        nps_answer(account, 9)
    kpis_compute(as_of=AS_OF, kpis=[nps])  # in a run: the segments are materialised once

    stored = dict(MetricValue.objects.filter(kpi=nps, scope=Scope.ACCOUNT).values_list("account_id", "segment_key"))
    assert stored == _current_keys() and None not in stored.values()
    assert len(set(stored.values())) == 4  # four plan x region pairs from the factory's cycles


def _current_keys() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT account_id, segment_key FROM ({KEYED_SQL}) s", {"as_of": AS_OF})
        return dict(cursor.fetchall())


def _health_with_csat():
    csat = kpi_create(slug="csat", name="CSAT", calculator="surveys.csat", params={"window_days": 30},
                      definition="Satisfied answers.", tier="advocacy", indicator="leading", unit="percent",
                      poor_value=60, good_value=90, scopes=["account", "segment", "portfolio"])
    health = kpi_create(slug="health-score", name="Health", calculator="health.score",
                        params={"components": [{"kpi": "csat", "weight": 1}]}, definition="Health.",
                        tier="adoption", indicator="leading", unit="score", scopes=["account", "segment", "portfolio"])
    return csat, health


def _csat(account, score: int, day: int = 10) -> None:
    SurveyResponseFactory(account=account, kind="csat", score=score,
                          responded_at=dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC))


def test_health_band_counts_are_merged_like_the_scores(monkeypatch):
    csat, health = _health_with_csat()
    accounts = AccountFactory.create_batch(6)
    for account, score in zip(accounts, [5, 5, 4, 3, 2, 1], strict=True):
        _csat(account, score)
    kpis_compute(as_of=AS_OF, kpis=[csat, health])
    before = _groups(health)[("", "")][4]["bands"]

    for account in accounts[:2]:
        _csat(account, 1, day=12)  # two happy accounts turn unhappy
    kpis_compute(as_of=AS_OF, kpis=[csat, health], account_ids=[account.pk for account in accounts[:2]])

    merged = _groups(health)
    after = merged[("", "")][4]["bands"]
    assert sum(after.values()) == sum(before.values()) == 6
    assert after["red"] > before["red"]
    _assert_same_groups(merged, _reaggregated(health, monkeypatch))


def test_calculators_with_an_aggregate_of_their_own_merge_only_when_they_say_how():
    from metrics.calculators import calculator_for

    assert calculator_for("surveys.nps").merges_aggregates  # the default ratio
    assert calculator_for("health.score").merges_aggregates
    for calculator in ("usage.anomaly", "usage.time_to_first_value", "revenue.ltv", "prediction.renewal",
                       "prediction.expansion"):
        assert calculator_for(calculator).merges_aggregates, calculator
    # a median over every ticket of the group: read every account again
    assert not calculator_for("support.first_response_hours").merges_aggregates
