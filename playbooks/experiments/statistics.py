"""The statistics of an experiment, with no Django: tests fit for the metric, the sample size a design needs,
and bounds valid however often results are looked at.

Conventions: arm 1 is treated, arm 2 is the holdout; an effect is treated minus holdout; `alpha` is two-sided.
Everything takes plain numbers or numpy arrays, so the same functions serve the product and the simulations
that check them (tests/playbooks/test_statistics.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _stats():
    """scipy.stats, loaded when a test is computed: a web process that never compares arms need not carry SciPy."""
    from scipy import stats

    return stats


@dataclass(frozen=True)
class Estimate:
    """An effect (treated minus holdout) with its confidence interval, p-value and the test that made them."""

    test: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_treated: int
    n_holdout: int
    treated: float | None = None
    holdout: float | None = None

    @property
    def significant(self) -> bool:
        """The interval leaves out no effect (zero, or one half for a probability of superiority)."""
        null = 0.5 if self.test == "mann_whitney" else 0.0
        return self.ci_low is not None and (self.ci_low > null or self.ci_high < null)


def _z(alpha: float) -> float:
    return float(_stats().norm.ppf(1 - alpha / 2))


def _empty(test: str, n1: int, n2: int) -> Estimate:
    return Estimate(test=test, effect=None, ci_low=None, ci_high=None, p_value=None, n_treated=n1, n_holdout=n2)


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    centre = (successes + z * z / 2) / (n + z * z)
    half = z * math.sqrt(successes * (n - successes) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def difference_of_proportions(x1: int, n1: int, x2: int, n2: int, *, alpha: float = 0.05) -> Estimate:
    """p1 - p2 with Newcombe's hybrid score interval (his method 10, from two Wilson intervals: it keeps its
    coverage near 0 and 1 where Wald's does not) and the pooled two-proportion z-test's p-value."""
    if n1 == 0 or n2 == 0:
        return _empty("proportions", n1, n2)
    p1, p2, z = x1 / n1, x2 / n2, _z(alpha)
    (l1, u1), (l2, u2) = _wilson(x1, n1, z), _wilson(x2, n2, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se == 0 else float(2 * _stats().norm.sf(abs(difference) / se))
    return Estimate("proportions", difference, low, high, p_value, n1, n2, p1, p2)


def wald_interval(x1: int, n1: int, x2: int, n2: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """The textbook Wald interval for p1 - p2, kept for comparison with published tables."""
    p1, p2 = x1 / n1, x2 / n2
    half = _z(alpha) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2 - half, p1 - p2 + half


def welch_t(treated: Sequence[float], holdout: Sequence[float], *, alpha: float = 0.05) -> Estimate:
    """Difference of means by Welch's t-test, with the Satterthwaite degrees of freedom; no equal variances
    assumed, since an intervention often changes the spread as well as the mean."""
    a, b = np.asarray(treated, dtype=float), np.asarray(holdout, dtype=float)
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return _empty("welch_t", n1, n2)
    v1, v2 = a.var(ddof=1) / n1, b.var(ddof=1) / n2
    difference = float(a.mean() - b.mean())
    se = math.sqrt(v1 + v2)
    if se == 0:
        return Estimate("welch_t", difference, difference, difference, 1.0 if difference == 0 else 0.0, n1, n2,
                        float(a.mean()), float(b.mean()))
    df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
    t = difference / se
    half = float(_stats().t.ppf(1 - alpha / 2, df)) * se
    return Estimate("welch_t", difference, difference - half, difference + half, float(2 * _stats().t.sf(abs(t), df)),
                    n1, n2, float(a.mean()), float(b.mean()))


def welch_df(treated: Sequence[float], holdout: Sequence[float]) -> float:
    """The Satterthwaite degrees of freedom of Welch's test (shown with its result)."""
    a, b = np.asarray(treated, dtype=float), np.asarray(holdout, dtype=float)
    v1, v2 = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    return float((v1 + v2) ** 2 / (v1 ** 2 / (len(a) - 1) + v2 ** 2 / (len(b) - 1)))


