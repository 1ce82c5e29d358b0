"""Playbook effectiveness: did the work a playbook started get done, on time, and did the KPI recover faster
than for breached accounts that got no playbook at all? Three set-based queries whatever the number of
playbooks, runs or tasks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
)
from django.utils import timezone

from metrics.models import Breach, BreachStatus, MetricValue, Scope
from playbooks.models import Playbook, PlaybookRun, RunStatus, Task, TaskStatus

# The KPI's value "30 days after the breach" is the account's stored value nearest to that day, taken only
# from this many days either side: a value from the day after the breach says nothing about a month later.
FOLLOW_UP_DAYS = 30
FOLLOW_UP_TOLERANCE_DAYS = 14
# Below this many breaches on either side, the explanation warns that the difference may be chance.
SMALL_GROUP = 5


class Median(Aggregate):
    """PostgreSQL's percentile_cont(0.5): the median, interpolated between the middle two values."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False


@dataclass(frozen=True)
class KPIChange:
    """How a KPI moved from the breach to a month later over a group of breaches (in the KPI's unit)."""

    n: int = 0
    mean: float | None = None
    median: float | None = None


@dataclass(frozen=True)
class Window:
    """Runs started (and breaches opened) from `start` to `end`, both days included; None is open-ended."""

    start: date | None = None
    end: date | None = None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        zone = timezone.get_current_timezone()
        low = datetime.combine(self.start, time.min, tzinfo=zone) if self.start else None
        high = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone) if self.end else None
        return low, high


@dataclass
class PlaybookEffectiveness:
    """One playbook's report. Rates are fractions (0 to 1), None when there is nothing to divide by."""

    playbook: Playbook
    window: Window
    runs: int = 0
    active: int = 0
    completed: int = 0
    recovered: int = 0
    cancelled: int = 0
    tasks_done: int = 0
    tasks_on_time: int = 0
    breach_runs: int = 0
    breaches_resolved: int = 0
    median_time_to_resolution: timedelta | None = None
    kpi_change: KPIChange = field(default_factory=KPIChange)
    control: KPIChange = field(default_factory=KPIChange)

    @property
    def finished(self) -> int:
        return self.completed + self.recovered + self.cancelled

    @property
    def completion_rate(self) -> float | None:
        """Runs that ended well (every task done, or closed because the KPI recovered) of the runs that ended;
        a run still in progress has not failed yet, so it is not counted either way."""
        return _ratio(self.completed + self.recovered, self.finished)

    @property
    def on_time_rate(self) -> float | None:
        return _ratio(self.tasks_on_time, self.tasks_done)

    @property
    def resolved_rate(self) -> float | None:
        return _ratio(self.breaches_resolved, self.breach_runs)

    @property
    def median_hours_to_resolution(self) -> float | None:
        if self.median_time_to_resolution is None:
            return None
        return self.median_time_to_resolution.total_seconds() / 3600

    @property
    def uplift(self) -> float | None:
        """Mean KPI change with the playbook minus without it (the control group), where both exist."""
        if self.kpi_change.mean is None or self.control.mean is None:
            return None
        return self.kpi_change.mean - self.control.mean


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _window_filter(prefix: str, window: Window) -> Q:
    low, high = window.bounds()
    condition = Q()
    if low is not None:
        condition &= Q(**{f"{prefix}__gte": low})
    if high is not None:
        condition &= Q(**{f"{prefix}__lt": high})
    return condition


def _run_counts(playbook_ids: list[int], window: Window) -> dict[int, dict]:
    resolved = Q(breach__status=BreachStatus.RESOLVED)
    rows = (PlaybookRun.objects.filter(_window_filter("started_at", window), playbook_id__in=playbook_ids)
            .values("playbook_id")
            .annotate(runs=Count("id"),
                      active=Count("id", filter=Q(status=RunStatus.ACTIVE)),
                      completed=Count("id", filter=Q(status=RunStatus.COMPLETED)),
                      recovered=Count("id", filter=Q(status=RunStatus.CLOSED_BY_RECOVERY)),
                      cancelled=Count("id", filter=Q(status=RunStatus.CANCELLED)),
                      breach_runs=Count("id", filter=Q(breach__isnull=False)),
                      breaches_resolved=Count("id", filter=resolved),
                      median_time_to_resolution=Median(
                          ExpressionWrapper(F("breach__resolved_at") - F("breach__opened_at"),
                                            output_field=DurationField()),
                          filter=resolved, output_field=DurationField()))
            .order_by())
    return {row.pop("playbook_id"): row for row in rows}


