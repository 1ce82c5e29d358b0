"""Learning with known answers (a separable tenant, a pure-noise tenant) and the properties every model keeps:
probabilities within 0-100, linear contributions that add up exactly, folds that never train on a label observed
after their test date."""

from __future__ import annotations

import pickle
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.prediction.explain import Explainer, drivers
from metrics.prediction.features import CATEGORIES, FEATURE_NAMES, Observations, Outcomes
from metrics.prediction.learning import learn
from metrics.prediction.training import (
    BOOSTED,
    FOLD_DATES,
    LOGISTIC,
    MAX_FOLDS,
    Calibrated,
    Design,
    InsufficientHistory,
    fit_calibrated,
    fold_blocks,
    folds_of,
    make_estimator,
)
from tests.metrics.prediction import world
from tests.metrics.prediction.conftest import UNTIL


def test_a_separable_tenant_is_ranked_perfectly_out_of_time(spec):
    world.build(world.separable(until=UNTIL), until=UNTIL)

    learned = learn(spec, UNTIL)

    pooled = learned.backtest.pooled
    assert pooled[learned.backtest.winner]["auc"] == 1.0
    assert all(fold["candidates"][learned.backtest.winner]["auc"] == 1.0 for fold in learned.backtest.folds)
    assert all(fold["baselines"]["base_rate"]["auc"] == 0.5 for fold in learned.backtest.folds)
    assert (pooled["base_rate"]["auc"], pooled["base_rate"]["top_decile_lift"]) == (0.5, 1.0)  # ranks no one
    assert pooled[learned.backtest.winner]["brier"] < 0.01 < pooled["base_rate"]["brier"]
    assert len(learned.backtest.folds) >= 2


def test_a_pure_noise_tenant_ranks_at_chance_and_predicts_about_the_base_rate(spec):
    world.build(world.noise(until=UNTIL), until=UNTIL)

    learned = learn(spec, UNTIL)

    winner = learned.backtest.pooled[learned.backtest.winner]
    assert 0.4 <= winner["auc"] <= 0.6
    # Calibrated on a later slice, the probabilities stay near the observed rate: the Brier score is no better
    # than the base rate's by more than noise, and most rows are predicted within 5 points of the rate.
    assert abs(winner["brier"] - winner["brier_base_rate"]) < 0.005
    rate = winner["event_rate"]
    near = sum(band["count"] for band in winner["calibration"] if abs(band["predicted"] - rate) < 0.05)
    assert near >= 0.85 * winner["rows"]
    mean_predicted = sum(band["predicted"] * band["count"] for band in winner["calibration"]) / winner["rows"]
    assert abs(mean_predicted - rate) < 0.03


def test_no_churn_at_all_is_insufficient_with_the_reason(spec):
    world.build([world.Customer(start=date(2024, 6, 1)) for _ in range(30)], until=UNTIL)

    with pytest.raises(InsufficientHistory, match="No account churned"):
        learn(spec, UNTIL)


def test_a_horizon_longer_than_the_history_is_insufficient_with_the_reason(spec):
    world.build(world.separable(until=UNTIL, accounts=30), until=UNTIL)

    with pytest.raises(InsufficientHistory, match="No outcome is known yet"):
        learn(spec.__class__(**{**spec.__dict__, "horizon_days": 720}), UNTIL)


# --- properties --------------------------------------------------------------------------------------------

def synthetic_rows(seed: int, rows: int, dates: int = 8, missing: float = 0.2) -> Observations:
    """Random observations: features with some missing values, categories, labels tied to two features."""
    rng = np.random.default_rng(seed)
    first = date(2025, 1, 1)
    observed_on = np.array([np.datetime64(first + timedelta(days=30 * int(k))) for k in rng.integers(0, dates, rows)])
    values = rng.normal(size=(rows, len(FEATURE_NAMES)))
    values[rng.random(values.shape) < missing] = np.nan
    signal = np.nan_to_num(values[:, 0]) - np.nan_to_num(values[:, 3]) + rng.normal(scale=1.5, size=rows)
    label = (signal > np.quantile(signal, 0.7)).astype("int64")
    known_on = observed_on + rng.integers(1, 200, rows).astype("timedelta64[D]")
    return Observations(
        account_ids=np.arange(rows, dtype="int64"), observed_on=observed_on, values=values,
        mrr=np.full(rows, 100.0), next_renewal=np.full(rows, np.datetime64("NaT"), dtype="datetime64[D]"),
        categories={name: rng.choice(["a", "b", "c"], rows).astype(object) for name in CATEGORIES},
        horizon_days=np.full(rows, 90), label=label, known_on=known_on)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(40, 400), min_events=st.integers(1, 20))
