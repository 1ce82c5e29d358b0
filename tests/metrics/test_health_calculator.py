"""The health score: component mapping, renormalisation, clamping, bands, segment weights and parameters."""

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from metrics.calculators import CalculatorError, calculator_for
from metrics.calculators.health import DEFAULT_COMPONENTS
from metrics.models import KPI, Direction, Indicator, MetricValue, Scope, Tier, Unit
from metrics.services import kpi_compute, kpi_create, kpis_compute
from tests.accounts.factories import AccountFactory, SupportTicketFactory

AS_OF = dt.date(2026, 10, 30)


def _kpi(slug, calculator="surveys.csat", params=None, **fields):
    return kpi_create(slug=slug, name=slug, calculator=calculator, params=params, definition="Test KPI.",
                      tier=Tier.ADVOCACY, indicator=Indicator.LEADING, unit=Unit.SCORE,
                      scopes=[Scope.ACCOUNT, Scope.PORTFOLIO], **fields)


def _component(slug, poor, good, calculator="surveys.csat"):
    direction = Direction.LOWER if poor is not None and good is not None and poor > good else Direction.HIGHER
    return _kpi(slug, calculator, poor_value=poor, good_value=good, direction=direction)


def _store(kpi, account, value, as_of=AS_OF):
    MetricValue.objects.create(kpi=kpi, kpi_version=kpi.version, scope=Scope.ACCOUNT, account=account, as_of=as_of,
                               value=value)


def _health(components, **params):
    return _kpi("health-score", "health.score", {"components": components, **params})


def _accounts(kpi):
    return {row.account_id: row for row in MetricValue.objects.filter(kpi=kpi, as_of=AS_OF, scope=Scope.ACCOUNT)}


def _portfolio(kpi):
    return MetricValue.objects.get(kpi=kpi, as_of=AS_OF, scope=Scope.PORTFOLIO)


@pytest.fixture
def components():
    """nps (-20 poor, 50 good), csat (60, 90) and ticket-load, lower is better (10 poor, 2 good)."""
    return {"nps": _component("nps", -20, 50, "surveys.nps"), "csat": _component("csat", 60, 90),
            "ticket-load": _component("ticket-load", 10, 2, "support.ticket_load")}


WEIGHTS = [{"kpi": "nps", "weight": 2}, {"kpi": "csat", "weight": 1}, {"kpi": "ticket-load", "weight": 1}]


def test_health_score_is_the_weighted_mean_of_component_points(components):
    account = AccountFactory()
    _store(components["nps"], account, 36)  # (36 + 20) / 70 = 80 points
    _store(components["csat"], account, 75)  # (75 - 60) / 30 = 50 points
    _store(components["ticket-load"], account, 4)  # lower is better: (4 - 10) / (2 - 10) = 75 points
    health = _health(WEIGHTS)

    kpi_compute(kpi=health, as_of=AS_OF)

    row = _accounts(health)[account.id]
    # (2 x 80 + 1 x 50 + 1 x 75) / (2 + 1 + 1) = 285 / 4 = 71.25
    assert row.value == 71.25
    assert (row.numerator, row.denominator, row.sample_size) == (285, 4, 3)
    assert row.details == {
        "band": "yellow",
        "bands": {"red": 50, "yellow": 75},
        "segment_weights": None,
        "segment_bands": None,
        "components": [
            {"kpi": "nps", "value": 36, "points": pytest.approx(80), "weight": 2, "contribution": pytest.approx(40),
             "dropped": None},
            {"kpi": "csat", "value": 75, "points": pytest.approx(50), "weight": 1,
             "contribution": pytest.approx(12.5), "dropped": None},
            {"kpi": "ticket-load", "value": 4, "points": pytest.approx(75), "weight": 1,
             "contribution": pytest.approx(18.75), "dropped": None},
        ],
    }
    assert sum(part["contribution"] for part in row.details["components"]) == pytest.approx(row.value)


