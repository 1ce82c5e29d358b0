"""The experiment statistics against answers published elsewhere, and, by simulation, the promise of the
always-valid bound: with no true effect, looking twenty times rejects at most about alpha of the time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from playbooks.experiments.statistics import (
    always_valid,
    difference_of_proportions,
    mann_whitney,
    sample_size_means,
    sample_size_proportions,
    wald_interval,
    welch_df,
    welch_t,
)


def test_difference_of_proportions_matches_newcombes_worked_example():
    """Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80. His table gives the Wald
    interval 0.0575 to 0.3425 and the hybrid score interval (method 10) 0.0524 to 0.3339."""
    estimate = difference_of_proportions(56, 70, 48, 80)
    assert estimate.effect == pytest.approx(0.2)
    assert (round(estimate.ci_low, 4), round(estimate.ci_high, 4)) == (0.0524, 0.3339)
    assert tuple(round(bound, 4) for bound in wald_interval(56, 70, 48, 80)) == (0.0575, 0.3425)
    # The pooled z-test: z = 0.2 / sqrt(104/150 * 46/150 * (1/70 + 1/80)) = 2.650, two-sided p = 0.0080.
    assert estimate.p_value == pytest.approx(0.0080, abs=5e-5)
    assert estimate.significant


def test_welch_t_matches_the_published_example():
    """The worked example of Welch's t-test (Wikipedia, "Welch's t-test", samples A1 and A2): t = -2.46,
    nu = 24.99, p = 0.021."""
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    estimate = welch_t(a1, a2)
    df = welch_df(a1, a2)
    se = (estimate.ci_high - estimate.ci_low) / 2 / stats.t.ppf(0.975, df)
    assert round(estimate.effect / se, 2) == -2.46
    assert round(df, 2) == 24.99
    assert round(estimate.p_value, 3) == 0.021
    assert (estimate.treated, estimate.holdout) == (pytest.approx(20.82), pytest.approx(22.9867, abs=1e-4))


def test_mann_whitney_effect_is_the_share_of_pairs_the_treated_side_wins():
    treated, holdout = [3, 5, 8, 9], [1, 2, 5, 7, 10]
    wins = sum((t > h) + 0.5 * (t == h) for t in treated for h in holdout)
    estimate = mann_whitney(treated, holdout)
    assert estimate.effect == pytest.approx(wins / 20)
    assert estimate.p_value == pytest.approx(stats.mannwhitneyu(treated, holdout).pvalue)
    assert estimate.ci_low <= estimate.effect <= estimate.ci_high


@pytest.mark.parametrize(("effect", "per_arm"), [(0.2, 394), (0.5, 64), (0.8, 26)])
def test_sample_size_for_means_matches_gpower(effect, per_arm):
    """G*Power 3 (t tests, difference between two independent means, two-tailed, alpha 0.05, power 0.80)
    gives total sample sizes of 788, 128 and 52 for d = 0.2, 0.5 and 0.8."""
    size = sample_size_means(sd=1.0, effect=effect)
    assert (size.treated, size.holdout) == (per_arm, per_arm)


def test_sample_size_for_proportions_is_fleiss_without_continuity_correction():
    """50% vs 70%, alpha 0.05 two-sided, power 0.80: [1.96 sqrt(2 x 0.6 x 0.4) + 0.8416 sqrt(0.25 + 0.21)]^2
    / 0.2^2 = 92.999, so 93 per group (the "classical" figure of Fleiss' Statistical Methods for Rates and
    Proportions, ch. 3)."""
    size = sample_size_proportions(baseline=0.5, effect=0.2)
    assert (size.treated, size.holdout) == (93, 93)
    assert sample_size_proportions(baseline=0.7, effect=-0.2).holdout == 93  # a decrease is sized the same


def test_a_small_holdout_needs_more_accounts_in_all():
    """With a 20% holdout the treated arm is four times the holdout, and the total exceeds the equal split's:
    for means the total grows by (1/h + 1/(1-h)) / 4 = 1.5625 (up to rounding and the t quantiles)."""
    equal, uneven = sample_size_means(sd=1.0, effect=0.5), sample_size_means(sd=1.0, effect=0.5, holdout_share=0.2)
    assert uneven.treated == 4 * uneven.holdout or uneven.treated == 4 * uneven.holdout + 1
    assert uneven.total / equal.total == pytest.approx(1.5625, rel=0.03)


def test_refuses_a_design_it_cannot_size():
    with pytest.raises(ValueError, match="between 0 and 1"):
        sample_size_proportions(baseline=0.05, effect=-0.1)
    with pytest.raises(ValueError, match="effect not zero"):
        sample_size_means(sd=1.0, effect=0)


LOOKS, EXPERIMENTS, ACCOUNTS = 20, 1000, 2000


def _looks(treated: np.ndarray, holdout: np.ndarray):
    """Cumulative means and their variances at LOOKS evenly spaced looks of each simulated experiment."""
    sizes = np.linspace(ACCOUNTS / LOOKS, ACCOUNTS, LOOKS).astype(int)
    n = sizes[None, :]
    mean1, mean2 = np.cumsum(treated, axis=1)[:, sizes - 1] / n, np.cumsum(holdout, axis=1)[:, sizes - 1] / n
    square1 = np.cumsum(treated ** 2, axis=1)[:, sizes - 1] / n
    square2 = np.cumsum(holdout ** 2, axis=1)[:, sizes - 1] / n
    variance = (square1 - mean1 ** 2) * n / (n - 1) / n + (square2 - mean2 ** 2) * n / (n - 1) / n
    return mean1 - mean2, variance


@pytest.mark.parametrize("outcome", ["churn", "kpi_change"])
def test_twenty_looks_at_no_effect_reject_at_most_about_alpha(outcome):
    """1,000 experiments with no true effect, each looked at 20 times: the always-valid bound rejects (at any
    of the looks) in at most about 5% of them, where a naive p-value at every look rejects in about a quarter."""
    rng = np.random.default_rng(20261203)
    shape = (EXPERIMENTS, ACCOUNTS)
    if outcome == "churn":
        treated, holdout, scale = (rng.random(shape) < 0.2).astype(float), (rng.random(shape) < 0.2).astype(float), 0.05
    else:
        treated, holdout, scale = rng.normal(0, 10, shape), rng.normal(0, 10, shape), 2.0
    effect, variance = _looks(treated, holdout)
    bound = always_valid(effect, variance, alpha=0.05, mixing_sd=scale)
    rejected = (bound.p_value <= 0.05).any(axis=1).mean()
    also_outside = ((bound.ci_low > 0) | (bound.ci_high < 0)).any(axis=1).mean()
    naive = (2 * stats.norm.sf(np.abs(effect) / np.sqrt(variance)) <= 0.05).any(axis=1).mean()
    assert rejected <= 0.055
    assert also_outside == rejected  # the interval and the p-value tell the same story
    assert naive >= 0.15  # what repeated looks at a fixed-horizon p-value would have done


def test_the_always_valid_bound_still_finds_a_real_effect():
    """A churn reduction from 20% to 15% with 2,000 accounts per arm: the bound leaves zero in most experiments
    by the last look (a fixed test would have about 99% power; the bound pays for being valid at every look)."""
    rng = np.random.default_rng(7)
    shape = (EXPERIMENTS, ACCOUNTS)
    treated, holdout = (rng.random(shape) < 0.15).astype(float), (rng.random(shape) < 0.2).astype(float)
    effect, variance = _looks(treated, holdout)
    bound = always_valid(effect, variance, alpha=0.05, mixing_sd=0.05)
    assert (bound.ci_high[:, -1] < 0).mean() >= 0.8
