"""Reads of experiments: who may see which, the arms' sizes, and the results, with the analysis that is valid
at the moment they are read (always-valid before the planned end, the pre-registered test from it on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from metrics.prediction.features import next_renewal_sql
from playbooks.experiments.statistics import (
    AlwaysValid,
    Estimate,
    always_valid,
    always_valid_for,
    difference_of_proportions,
    mann_whitney,
    welch_t,
)
from playbooks.models import (
    PROPORTION_METRICS,
    Arm,
    Experiment,
    ExperimentAssignment,
    ExperimentDecision,
    ExperimentMetric,
    ExperimentStatus,
    ExperimentTest,
    Playbook,
)
from playbooks.templatetags.playbook_tags import effect, p_value
from users.models import Role

# A KPI's value "at entry" is the latest stored within this many days before; "after N days" the one nearest to
# that day within this many days either side (as playbook effectiveness reads a KPI a month after a breach).
VALUE_TOLERANCE_DAYS = 14
# Below this many outcomes in an arm nothing is estimated: the normal approximations do not hold yet.
MIN_OUTCOMES = 10


def held_out_message(*, playbook: Playbook, account) -> str:
    return (f"{account} is in the holdout of the experiment running on '{playbook}': the playbook does not run "
            f"for it while the experiment lasts.")


def sees_all_experiments(user) -> bool:
    """Leaders, admins, managers and viewers see every experiment; a CSM those that include their accounts."""
    return getattr(user, "role", None) != Role.CSM


def experiment_list(*, user=None) -> QuerySet[Experiment]:
    """Experiments, newest first, with their arms' sizes; for a CSM only those with their accounts. One query."""
    experiments = (Experiment.objects.select_related("playbook", "kpi")
                   .annotate(treated_count=Count("assignments", filter=Q(assignments__arm=Arm.TREATED)),
                             holdout_count=Count("assignments", filter=Q(assignments__arm=Arm.HOLDOUT))))
    if user is not None and not sees_all_experiments(user):
        experiments = experiments.filter(Exists(ExperimentAssignment.objects.filter(
            experiment=OuterRef("pk"), account__owner=user)))
    return experiments.order_by("-created_at", "-id")


def experiment_assignments(*, experiment: Experiment, user=None) -> QuerySet[ExperimentAssignment]:
    """The accounts in the experiment and their arms (a CSM's own accounts only), earliest entry first."""
    assignments = experiment.assignments.select_related("account__owner").order_by("entered_on", "id")
    if user is not None and not sees_all_experiments(user):
        assignments = assignments.filter(account__owner=user)
    return assignments


@dataclass
class Outcomes:
    """Per arm, the outcome of every account whose horizon has passed (a change, or 1 = churned)."""

    treated: np.ndarray
    holdout: np.ndarray
    pending: int = 0


@dataclass
class MetricResult:
    """One metric's comparison: the pre-registered test (final analysis) or the always-valid bound (before)."""

    name: str
    unit: str
    estimate: Estimate | None
    interim: AlwaysValid
    final: bool
    harmed: bool = False

    @property
    def shown(self):
        """What to print: the final estimate from the planned end, the always-valid interval before."""
        return self.estimate if self.final else self.interim


@dataclass
class Results:
    experiment: Experiment
    today: date
    treated_assigned: int = 0
    holdout_assigned: int = 0
    primary: MetricResult | None = None
    guardrails: list[MetricResult] = field(default_factory=list)
    pending: int = 0

    @property
    def look(self) -> str:
        if self.primary is None:
            return "none"
        return "final" if self.primary.final else "interim"


def _entries_sql(*, last_entry: date | None) -> str:
    limit = "AND a.entered_on <= %(last_entry)s" if last_entry else ""
    return f"""
        SELECT a.account_id, a.arm, a.entered_on, a.entered_on + %(horizon)s AS read_on
        FROM {ExperimentAssignment._meta.db_table} a
        WHERE a.experiment_id = %(experiment)s {limit}"""


KPI_CHANGES_SQL = """
    WITH entries AS ({entries})
    SELECT k.kpi_id, e.arm, e.read_on <= %(today)s AS known,
      (SELECT v.value FROM metrics_metricvalue v
        WHERE v.kpi_id = k.kpi_id AND v.scope = 'account' AND v.account_id = e.account_id AND v.value IS NOT NULL
          AND v.as_of BETWEEN e.entered_on - %(tolerance)s AND e.entered_on
        ORDER BY v.as_of DESC LIMIT 1) AS before,
      (SELECT v.value FROM metrics_metricvalue v
        WHERE v.kpi_id = k.kpi_id AND v.scope = 'account' AND v.account_id = e.account_id AND v.value IS NOT NULL
          AND v.as_of BETWEEN e.read_on - %(tolerance)s AND least(e.read_on + %(tolerance)s, %(today)s)
        ORDER BY abs(v.as_of - e.read_on), v.as_of LIMIT 1) AS after
    FROM entries e CROSS JOIN unnest(%(kpis)s::bigint[]) AS k(kpi_id)
"""