def test_missing_component_drops_out_and_the_other_weights_are_renormalised(components):
    account = AccountFactory()
    _store(components["nps"], account, 50)  # 100 points
    _store(components["ticket-load"], account, 12)  # (12 - 10) / (2 - 10) = -25 points, clamped to 0
    health = _health(WEIGHTS)

    kpi_compute(kpi=health, as_of=AS_OF)

    row = _accounts(health)[account.id]
    # csat has no value: (2 x 100 + 1 x 0) / (2 + 1) = 66.666... -> 66.67
    assert row.value == 66.67
    assert (row.numerator, row.denominator, row.sample_size) == (200, 3, 2)
    csat = row.details["components"][1]
    assert csat == {"kpi": "csat", "value": None, "points": None, "weight": 1, "contribution": None,
                    "dropped": "no value"}
    assert row.details["components"][2]["points"] == 0


def test_points_are_clamped_to_0_and_100_in_both_directions(components):
    high, low = AccountFactory(), AccountFactory()
    _store(components["nps"], high, 80)  # 142.9 points -> 100
    _store(components["ticket-load"], high, 0)  # (0 - 10) / -8 = 125 points -> 100
    _store(components["nps"], low, -60)  # -57.1 points -> 0
    _store(components["ticket-load"], low, 30)  # (30 - 10) / -8 = -250 points -> 0
    health = _health(WEIGHTS)

    kpi_compute(kpi=health, as_of=AS_OF)

    rows = _accounts(health)
    assert rows[high.id].value == 100 and rows[high.id].details["band"] == "green"
    assert rows[low.id].value == 0 and rows[low.id].details["band"] == "red"


def test_portfolio_is_the_mean_of_account_scores_with_the_count_per_band(components):
    yellow, green, red, unscored = AccountFactory(), AccountFactory(), AccountFactory(), AccountFactory()
    _store(components["csat"], yellow, 75)  # 50 points
    _store(components["csat"], green, 90)  # 100 points
    _store(components["csat"], red, 66)  # 20 points
    _store(components["csat"], unscored, None)  # a stored null: a row with a null score
    AccountFactory()  # nothing stored: no row at all
    health = _health(WEIGHTS)

    kpi_compute(kpi=health, as_of=AS_OF)

    rows = _accounts(health)
    assert set(rows) == {yellow.id, green.id, red.id, unscored.id}
    assert rows[unscored.id].value is None
    assert rows[unscored.id].details["band"] is None
    assert [part["dropped"] for part in rows[unscored.id].details["components"]] == ["no value"] * 3
    # (50 + 100 + 20) / 3 = 56.666...
    portfolio = _portfolio(health)
    assert portfolio.value == pytest.approx(170 / 3)
    assert (portfolio.numerator, portfolio.denominator, portfolio.sample_size) == (170, 3, 3)
    assert portfolio.details == {"bands": {"red": 1, "yellow": 1, "green": 1}}


def test_no_component_value_gives_a_null_score_and_a_null_portfolio(components):
    account = AccountFactory()
    _store(components["nps"], account, None)
    health = _health(WEIGHTS)

    kpi_compute(kpi=health, as_of=AS_OF)

    row = _accounts(health)[account.id]
    assert (row.value, row.numerator, row.denominator, row.sample_size) == (None, None, None, 0)
    portfolio = _portfolio(health)
    assert (portfolio.value, portfolio.denominator) == (None, 0)
    assert portfolio.details == {"bands": {"red": 0, "yellow": 0, "green": 0}}


def test_components_without_thresholds_unknown_or_composite_drop_out():
    scored = _component("csat", 0, 100)
    no_thresholds = _component("ces", None, None, "surveys.ces")
    flat = _component("nps", 5, 5, "surveys.nps")
    other_health = _kpi("other-health", "health.score", poor_value=0, good_value=100)
    account = AccountFactory()
    for kpi, value in ((scored, 40), (no_thresholds, 6), (flat, 5), (other_health, 90)):
        _store(kpi, account, value)
    health = _health([{"kpi": slug, "weight": 1} for slug in ("csat", "ces", "nps", "other-health", "gone")])

    kpi_compute(kpi=health, as_of=AS_OF)

    row = _accounts(health)[account.id]
    assert row.value == 40  # only csat remains: 40 x 1 / 1
    assert [part["dropped"] for part in row.details["components"]] == [
        None, "KPI has no poor and good values", "KPI poor and good values are equal", "no such component KPI",
        "no such component KPI"]