def _superiority_se(auc: float, n1: int, n2: int) -> float:
    """Hanley and McNeil's (1982) standard error of a probability of superiority (an AUC)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n2 - 1) * (q2 - auc * auc)) / (n1 * n2)
    return math.sqrt(max(variance, 0.0))


def mann_whitney(treated: Sequence[float], holdout: Sequence[float], *, alpha: float = 0.05) -> Estimate:
    """The rank test, for skewed changes (a few accounts moving a lot): its effect is the probability of
    superiority, P(treated > holdout) + P(tie) / 2 = U / (n1 n2), 0.5 meaning no difference."""
    a, b = np.asarray(treated, dtype=float), np.asarray(holdout, dtype=float)
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return _empty("mann_whitney", n1, n2)
    result = _stats().mannwhitneyu(a, b, alternative="two-sided")
    auc = float(result.statistic) / (n1 * n2)
    half = _z(alpha) * _superiority_se(auc, n1, n2)
    return Estimate("mann_whitney", auc, max(0.0, auc - half), min(1.0, auc + half), float(result.pvalue), n1, n2,
                    float(np.median(a)), float(np.median(b)))


TESTS = {"welch_t": welch_t, "mann_whitney": mann_whitney}


# Sample size --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleSize:
    """Accounts needed in each arm to detect `effect` with probability `power` at two-sided `alpha`."""

    treated: int
    holdout: int
    method: str

    @property
    def total(self) -> int:
        return self.treated + self.holdout


def _arms(holdout_total: float, holdout_share: float) -> tuple[int, int]:
    holdout = math.ceil(holdout_total - 1e-9)
    treated = math.ceil(holdout * (1 - holdout_share) / holdout_share - 1e-9)
    return treated, holdout


def sample_size_proportions(*, baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8,
                            holdout_share: float = 0.5) -> SampleSize:
    """Fleiss' normal approximation without continuity correction (Fleiss, Tytun and Ury 1980), for a holdout
    rate `baseline` and a treated rate `baseline + effect`; the treated arm is `k` times the holdout."""
    p2, p1 = baseline, baseline + effect
    if not (0 < p2 < 1 and 0 < p1 < 1) or effect == 0:
        raise ValueError("baseline and baseline + effect must both lie strictly between 0 and 1, and differ.")
    k = (1 - holdout_share) / holdout_share
    p_bar = (k * p1 + p2) / (1 + k)
    z_a, z_b = _z(alpha), float(_stats().norm.ppf(power))
    root = z_a * math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / k)) + z_b * math.sqrt(p1 * (1 - p1) / k + p2 * (1 - p2))
    return SampleSize(*_arms(root ** 2 / effect ** 2, holdout_share), method="Fleiss normal approximation")


def sample_size_means(*, sd: float, effect: float, alpha: float = 0.05, power: float = 0.8,
                      holdout_share: float = 0.5) -> SampleSize:
    """The t-test's sample size, iterating the t quantiles on their degrees of freedom from the normal
    approximation's answer (so d = 0.5 gives Cohen's 64 per arm, where the normal approximation says 63)."""
    if sd <= 0 or effect == 0:
        raise ValueError("sd must be positive and effect not zero.")
    k = (1 - holdout_share) / holdout_share
    ratio = (sd / effect) ** 2 * (1 + 1 / k)
    holdout = ratio * (_z(alpha) + float(_stats().norm.ppf(power))) ** 2
    for _ in range(50):
        df = max(holdout * (1 + k) - 2, 1)
        following = ratio * (float(_stats().t.ppf(1 - alpha / 2, df)) + float(_stats().t.ppf(power, df))) ** 2
        if abs(following - holdout) < 1e-6:
            break
        holdout = following
    return SampleSize(*_arms(holdout, holdout_share), method="t-test (iterated normal approximation)")


# Looking before the end -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AlwaysValid:
    """A confidence sequence and an always-valid p-value: true at every look at once, so a team may look
    every day and stop the first time the interval leaves zero, and still be wrong at most `alpha` of the time."""

    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def always_valid(effect, variance, *, alpha: float = 0.05, mixing_sd: float) -> AlwaysValid:
    """The mixture sequential probability ratio test (mSPRT; Robbins 1970, Johari et al. 2017) for a normal
    estimate `effect` with `variance`, mixing over true effects N(0, mixing_sd^2) (the design's minimum
    detectable effect is a sensible scale). Works on numpy arrays too (each element one experiment's look).

    Likelihood ratio: sqrt(V / (V + t^2)) exp(t^2 e^2 / (2 V (V + t^2))); p = min(1, 1 / ratio); the interval is
    e +/- sqrt(V (V + t^2) / t^2 (log((V + t^2) / V) + 2 log(1 / alpha))).
    """
    effect, variance = np.asarray(effect, dtype=float), np.asarray(variance, dtype=float)
    tau2 = float(mixing_sd) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = 0.5 * np.log(variance / (variance + tau2)) + tau2 * effect ** 2 / (
            2 * variance * (variance + tau2))
        p_value = np.minimum(1.0, np.exp(-log_ratio))
        half = np.sqrt(variance * (variance + tau2) / tau2 * (np.log((variance + tau2) / variance)
                                                             + 2 * math.log(1 / alpha)))
    if effect.ndim == 0:
        if not math.isfinite(float(half)):
            return AlwaysValid(None, None, None, None)
        return AlwaysValid(float(effect), float(effect - half), float(effect + half), float(p_value))
    return AlwaysValid(effect, effect - half, effect + half, p_value)


def always_valid_for(estimate: Estimate, *, alpha: float, mixing_sd: float, treated_values=None,
                     holdout_values=None, treated_rate=None, holdout_rate=None) -> AlwaysValid:
    """The always-valid interval of a difference of rates (from the two rates) or of means (from the values)."""
    n1, n2 = estimate.n_treated, estimate.n_holdout
    if treated_rate is not None and holdout_rate is not None and n1 and n2:
        variance = treated_rate * (1 - treated_rate) / n1 + holdout_rate * (1 - holdout_rate) / n2
        effect = treated_rate - holdout_rate
    elif treated_values is not None and holdout_values is not None and n1 >= 2 and n2 >= 2:
        a, b = np.asarray(treated_values, dtype=float), np.asarray(holdout_values, dtype=float)
        variance = a.var(ddof=1) / n1 + b.var(ddof=1) / n2
        effect = float(a.mean() - b.mean())
    else:
        return AlwaysValid(None, None, None, None)
    if variance <= 0:
        return AlwaysValid(None, None, None, None)
    return always_valid(effect, variance, alpha=alpha, mixing_sd=mixing_sd)