CHURN_SQL = """
    WITH entries AS ({entries})
    SELECT e.arm, e.read_on <= %(today)s AS known,
      (SELECT r.mrr FROM accounts_revenuesnapshot r WHERE r.account_id = e.account_id AND r.month <= e.entered_on
        ORDER BY r.month DESC LIMIT 1) AS mrr_before,
      (SELECT r.mrr FROM accounts_revenuesnapshot r WHERE r.account_id = e.account_id AND r.month <= e.read_on
        ORDER BY r.month DESC LIMIT 1) AS mrr_after
    FROM entries e
"""


# A renewal is read this long after its date: an account still paying then renewed (as the renewal model reads it).
RENEWAL_GRACE_DAYS = 30
RENEWAL_SQL = """
    WITH entries AS ({entries}), due AS (
        SELECT e.account_id, e.arm, e.read_on, {next_renewal} AS renews_on
        FROM entries e JOIN accounts_account acc ON acc.id = e.account_id WHERE acc.renewal_date IS NOT NULL
    )
    SELECT d.arm, d.renews_on + %(grace)s <= %(today)s AS known,
      (SELECT r.mrr FROM accounts_revenuesnapshot r WHERE r.account_id = d.account_id
         AND r.month <= d.renews_on + %(grace)s ORDER BY r.month DESC LIMIT 1) AS mrr_after
    FROM due d WHERE d.renews_on <= d.read_on
"""


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def kpi_changes(*, experiment: Experiment, kpi_ids: list[int], today: date, last_entry: date | None
                ) -> dict[int, Outcomes]:
    """Each KPI's change from entry to N days later, per arm, for every account whose N days have passed and
    that has both values. One query for all the KPIs."""
    params = {"experiment": experiment.pk, "horizon": experiment.horizon_days, "today": today,
              "tolerance": VALUE_TOLERANCE_DAYS, "kpis": kpi_ids, "last_entry": last_entry}
    collected: dict[int, dict[str, list[float]]] = {kpi_id: {Arm.TREATED: [], Arm.HOLDOUT: []} for kpi_id in kpi_ids}
    pending: dict[int, int] = dict.fromkeys(kpi_ids, 0)
    for kpi_id, arm, known, before, after in _rows(
            KPI_CHANGES_SQL.format(entries=_entries_sql(last_entry=last_entry)), params):
        if not known:
            pending[kpi_id] += 1
        elif before is not None and after is not None:
            collected[kpi_id][arm].append(after - before)
    return {kpi_id: Outcomes(np.array(arms[Arm.TREATED]), np.array(arms[Arm.HOLDOUT]), pending[kpi_id])
            for kpi_id, arms in collected.items()}


def churn_outcomes(*, experiment: Experiment, today: date, last_entry: date | None) -> Outcomes:
    """1 for an account paying at entry and at zero MRR when its horizon ended, 0 if still paying. One query."""
    params = {"experiment": experiment.pk, "horizon": experiment.horizon_days, "today": today,
              "last_entry": last_entry}
    arms: dict[str, list[int]] = {Arm.TREATED: [], Arm.HOLDOUT: []}
    pending = 0
    for arm, known, before, after in _rows(CHURN_SQL.format(entries=_entries_sql(last_entry=last_entry)), params):
        if not known:
            pending += 1
        elif before is not None and before > 0:
            arms[arm].append(1 if after is not None and after == 0 else 0)
    return Outcomes(np.array(arms[Arm.TREATED]), np.array(arms[Arm.HOLDOUT]), pending)


def renewal_outcomes(*, experiment: Experiment, today: date, last_entry: date | None) -> Outcomes:
    """For every account whose renewal date (its yearly anniversary) falls within its horizon: 1 when it still
    pays RENEWAL_GRACE_DAYS after that date, 0 when it pays nothing. Accounts with no renewal in their horizon
    are not in the comparison. One query."""
    params = {"experiment": experiment.pk, "horizon": experiment.horizon_days, "today": today,
              "last_entry": last_entry, "grace": RENEWAL_GRACE_DAYS}
    sql = RENEWAL_SQL.format(entries=_entries_sql(last_entry=last_entry),
                             next_renewal=next_renewal_sql("acc.renewal_date", "e.entered_on"))
    arms: dict[str, list[int]] = {Arm.TREATED: [], Arm.HOLDOUT: []}
    pending = 0
    for arm, known, after in _rows(sql, params):
        if not known:
            pending += 1
        else:
            arms[arm].append(1 if after is not None and after > 0 else 0)
    return Outcomes(np.array(arms[Arm.TREATED]), np.array(arms[Arm.HOLDOUT]), pending)


