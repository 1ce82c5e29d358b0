"""The improvement backlog: the reviews' initiatives and experiments, and the playbook experiments, ranked by the
revenue at stake behind the KPI gap each addresses: the ARR of the accounts whose latest value of the KPI is on
the wrong side of its current target. Each with its owner, status and measured result. Four queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Count, Q

from playbooks.models import PROPORTION_METRICS, Arm, Experiment, ExperimentStatus
from reviews.models import Decision, DecisionKind

GAP_SQL = """
    WITH target AS (
        SELECT DISTINCT ON (t.kpi_id) t.kpi_id, t.value FROM metrics_kpitarget t
        WHERE t.kpi_id = ANY(%(kpis)s::bigint[]) AND t.dimension = '' AND t.superseded_at IS NULL
        ORDER BY t.kpi_id, t.period DESC
    ), latest AS (
        SELECT DISTINCT ON (v.kpi_id, v.account_id) v.kpi_id, v.account_id, v.value FROM metrics_metricvalue v
        WHERE v.kpi_id = ANY(%(kpis)s::bigint[]) AND v.scope = 'account' AND v.value IS NOT NULL
          AND v.as_of <= %(today)s
        ORDER BY v.kpi_id, v.account_id, v.as_of DESC
    )
    SELECT l.kpi_id, t.value, count(*), coalesce(sum(arr.arr), 0)
    FROM latest l JOIN target t ON t.kpi_id = l.kpi_id JOIN metrics_kpi k ON k.id = l.kpi_id
    JOIN accounts_account a ON a.id = l.account_id
    -- Each behind account's latest MRR, one index probe each: a CTE over every snapshot joined here was
    -- rescanned once per account (889 ms on the demo, 669 accounts behind).
    LEFT JOIN LATERAL (SELECT r.mrr * 12 AS arr FROM accounts_revenuesnapshot r WHERE r.account_id = l.account_id
                       AND r.month <= %(today)s ORDER BY r.month DESC LIMIT 1) arr ON true
    WHERE (k.direction = 'higher' AND l.value < t.value OR k.direction = 'lower' AND l.value > t.value)
      AND (%(owner)s::bigint IS NULL OR a.owner_id = %(owner)s)
    GROUP BY l.kpi_id, t.value
"""
# The portfolio value of each KPI on or before each day asked (the decision's day) and the latest.
MOVED_SQL = """
    SELECT d.kpi_id, d.day,
      (SELECT v.value FROM metrics_metricvalue v WHERE v.kpi_id = d.kpi_id AND v.scope = 'portfolio'
         AND v.value IS NOT NULL AND v.as_of <= d.day ORDER BY v.as_of DESC LIMIT 1),
      (SELECT v.value FROM metrics_metricvalue v WHERE v.kpi_id = d.kpi_id AND v.scope = 'portfolio'
         AND v.value IS NOT NULL AND v.as_of <= %(today)s ORDER BY v.as_of DESC LIMIT 1)
    FROM unnest(%(kpis)s::bigint[], %(days)s::date[]) AS d(kpi_id, day)
"""
EXPERIMENT_ARR_SQL = """
    SELECT e.experiment_id, coalesce(sum(arr.arr), 0) FROM playbooks_experimentassignment e
    JOIN accounts_account a ON a.id = e.account_id
    LEFT JOIN LATERAL (SELECT r.mrr * 12 AS arr FROM accounts_revenuesnapshot r WHERE r.account_id = e.account_id
                       AND r.month <= %(today)s ORDER BY r.month DESC LIMIT 1) arr ON true
    WHERE e.experiment_id = ANY(%(experiments)s::bigint[]) AND (%(owner)s::bigint IS NULL OR a.owner_id = %(owner)s)
    GROUP BY e.experiment_id