def test_only_values_of_the_same_date_count(components):
    account = AccountFactory()
    _store(components["csat"], account, 90, as_of=AS_OF - dt.timedelta(days=1))
    _store(components["nps"], account, 50)
    health = _health(WEIGHTS)

    kpi_compute(kpi=health, as_of=AS_OF)

    assert _accounts(health)[account.id].details["components"][1]["dropped"] == "no value"


@pytest.mark.parametrize(("value", "band"), [
    (0, "red"), (49.99, "red"), (50, "yellow"), (74.99, "yellow"), (75, "green"), (100, "green")])
def test_bands_have_inclusive_lower_bounds(value, band):
    identity = _component("csat", 0, 100)  # points = value
    account = AccountFactory()
    _store(identity, account, value)
    health = _health([{"kpi": "csat", "weight": 3}])

    kpi_compute(kpi=health, as_of=AS_OF)

    row = _accounts(health)[account.id]
    assert (row.value, row.details["band"]) == (value, band)


def test_bands_are_configurable():
    identity = _component("csat", 0, 100)
    accounts = [AccountFactory() for _ in range(3)]
    for account, value in zip(accounts, (39.99, 40, 60), strict=True):
        _store(identity, account, value)
    health = _health([{"kpi": "csat", "weight": 1}], bands={"red": 40, "yellow": 60})

    kpi_compute(kpi=health, as_of=AS_OF)

    rows = _accounts(health)
    assert [rows[account.id].details["band"] for account in accounts] == ["red", "yellow", "green"]


def test_score_is_rounded_to_2_decimals_before_banding():
    identity = _component("csat", 0, 100)
    account = AccountFactory()
    _store(identity, account, 49.996)  # shown as 50.00: yellow, not red
    health = _health([{"kpi": "csat", "weight": 1}])

    kpi_compute(kpi=health, as_of=AS_OF)

    row = _accounts(health)[account.id]
    assert (row.value, row.details["band"]) == (50, "yellow")


def test_segment_weights_replace_the_components_for_the_segments_accounts(components):
    enterprise_emea = AccountFactory(plan="Enterprise", region="EMEA")
    starter_emea = AccountFactory(plan="Starter", region="EMEA")
    starter_na = AccountFactory(plan="Starter", region="NA")
    for account in (enterprise_emea, starter_emea, starter_na):
        _store(components["nps"], account, 50)  # 100 points
        _store(components["csat"], account, 60)  # 0 points
    health = _health(WEIGHTS[:2], segment_weights={
        "region:EMEA": [{"kpi": "nps", "weight": 1}, {"kpi": "csat", "weight": 1}],
        "plan:Enterprise": [{"kpi": "csat", "weight": 1}],
    })

    kpi_compute(kpi=health, as_of=AS_OF)

    rows = _accounts(health)
    # plan goes before region: csat only -> 0
    assert rows[enterprise_emea.id].value == 0
    assert rows[enterprise_emea.id].details["segment_weights"] == "plan:Enterprise"
    # region:EMEA: (100 + 0) / 2 = 50
    assert rows[starter_emea.id].value == 50
    assert rows[starter_emea.id].details["segment_weights"] == "region:EMEA"
    # default: (2 x 100 + 1 x 0) / 3 = 66.67
    assert rows[starter_na.id].value == 66.67
    assert rows[starter_na.id].details["segment_weights"] is None