def _interim_rank(outcomes: Outcomes, alpha: float, mixing_sd: float) -> AlwaysValid:
    """The always-valid bound of the probability of superiority, from its normal approximation."""
    estimate = mann_whitney(outcomes.treated, outcomes.holdout, alpha=alpha)
    if estimate.effect is None or estimate.ci_low is None:
        return AlwaysValid(None, None, None, None)
    se = (estimate.ci_high - estimate.ci_low) / 2 / 1.959963984540054
    if se <= 0:
        return AlwaysValid(None, None, None, None)
    bound = always_valid(estimate.effect - 0.5, se * se, alpha=alpha, mixing_sd=mixing_sd)
    return AlwaysValid(estimate.effect, bound.ci_low + 0.5, bound.ci_high + 0.5, bound.p_value)


def _compare(*, name: str, unit: str, outcomes: Outcomes, test: str, alpha: float, mixing_sd: float,
             final: bool) -> MetricResult:
    treated, holdout = outcomes.treated, outcomes.holdout
    if len(treated) < MIN_OUTCOMES or len(holdout) < MIN_OUTCOMES:
        empty = Estimate(test, None, None, None, None, len(treated), len(holdout))
        return MetricResult(name, unit, empty, AlwaysValid(None, None, None, None), final)
    if test == ExperimentTest.PROPORTIONS:
        estimate = difference_of_proportions(int(treated.sum()), len(treated), int(holdout.sum()), len(holdout),
                                             alpha=alpha)
        interim = always_valid_for(estimate, alpha=alpha, mixing_sd=mixing_sd, treated_rate=estimate.treated,
                                   holdout_rate=estimate.holdout)
    elif test == ExperimentTest.MANN_WHITNEY:
        estimate = mann_whitney(treated, holdout, alpha=alpha)
        interim = _interim_rank(outcomes, alpha, mixing_sd)
    else:
        estimate = welch_t(treated, holdout, alpha=alpha)
        interim = always_valid_for(estimate, alpha=alpha, mixing_sd=mixing_sd, treated_values=treated,
                                   holdout_values=holdout)
    return MetricResult(name, unit, estimate, interim, final)


def is_final(experiment: Experiment, today: date) -> bool:
    """The pre-registered test is read once, from the planned end on, and only for a design that was not
    changed on the way: an extended experiment is judged by the always-valid bound alone."""
    return (experiment.planned_end is not None and today >= experiment.planned_end
            and experiment.decision != ExperimentDecision.EXTEND
            and not (experiment.status == ExperimentStatus.CONCLUDED and experiment.decided_at is not None
                     and experiment.decided_at.date() < experiment.planned_end))


