"""Alert rules: turn a KPI value that breaks a rule into exactly one open breach per rule and subject,
and resolve it when the value recovers past the hysteresis.

Evaluation is idempotent: it reads stored values, opens breaches with INSERT ... ON CONFLICT DO NOTHING
against a partial unique index, and resolves them with compare-and-set updates, so evaluating twice or
concurrently changes nothing twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby

from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts.models import AccountStatus
from metrics.events import breaches_announce
from metrics.models import (
    OPEN_STATUSES,
    AlertAction,
    AlertRule,
    Breach,
    BreachStatus,
    Condition,
    KPITarget,
    MetricValue,
    Scope,
    Severity,
)
from metrics.prediction.features import next_renewal_sql
from metrics.segments import account_segments
from metrics.status import TargetStatus, target_status
from metrics.templatetags.metrics_tags import kpi_value
from tenants.tasks import on_commit_in_tenant

logger = logging.getLogger(__name__)

# The response SLA of a breach (and of the work it starts) by severity, unless the tenant sets its own.
SLA_HOURS = {Severity.CRITICAL: 24, Severity.HIGH: 72, Severity.MEDIUM: 7 * 24, Severity.LOW: 14 * 24}


def sla_hours(severity: str) -> int:
    """The current tenant's response SLA for a severity."""
    tenant = getattr(connection, "tenant", None)
    if hasattr(tenant, "sla_hours"):
        return tenant.sla_hours(severity)
    return SLA_HOURS.get(severity, SLA_HOURS[Severity.MEDIUM])

# Sent after commit with `breach_ids`: playbooks start work from breach_opened, webhooks tell the world.
breach_opened = Signal()
breach_resolved = Signal()

Subject = tuple[int | None, str, str]  # (account id, dimension, segment)


