"""Learning a tenant's model from its history: rows, the back-test, the final calibrated model and its explainer
(the procedure is described in training.py's docstring), or the reason the history cannot support one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.conf import settings

from metrics.prediction.explain import Explainer
from metrics.prediction.features import (
    USAGE_REACH_DAYS,
    Observations,
    Outcomes,
    Sample,
    observations,
    outcomes,
    stored_health,
    training_sample,
    usage_history_start,
)
from metrics.prediction.spec import EXPANSION, RENEWAL_HORIZON_CAP
from metrics.prediction.training import (
    FOLD_DATES,
    MAX_FOLDS,
    NO_FOLD,
    BackTest,
    Calibrated,
    Design,
    InsufficientHistory,
    backtest,
    fit_calibrated,
    fold_blocks,
    one_thread,
    usage_trend_risk,
)


@dataclass
class Learned:
    """A trained model with what is stored beside it."""

    design: Design
    model: Calibrated
    explainer: Explainer
    backtest: BackTest
    rows: int
    events: int
    censored: int
    sample: Sample
    observed_from: date
    observed_until: date


def _outcome_words(expansion: bool) -> tuple[str, str]:
    return ("expanded", "did not expand") if expansion else ("churned", "renewed")


def learn(spec, cutoff: date) -> Learned:
    """Train, back-test and calibrate a model for `spec` on what was known on `cutoff`; InsufficientHistory
    (with the reason in plain words) when the history cannot support one."""
    with one_thread():
        return _learn(spec, cutoff)


def _learn(spec, cutoff: date) -> Learned:
    expansion = spec.target == EXPANSION
    # The labels alone say whether the history can support a model; only then are the features read (on 10,000
    # accounts a frame of 25 dates costs tens of seconds, and a tenant without churn would pay it every day). Both
    # are read for the accounts the model learns from: the sample, above PREDICTION_TRAINING_MAX_ACCOUNTS (counting
    # every account's outcomes took 19.6 of a training's 70 s at 100,000 accounts).
    usage_from = usage_history_start(cutoff)
    sample = training_sample(cutoff=cutoff, limit=settings.PREDICTION_TRAINING_MAX_ACCOUNTS)
    _history_checked(outcomes(spec=spec, cutoff=cutoff, steps=spec.steps, account_ids=sample.account_ids), spec,
                     cutoff, usage_from, screening=True)
    rows, events, censored = _known_rows(observations(spec=spec, cutoff=cutoff, steps=spec.steps, with_labels=True,
                                                      account_ids=sample.account_ids), spec, cutoff, usage_from)
    design = Design.learn(rows)
    result = backtest(rows, design, min_events=spec.min_events, health_risk=_health_risk(rows, expansion,
                                                                                           stored_health),
                      usage_risk=usage_trend_risk(rows, expansion=expansion))
    matrix = design.matrix(rows)  # after the back-test, which makes its own: one copy at a time
    model = fit_calibrated(result.winner, matrix, rows.label, rows.observed_on)
    return Learned(design=design, model=model, explainer=Explainer.learn(design), backtest=result,
                   rows=len(rows), events=events, censored=censored, sample=sample,
                   observed_from=rows.observed_on.min().astype(object),
                   observed_until=rows.observed_on.max().astype(object))


def _reached(observed_on: np.ndarray, usage_from: date | None) -> np.ndarray | None:
    """The observations made once the usage history that starts on `usage_from` is within reach (None: all)."""
    if usage_from is None:
        return None
    return observed_on >= np.datetime64(usage_from + timedelta(days=USAGE_REACH_DAYS))


def _known(label: np.ndarray, horizon_days: np.ndarray, spec) -> np.ndarray:
    """The observations a model may learn from: outcome known on the cutoff, within the horizon cap."""
    known = label >= 0
    if spec.horizon_days is None:
        known &= horizon_days <= RENEWAL_HORIZON_CAP
    return known


def _known_rows(everything: Observations, spec, cutoff: date,
                usage_from: date | None) -> tuple[Observations, int, int]:
    """The rows a model may learn from (outcome known on `cutoff`, observed once the usage history that starts on
    `usage_from` is within reach), with the number of events and of censored rows; InsufficientHistory, with the
    reason, when they cannot support a model."""
    reached = _reached(everything.observed_on, usage_from)
    if reached is not None:
        everything = everything.subset(reached)
    events, censored = _history_checked(Outcomes.of(everything), spec, cutoff, None)
    return everything.subset(_known(everything.label, everything.horizon_days, spec)), events, censored


def _history_checked(everything: Outcomes, spec, cutoff: date, usage_from: date | None, *,
                     screening: bool = False) -> tuple[int, int]:
    """The number of events and of censored observations among `everything` (observed once the usage history that
    starts on `usage_from` is within reach); InsufficientHistory, with the reason, when the known ones cannot
    support a model (`screening`: also when no out-of-time fold is possible, as the back-test would find)."""
    event, non_event = _outcome_words(spec.target == EXPANSION)
    reached = _reached(everything.observed_on, usage_from)
    if reached is not None:
        everything = everything.subset(reached)
    if not len(everything):
        raise InsufficientHistory(f"No account was paying (a revenue snapshot with MRR above 0) on any observation "
                                  f"date of the {spec.history_days} days up to {cutoff}.")
    rows = everything.subset(_known(everything.label, everything.horizon_days, spec))
    censored = int(everything.count[everything.label < 0].sum())
    if not len(rows):
        first = everything.observed_on.min().astype(object)
        raise InsufficientHistory(
            f"No outcome is known yet: the history starts on {first}, and an observation's outcome is known only "
            f"after its horizon ({spec.horizon_text}) and the grace days, all after {cutoff}.")
    events = int(rows.count[rows.label == 1].sum())
    if events == 0:
        raise InsufficientHistory(f"No account {event} within its horizon in the {len(rows)} observations whose "
                                  f"outcome is known: there is nothing to learn from yet.")
    if events < spec.min_events or len(rows) - events < spec.min_events:
        raise InsufficientHistory(
            f"Too little history: {events} observations {event} and {len(rows) - events} {non_event} (outcomes "
            f"known by {cutoff}); at least {spec.min_events} of each are needed.")
    if screening and not fold_blocks(rows, min_events=spec.min_events):
        raise InsufficientHistory(NO_FOLD.format(min_events=spec.min_events))
    return events, censored


def _health_risk(rows: Observations, expansion: bool, lookup) -> np.ndarray:
    """The stored health score as a ranker over the back-test's test rows (NaN elsewhere): low health ranks
    riskier (or, for expansion, high health ranks likelier to expand). Only the test rows are looked up."""
    risk = np.full(len(rows), np.nan)
    tested = np.zeros(len(rows), dtype=bool)
    for test_on in sorted(np.unique(rows.observed_on), reverse=True)[: MAX_FOLDS * FOLD_DATES + 2]:
        tested |= rows.observed_on == test_on
    scores = lookup(rows.subset(tested))
    risk[tested] = scores if expansion else -scores
    return risk
