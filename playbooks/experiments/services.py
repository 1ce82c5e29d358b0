"""Writes of experiments: pre-registering one (with the sample size and duration its design implies), changing
it before it starts, starting it, and concluding it with a decision. Starting and concluding are compare-and-set
on the status, so a double click or a retried request does it once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import InvalidInput
from playbooks.experiments.selectors import experiment_results, result_summary
from playbooks.experiments.statistics import SampleSize, sample_size_means, sample_size_proportions
from playbooks.models import (
    PROPORTION_METRICS,
    Experiment,
    ExperimentDecision,
    ExperimentMetric,
    ExperimentStatus,
    ExperimentTest,
)

# The rank test needs about pi/3 times the t-test's sample when the data are normal (its asymptotic relative
# efficiency is 3/pi); on skewed data it needs fewer, so this is the cautious plan.
RANK_TEST_INFLATION = math.pi / 3
DESIGN_FIELDS = ("name", "hypothesis", "playbook", "holdout_share", "stratify_by", "metric", "kpi", "horizon_days",
                 "test", "alpha", "power", "baseline", "minimum_effect", "accounts_per_week")


def experiment_sample_size(*, metric: str, test: str, baseline: float, minimum_effect: float, alpha: float,
                           power: float, holdout_share: float) -> SampleSize:
    """The accounts each arm needs: churn or renewal in percent (baseline) and percentage points (effect); a KPI
    change with the standard deviation of the change (baseline) and the effect in the KPI's unit."""
    try:
        if metric in PROPORTION_METRICS:
            return sample_size_proportions(baseline=baseline / 100, effect=minimum_effect / 100, alpha=alpha,
                                           power=power, holdout_share=holdout_share)
        size = sample_size_means(sd=baseline, effect=minimum_effect, alpha=alpha, power=power,
                                 holdout_share=holdout_share)
    except ValueError as error:
        raise _refused("minimum_effect", f"The design cannot be sized: {error}") from None
    if test == ExperimentTest.MANN_WHITNEY:
        return SampleSize(math.ceil(size.treated * RANK_TEST_INFLATION), math.ceil(size.holdout * RANK_TEST_INFLATION),
                          method=f"{size.method}, x pi/3 for the rank test")
    return size


def _refused(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"index": None, "field": field, "message": message}])


def _plan(experiment: Experiment) -> None:
    """Fill in the sample size and the duration from the design; the duration is the days of entry needed at
    the expected rate of eligible accounts."""
    if experiment.test == "":
        experiment.test = (ExperimentTest.PROPORTIONS if experiment.metric in PROPORTION_METRICS
                           else ExperimentTest.WELCH_T)
    if experiment.metric == ExperimentMetric.KPI_CHANGE and experiment.kpi_id is None:
        raise _refused("kpi", "A KPI change names its KPI.")
    fitting = ((ExperimentTest.PROPORTIONS,) if experiment.metric in PROPORTION_METRICS
               else (ExperimentTest.WELCH_T, ExperimentTest.MANN_WHITNEY))
    if experiment.test not in fitting:
        raise _refused("test", f"For this metric the test is one of {', '.join(fitting)}.")
    if experiment.accounts_per_week is None or experiment.accounts_per_week <= 0:
        raise _refused("accounts_per_week", "Say how many eligible accounts enter per week (more than 0).")
    for name in ("baseline", "minimum_effect", "alpha", "power", "holdout_share"):
        if getattr(experiment, name) is None:
            raise _refused(name, f"{name} is required.")
    if not 0.05 <= experiment.holdout_share <= 0.5:
        raise _refused("holdout_share", "The holdout share is between 0.05 and 0.5.")
    if not 0 < experiment.alpha <= 0.2:
        raise _refused("alpha", "alpha is above 0 and at most 0.2.")
    if not 0.5 <= experiment.power < 1:
        raise _refused("power", "power is from 0.5 to below 1.")
    size = experiment_sample_size(metric=experiment.metric, test=experiment.test, baseline=experiment.baseline,
                                  minimum_effect=experiment.minimum_effect, alpha=experiment.alpha,
                                  power=experiment.power, holdout_share=experiment.holdout_share)
    experiment.sample_treated, experiment.sample_holdout, experiment.sample_method = (
        size.treated, size.holdout, size.method)
    experiment.duration_days = math.ceil(size.total / experiment.accounts_per_week * 7)


