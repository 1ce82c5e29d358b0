"""My work as a cockpit: a person's open tasks grouped by account (one group per account with its worst severity,
ARR, renewal and health), filtered and sorted, the day's focus first, with live counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from core.numbers import whole_number
from metrics.models import Severity
from metrics.sla import sla_clock
from playbooks.models import Task, TaskStatus

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity.values)}  # critical first
# The account fields a cockpit filters on as a segment, as the health score's segments are.
SEGMENT_DIMENSIONS = ("plan", "region", "industry", "lifecycle_stage")
DUE_WINDOWS = {"overdue": "Overdue", "today": "Due today or earlier", "week": "Due within 7 days"}
RENEWAL_WINDOWS = {"30": "Renewing within 30 days", "60": "Renewing within 60 days", "90": "Renewing within 90 days"}
SORTS = {"focus": "Today's focus first", "severity": "Worst severity", "due": "Soonest due", "arr": "Highest ARR",
         "renewal": "Soonest renewal", "health": "Lowest health"}
# A renewal this close makes any open work on the account part of the day's focus.
FOCUS_RENEWAL_DAYS = 30


@dataclass(frozen=True)
class CockpitFilters:
    """What the person asked to see: each field empty for everything."""

    severity: str = ""
    due: str = ""
    playbook: int | None = None
    segment: str = ""  # "dimension:value", e.g. "plan:Growth" or "region:EMEA"
    renewal: str = ""
    sort: str = "focus"

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> tuple[CockpitFilters, list[str]]:
        """The filters of a query string, and what was wrong with it (unknown values are dropped, said once)."""
        errors = []

        def choice(name: str, allowed: Iterable[str], default: str = "") -> str:
            value = params.get(name, "") or default
            if value and value not in allowed:
                errors.append(f"Unknown {name} {value!r}: showing everything instead.")
                return default
            return value

        segment = params.get("segment", "")[:230]
        if segment and (":" not in segment or segment.split(":", 1)[0] not in SEGMENT_DIMENSIONS):
            errors.append(f"Unknown segment {segment!r}: showing every account.")
            segment = ""
        playbook = params.get("playbook", "")
        if playbook and whole_number(playbook) is None:
            errors.append(f"Unknown playbook {playbook!r}: showing every playbook.")
            playbook = ""
        filters = cls(severity=choice("severity", Severity.values), due=choice("due", DUE_WINDOWS),
                      playbook=int(playbook) if playbook else None, segment=segment,
                      renewal=choice("renewal", RENEWAL_WINDOWS), sort=choice("sort", SORTS, "focus"))
        return filters, errors

    @property
    def active(self) -> bool:
        return bool(self.severity or self.due or self.playbook or self.segment or self.renewal)


@dataclass(frozen=True)
class WorkCounts:
    open: int
    overdue: int
    due_today: int
    sla_missed: int
    snoozed: int
    critical: int


@dataclass
class AccountWork:
    """One account's open work: its tasks and what decides how urgent it is."""

    account: object | None  # an Account annotated with current_mrr and health, or None for review decisions
    tasks: list[Task] = field(default_factory=list)
    focus_reasons: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The group's name in the page's element ids: its account's id, or `decisions`."""
        return str(self.account.pk) if self.account is not None else "decisions"

    @property
    def worst_severity(self) -> str:
        """The most severe of its tasks, or "" once none is left (after the last one was acted on)."""
        return min((task.severity for task in self.tasks), key=lambda severity: SEVERITY_RANK.get(severity, 9),
                   default="")

    @property
    def next_due(self) -> datetime:
        return min(task.due_at for task in self.tasks)

    @property
    def arr(self) -> Decimal | None:
        return self.account.current_mrr * 12 if self.account is not None else None

    @property
    def renewal_date(self) -> date | None:
        return self.account.renewal_date if self.account is not None else None

    @property
    def health(self) -> float | None:
        return getattr(self.account, "health", None)

    @property
    def focus(self) -> bool:
        return bool(self.focus_reasons)


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def work_counts(tasks: Iterable[Task], *, now: datetime) -> WorkCounts:
    """The counts at the top of My work, over every open task whatever the filters."""
    tasks = list(tasks)
    today = _local_day(now)
    return WorkCounts(
        open=len(tasks),
        overdue=sum(task.due_at < now for task in tasks),
        due_today=sum(task.due_at >= now and _local_day(task.due_at) == today for task in tasks),
        sla_missed=sum(sla_clock(respond_by=task.respond_by, now=now).missed for task in tasks),
        snoozed=sum(task.status == TaskStatus.SNOOZED for task in tasks),
        critical=sum(task.severity == Severity.CRITICAL for task in tasks),
    )


@dataclass(frozen=True)
class FilterTotals:
    """How many open tasks each severity and due-window choice of the filters would show, whatever is chosen."""

    severity: dict[str, int]
    due: dict[str, int]