def test_a_fold_never_trains_on_a_label_observed_after_its_test_date(seed, rows, min_events):
    observations = synthetic_rows(seed, rows)

    for fold in folds_of(observations, min_events=min_events):
        test_on = np.datetime64(fold.test_on)
        assert (observations.known_on[fold.train] <= test_on).all()
        assert (observations.observed_on[fold.train] < test_on).all()
        assert (observations.observed_on[fold.test] >= test_on).all()
        assert not (fold.train & fold.test).any()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(40, 400), min_events=st.integers(1, 20))
def test_the_folds_from_counts_are_the_folds_of_the_rows(seed, rows, min_events):
    """The screening decides from counts (features.outcomes) what the back-test finds from rows: per fold, at least
    min_events of each outcome among the rows it trains on and both outcomes among those it tests."""
    observations = synthetic_rows(seed, rows)
    dates = sorted(set(observations.observed_on.tolist()), reverse=True)
    expected = []  # from the rows themselves, block by block
    for start in range(0, len(dates), FOLD_DATES):
        block = dates[start:start + FOLD_DATES]
        trained = observations.label[observations.known_on <= np.datetime64(block[-1])]
        tested = observations.label[np.isin(observations.observed_on, np.array(block, dtype="datetime64[D]"))]
        if min(int(trained.sum()), len(trained) - int(trained.sum())) >= min_events and set(tested.tolist()) == {0, 1}:
            expected.append(block[-1])

    blocks = fold_blocks(Outcomes.of(observations), min_events=min_events)

    assert [block[-1].astype(object) for block in blocks] == expected[:MAX_FOLDS]
    assert [fold.test_on for fold in folds_of(observations, min_events=min_events)] == expected[:MAX_FOLDS]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), algorithm=st.sampled_from([LOGISTIC, BOOSTED]))
def test_contributions_add_up_to_the_difference_from_the_baseline(seed, algorithm):
    observations = synthetic_rows(seed, 300)
    design = Design.learn(observations)
    matrix = design.matrix(observations)
    model = fit_calibrated(algorithm, matrix, observations.label, observations.observed_on)
    explainer = Explainer.learn(design)

    contributions = explainer.contributions(model, matrix)

    np.testing.assert_allclose(contributions.sum(axis=1), model.raw(matrix) - explainer.baseline_raw(model),
                               atol=1e-8)
    probability = model.probability(matrix)
    explained, baseline = drivers(model=model, design=design, explainer=explainer, matrix=matrix,
                                  probability=probability, sign=-1.0, top=len(explainer.names))
    for row, row_drivers in enumerate(explained[:20]):
        renewal_points = 100 * (1 - probability[row]) - baseline
        assert sum(driver["points"] for driver in row_drivers) == pytest.approx(renewal_points, abs=0.05 * len(
            row_drivers) + 1e-6)


def boosted_on(matrix: np.ndarray, label: np.ndarray) -> Calibrated:
    """The gradient-boosted candidate fitted on every row (under 10,000 rows: no early-stopping hold-out), not
    calibrated: its training rows are exactly `matrix`."""
    estimator = make_estimator(BOOSTED)
    estimator.fit(matrix, label)
    return Calibrated(BOOSTED, estimator, "none", None, len(label), 0, None)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), missing=st.sampled_from([0.0, 0.3]))
def test_the_trees_baseline_is_the_mean_log_odds_of_their_training_rows(seed, missing):
    """The boosted model's drivers start from the average account: its expected log-odds, which must be the mean of
    the model's own log-odds over the rows it was fitted on (computed here by the model, not by the paths)."""
    observations = synthetic_rows(seed, 600, missing=missing)
    design = Design.learn(observations)
    matrix = design.matrix(observations)
    model = boosted_on(matrix, observations.label)
    explainer = Explainer.learn(design)

    assert explainer.baseline_raw(model) == pytest.approx(float(model.raw(matrix).mean()), abs=1e-9)
    others = synthetic_rows(seed + 1, 200, missing=0.5)
    np.testing.assert_allclose(explainer.contributions(model, design.matrix(others)).sum(axis=1),
                               model.raw(design.matrix(others)) - explainer.baseline_raw(model), atol=1e-9)


def test_a_driver_the_trees_never_split_on_gets_no_credit():
    """Only the usage trend moves the outcome and every other input is the same for all rows: the trees can split
    on nothing else, so the whole difference from the average is the usage trend's."""
    rng = np.random.default_rng(7)
    observations = synthetic_rows(7, 800)
    trend = FEATURE_NAMES.index("usage_trend_30")
    values = np.ones_like(observations.values)
    values[:, trend] = rng.normal(size=len(values))
    observations.values = values
    observations.label = (values[:, trend] + rng.normal(scale=0.5, size=len(values)) < -0.5).astype("int64")
    observations.categories = {name: np.full(len(values), "same", dtype=object) for name in CATEGORIES}
    design = Design.learn(observations)
    matrix = design.matrix(observations)
    model = boosted_on(matrix, observations.label)
    explainer = Explainer.learn(design)

    contributions = explainer.contributions(model, matrix)

    column = explainer.names.index("usage_trend_30")
    assert np.abs(np.delete(contributions, column, axis=1)).max() == 0.0
    np.testing.assert_allclose(contributions[:, column], model.raw(matrix) - explainer.baseline_raw(model),
                               atol=1e-9)
    low, high = np.argmin(values[:, trend]), np.argmax(values[:, trend])
    assert contributions[low, column] > 0 > contributions[high, column]  # falling usage pushes churn up


