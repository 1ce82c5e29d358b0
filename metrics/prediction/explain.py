"""Why an account got its probability: each driver's share of the difference from the average account.

Both models explain in their own log-odds, against a baseline, "the average account" of the training rows:
- logistic regression, exactly: the model is log-odds = b + Σ_j w_j z_j over its standardised (and clipped)
  inputs z (every feature, imputed, plus a missing-value indicator where a feature can be missing), and z is 0
  at the training mean, so the baseline's log-odds is b and input j contributes w_j z_j; a feature's contribution is the
  sum over its inputs (its value and its indicator), a category's over its values. They add up exactly to
  log-odds(account) - b.
- gradient-boosted trees, by their paths (Saabas' attribution, as the `treeinterpreter` package computes it for
  random forests): every node of a tree has an expected log-odds, the mean of its leaves' values over the
  training rows that reached it; the account's path from the root to its leaf crosses splits, and each split
  credits the driver it tested with the change of expected log-odds it made. Summed over the trees they add up
  exactly to log-odds(account) - the mean log-odds of the training rows. It costs one pass down each tree per
  account (a break-down switching drivers one at a time, used before, cost one evaluation of the whole model per
  driver: 98 s instead of a few for 85,000 accounts). Like every path attribution it is an approximation when
  drivers interact: the split nearer the leaf gets the credit for what the two do together.

Log-odds become points of probability by scaling: points_j = contribution_j x (p - p_baseline) /
(log-odds - log-odds_baseline), with p the calibrated probability, so the points add up to the account's
difference from the baseline's probability; when the log-odds barely differ, the local slope p(1 - p) is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metrics.prediction.features import BY_NAME
from metrics.prediction.training import LOGISTIC, Calibrated, Design

TOP_DRIVERS = 5
GROUP_LABELS = {"plan": "Plan", "region": "Region", "industry": "Industry"}


@dataclass
class Tree:
    """One fitted tree as arrays (per node), with each node's expected log-odds over the training rows."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    expected: np.ndarray

    @classmethod
    def of(cls, nodes: np.ndarray) -> Tree:
        """From a scikit-learn histogram tree's node records. A node's value there is its own Newton step (only
        the leaves' are what the model adds), so the expectations are built from the leaves up, weighted by the
        training rows that reached each child; children always come after their parent."""
        if nodes["is_categorical"].any():
            raise ValueError("A categorical split cannot be explained by path: the model has none by design.")
        leaf = nodes["is_leaf"].astype(bool)
        left, right = nodes["left"].astype(np.intp), nodes["right"].astype(np.intp)
        count = nodes["count"].astype("float64")
        expected = np.where(leaf, nodes["value"], 0.0)
        for index in np.flatnonzero(~leaf)[::-1]:
            expected[index] = (count[left[index]] * expected[left[index]] + count[right[index]]
                               * expected[right[index]]) / (count[left[index]] + count[right[index]])
        return cls(feature=nodes["feature_idx"].astype(np.intp), threshold=nodes["num_threshold"],
                   missing_left=nodes["missing_go_to_left"].astype(bool), left=left, right=right, leaf=leaf,
                   expected=expected)

    def credit(self, inputs: np.ndarray, group_of: np.ndarray, result: np.ndarray) -> None:
        """Add to `result` (rows, groups) each split's change of expected log-odds on every row's path, as the
        model's own prediction walks: a missing value goes where the split sends missing values, else left when
        at most the threshold."""
        rows = np.arange(len(inputs)) if not self.leaf[0] else np.empty(0, dtype=np.intp)
        node = np.zeros(len(inputs), dtype=np.intp)
        while rows.size:
            current = node[rows]
            feature = self.feature[current]
            value = inputs[rows, feature]
            goes_left = np.where(np.isnan(value), self.missing_left[current], value <= self.threshold[current])
            child = np.where(goes_left, self.left[current], self.right[current])
            result[rows, group_of[feature]] += self.expected[child] - self.expected[current]
            node[rows] = child
            rows = rows[~self.leaf[child]]


def _trees(model: Calibrated) -> tuple[list[Tree], float]:
    """The boosted model's trees and its expected log-odds over the training rows (made once per fitted model)."""
    cached = getattr(model, "_explained_trees", None)
    if cached is None:
        boosted = model.estimator.named_steps["model"]
        trees = [Tree.of(predictors[0].nodes) for predictors in boosted._predictors]
        cached = (trees, float(boosted._baseline_prediction.reshape(-1)[0]) + sum(
            float(tree.expected[0]) for tree in trees))
        model._explained_trees = cached
    return cached


def _inputs(model: Calibrated, matrix: np.ndarray) -> np.ndarray:
    """The matrix as the final step of the model's pipeline sees it."""
    for _, step in model.estimator.steps[:-1]:
        matrix = step.transform(matrix)
    return matrix


@dataclass
class Explainer:
    """What explaining needs beyond the fitted model: the driver group of each design column."""

    groups: list[str]  # per design column

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(self.groups))

    @classmethod
    def learn(cls, design: Design) -> Explainer:
        return cls(groups=design.groups)

    def baseline_raw(self, model: Calibrated) -> float:
        """The log-odds every row's contributions start from: the average account's."""
        if model.algorithm == LOGISTIC:
            return float(model.estimator.named_steps["model"].intercept_[0])
        return _trees(model)[1]

    def contributions(self, model: Calibrated, matrix: np.ndarray) -> np.ndarray:
        """(rows, groups) log-odds contributions in `names` order; each row sums to raw - baseline_raw."""
        names = self.names
        position = {name: index for index, name in enumerate(names)}
        result = np.zeros((len(matrix), len(names)))
        inputs = _inputs(model, matrix)
        if model.algorithm == LOGISTIC:
            inputs = inputs * model.estimator.named_steps["model"].coef_[0]
            impute = model.estimator.named_steps["impute"]
            source = list(range(matrix.shape[1]))
            if impute.indicator_ is not None:
                source += list(impute.indicator_.features_)
            for column, original in enumerate(source):
                result[:, position[self.groups[original]]] += inputs[:, column]
            return result
        group_of = np.array([position[group] for group in self.groups], dtype=np.intp)
        for tree in _trees(model)[0]:
            tree.credit(inputs, group_of, result)
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