def test_segment_bands_decide_the_band_of_the_segments_accounts_and_their_counts(components):
    # Every account scores 70 (csat 81: (81 - 60) / 30 = 70 points): yellow under the tenant's bands (50, 75).
    enterprise = AccountFactory(plan="Enterprise", region="EMEA")
    emea = AccountFactory(plan="Starter", region="EMEA")
    starter = AccountFactory(plan="Starter", region="NA")
    for account in (enterprise, emea, starter):
        _store(components["csat"], account, 81)
    health = _health([{"kpi": "csat", "weight": 1}], segment_bands={
        "region:EMEA": {"yellow": 65},  # green from 65, red still below the tenant's 50: 70 is green
        "plan:Enterprise": {"red": 72, "yellow": 90},  # plan goes before region: 70 is red
    })

    kpi_compute(kpi=health, as_of=AS_OF)

    rows = _accounts(health)
    assert {account: (rows[account.id].value, rows[account.id].details["band"],
                      rows[account.id].details["segment_bands"], rows[account.id].details["bands"])
            for account in (enterprise, emea, starter)} == {
        enterprise: (70, "red", "plan:Enterprise", {"red": 72, "yellow": 90}),
        emea: (70, "green", "region:EMEA", {"red": 50, "yellow": 65}),
        starter: (70, "yellow", None, {"red": 50, "yellow": 75}),
    }
    assert _portfolio(health).details == {"bands": {"red": 1, "yellow": 1, "green": 1}}


def test_a_segments_bands_start_from_the_kpis_own():
    params = calculator_for("health.score").clean_params(
        {"bands": {"red": 40, "yellow": 70}, "segment_bands": {"plan:Enterprise ": {"yellow": 85}}})

    assert params["segment_bands"] == {"plan:Enterprise": {"red": 40, "yellow": 85}}


def test_health_is_computed_after_its_components_in_a_run():
    ticket_load = _kpi("ticket-load", "support.ticket_load", {"window_days": 30}, poor_value=10, good_value=2,
                       direction=Direction.LOWER)
    health = _health([{"kpi": "ticket-load", "weight": 1}])
    account = AccountFactory()
    for day in range(1, 5):
        SupportTicketFactory(account=account, opened_at=dt.datetime(2026, 10, day, 9, tzinfo=dt.UTC),
                             first_response_at=None, resolved_at=None)

    run = kpis_compute(as_of=AS_OF, kpis=[health, ticket_load])

    assert run.errors == []
    # 4 tickets: (4 - 10) / (2 - 10) = 75 points
    assert _accounts(health)[account.id].value == 75


def test_incremental_run_keeps_the_band_counts_of_the_other_accounts():
    identity = _component("csat", 0, 100)
    red, green = AccountFactory(), AccountFactory()
    _store(identity, red, 10)
    _store(identity, green, 80)
    health = _health([{"kpi": "csat", "weight": 1}])
    kpi_compute(kpi=health, as_of=AS_OF)

    kpi_compute(kpi=health, as_of=AS_OF, account_ids=[red.id])

    portfolio = _portfolio(health)
    assert portfolio.value == 45
    assert portfolio.details == {"bands": {"red": 1, "yellow": 0, "green": 1}}


# --- parameters -------------------------------------------------------------------------------------------

def test_default_components_are_the_catalogue_ones():
    params = calculator_for("health.score").clean_params({})

    assert params["components"] == DEFAULT_COMPONENTS
    assert [part["kpi"] for part in params["components"]] == [
        "usage-trend", "seat-utilization", "adoption-breadth", "nps", "ticket-load"]
    assert params["bands"] == {"red": 50, "yellow": 75}
    assert params["segment_weights"] == {}
    assert params["segment_bands"] == {}