"""


@dataclass
class BacklogItem:
    kind: str  # "initiative", "review experiment" or "experiment"
    title: str
    owner: object
    status: str
    kpi: object
    target: float | None
    accounts_behind: int
    revenue_at_stake: float
    result: str
    url_name: str
    url_pk: int


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _moved(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "No KPI value to compare yet."
    return f"KPI {before:.1f} when decided, {after:.1f} now ({after - before:+.1f})."


def _experiment_result(experiment: Experiment) -> str:
    """What an experiment measured when its last decision was recorded; before any, where it stands (reading
    its results takes four queries an experiment: its page does that)."""
    if experiment.decision:
        return f"Decided: {experiment.get_decision_display()}. Measured then: {experiment.result}"
    arms = f"{experiment.treated} treated, {experiment.held} held out"
    if experiment.status == ExperimentStatus.DRAFT:
        return "Not started."
    return f"Running ({arms}); the pre-registered test is read from {experiment.planned_end:%Y-%m-%d}."


def improvement_backlog(*, today: date, owner=None) -> list[BacklogItem]:
    """Initiatives and experiments, most revenue at stake first. With `owner` (a CSM), revenue at stake counts
    the accounts they own only."""
    owner_id = getattr(owner, "pk", None)
    decisions = list(Decision.objects.filter(kind__in=(DecisionKind.INITIATIVE, DecisionKind.EXPERIMENT))
                     .select_related("owner", "kpi", "review").order_by("id"))
    experiments = list(Experiment.objects.select_related("kpi", "playbook", "created_by", "decided_by")
                       .annotate(treated=Count("assignments", filter=Q(assignments__arm=Arm.TREATED)),
                                 held=Count("assignments", filter=Q(assignments__arm=Arm.HOLDOUT)))
                       .order_by("id"))
    kpis = sorted({d.kpi_id for d in decisions if d.kpi_id} | {e.kpi_id for e in experiments if e.kpi_id})
    gaps = {kpi: (target, count, float(arr)) for kpi, target, count, arr in
            _rows(GAP_SQL, {"kpis": kpis, "today": today, "owner": owner_id})} if kpis else {}
    with_kpi = [d for d in decisions if d.kpi_id]
    moved = {(kpi, day): (before, after) for kpi, day, before, after in _rows(MOVED_SQL, {
        "kpis": [d.kpi_id for d in with_kpi], "days": [d.created_at.date() for d in with_kpi], "today": today})
    } if with_kpi else {}
    churn = [e.pk for e in experiments if e.metric in PROPORTION_METRICS]
    experiment_arr = dict(_rows(EXPERIMENT_ARR_SQL, {"experiments": churn, "today": today, "owner": owner_id})) \
        if churn else {}
    items = []
    for decision in decisions:
        target, behind, arr = gaps.get(decision.kpi_id, (None, 0, 0.0))
        result = (_moved(*moved.get((decision.kpi_id, decision.created_at.date()), (None, None)))
                  if decision.kpi_id else "No KPI named.")
        items.append(BacklogItem(
            kind="initiative" if decision.kind == DecisionKind.INITIATIVE else "review experiment",
            title=decision.text, owner=decision.owner, status=decision.get_status_display(), kpi=decision.kpi,
            target=target, accounts_behind=behind, revenue_at_stake=arr, result=result,
            url_name="review_detail", url_pk=decision.review_id))
    for experiment in experiments:
        if experiment.metric in PROPORTION_METRICS:
            # A churn or renewal experiment's stake is the ARR of the accounts in it.
            behind = experiment.treated + experiment.held
            target, arr = None, float(experiment_arr.get(experiment.pk, 0))
        else:
            target, behind, arr = gaps.get(experiment.kpi_id, (None, 0, 0.0))
        items.append(BacklogItem(
            kind="experiment", title=experiment.name, owner=experiment.decided_by or experiment.created_by,
            status=experiment.get_status_display(), kpi=experiment.kpi, target=target, accounts_behind=behind,
            revenue_at_stake=arr, result=_experiment_result(experiment),
            url_name="experiment_detail", url_pk=experiment.pk))
    return sorted(items, key=lambda item: (-item.revenue_at_stake, item.title))
