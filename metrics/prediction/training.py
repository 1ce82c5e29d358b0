"""Learning a tenant's model: the design matrix, two candidate models, the out-of-time back-test that picks
one, and calibration on a later time slice than the model was fitted on.

The procedure (documented for users in docs/prediction.md):
1. Rows: every paying account on every observation date of the history (features.observations), labelled as
   known on the cutoff; censored rows (-1) are left out.
2. Back-test folds (rolling origin): the latest observation dates in blocks of FOLD_DATES; a fold tests the rows
   of one block, from its first date F on, and trains on the rows whose outcome was known on or before F
   (o + horizon + grace <= F). A fold never trains on a label observed after its test date.
3. In each fold, each candidate (a regularised logistic regression, a gradient-boosted model) is fitted and
   calibrated exactly as the final model will be (`fit_calibrated`), and scored on the fold's test rows, beside
   three baselines on the same rows: the base rate, the tenant's health score as a ranker, last period's usage
   trend as a ranker.
4. The candidate with the lower pooled log-loss (ties: higher AUC) wins; it is fitted on every labelled row and
   calibrated the same way.

Calibration: the labelled rows of the latest observation dates (about a quarter of them) are the calibration
slice; the model is fitted on the rows observed before it. Platt's sigmoid below ISOTONIC_MIN_ROWS rows or
ISOTONIC_MIN_EVENTS events in the slice, isotonic regression above; a slice too small to calibrate with
(CALIBRATION_MIN_ROWS, CALIBRATION_MIN_EVENTS) leaves the regularised model's own probabilities.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from metrics.prediction.features import CATEGORIES, FEATURE_NAMES, Observations, Outcomes
from metrics.prediction.spec import ALGORITHM_LABELS, ALGORITHMS, BOOSTED, LOGISTIC  # noqa: F401 (re-exported)

HYPERPARAMETERS = {
    LOGISTIC: {"C": 0.1, "penalty": "l2", "max_iter": 2000, "imputer": "median + missing indicators",
               "scaling": "standardised, clipped to ±4 standard deviations"},
    BOOSTED: {"learning_rate": 0.06, "max_iter": 250, "max_leaf_nodes": 15, "min_samples_leaf": 40,
              "l2_regularization": 1.0,
              "early_stopping": "above 10,000 rows: 10 rounds without gain on 10% held out", "random_state": 0},
}
MAX_FOLDS = 4
CLIP_SD = 4.0
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
TUNE_MAX_ROWS = 20000
FOLD_DATES = 3  # observation dates (30 days apart) each fold tests
CALIBRATION_SHARE = 0.25
ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_EVENTS = 50
# A slice smaller than this calibrates worse than the regularised model's own probabilities (seen on the demo:
# a Brier score above the base rate's); the model is then fitted on every row and not recalibrated.
CALIBRATION_MIN_ROWS = 300
CALIBRATION_MIN_EVENTS = 30
PROBABILITY_FLOOR = 1e-4
BANDS = 10  # calibration table: predicted probability in tenths
DECILES = 10  # calibration by decile: the accounts in ten groups of equal size
MAX_CATEGORY_VALUES = 8
MIN_CATEGORY_SHARE = 0.02


def one_thread():
    """Native thread pools (OpenMP, BLAS) limited to one thread while learning and scoring. With two or more
    they spin waiting for each other on a busy machine: the gradient-boosted fit measured 0.5 s on one thread and
    5-6 s on two, on a 2-core machine shared with other work. Workers parallelise across tenants instead."""
    return threadpool_limits(limits=1)


NO_FOLD = ("No out-of-time test is possible yet: no observation date has both outcomes after a training set with "
           "{min_events} of each outcome known before it.")


class InsufficientHistory(Exception):
    """There is not enough history to learn from (the message says what is missing); the KPI is then null."""


@dataclass
class Design:
    """How observations become a matrix: every feature, then one column per frequent value of each category.
    """

    categories: dict[str, list[str]]

    @classmethod
    def learn(cls, rows: Observations) -> Design:
        kept = {}
        for name in CATEGORIES:
            counts = Counter(rows.categories[name].tolist())
            frequent = [value for value, count in counts.most_common(MAX_CATEGORY_VALUES)
                        if count >= MIN_CATEGORY_SHARE * len(rows)]
            kept[name] = sorted(frequent) if len(counts) > 1 else []
        return cls(categories=kept)

    @property
    def columns(self) -> list[str]:
        return [*FEATURE_NAMES, *(f"{name}={value}" for name, values in self.categories.items() for value in values)]

    @property
    def groups(self) -> list[str]:
        """The driver each column belongs to: the feature itself, or its category (plan, region, industry)."""
        return [*FEATURE_NAMES, *(name for name, values in self.categories.items() for _ in values)]

    def matrix(self, rows: Observations) -> np.ndarray:
        one_hot = [(rows.categories[name] == value).astype("float64")
                   for name, values in self.categories.items() for value in values]
        return np.column_stack([rows.values, *one_hot]) if one_hot else rows.values.copy()


class Clipped(TransformerMixin, BaseEstimator):
    """Standardised inputs clipped to ±CLIP_SD: a feature that barely varied in the training rows (everyone used
    the product last week) but varies widely later would otherwise reach hundreds of standard deviations and
    swamp every other input of a linear model (seen on the demo: an out-of-time AUC of 0.3)."""

    def fit(self, matrix: np.ndarray, label: np.ndarray | None = None) -> Clipped:
        return self

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        # In place: the matrix is the scaler's own output (a copy of the caller's is made by the imputer).
        return np.clip(matrix, -CLIP_SD, CLIP_SD, out=matrix)


class NeverSeenAsZero(TransformerMixin, BaseEstimator):
    """Columns the fitting rows never had a value in (no CSAT at all) read 0: nothing can be learned from a
    column that is always missing, and the gradient-boosted model's binning cannot take one."""

    def fit(self, matrix: np.ndarray, label: np.ndarray | None = None) -> NeverSeenAsZero:
        self.never_seen_ = np.flatnonzero(np.isnan(matrix).all(axis=0))
        return self

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        if not len(self.never_seen_):
            return matrix
        matrix = np.array(matrix, dtype="float64", copy=True)
        matrix[:, self.never_seen_] = 0.0
        return matrix