def _task_counts(playbook_ids: list[int], window: Window) -> dict[int, dict]:
    rows = (Task.objects.filter(_window_filter("run__started_at", window), run__playbook_id__in=playbook_ids,
                                status=TaskStatus.DONE)
            .values("run__playbook_id")
            .annotate(tasks_done=Count("id"),
                      tasks_on_time=Count("id", filter=Q(completed_at__lte=F("due_at"))))
            .order_by())
    return {row.pop("run__playbook_id"): row for row in rows}


# Treated: account breaches that started one of the playbooks' runs. Control: breaches of the same alert
# rules (the rules its runs came from, and the rule it is set to now) that started no run of any playbook.
# Each breach is paired with its account's value of the KPI nearest to FOLLOW_UP_DAYS after it opened.
_KPI_CHANGE_SQL = """
WITH treated AS (
    SELECT r.playbook_id, b.id AS breach_id, b.rule_id, b.kpi_id, b.account_id, b.opened_as_of, b.value_at_open
    FROM {run} r JOIN {breach} b ON b.id = r.breach_id
    WHERE r.playbook_id = ANY(%(playbooks)s) AND b.account_id IS NOT NULL
      AND (%(low)s::timestamptz IS NULL OR r.started_at >= %(low)s)
      AND (%(high)s::timestamptz IS NULL OR r.started_at < %(high)s)
), control_rules AS (
    SELECT DISTINCT playbook_id, rule_id FROM treated
    UNION
    SELECT id, alert_rule_id FROM {playbook} WHERE id = ANY(%(playbooks)s) AND alert_rule_id IS NOT NULL
), control AS (
    SELECT cr.playbook_id, b.id AS breach_id, b.rule_id, b.kpi_id, b.account_id, b.opened_as_of, b.value_at_open
    FROM control_rules cr JOIN {breach} b ON b.rule_id = cr.rule_id
    WHERE b.account_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM {run} r WHERE r.breach_id = b.id)
      AND (%(low)s::timestamptz IS NULL OR b.opened_at >= %(low)s)
      AND (%(high)s::timestamptz IS NULL OR b.opened_at < %(high)s)
), subjects AS (
    SELECT TRUE AS treated, * FROM treated
    UNION ALL
    SELECT FALSE, * FROM control
), changes AS (
    SELECT s.playbook_id, s.treated, later.value - s.value_at_open AS change
    FROM subjects s
    CROSS JOIN LATERAL (
        SELECT mv.value FROM {value} mv
        WHERE mv.kpi_id = s.kpi_id AND mv.scope = %(scope)s AND mv.account_id = s.account_id
          AND mv.value IS NOT NULL
          AND mv.as_of BETWEEN s.opened_as_of + %(days)s - %(tolerance)s AND s.opened_as_of + %(days)s + %(tolerance)s
        ORDER BY abs(mv.as_of - (s.opened_as_of + %(days)s)), mv.as_of DESC
        LIMIT 1
    ) later
    WHERE s.value_at_open IS NOT NULL
)
SELECT playbook_id, treated, count(*), avg(change), percentile_cont(0.5) WITHIN GROUP (ORDER BY change)
FROM changes GROUP BY playbook_id, treated
"""


def _kpi_changes(playbook_ids: list[int], window: Window) -> dict[tuple[int, bool], KPIChange]:
    sql = _KPI_CHANGE_SQL.format(run=PlaybookRun._meta.db_table, breach=Breach._meta.db_table,
                                 playbook=Playbook._meta.db_table, value=MetricValue._meta.db_table)
    low, high = window.bounds()
    with connection.cursor() as cursor:
        cursor.execute(sql, {"playbooks": playbook_ids, "low": low, "high": high, "scope": Scope.ACCOUNT,
                             "days": FOLLOW_UP_DAYS, "tolerance": FOLLOW_UP_TOLERANCE_DAYS})
        return {(playbook_id, treated): KPIChange(n=n, mean=mean, median=median)
                for playbook_id, treated, n, mean, median in cursor.fetchall()}