def _save(experiment: Experiment, guardrails=None) -> Experiment:
    try:
        experiment.full_clean()
    except ValidationError as error:
        raise InvalidInput("Invalid experiment.", errors=[
            {"index": None, "field": None if field == "__all__" else field, "message": message}
            for field, messages in error.message_dict.items() for message in messages]) from None
    experiment.save()
    if guardrails is not None:
        experiment.guardrails.set(guardrails)
    return experiment


@transaction.atomic
def experiment_register(*, user, guardrails=(), **design) -> Experiment:
    """Pre-register an experiment (a draft): its design, and the sample size and duration that follow."""
    unknown = set(design) - set(DESIGN_FIELDS)
    if unknown:
        raise TypeError(f"Unknown experiment fields: {', '.join(sorted(unknown))}")
    experiment = Experiment(created_by=user, **{"test": "", **design})
    _plan(experiment)
    return _save(experiment, guardrails=list(guardrails))


@transaction.atomic
def experiment_update(*, experiment: Experiment, guardrails=None, **design) -> Experiment:
    """Change the design of a draft; a started experiment's design is what it is judged by, so it is refused."""
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if locked.status != ExperimentStatus.DRAFT:
        raise InvalidInput("A started experiment's pre-registration cannot change.", status_code=409)
    for name, value in design.items():
        if name not in DESIGN_FIELDS:
            raise TypeError(f"Unknown experiment field: {name}")
        setattr(locked, name, value)
    if "metric" in design and "test" not in design:
        locked.test = ""
    _plan(locked)
    return _save(locked, guardrails=guardrails)


@transaction.atomic
def experiment_start(*, experiment: Experiment, user, now: datetime | None = None) -> Experiment:
    """From now on, the playbook's eligible accounts are assigned an arm and the holdout gets no run. The
    planned end is the last day of entry plus the horizon: the day the final analysis may be read."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    planned_end = today + timedelta(days=experiment.duration_days + experiment.horizon_days)
    try:
        with transaction.atomic():
            started = Experiment.objects.filter(pk=experiment.pk, status=ExperimentStatus.DRAFT).update(
                status=ExperimentStatus.RUNNING, started_at=now, started_by=user, planned_end=planned_end)
    except IntegrityError:
        raise InvalidInput("Another experiment is running on this playbook; conclude it first.",
                           status_code=409) from None
    if not started:
        raise InvalidInput("Only a pre-registered (draft) experiment can start.", status_code=409)
    experiment.refresh_from_db()
    return experiment


@transaction.atomic
def experiment_conclude(*, experiment: Experiment, user, decision: str, note: str = "", extend_days: int | None = None,
                        now: datetime | None = None) -> Experiment:
    """Record the decision: adopt or stop conclude it (the holdout ends, runs start for everyone again);
    extend keeps it running `extend_days` longer. The next quarterly review's agenda shows the decision."""
    now = now or timezone.now()
    if decision not in ExperimentDecision.values:
        raise _refused("decision", f"decision must be one of {', '.join(ExperimentDecision.values)}.")
    if not note.strip():
        raise _refused("note", "Say why (the note is what the review reads).")
    locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if locked.status != ExperimentStatus.RUNNING:
        raise InvalidInput("Only a running experiment can be concluded or extended.", status_code=409)
    # The result the decision was taken on, read before the decision changes which analysis applies.
    result = result_summary(experiment_results(experiment=locked, today=timezone.localdate(now)))
    if decision == ExperimentDecision.EXTEND:
        if not extend_days or extend_days < 1:
            raise _refused("extend_days", "Extending needs a number of days, at least 1.")
        locked.duration_days += extend_days
        locked.planned_end += timedelta(days=extend_days)
    else:
        locked.status = ExperimentStatus.CONCLUDED
    locked.decision, locked.decision_note, locked.decided_by, locked.decided_at = decision, note.strip(), user, now
    locked.result = result
    locked.save()
    return locked