def make_estimator(algorithm: str, strength: float | None = None):
    """A fresh, unfitted candidate (`strength`: the logistic regression's C, default its hyperparameter)."""
    if algorithm == LOGISTIC:
        settings = HYPERPARAMETERS[LOGISTIC]
        return Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            # In place on the imputer's output: each copy of 1.5 million rows x 70 inputs is 0.8 GB.
            ("scale", StandardScaler(copy=False)),
            ("clip", Clipped()),
            ("model", LogisticRegression(C=strength or settings["C"], max_iter=settings["max_iter"])),
        ])
    settings = HYPERPARAMETERS[BOOSTED]
    return Pipeline([("never_seen", NeverSeenAsZero()), ("model", HistGradientBoostingClassifier(
        learning_rate=settings["learning_rate"], max_iter=settings["max_iter"],
        max_leaf_nodes=settings["max_leaf_nodes"], min_samples_leaf=settings["min_samples_leaf"],
        l2_regularization=settings["l2_regularization"], early_stopping="auto", validation_fraction=0.1,
        n_iter_no_change=10, random_state=settings["random_state"]))])


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(raw, -500, 500)))


@dataclass
class Calibrated:
    """A fitted candidate and the map from its log-odds to a calibrated probability of the target."""

    algorithm: str
    estimator: object
    method: str  # "sigmoid", "isotonic" or "none"
    calibrator: object | None
    fitted_rows: int
    calibration_rows: int
    calibration_from: date | None

    def __getstate__(self) -> dict:
        # What explaining caches on the fitted model (explain._trees) is made again after loading, not stored.
        return {key: value for key, value in self.__dict__.items() if key != "_explained_trees"}

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """The model's log-odds of the target."""
        with one_thread():
            return np.asarray(self.estimator.decision_function(matrix), dtype="float64").reshape(-1)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "sigmoid":
            probability = self.calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
        elif self.method == "isotonic":
            probability = self.calibrator.predict(raw)
        else:
            probability = _sigmoid(raw)
        return np.clip(probability, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.calibrate(self.raw(matrix))


def _log_loss(label: np.ndarray, probability: np.ndarray) -> float:
    clipped = np.clip(probability, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return float(-np.mean(label * np.log(clipped) + (1 - label) * np.log(1 - clipped)))


def regularisation(matrix: np.ndarray, label: np.ndarray, observed_on: np.ndarray) -> float:
    """The logistic regression's C: below TUNE_MAX_ROWS rows, the one of C_GRID with the best log-loss on the latest
    observation dates when fitted on the earlier ones (small samples need more regularisation than large ones);
    the hyperparameter's default above, or when the rows cannot be split."""
    default = HYPERPARAMETERS[LOGISTIC]["C"]
    split = calibration_split(observed_on) if len(label) < TUNE_MAX_ROWS else None
    if split is None:
        return default
    earlier = observed_on < np.datetime64(split)
    if len(np.unique(label[earlier])) < 2 or len(np.unique(label[~earlier])) < 2:
        return default
    losses = {}
    for strength in C_GRID:
        estimator = _fit(LOGISTIC, matrix[earlier], label[earlier], observed_on[earlier], strength)
        with one_thread():
            losses[strength] = _log_loss(label[~earlier], estimator.predict_proba(matrix[~earlier])[:, 1])
    return min(C_GRID, key=lambda strength: (losses[strength], -strength))


def _fit(algorithm: str, matrix: np.ndarray, label: np.ndarray, observed_on: np.ndarray,
         strength: float | None = None):
    if algorithm == LOGISTIC and strength is None:
        strength = regularisation(matrix, label, observed_on)
    estimator = make_estimator(algorithm, strength)
    with warnings.catch_warnings(), one_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(matrix, label)
    return estimator


def calibration_split(observed_on: np.ndarray) -> date | None:
    """The first observation date of the calibration slice: the latest dates holding about CALIBRATION_SHARE of
    the rows (at least one date, never all of them); None with a single observation date."""
    dates, counts = np.unique(observed_on, return_counts=True)
    if len(dates) < 2:
        return None
    total, taken = counts.sum(), 0
    for index in range(len(dates) - 1, 0, -1):
        taken += counts[index]
        if taken >= CALIBRATION_SHARE * total:
            return dates[index].astype(object)
    return dates[1].astype(object)


def fit_calibrated(algorithm: str, matrix: np.ndarray, label: np.ndarray, observed_on: np.ndarray) -> Calibrated:
    """Fit on the rows observed before the calibration slice, calibrate on the slice (see the module docstring).
    Without a usable slice (one date, fewer than CALIBRATION_MIN_ROWS rows or CALIBRATION_MIN_EVENTS of either
    outcome in it, a fit without both outcomes) the model is fitted on every row and its own probabilities are
    used ("none")."""
    split = calibration_split(observed_on)
    if split is not None:
        fit = observed_on < np.datetime64(split)
        sliced = ~fit
        events = int(label[sliced].sum())
        if (len(np.unique(label[fit])) == 2 and sliced.sum() >= CALIBRATION_MIN_ROWS
                and min(events, sliced.sum() - events) >= CALIBRATION_MIN_EVENTS):
            estimator = _fit(algorithm, matrix[fit], label[fit], observed_on[fit])
            model = Calibrated(algorithm, estimator, "none", None, int(fit.sum()), int(sliced.sum()), split)
            raw = model.raw(matrix[sliced])
            if sliced.sum() >= ISOTONIC_MIN_ROWS and min(events, sliced.sum() - events) >= ISOTONIC_MIN_EVENTS:
                model.method = "isotonic"
                model.calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                    raw, label[sliced])
            else:
                model.method = "sigmoid"
                model.calibrator = LogisticRegression(C=1e4, max_iter=1000).fit(raw.reshape(-1, 1), label[sliced])
            return model
    estimator = _fit(algorithm, matrix, label, observed_on)
    return Calibrated(algorithm, estimator, "none", None, len(label), 0, None)


# --- scoring ----------------------------------------------------------------------------------------------

def auc(label: np.ndarray, score: np.ndarray) -> float | None:
    """P(a positive ranks above a negative), ties half; None without both outcomes."""
    if len(np.unique(label)) < 2:
        return None
    return float(roc_auc_score(label, score))


def top_decile_lift(label: np.ndarray, score: np.ndarray) -> float | None:
    """Event rate among the highest-scored 10% (at least one row) / the overall event rate."""
    if len(label) == 0 or label.mean() == 0:
        return None
    top = max(1, math.ceil(0.1 * len(label)))
    order = np.argsort(-score, kind="stable")[:top]
    return float(label[order].mean() / label.mean())


def calibration_table(label: np.ndarray, probability: np.ndarray) -> list[dict]:
    """Predicted vs observed event rate per tenth of predicted probability, with counts (empty bands left out)."""
    band = np.minimum((probability * BANDS).astype(int), BANDS - 1)
    table = []
    for index in range(BANDS):
        members = band == index
        count = int(members.sum())
        if count:
            table.append({"low": index / BANDS, "high": (index + 1) / BANDS, "count": count,
                          "events": int(label[members].sum()),
                          "predicted": float(probability[members].mean()),
                          "observed": float(label[members].mean())})
    return table


def calibration_deciles(label: np.ndarray, probability: np.ndarray) -> list[dict]:
    """Predicted vs observed event rate in ten groups of (nearly) equal size, by predicted probability, lowest
    first: unlike the bands, every group holds a tenth of the accounts however narrow the probabilities are."""
    if len(label) < DECILES:
        return []
    order = np.argsort(probability, kind="stable")
    return [{"decile": number, "count": len(members), "events": int(label[members].sum()),
             "predicted": float(probability[members].mean()), "observed": float(label[members].mean())}
            for number, members in enumerate(np.array_split(order, DECILES), start=1)]


def probability_scores(label: np.ndarray, probability: np.ndarray, base_rate: float) -> dict:
    """AUC, Brier (with the base rate's beside it), log-loss, top-decile lift and the calibration tables (by band
    of probability, and by tenth of the accounts)."""
    clipped = np.clip(probability, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    base = min(max(base_rate, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
    return {
        "rows": len(label), "events": int(label.sum()), "event_rate": float(label.mean()) if len(label) else None,
        "auc": auc(label, probability), "brier": float(np.mean((probability - label) ** 2)),
        "brier_base_rate": float(np.mean((base - label) ** 2)),
        "log_loss": float(-np.mean(label * np.log(clipped) + (1 - label) * np.log(1 - clipped))),
        "top_decile_lift": top_decile_lift(label, probability),
        "calibration": calibration_table(label, probability),
        "deciles": calibration_deciles(label, probability),
    }


def ranker_scores(label: np.ndarray, risk: np.ndarray) -> dict:
    """A baseline that only ranks (health score, usage trend): AUC and lift over the rows it has a value for."""
    known = ~np.isnan(risk)
    return {"rows": int(known.sum()), "coverage": float(known.mean()) if len(known) else 0.0,
            "auc": auc(label[known], risk[known]) if known.any() else None,
            "top_decile_lift": top_decile_lift(label[known], risk[known]) if known.any() else None}


# --- the back-test ----------------------------------------------------------------------------------------

@dataclass
class Fold:
    test_on: date
    train: np.ndarray  # boolean masks over the labelled rows
    test: np.ndarray

    def describe(self, rows: Observations) -> dict:
        return {"test_on": self.test_on.isoformat(),
                "test_until": str(rows.observed_on[self.test].max()) if self.test.any() else None,
                "train_rows": int(self.train.sum()),
                "test_rows": int(self.test.sum()),
                "train_known_by": str(rows.known_on[self.train].max()) if self.train.any() else None,
                "train_observed_from": str(rows.observed_on[self.train].min()) if self.train.any() else None}


def fold_blocks(outcomes: Outcomes, *, min_events: int) -> list[list[np.datetime64]]:
    """The observation dates each back-test fold tests, newest first: up to MAX_FOLDS rolling-origin blocks of
    FOLD_DATES consecutive dates whose fold, starting on the block's first date F, has min_events of each outcome
    to train on (outcomes known on or before F) and both outcomes to test on. `outcomes`: the labelled rows."""
    dates = sorted(np.unique(outcomes.observed_on), reverse=True)
    blocks = []
    for start in range(0, len(dates), FOLD_DATES):
        block = dates[start:start + FOLD_DATES]
        tested = outcomes.label[np.isin(outcomes.observed_on, block)]
        train = outcomes.known_on <= block[-1]
        train_events = int(outcomes.count[train & (outcomes.label == 1)].sum())
        if (len(np.unique(tested)) == 2 and train_events >= min_events
                and int(outcomes.count[train].sum()) - train_events >= min_events):
            blocks.append(block)
        if len(blocks) == MAX_FOLDS:
            break
    return blocks


def folds_of(rows: Observations, *, min_events: int) -> list[Fold]:
    """The back-test's folds over the labelled `rows` (see `fold_blocks`): each tests the rows of its block and
    trains on the rows whose outcome was known on or before the block's first date."""
    return [Fold(test_on=block[-1].astype(object), train=rows.known_on <= block[-1],
                 test=np.isin(rows.observed_on, block))
            for block in fold_blocks(Outcomes.of(rows), min_events=min_events)]


@dataclass
class BackTest:
    folds: list[dict] = field(default_factory=list)
    pooled: dict = field(default_factory=dict)  # algorithm or baseline -> scores over every fold's test rows
    winner: str = ""


def backtest(rows: Observations, design: Design, *, min_events: int, health_risk: np.ndarray,
             usage_risk: np.ndarray) -> BackTest:
    """Every candidate and baseline on the same out-of-time folds; the winner by pooled log-loss (then AUC)."""
    folds = folds_of(rows, min_events=min_events)
    if not folds:
        raise InsufficientHistory(NO_FOLD.format(min_events=min_events))
    matrix = design.matrix(rows)
    result = BackTest()
    pooled: dict[str, list] = {name: [] for name in (*ALGORITHMS, "base_rate")}
    pooled_labels: list[np.ndarray] = []
    for fold in folds:
        label = rows.label[fold.test]
        base_rate = float(rows.label[fold.train].mean())
        entry = {**fold.describe(rows), "test_events": int(label.sum()), "train_events": int(
            rows.label[fold.train].sum()), "candidates": {}, "baselines": {}}
        for algorithm in ALGORITHMS:
            model = fit_calibrated(algorithm, matrix[fold.train], rows.label[fold.train],
                                   rows.observed_on[fold.train])
            probability = model.probability(matrix[fold.test])
            entry["candidates"][algorithm] = {**probability_scores(label, probability, base_rate),
                                              "calibration_method": model.method}
            pooled[algorithm].append(probability)
        constant = np.full(len(label), base_rate)
        entry["baselines"]["base_rate"] = probability_scores(label, constant, base_rate)
        entry["baselines"]["health_score"] = ranker_scores(label, health_risk[fold.test])
        entry["baselines"]["usage_trend"] = ranker_scores(label, usage_risk[fold.test])
        pooled["base_rate"].append(constant)
        pooled_labels.append(label)
        result.folds.append(entry)
    label = np.concatenate(pooled_labels)
    overall_rate = float(label.mean())
    for name, parts in pooled.items():
        result.pooled[name] = probability_scores(label, np.concatenate(parts), overall_rate)
    # The base rate gives every account of a fold the same probability: it ranks no one (AUC 0.5, lift 1). Pooled,
    # the folds' different rates would rank whole folds against each other, which says nothing about accounts.
    result.pooled["base_rate"].update(auc=0.5, top_decile_lift=1.0)
    tests = np.zeros(len(rows), dtype=bool)
    order = []
    for fold in folds:
        order.append(np.flatnonzero(fold.test))
        tests |= fold.test
    index = np.concatenate(order)
    result.pooled["health_score"] = ranker_scores(rows.label[index], health_risk[index])
    result.pooled["usage_trend"] = ranker_scores(rows.label[index], usage_risk[index])

    def rank(algorithm: str) -> tuple:
        # Log-loss, a proper scoring rule: the winner must rank accounts well AND say how likely each outcome is
        # (on the demo the boosted trees ranked a hair better but their probabilities were far too sure).
        scores = result.pooled[algorithm]
        return (scores["log_loss"], -(scores["auc"] if scores["auc"] is not None else 0.0))

    result.winner = min(ALGORITHMS, key=rank)
    return result


def usage_trend_risk(rows: Observations, *, expansion: bool) -> np.ndarray:
    """Last period's usage trend as a ranker: falling usage ranks riskier (or, for expansion, rising usage
    ranks likelier to expand)."""
    trend = rows.values[:, FEATURE_NAMES.index("usage_trend_30")]
    return trend if expansion else -trend