def filter_totals(tasks: Iterable[Task], *, now: datetime) -> FilterTotals:
    """The totals written beside the filters' choices, so a person sees what a filter holds before applying it."""
    tasks, today = list(tasks), _local_day(now)
    return FilterTotals(
        severity={value: sum(task.severity == value for task in tasks) for value in Severity.values},
        due={value: sum(_task_matches(task, CockpitFilters(due=value), now=now, today=today) for task in tasks)
             for value in DUE_WINDOWS},
    )


def segment_choices(accounts: Iterable) -> list[tuple[str, list[tuple[str, str]]]]:
    """The segments the accounts fall in, by dimension: [("plan", [("plan:Growth", "Growth"), ...]), ...], each
    value by its label (a lifecycle stage's display name), dimensions with no value left out."""
    accounts = list(accounts)
    groups = []
    for dimension in SEGMENT_DIMENSIONS:
        values = {}
        for account in accounts:
            value = getattr(account, dimension) or ""
            if value:
                display = getattr(account, f"get_{dimension}_display", None)
                values[value] = display() if display else value
        if values:
            groups.append((dimension, [(f"{dimension}:{value}", label) for value, label in sorted(values.items())]))
    return groups


def _task_matches(task: Task, filters: CockpitFilters, *, now: datetime, today: date) -> bool:
    if filters.severity and task.severity != filters.severity:
        return False
    if filters.playbook and (task.run is None or task.run.playbook_id != filters.playbook):
        return False
    if filters.due == "overdue":
        return task.due_at < now
    if filters.due == "today":
        return _local_day(task.due_at) <= today
    if filters.due == "week":
        return _local_day(task.due_at) <= today + timedelta(days=7)
    return True


def _account_matches(account, filters: CockpitFilters, *, today: date) -> bool:
    if filters.segment:
        dimension, value = filters.segment.split(":", 1)
        if account is None or str(getattr(account, dimension) or "") != value:
            return False
    if filters.renewal:
        horizon = today + timedelta(days=int(filters.renewal))
        return account is not None and account.renewal_date is not None and today <= account.renewal_date <= horizon
    return True


def _focus_reasons(work: AccountWork, *, now: datetime, today: date) -> list[str]:
    """Why the account is in today's focus: overdue or due-today work, a missed SLA, critical work, a renewal."""
    reasons = []
    overdue = sum(task.due_at < now for task in work.tasks)
    if overdue:
        reasons.append(f"{overdue} overdue")
    due_today = sum(task.due_at >= now and _local_day(task.due_at) == today for task in work.tasks)
    if due_today:
        reasons.append(f"{due_today} due today")
    if any(sla_clock(respond_by=task.respond_by, now=now).missed for task in work.tasks):
        reasons.append("response SLA missed")
    if any(task.severity == Severity.CRITICAL for task in work.tasks):
        reasons.append("critical")
    renewal = work.renewal_date
    if renewal is not None and today <= renewal <= today + timedelta(days=FOCUS_RENEWAL_DAYS):
        reasons.append(f"renews in {(renewal - today).days} days")
    return reasons


def _sort_key(sort: str):
    far = date.max
    keys = {
        "severity": lambda work: (SEVERITY_RANK.get(work.worst_severity, 9), work.next_due),
        "due": lambda work: (work.next_due,),
        "arr": lambda work: (-(work.arr or 0), work.next_due),
        "renewal": lambda work: (work.renewal_date or far, work.next_due),
        "health": lambda work: (work.health if work.health is not None else 1000, work.next_due),
    }
    by = keys.get(sort)
    if by is not None:
        return by
    # Today's focus: most reasons, then the worst severity, then the most revenue.
    return lambda work: (-len(work.focus_reasons), SEVERITY_RANK.get(work.worst_severity, 9), -(work.arr or 0),
                         work.next_due)


def account_work(tasks: Iterable[Task], accounts: Mapping[int, object], filters: CockpitFilters, *,
                 now: datetime) -> list[AccountWork]:
    """The tasks that pass the filters, one group per account (review decisions, with no account, in a group
    of their own), each with its focus reasons, in the order asked for."""
    today = _local_day(now)
    groups: dict[int | None, AccountWork] = {}
    for task in tasks:
        account = accounts.get(task.account_id) if task.account_id else None
        if not _task_matches(task, filters, now=now, today=today) or not _account_matches(account, filters,
                                                                                          today=today):
            continue
        groups.setdefault(task.account_id, AccountWork(account=account)).tasks.append(task)
    for work in groups.values():
        work.tasks.sort(key=lambda task: (SEVERITY_RANK.get(task.severity, 9), task.due_at, task.pk))
        work.focus_reasons = _focus_reasons(work, now=now, today=today)
    return sorted(groups.values(), key=_sort_key(filters.sort))