def test_a_stored_model_does_not_carry_what_explaining_cached():
    observations = synthetic_rows(3, 400)
    design = Design.learn(observations)
    matrix = design.matrix(observations)
    model = boosted_on(matrix, observations.label)
    expected = Explainer.learn(design).contributions(model, matrix)

    loaded = pickle.loads(pickle.dumps(model))

    assert hasattr(model, "_explained_trees") and not hasattr(loaded, "_explained_trees")
    np.testing.assert_array_equal(Explainer.learn(design).contributions(loaded, matrix), expected)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), algorithm=st.sampled_from([LOGISTIC, BOOSTED]),
       scale=st.sampled_from([1.0, 1e3, 1e9]))
def test_probabilities_stay_within_0_and_1_whatever_the_input(seed, algorithm, scale):
    observations = synthetic_rows(seed, 200)
    design = Design.learn(observations)
    model = fit_calibrated(algorithm, design.matrix(observations), observations.label, observations.observed_on)
    extreme = synthetic_rows(seed + 1, 50, missing=0.5)
    extreme.values = extreme.values * scale

    probability = model.probability(design.matrix(extreme))

    assert ((probability > 0) & (probability < 1)).all()


def known_risk_rows(seed: int, per_date: int = 400, dates: int = 14) -> tuple[Observations, np.ndarray]:
    """Observations whose true churn probability is known: logit = -1.6 + 1.3 x silence - 0.8 x NPS answer
    (standardised), the other inputs noise; each outcome known 90 days after its date. Returns the rows and the
    true probabilities."""
    rng = np.random.default_rng(seed)
    rows = per_date * dates
    first = date(2024, 1, 1)
    observed_on = np.repeat(np.array([np.datetime64(first + timedelta(days=30 * k)) for k in range(dates)]), per_date)
    values = rng.normal(size=(rows, len(FEATURE_NAMES)))
    silence, answer = FEATURE_NAMES.index("days_since_last_use"), FEATURE_NAMES.index("nps_last")
    truth = 1 / (1 + np.exp(-(-1.6 + 1.3 * values[:, silence] - 0.8 * values[:, answer])))
    label = (rng.random(rows) < truth).astype("int64")
    return Observations(
        account_ids=np.arange(rows, dtype="int64"), observed_on=observed_on, values=values,
        mrr=np.full(rows, 100.0), next_renewal=np.full(rows, np.datetime64("NaT"), dtype="datetime64[D]"),
        categories={name: np.full(rows, "(none)", dtype=object) for name in CATEGORIES},
        horizon_days=np.full(rows, 90), label=label,
        known_on=observed_on + np.timedelta64(90, "D")), truth


def test_with_a_known_churn_process_the_back_test_ranks_near_the_truth_and_is_calibrated_within_bounds():
    from metrics.prediction.training import auc, backtest, usage_trend_risk

    rows, truth = known_risk_rows(seed=5)
    design = Design.learn(rows)

    result = backtest(rows, design, min_events=20, health_risk=np.full(len(rows), np.nan),
                      usage_risk=usage_trend_risk(rows, expansion=False))

    winner = result.pooled[result.winner]
    tested = np.zeros(len(rows), dtype=bool)
    for fold in result.folds:
        tested |= np.isin(rows.observed_on, [np.datetime64(day) for day in _fold_dates(rows, fold["test_on"])])
    oracle = auc(rows.label[tested], truth[tested])  # the best any model can rank these accounts
    assert winner["rows"] == tested.sum()
    assert oracle - 0.03 <= winner["auc"] <= oracle + 0.02
    assert 0.45 <= result.pooled["usage_trend"]["auc"] <= 0.55  # a ranker with no signal here
    assert winner["brier"] < 0.97 * winner["brier_base_rate"]
    deciles = winner["deciles"]
    assert len(deciles) == 10 and sum(group["count"] for group in deciles) == winner["rows"]
    gap = sum(group["count"] * abs(group["predicted"] - group["observed"]) for group in deciles) / winner["rows"]
    assert gap < 0.03  # calibrated: each tenth's predicted churn within a few points of what happened
    assert deciles[-1]["observed"] > 3 * deciles[0]["observed"]


def _fold_dates(rows: Observations, test_on: str) -> list[date]:
    """The observation dates a fold starting on `test_on` tests (FOLD_DATES consecutive dates from it)."""
    from metrics.prediction.training import FOLD_DATES

    dates = sorted({day.astype(object) for day in np.unique(rows.observed_on)})
    start = dates.index(date.fromisoformat(test_on))
    return dates[start:start + FOLD_DATES]
