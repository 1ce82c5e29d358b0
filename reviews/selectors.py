"""Reads of reviews: the list, a review's snapshot and decisions, its agenda (off-track KPIs, decisions carried
over from earlier reviews, the quarter's playbook effectiveness) and what the exports print."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from metrics.status import TargetStatus
from reviews.models import UNFINISHED_DECISION_STATUSES, Decision, DecisionUpdate, Review, ReviewKPI, Scenario
from reviews.quarters import quarter_bounds
from reviews.scenarios import Baseline, Drivers, Quarter, project

# The snapshot reads worst first: what needs a decision leads.
STATUS_ORDER = {TargetStatus.OFF_TRACK: 0, TargetStatus.AT_RISK: 1, TargetStatus.NO_VALUE: 2,
                TargetStatus.NO_TARGET: 3, TargetStatus.ON_TRACK: 4}


def review_list() -> QuerySet[Review]:
    """Reviews, latest quarter first, with their decision counts. One query."""
    return (Review.objects.select_related("facilitator")
            .annotate(decision_count=Count("decisions", distinct=True),
                      unfinished_count=Count("decisions", filter=Q(decisions__status__in=UNFINISHED_DECISION_STATUSES),
                                             distinct=True))
            .order_by("-quarter", "-id"))


def review_snapshot(*, review: Review) -> list[ReviewKPI]:
    """The snapshot rows, portfolio rows worst status first, each KPI's segment rows after its portfolio row."""
    rows = list(review.kpis.select_related("kpi", "commentary_by"))
    portfolio = sorted((row for row in rows if not row.dimension),
                       key=lambda row: (STATUS_ORDER.get(row.status, 9), row.kpi.name))
    segments: dict[int, list[ReviewKPI]] = {}
    for row in sorted((row for row in rows if row.dimension), key=lambda row: (row.dimension, row.segment)):
        segments.setdefault(row.kpi_id, []).append(row)
    ordered = []
    for row in portfolio:
        ordered.append(row)
        ordered.extend(segments.get(row.kpi_id, []))
    return ordered


def _with_updates(decisions: QuerySet[Decision]) -> QuerySet[Decision]:
    return decisions.select_related("owner", "kpi", "review", "applied_target").prefetch_related(
        Prefetch("updates", queryset=DecisionUpdate.objects.select_related("author")))


def review_decisions(*, review: Review) -> QuerySet[Decision]:
    """The decisions the review took, soonest deadline first, with their progress updates. Two queries."""
    return _with_updates(review.decisions.order_by("deadline", "id"))


def carried_over_decisions(*, review: Review, today: date) -> list[Decision]:
    """Decisions of earlier quarters' reviews that are not done or dropped, oldest deadline first; each
    carries `overdue` (past its deadline). Two queries."""
    decisions = list(_with_updates(Decision.objects.filter(
        review__quarter__lt=review.quarter, status__in=UNFINISHED_DECISION_STATUSES).order_by("deadline", "id")))
    for decision in decisions:
        decision.overdue = decision.is_overdue(today)
    return decisions


def playbook_effectiveness_for_quarter(*, quarter: str) -> list:
    """How the playbooks started in the quarter did (playbooks.effectiveness), those that ran only."""
    from playbooks.effectiveness import Window, playbooks_effectiveness
    from playbooks.models import Playbook

    start, end = quarter_bounds(quarter)
    reports = playbooks_effectiveness(playbooks=Playbook.objects.order_by("name"), window=Window(start, end))
    return [report for report in reports if report.runs]


def experiments_for_agenda(*, review: Review) -> list:
    """The experiment decisions (adopt, stop, extend) this review hears: those recorded after the previous
    quarter's review closed (or its quarter ended, when it never closed) and, for a closed review, before it
    closed. So each decision comes up at the first review after it was taken, once. Two queries."""
    from playbooks.experiments.selectors import experiments_decided_between

    previous = (Review.objects.filter(quarter__lt=review.quarter).order_by("-quarter", "-id")
                .values("quarter", "closed_at").first())
    after = None
    if previous is not None:
        quarter_end = quarter_bounds(previous["quarter"])[1] + timedelta(days=1)
        after = previous["closed_at"] or datetime.combine(quarter_end, time.min,
                                                          tzinfo=timezone.get_current_timezone())
    return list(experiments_decided_between(after=after, until=review.closed_at))


@dataclass
class Agenda:
    """The order a review is run in."""

    off_track: list[ReviewKPI] = field(default_factory=list)
    carried_over: list[Decision] = field(default_factory=list)
    effectiveness: list = field(default_factory=list)
    experiments: list = field(default_factory=list)


def review_agenda(*, review: Review, today: date, snapshot: list[ReviewKPI] | None = None) -> Agenda:
    """Off-track KPIs first (portfolio rows), then decisions carried over from earlier reviews that are still
    open (overdue ones marked), then the quarter's playbook effectiveness and the experiments decided since the
    last review."""
    snapshot = review_snapshot(review=review) if snapshot is None else snapshot
    return Agenda(
        off_track=[row for row in snapshot if not row.dimension and row.status == TargetStatus.OFF_TRACK],
        carried_over=carried_over_decisions(review=review, today=today),
        effectiveness=playbook_effectiveness_for_quarter(quarter=review.quarter),
        experiments=experiments_for_agenda(review=review),
    )


def review_detail_queryset() -> QuerySet[Review]:
    """A review with the people it names, for its pages."""
    return Review.objects.select_related("facilitator", "created_by", "closed_by").prefetch_related("attendees")


@dataclass
class ScenarioView:
    """A saved scenario's projection beside today's trajectory, from the numbers frozen when it was saved."""

    scenario: Scenario
    baseline: Baseline
    drivers: Drivers
    trajectory_drivers: Drivers
    quarters: list[Quarter]
    trajectory: list[Quarter]


def scenario_view(*, scenario: Scenario) -> ScenarioView:
    """The saved drivers and today's drivers, each projected from the baseline frozen with the scenario."""
    baseline = Baseline(**scenario.baseline)
    drivers = Drivers(**{name: getattr(scenario, name) for name in Drivers.names()})
    today = Drivers(**scenario.trajectory)
    return ScenarioView(scenario=scenario, baseline=baseline, drivers=drivers, trajectory_drivers=today,
                        quarters=project(drivers, baseline), trajectory=project(today, baseline))


def scenario_list() -> QuerySet[Scenario]:
    """Saved scenarios, last changed first, with the review each is attached to. One query."""
    return Scenario.objects.select_related("review", "created_by").order_by("-updated_at", "-id")