def experiment_results(*, experiment: Experiment, today: date) -> Results:
    """The arms' sizes and, once started, the primary metric and the guardrails. Four queries."""
    results = Results(experiment=experiment, today=today)
    counts = dict(experiment.assignments.values_list("arm").annotate(n=Count("id")).values_list("arm", "n"))
    results.treated_assigned, results.holdout_assigned = counts.get(Arm.TREATED, 0), counts.get(Arm.HOLDOUT, 0)
    if experiment.status == ExperimentStatus.DRAFT or experiment.started_at is None:
        return results
    final = is_final(experiment, today)
    # The final analysis reads the accounts that entered in the planned entry period only.
    last_entry = (experiment.planned_end - timedelta(days=experiment.horizon_days)) if final else None
    guardrails = list(experiment.guardrails.all())
    primary_mixing = abs(experiment.minimum_effect) / (100 if experiment.metric in PROPORTION_METRICS else 1)
    if experiment.test == ExperimentTest.MANN_WHITNEY:
        primary_mixing = 0.1  # a shift of a tenth in the probability of superiority
    kpi_ids = [kpi.pk for kpi in guardrails]
    if experiment.metric == ExperimentMetric.KPI_CHANGE:
        kpi_ids = [experiment.kpi_id, *kpi_ids]
    changes = kpi_changes(experiment=experiment, kpi_ids=kpi_ids, today=today, last_entry=last_entry) if kpi_ids \
        else {}
    if experiment.metric == ExperimentMetric.CHURN:
        outcomes = churn_outcomes(experiment=experiment, today=today, last_entry=last_entry)
        name, unit = f"Churn within {experiment.horizon_days} days", "share"
    elif experiment.metric == ExperimentMetric.RENEWAL:
        outcomes = renewal_outcomes(experiment=experiment, today=today, last_entry=last_entry)
        name, unit = f"Renewal at a renewal date within {experiment.horizon_days} days", "share"
    else:
        outcomes = changes[experiment.kpi_id]
        name = f"Change in {experiment.kpi.name} after {experiment.horizon_days} days"
        unit = "superiority" if experiment.test == ExperimentTest.MANN_WHITNEY else experiment.kpi.unit
    results.pending = outcomes.pending
    results.primary = _compare(name=name, unit=unit, outcomes=outcomes, test=experiment.test,
                               alpha=experiment.alpha, mixing_sd=primary_mixing, final=final)
    for kpi in guardrails:
        outcomes = changes[kpi.pk]
        spread = np.concatenate([outcomes.treated, outcomes.holdout])
        # Guardrails are watched all along, so they are always judged by the always-valid bound.
        mixing = float(spread.std(ddof=1)) / 2 if len(spread) > 2 and spread.std(ddof=1) > 0 else 1.0
        result = _compare(name=f"Change in {kpi.name}", unit=kpi.unit, outcomes=outcomes,
                          test=ExperimentTest.WELCH_T, alpha=experiment.alpha, mixing_sd=mixing, final=False)
        worse = (result.interim.ci_high is not None and result.interim.ci_high < 0 if kpi.direction == "higher"
                 else result.interim.ci_low is not None and result.interim.ci_low > 0)
        result.harmed = bool(worse)
        results.guardrails.append(result)
    return results


def result_summary(results: Results) -> str:
    """The primary metric's result in one sentence, as the experiment's page reads it: the final test from the
    planned end, the always-valid interval before; and any guardrail harmed."""
    experiment, primary = results.experiment, results.primary
    arms = f"{results.treated_assigned} treated, {results.holdout_assigned} held out"
    if primary is None:
        return f"Not started ({arms})."
    shown = primary.shown
    if shown.ci_low is None:
        return f"{primary.name}: too few outcomes yet ({arms}; {results.pending} within their horizon)."
    level = f"{(1 - experiment.alpha) * 100:g}%"
    look = "final analysis" if primary.final else "always-valid interval, before the planned end"
    text = (f"{primary.name}: {effect(shown.effect, primary.unit)} ({level} CI {effect(shown.ci_low, primary.unit)} "
            f"to {effect(shown.ci_high, primary.unit)}), p {p_value(shown.p_value)}, {look}; {arms}.")
    harmed = [guardrail.name for guardrail in results.guardrails if guardrail.harmed]
    return text + (f" Guardrail harmed: {', '.join(harmed)}." if harmed else "")


def experiments_decided_between(*, after=None, until=None) -> QuerySet[Experiment]:
    """Experiments whose decision was recorded in (after, until]: what a review's agenda lists."""
    experiments = Experiment.objects.filter(decided_at__isnull=False).select_related("playbook", "decided_by")
    if after is not None:
        experiments = experiments.filter(decided_at__gt=after)
    if until is not None:
        experiments = experiments.filter(decided_at__lte=until)
    return experiments.order_by("decided_at", "id")


def _bound(value) -> dict | None:
    if value is None:
        return None
    fields = ("effect", "ci_low", "ci_high", "p_value")
    data = {name: getattr(value, name) for name in fields}
    if isinstance(value, Estimate):
        data.update(test=value.test, n_treated=value.n_treated, n_holdout=value.n_holdout, treated=value.treated,
                    holdout=value.holdout)
    return data


def metric_result_data(result: MetricResult) -> dict:
    """A metric's comparison as plain data. Before the planned end the fixed-horizon estimate is left out: its
    p-value is not valid under repeated looks, so only the always-valid bound is given."""
    return {"name": result.name, "unit": result.unit, "look": "final" if result.final else "interim",
            "estimate": _bound(result.estimate) if result.final else None,
            "always_valid": _bound(result.interim),
            "outcomes": {"treated": result.estimate.n_treated if result.estimate else 0,
                         "holdout": result.estimate.n_holdout if result.estimate else 0},
            "harmed": result.harmed}


def results_data(results: Results) -> dict:
    return {"look": results.look, "today": results.today, "pending": results.pending,
            "assigned": {"treated": results.treated_assigned, "holdout": results.holdout_assigned},
            "primary": metric_result_data(results.primary) if results.primary else None,
            "guardrails": [metric_result_data(result) for result in results.guardrails]}