@pytest.mark.parametrize(("params", "message"), [
    ({"components": []}, "non-empty list"),
    ({"components": "nps"}, "non-empty list"),
    ({"components": [{"kpi": "nps", "weight": 0}]}, "weight.* greater than 0"),
    ({"components": [{"kpi": "nps", "weight": -1}]}, "weight.* greater than 0"),
    ({"components": [{"kpi": "nps", "weight": True}]}, "weight.* greater than 0"),
    ({"components": [{"kpi": "nps", "weight": "2"}]}, "weight.* greater than 0"),
    ({"components": [{"kpi": "nps"}]}, "weight.* greater than 0"),
    ({"components": [{"kpi": "nps", "weight": 1, "cap": 5}]}, "unknown key.* cap"),
    ({"components": [{"weight": 1}]}, "slug of a KPI"),
    ({"components": [{"kpi": "n p s", "weight": 1}]}, "slug of a KPI"),
    ({"components": ["nps"]}, "must be an object"),
    ({"components": [{"kpi": "nps", "weight": 1}, {"kpi": "nps", "weight": 2}]}, "nps more than once"),
    ({"bands": {"red": 75, "yellow": 50}}, "red .* must be below yellow"),
    ({"bands": {"red": 50, "yellow": 50}}, "red .* must be below yellow"),
    ({"bands": {"red": 80}}, "red .* must be below yellow"),
    ({"bands": {"green": 90}}, "unknown key.* green"),
    ({"bands": {"yellow": 120}}, "from 0 to 100"),
    ({"bands": [50, 75]}, "must be an object"),
    ({"segment_weights": {"owner:ann": [{"kpi": "nps", "weight": 1}]}}, "dimension:segment"),
    ({"segment_weights": {"plan:": [{"kpi": "nps", "weight": 1}]}}, "dimension:segment"),
    ({"segment_weights": {"plan:Enterprise": [{"kpi": "nps", "weight": 0}]}}, r"plan:Enterprise.*greater than 0"),
    ({"segment_bands": {"owner:ann": {"red": 40}}}, "dimension:segment"),
    ({"segment_bands": {"plan:Enterprise": {"red": 80}}}, r"segment_bands\[plan:Enterprise\].*red .* below yellow"),
    ({"segment_bands": {"plan:Enterprise": {"green": 80}}}, "unknown key.* green"),
    ({"segment_bands": {"plan:Enterprise": {}}}, "must be an object like"),
    ({"segment_bands": {"plan:Enterprise": 60}}, "must be an object like"),
    ({"segment_bands": [60]}, "must be an object like"),
    ({"weights": {}}, "Unknown parameter"),
])
def test_bad_parameters_are_refused_with_a_clear_message(params, message):
    with pytest.raises(CalculatorError, match=message):
        calculator_for("health.score").clean_params(params)


def test_kpi_create_refuses_bad_health_parameters():
    with pytest.raises(CalculatorError, match="greater than 0"):
        _health([{"kpi": "nps", "weight": 0}])

    assert not KPI.objects.filter(slug="health-score").exists()


# --- property ---------------------------------------------------------------------------------------------

_component_draw = st.tuples(
    st.floats(-1e4, 1e4, allow_nan=False),  # value
    st.floats(-1e3, 1e3, allow_nan=False),  # poor
    st.floats(-1e3, 1e3, allow_nan=False),  # good
    st.floats(0.01, 100, allow_nan=False),  # weight
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_component_draw, min_size=1, max_size=5))
@example([(5e-324, 0.0, 1e-310, 1.0)])  # found by hypothesis: float8 underflow in the points arithmetic
def test_health_score_stays_within_0_and_100(draws):
    with transaction.atomic():
        account = AccountFactory()
        weights = []
        for number, (value, poor, good, weight) in enumerate(draws):
            _store(_kpi(f"component-{number}", poor_value=poor, good_value=good), account, value)
            weights.append({"kpi": f"component-{number}", "weight": weight})
        calculator = calculator_for("health.score")

        rows = calculator.account_values(as_of=AS_OF, params=calculator.clean_params({"components": weights}),
                                         account_ids=[account.id])

        # The score is computed in numeric, which keeps a float's 15 significant digits.
        def digits(number: float) -> float:
            return float(f"{number:.15g}")

        scored = [(digits(value), digits(poor), digits(good), weight) for value, poor, good, weight in draws
                  if digits(poor) != digits(good)]
        expected = None
        if scored:
            points = [(weight, min(100.0, max(0.0, 100 * (value - poor) / (good - poor))))
                      for value, poor, good, weight in scored]
            expected = sum(w * s for w, s in points) / sum(w for w, _ in points)
        assert len(rows) == 1
        if expected is None:
            assert rows[0].value is None
        else:
            assert 0 <= rows[0].value <= 100
            assert rows[0].value == pytest.approx(expected, abs=0.005 + 1e-9)
        transaction.set_rollback(True)
