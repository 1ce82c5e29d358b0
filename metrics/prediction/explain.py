"""Why an account got its probability: each driver's share of the difference from the average account.

Both models explain in their own log-odds, against a baseline, "the average account" of the training rows:
- logistic regression, exactly: the model is log-odds = b + Σ_j w_j z_j over its standardised (and clipped)
  inputs z (every feature, imputed, plus a missing-value indicator where a feature can be missing), and z is 0
  at the training mean, so the baseline's log-odds is b and input j contributes w_j z_j; a feature's contribution is the
  sum over its inputs (its value and its indicator), a category's over its values. They add up exactly to
  log-odds(account) - b.
- gradient-boosted trees, an approximation (a sequential "break-down"): starting from the baseline row (the
  training mean of every column), the drivers are switched to the account's values one after another, in a
  fixed order (the drivers that move predictions most on average across the training rows first), and each is
  credited with the change of log-odds its switch made. They add up exactly to log-odds(account) -
  log-odds(baseline); unlike the linear case, a driver's share can depend on the order when drivers interact.

Log-odds become points of probability by scaling: points_j = contribution_j x (p - p_baseline) /
(log-odds - log-odds_baseline), with p the calibrated probability, so the points add up to the account's
difference from the baseline's probability; when the log-odds barely differ, the local slope p(1 - p) is used.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from metrics.prediction.features import BY_NAME
from metrics.prediction.training import BOOSTED, LOGISTIC, Calibrated, Design

TOP_DRIVERS = 5
ORDER_SAMPLE = 2000
GROUP_LABELS = {"plan": "Plan", "region": "Region", "industry": "Industry"}


@dataclass
class Explainer:
    """What explaining needs beyond the fitted model: the columns' driver groups, the baseline, the order."""

    groups: list[str]  # per design column
    baseline: np.ndarray  # per design column: the training mean (the gradient-boosted model's baseline row)
    order: list[str]  # driver groups in break-down order (gradient-boosted model)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(self.groups))

    @classmethod
    def learn(cls, model: Calibrated, design: Design, matrix: np.ndarray) -> Explainer:
        groups = design.groups
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column with no value at all: its mean is NaN
            baseline = np.nanmean(matrix, axis=0) if len(matrix) else np.zeros(matrix.shape[1])
        baseline = np.where(np.isnan(baseline), 0.0, baseline)
        explainer = cls(groups=groups, baseline=baseline, order=list(dict.fromkeys(groups)))
        if model.algorithm == BOOSTED and len(matrix):
            explainer.order = explainer._order_by_effect(model, matrix)
        return explainer

    def _columns(self, group: str) -> np.ndarray:
        return np.array([index for index, name in enumerate(self.groups) if name == group])

    def _order_by_effect(self, model: Calibrated, matrix: np.ndarray) -> list[str]:
        """Groups by the mean |change of log-odds| when each alone is set to the baseline, on a fixed sample."""
        sample = matrix[np.linspace(0, len(matrix) - 1, min(ORDER_SAMPLE, len(matrix))).astype(int)]
        raw = model.raw(sample)
        effects = {}
        for group in self.names:
            columns = self._columns(group)
            moved = sample.copy()
            moved[:, columns] = self.baseline[columns]
            effects[group] = float(np.mean(np.abs(raw - model.raw(moved))))
        return sorted(self.names, key=lambda group: (-effects[group], self.names.index(group)))

    def baseline_raw(self, model: Calibrated) -> float:
        if model.algorithm == LOGISTIC:
            return float(model.estimator.named_steps["model"].intercept_[0])
        return float(model.raw(self.baseline.reshape(1, -1))[0])

    def contributions(self, model: Calibrated, matrix: np.ndarray) -> np.ndarray:
        """(rows, groups) log-odds contributions in `names` order; each row sums to raw - baseline_raw."""
        names = self.names
        result = np.zeros((len(matrix), len(names)))
        if model.algorithm == LOGISTIC:
            impute = model.estimator.named_steps["impute"]
            weights = model.estimator.named_steps["model"].coef_[0]
            inputs = matrix
            for _, step in model.estimator.steps[:-1]:
                inputs = step.transform(inputs)
            inputs = inputs * weights
            source = list(range(matrix.shape[1]))
            if impute.indicator_ is not None:
                source += list(impute.indicator_.features_)
            position = {name: index for index, name in enumerate(names)}
            for column, original in enumerate(source):
                result[:, position[self.groups[original]]] += inputs[:, column]
            return result
        current = np.tile(self.baseline, (len(matrix), 1))
        previous = model.raw(current)
        for group in self.order:
            columns = self._columns(group)
            current[:, columns] = matrix[:, columns]
            raw = model.raw(current)
            result[:, names.index(group)] = raw - previous
            previous = raw
        return result


def _says(group: str, columns: list[int], row: np.ndarray, design: Design) -> str:
    """How the account's value of a driver reads: "usage down 40% over 30 days", "plan Starter"."""
    if group in GROUP_LABELS:
        values = design.categories[group]
        chosen = [values[offset] for offset, column in enumerate(columns) if row[column] >= 0.5]
        return f"{GROUP_LABELS[group].lower()} {chosen[0] if chosen else 'other'}"
    feature = BY_NAME[group]
    value = row[columns[0]]
    if math.isnan(value):
        return f"no {feature.label.lower()} on record"
    return feature.phrase(float(value))


def drivers(*, model: Calibrated, design: Design, explainer: Explainer, matrix: np.ndarray,
            probability: np.ndarray, sign: float, top: int = TOP_DRIVERS) -> tuple[list[list[dict]], float]:
    """The `top` drivers of each row by size, and the baseline's probability of the KPI's outcome (in %).

    `sign` is +1 when the KPI's probability is the model's target (expansion) and -1 when it is its complement
    (renewal = 1 - churn): points are always points of the KPI's own probability.
    """
    contributions = explainer.contributions(model, matrix)
    raw = model.raw(matrix)
    base_raw = explainer.baseline_raw(model)
    base_probability = float(model.calibrate(np.array([base_raw]))[0])
    difference = raw - base_raw
    slope = np.where(np.abs(difference) > 1e-6, (probability - base_probability) / np.where(
        np.abs(difference) > 1e-6, difference, 1.0), probability * (1 - probability))
    points = contributions * slope[:, None] * 100 * sign
    names = explainer.names
    columns = {group: [index for index, name in enumerate(design.groups) if name == group] for group in names}
    result = []
    for row_index in range(len(matrix)):
        order = np.argsort(-np.abs(points[row_index]), kind="stable")[:top]
        result.append([{
            "feature": names[index],
            "label": GROUP_LABELS.get(names[index]) or BY_NAME[names[index]].label,
            "says": _says(names[index], columns[names[index]], matrix[row_index], design),
            "points": round(float(points[row_index, index]), 1),
            "log_odds": round(float(contributions[row_index, index]), 4),
        } for index in order if abs(points[row_index, index]) >= 0.05])
    baseline = base_probability if sign > 0 else 1 - base_probability
    return result, 100 * baseline