def playbooks_effectiveness(*, playbooks: Iterable[Playbook], window: Window | None = None
                            ) -> list[PlaybookEffectiveness]:
    """The effectiveness of each playbook over the window (all time by default), in the order given.

    Three queries in all: run outcomes and breach resolution, task punctuality, and the KPI's change a month
    after each breach, with the playbook and (the control group) without one.
    """
    playbooks = list(playbooks)
    if not playbooks:
        return []
    window = window or Window()
    ids = [playbook.pk for playbook in playbooks]
    runs, tasks, changes = _run_counts(ids, window), _task_counts(ids, window), _kpi_changes(ids, window)
    return [PlaybookEffectiveness(
        playbook=playbook, window=window, **runs.get(playbook.pk, {}), **tasks.get(playbook.pk, {}),
        kpi_change=changes.get((playbook.pk, True), KPIChange()),
        control=changes.get((playbook.pk, False), KPIChange()),
    ) for playbook in playbooks]


def playbook_effectiveness(*, playbook: Playbook, window: Window | None = None) -> PlaybookEffectiveness:
    """One playbook's report: the same three queries."""
    return playbooks_effectiveness(playbooks=[playbook], window=window)[0]


def _change(amount: float, unit: str) -> str:
    return f"{amount:+,.1f}{' points' if unit == 'percent' else ''}"


def effectiveness_explained(report: PlaybookEffectiveness) -> list[str]:
    """The report in plain sentences, for the playbook's page and the quarterly review: what the numbers
    say, and how far the comparison with the control group can be trusted."""
    sentences = [_runs_explained(report)]
    if report.tasks_done:
        sentences.append(f"{report.tasks_on_time} of {report.tasks_done} tasks done were done by their due time.")
    if report.breach_runs:
        sentence = f"{report.breaches_resolved} of the {report.breach_runs} breaches that started a run are resolved"
        if report.median_hours_to_resolution is not None:
            hours = report.median_hours_to_resolution
            sentence += (f"; half of them within {hours / 24:.1f} days" if hours >= 48
                         else f"; half of them within {hours:.0f} hours")
        sentences.append(sentence + ".")
    if not (report.breach_runs or report.playbook.alert_rule_id):
        return sentences  # started by hand or by a lifecycle event: there is no KPI breach to follow
    kpi = report.playbook.alert_rule.kpi if report.playbook.alert_rule_id else None
    unit, lower_is_better = (kpi.unit, kpi.direction == "lower") if kpi else ("", False)
    if report.kpi_change.n:
        sentences.append(f"About {FOLLOW_UP_DAYS} days after the breach, the KPI had moved by "
                         f"{_change(report.kpi_change.mean, unit)} on average for the {report.kpi_change.n} "
                         f"account{'s' if report.kpi_change.n != 1 else ''} the playbook worked on.")
    if report.control.n:
        sentences.append(f"For the {report.control.n} breached account{'s' if report.control.n != 1 else ''} of "
                         f"the same rule that got no run, it moved by {_change(report.control.mean, unit)}.")
    else:
        sentences.append("No breached account of this rule went without a run (or none had a value a month "
                         "later), so there is no group without the playbook to compare with.")
    if report.uplift is not None:
        sentences.append(_verdict(report.uplift, unit, lower_is_better,
                                  small=min(report.kpi_change.n, report.control.n) < SMALL_GROUP))
    return sentences


def _runs_explained(report: PlaybookEffectiveness) -> str:
    if not report.runs:
        return "This playbook has not run in this period."
    return (f"{report.runs} run{'s' if report.runs != 1 else ''}: of the {report.finished} that ended, "
            f"{report.completed} had every task done and {report.recovered} closed because the KPI recovered first "
            f"(their work unfinished); {report.active} {'is' if report.active == 1 else 'are'} still under way.")


def _verdict(uplift: float, unit: str, lower_is_better: bool, *, small: bool) -> str:
    if uplift == 0:
        sentence = "With the playbook the KPI did no better and no worse."
    else:
        better = uplift < 0 if lower_is_better else uplift > 0
        amount = _change(abs(uplift), unit).lstrip("+")
        sentence = f"With the playbook the KPI did {'better' if better else 'worse'} by {amount}."
    sentence += " Accounts were not chosen at random for the playbook, so read this as a signal, not proof"
    return sentence + ("; with so few accounts the difference may be chance." if small else ".")