@dataclass
class Evaluation:
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Reading:
    """What a rule reads of a stored value: the number, and for an anomaly rule the calculator's flag."""

    value: float | None
    anomalous: bool | None = None


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _change_pct(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return 100.0 * (value - reference) / abs(reference)


class RuleCheck:
    """Whether a reading breaks the rule, and whether it has recovered past the hysteresis."""

    def __init__(self, rule: AlertRule, targets: dict[tuple[str, str], float]) -> None:
        self.rule = rule
        self.targets = targets

    def _measure(self, reading: Reading, reference: Reading | None, subject: Subject) -> float | None:
        if self.rule.condition in (Condition.DROP, Condition.RISE):
            return _change_pct(reading.value, reference.value if reference else None)
        return reading.value

    def breaks(self, reading: Reading, reference: Reading | None, subject: Subject) -> bool | None:
        """True, False, or None when it cannot be told (no value, no reference, no target)."""
        rule, measure = self.rule, self._measure(reading, reference, subject)
        if rule.condition == Condition.ANOMALY:
            return None if reading.anomalous is None else bool(reading.anomalous)
        if measure is None:
            return None
        if rule.condition == Condition.BELOW:
            return measure < rule.threshold
        if rule.condition == Condition.ABOVE:
            return measure > rule.threshold
        if rule.condition == Condition.DROP:
            return measure <= -rule.threshold
        if rule.condition == Condition.RISE:
            return measure >= rule.threshold
        status = self._target_status(measure, subject)
        return None if status == TargetStatus.NO_TARGET else status == TargetStatus.OFF_TRACK

    def recovered(self, reading: Reading, reference: Reading | None, subject: Subject) -> bool:
        rule, measure = self.rule, self._measure(reading, reference, subject)
        if rule.condition == Condition.ANOMALY:
            return reading.anomalous is False
        if measure is None:
            return False
        h = rule.hysteresis
        if rule.condition == Condition.BELOW:
            return measure >= rule.threshold + h
        if rule.condition == Condition.ABOVE:
            return measure <= rule.threshold - h
        if rule.condition == Condition.DROP:
            return measure > -rule.threshold + h
        if rule.condition == Condition.RISE:
            return measure < rule.threshold - h
        # Leaving the target band opens at "off track"; only "on track" closes it: "at risk" is the hysteresis.
        return self._target_status(measure, subject) == TargetStatus.ON_TRACK

    def _target_status(self, value: float, subject: Subject) -> TargetStatus:
        _, dimension, segment = subject
        target = self.targets.get((dimension, segment), self.targets.get(("", "")))
        return target_status(value=value, target=target, direction=self.rule.kpi.direction)

    def threshold_for(self, subject: Subject) -> float | None:
        if self.rule.condition == Condition.OFF_TARGET:
            _, dimension, segment = subject
            return self.targets.get((dimension, segment), self.targets.get(("", "")))
        return self.rule.threshold


def _series(rule: AlertRule, since: date, until: date,
            account_ids: list[int] | None) -> Iterator[tuple[Subject, dict[date, Reading]]]:
    """Each subject's readings from `since` to `until`, one subject at a time: a rule over 100,000 accounts never
    holds them all (they were 40 MB of dicts), only the breaches it opens. Accounts outside the rule's segment on
    `until`, and churned ones, are left out."""
    values = MetricValue.objects.filter(kpi_id=rule.kpi_id, scope=rule.scope, as_of__gte=since, as_of__lte=until)
    members = None
    if rule.scope == Scope.ACCOUNT:
        # A churned customer is nobody's work any more: its falling numbers open nothing.
        values = values.filter(account__status=AccountStatus.ACTIVE)
        if rule.dimension:
            members = {account_id for account_id, segments in account_segments(as_of=until).items()
                       if segments.get(rule.dimension) == rule.segment}
    if account_ids is not None and rule.scope == Scope.ACCOUNT:
        values = values.filter(account_id__in=account_ids)
    if rule.scope == Scope.SEGMENT and rule.dimension:
        values = values.filter(dimension=rule.dimension, segment=rule.segment)
    # Only an anomaly rule reads the details, and only their flag: an account's details can be kilobytes (a
    # prediction's drivers), 180 MB for 100,000 accounts if every rule read them whole.
    read = ("value", "details__anomalous") if rule.condition == Condition.ANOMALY else ("value",)
    rows = values.order_by("account_id", "dimension", "segment", "as_of").values_list(
        "account_id", "dimension", "segment", "as_of", *read).iterator(chunk_size=5000)
    for subject, readings in groupby(rows, key=lambda row: row[:3]):
        if members is None or subject[0] in members:
            yield subject, {row[3]: Reading(*row[4:]) for row in readings}


def _reference(series: dict[date, Reading], day: date, lookback_days: int) -> Reading | None:
    """The reading in force `lookback_days` before `day` (the latest on or before that date)."""
    earlier = [d for d in series if d <= day - timedelta(days=lookback_days)]
    return series[max(earlier)] if earlier else None


def _evaluation_dates(rule: AlertRule, as_of: date) -> list[date]:
    """The last `persistence` dates the KPI was computed for, up to `as_of` (newest first)."""
    return list(MetricValue.objects.filter(kpi_id=rule.kpi_id, scope=Scope.PORTFOLIO, as_of__lte=as_of)
                .order_by("-as_of").values_list("as_of", flat=True)[:rule.persistence])


def rule_evaluate(*, rule: AlertRule, as_of: date, account_ids: list[int] | None = None,
                  now: datetime | None = None) -> Evaluation:
    """Open and resolve the breaches of one rule for the values computed on `as_of`."""
    now = now or timezone.now()
    dates = _evaluation_dates(rule, as_of)
    if not dates or dates[0] != as_of:
        return Evaluation()  # nothing computed for that date
    lookback = rule.lookback_days if rule.condition in (Condition.DROP, Condition.RISE) else 0
    targets = {(dimension, segment): value for dimension, segment, value in KPITarget.objects.filter(
        kpi_id=rule.kpi_id, period=_quarter(as_of), superseded_at__isnull=True).values_list(
        "dimension", "segment", "value")}
    check = RuleCheck(rule, targets)
    renewing = _renewing_on(_renewals(rule, as_of, as_of), rule, as_of)

    open_breaches = {(b.account_id, b.dimension, b.segment): b
                     for b in Breach.objects.filter(rule=rule, status__in=OPEN_STATUSES)}
    cooling = set()
    if rule.cooldown_hours:
        cooling = set(Breach.objects.filter(rule=rule, status=BreachStatus.RESOLVED,
                                            resolved_at__gt=now - timedelta(hours=rule.cooldown_hours))
                      .values_list("account_id", "dimension", "segment"))
    to_open, to_resolve = [], []
    for subject, series in _series(rule, min(dates) - timedelta(days=lookback), as_of, account_ids):
        current = series.get(as_of)
        if current is None:
            continue
        if subject in open_breaches:
            # An account whose renewal left the rule's window (renewed, or moved out) is no longer its concern.
            if check.recovered(current, _reference(series, as_of, lookback), subject) or (
                    renewing is not None and subject[0] not in renewing):
                to_resolve.append((open_breaches[subject].pk, current.value))
            continue
        if subject in cooling or (renewing is not None and subject[0] not in renewing):
            continue
        if all(day in series and check.breaks(series[day], _reference(series, day, lookback), subject)
               for day in dates):
            to_open.append((subject, current.value, check.threshold_for(subject)))
    return Evaluation(opened=_open(rule, as_of, now, to_open), resolved=_resolve(as_of, now, to_resolve))


def _renewals(rule: AlertRule, first: date, last: date) -> dict[int, list[date]] | None:
    """For an account rule with a renewal window: each account's renewals that fall in a window of a date from
    `first` to `last` (None: the rule has no window). A renewal date recurs yearly, as for the renewal
    probability: an account whose stored date has passed renews on its next anniversary. One query."""
    if rule.scope != Scope.ACCOUNT or rule.renewal_within_days is None:
        return None
    renewals: dict[int, list[date]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT a.id, r::date
            FROM accounts_account a
            CROSS JOIN LATERAL generate_series({next_renewal_sql("a.renewal_date", "(%(first)s::date - 1)")}::timestamp,
                                               (%(last)s::date + %(days)s::int)::timestamp, interval '1 year') AS r
            WHERE a.renewal_date IS NOT NULL
            """, {"first": first, "last": last, "days": rule.renewal_within_days})
        for account_id, renewal in cursor.fetchall():
            renewals[account_id].append(renewal)
    return renewals


def _renewing_on(renewals: dict[int, list[date]] | None, rule: AlertRule, day: date) -> set[int] | None:
    """The accounts renewing within the rule's window after `day` (None: the rule has no window)."""
    if renewals is None:
        return None
    until = day + timedelta(days=rule.renewal_within_days)
    return {account_id for account_id, dates in renewals.items() if any(day <= r <= until for r in dates)}


def _open(rule: AlertRule, as_of: date, now: datetime, subjects: list) -> list[int]:
    if not subjects:
        return []
    respond_by = now + timedelta(hours=sla_hours(rule.severity))
    rows = [(rule.pk, rule.kpi_id, rule.scope, account_id, dimension, segment, BreachStatus.OPEN, rule.severity,
             now, as_of, value, threshold, respond_by)
            for (account_id, dimension, segment), value, threshold in subjects]
    with connection.cursor() as cursor:
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        cursor.execute(
            "INSERT INTO metrics_breach (rule_id, kpi_id, scope, account_id, dimension, segment, status, severity,"
            " opened_at, opened_as_of, value_at_open, threshold, respond_by) VALUES " + placeholders +
            " ON CONFLICT DO NOTHING RETURNING id",
            [value for row in rows for value in row],
        )
        return [row[0] for row in cursor.fetchall()]


def _resolve(as_of: date, now: datetime, recoveries: list[tuple[int, float | None]]) -> list[int]:
    resolved = []
    for breach_id, value in recoveries:
        # Compare-and-set: only a breach still open is resolved, once.
        if Breach.objects.filter(pk=breach_id, status__in=OPEN_STATUSES).update(
                status=BreachStatus.RESOLVED, resolved_at=now, resolved_as_of=as_of, value_at_resolve=value):
            resolved.append(breach_id)
    return resolved


@transaction.atomic
def alert_rules_evaluate(*, as_of: date, kpi_ids: list[int] | None = None, account_ids: list[int] | None = None,
                         now: datetime | None = None) -> Evaluation:
    """Evaluate every active rule (of the given KPIs) for `as_of`; tell listeners after commit."""
    rules = AlertRule.objects.filter(is_active=True, kpi__is_active=True).select_related("kpi", "kpi__owner")
    if kpi_ids is not None:
        rules = rules.filter(kpi_id__in=kpi_ids)
    total = Evaluation()
    for rule in rules:
        result = rule_evaluate(rule=rule, as_of=as_of, account_ids=account_ids, now=now)
        total.opened += result.opened
        total.resolved += result.resolved
        if result.opened and rule.action == AlertAction.NOTIFY_OWNER:
            on_commit_in_tenant(lambda ids=result.opened, rule=rule: _notify_owner(rule, ids))
    breaches_announce(opened=total.opened, resolved=total.resolved)
    if total.opened:
        on_commit_in_tenant(lambda: breach_opened.send(sender=Breach, breach_ids=total.opened))
    if total.resolved:
        on_commit_in_tenant(lambda: breach_resolved.send(sender=Breach, breach_ids=total.resolved))
    return total


def breach_values(breach: Breach) -> str:
    """The value that broke the rule and the rule's threshold, in the KPI's unit, as emails print them."""
    value = kpi_value(breach.value_at_open, breach.kpi.unit)
    if breach.threshold is None:  # off target or anomalous: no fixed threshold
        return value
    return f"{value} (threshold {kpi_value(breach.threshold, breach.kpi.unit)})"


def _notify_owner(rule: AlertRule, breach_ids: list[int]) -> None:
    from django.core.mail import send_mail

    owner = rule.kpi.owner
    if owner is None or not owner.is_active:
        return
    breaches = Breach.objects.filter(pk__in=breach_ids).select_related("account", "kpi")
    lines = [f"- {b.account or (b.segment and f'{b.dimension} {b.segment}') or 'portfolio'}: {breach_values(b)}"
             for b in breaches]
    send_mail(
        subject=f"[Bellwether] {rule.get_severity_display()}: {rule.name} ({len(lines)} new)",
        message=f"{rule.kpi.name} broke the rule '{rule.name}':\n" + "\n".join(lines),
        from_email=None, recipient_list=[owner.email],
    )


def may_acknowledge(user) -> bool:
    """Acknowledging is a person's work on the breach; viewers only read."""
    from users.models import Role

    return bool(user and user.is_authenticated and getattr(user, "role", None) not in (None, Role.VIEWER))


def breach_acknowledge(*, breach: Breach, user) -> bool:
    """A person has seen it. Compare-and-set: only an open breach is acknowledged, once."""
    return bool(Breach.objects.filter(pk=breach.pk, status=BreachStatus.OPEN).update(
        status=BreachStatus.ACKNOWLEDGED, acknowledged_at=timezone.now(), acknowledged_by=user))


@dataclass(frozen=True)
class PreviewBreach:
    subject: Subject
    label: str
    opened_on: date
    value: float | None
    threshold: float | None
    resolved_on: date | None


@dataclass(frozen=True)
class RulePreview:
    """What a rule (saved or not) would have done over the last days: the breaches it would have opened, with
    when and at what value, and when each would have resolved."""

    days: int
    dates_evaluated: int
    breaches: list[PreviewBreach]

    @property
    def subjects(self) -> int:
        return len({breach.subject for breach in self.breaches})

    @property
    def still_open(self) -> int:
        return sum(breach.resolved_on is None for breach in self.breaches)


def _subject_labels(subjects: set[Subject]) -> dict[Subject, str]:
    from accounts.models import Account

    names = dict(Account.objects.filter(pk__in={account for account, _, _ in subjects if account})
                 .values_list("pk", "name"))
    return {subject: names.get(subject[0], f"account {subject[0]}") if subject[0]
            else f"{subject[1]}: {subject[2]}" if subject[1] else "Portfolio" for subject in subjects}


def rule_preview(*, rule: AlertRule, today: date, days: int = 90) -> RulePreview:
    """Replay the rule over the values stored for the last `days` days, date by date as evaluation would have run
    them (persistence, hysteresis, cooldown rounded up to days, churned accounts and accounts outside the renewal
    window left out), without opening anything. The rule need not be saved: this is how a rule is tried before it
    is created. Four queries."""
    since = today - timedelta(days=days)
    dates = sorted(set(MetricValue.objects.filter(kpi_id=rule.kpi_id, scope=Scope.PORTFOLIO, as_of__gte=since,
                                                  as_of__lte=today).values_list("as_of", flat=True)))
    if not dates:
        return RulePreview(days=days, dates_evaluated=0, breaches=[])
    lookback = rule.lookback_days if rule.condition in (Condition.DROP, Condition.RISE) else 0
    readings = dict(_series(rule, dates[0] - timedelta(days=lookback), today, None))
    targets: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for period, dimension, segment, value in KPITarget.objects.filter(
            kpi_id=rule.kpi_id, period__in={_quarter(day) for day in dates}, superseded_at__isnull=True).values_list(
            "period", "dimension", "segment", "value"):
        targets[period][(dimension, segment)] = value
    cooldown = timedelta(days=-(-rule.cooldown_hours // 24))
    renewals = _renewals(rule, dates[0], today)
    opened: dict[Subject, tuple[date, float | None, float | None]] = {}
    streak: dict[Subject, int] = defaultdict(int)
    quiet_until: dict[Subject, date] = {}
    found: list[tuple[Subject, date, float | None, float | None, date | None]] = []
    for day in dates:
        check = RuleCheck(rule, targets.get(_quarter(day), {}))
        renewing = _renewing_on(renewals, rule, day)
        for subject, series in readings.items():
            reading = series.get(day)
            if reading is None:
                streak[subject] = 0
                continue
            reference = _reference(series, day, lookback)
            outside = renewing is not None and subject[0] not in renewing
            if subject in opened:
                if check.recovered(reading, reference, subject) or outside:
                    found.append((subject, *opened.pop(subject), day))
                    quiet_until[subject] = day + cooldown
                    streak[subject] = 0
                continue
            if outside or (subject in quiet_until and day <= quiet_until[subject]):
                streak[subject] = 0
                continue
            streak[subject] = streak[subject] + 1 if check.breaks(reading, reference, subject) else 0
            if streak[subject] >= rule.persistence:
                opened[subject] = (day, reading.value, check.threshold_for(subject))
    found += [(subject, *state, None) for subject, state in opened.items()]
    labels = _subject_labels({subject for subject, *_ in found})
    breaches = [PreviewBreach(subject=subject, label=labels[subject], opened_on=opened_on, value=value,
                              threshold=threshold, resolved_on=resolved_on)
                for subject, opened_on, value, threshold, resolved_on in found]
    breaches.sort(key=lambda breach: (breach.opened_on, breach.label), reverse=True)
    return RulePreview(days=days, dates_evaluated=len(dates), breaches=breaches)
