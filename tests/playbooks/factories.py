"""Playbooks, their runs and tasks, and the breaches and KPI values effectiveness is measured on, built with
the times a test states (the models stamp `started_at` and `created_at` themselves)."""

from __future__ import annotations

import datetime as dt

import factory

from metrics.models import AlertRule, Breach, MetricValue
from playbooks.models import Playbook, PlaybookRun, PlaybookStep, Task
from tests.accounts.factories import AccountFactory
from tests.metrics.factories import KPIFactory


class PlaybookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Playbook

    name = factory.Sequence(lambda n: f"Playbook {n}")


class PlaybookStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlaybookStep

    playbook = factory.SubFactory(PlaybookFactory)
    position = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Step {n}")


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    kpi = factory.SubFactory(KPIFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    condition = "below"
    threshold = 50.0


def breach(*, rule: AlertRule, account, opened: dt.datetime, value: float | None,
           resolved_after: dt.timedelta | None = None) -> Breach:
    """An account breach of `rule` opened at `opened` with `value`; resolved `resolved_after` later if given."""
    resolved_at = opened + resolved_after if resolved_after is not None else None
    return Breach.objects.create(
        rule=rule, kpi=rule.kpi, scope="account", account=account, severity="medium", opened_at=opened,
        opened_as_of=opened.date(), value_at_open=value, threshold=rule.threshold,
        respond_by=opened + dt.timedelta(days=7), status="resolved" if resolved_at else "open",
        resolved_at=resolved_at, resolved_as_of=resolved_at.date() if resolved_at else None)


def run(*, playbook: Playbook, started: dt.datetime, status: str = "active", breach: Breach | None = None,
        account=None) -> PlaybookRun:
    """A run started at `started` (for a breach: its account), with no tasks yet."""
    account = account or (breach.account if breach else AccountFactory())
    playbook_run = PlaybookRun.objects.create(playbook=playbook, account=account, breach=breach, status=status,
                                              trigger="alert" if breach else "manual")
    PlaybookRun.objects.filter(pk=playbook_run.pk).update(started_at=started)
    playbook_run.started_at = started
    return playbook_run


def task(*, playbook_run: PlaybookRun, step: PlaybookStep, due: dt.datetime, completed: dt.datetime | None = None,
         status: str | None = None) -> Task:
    """The step's task in the run: done at `completed` when given, else open (or `status`)."""
    return Task.objects.create(
        run=playbook_run, step=step, account=playbook_run.account, title=step.title, kind=step.kind,
        due_at=due, respond_by=due, completed_at=completed, status=status or ("done" if completed else "open"),
        outcome="resolved" if completed else "")


def value(*, kpi, account, as_of: dt.date, value: float | None) -> MetricValue:
    return MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=as_of,
                                      value=value)


JULY = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)


def day(offset: int) -> dt.datetime:
    return JULY + dt.timedelta(days=offset)


def effectiveness_story() -> Playbook:
    """One alert playbook over July 2026, with numbers small enough to check by hand:

    runs: recovered (breach 40 -> 55 a month later, resolved in 48 h), completed (50 -> 58, resolved in 96 h),
    active (30 -> 31, still open), and a cancelled manual run on 20 July;
    tasks done: 4, on time: 3; control breaches of the same rule with no run: 45 -> 47 and 20 -> 16, plus
    one with no value a month later (left out) and breaches that must not count (another rule, another
    playbook's run).
    """
    rule = AlertRuleFactory()
    kpi = rule.kpi
    playbook = PlaybookFactory(name="Save the account", trigger="alert", alert_rule=rule)
    call, email, meeting = (PlaybookStepFactory(playbook=playbook, position=n) for n in (1, 2, 3))

    first = breach(rule=rule, account=AccountFactory(), opened=day(0), value=40, resolved_after=dt.timedelta(hours=48))
    value(kpi=kpi, account=first.account, as_of=day(2).date(), value=90)  # too soon to be "a month later"
    value(kpi=kpi, account=first.account, as_of=day(30).date(), value=55)
    value(kpi=kpi, account=first.account, as_of=day(50).date(), value=99)  # too late
    recovered = run(playbook=playbook, started=day(0), status="recovered", breach=first)
    task(playbook_run=recovered, step=call, due=day(3), completed=day(1))
    task(playbook_run=recovered, step=email, due=day(6), status="cancelled")

    second = breach(rule=rule, account=AccountFactory(), opened=day(4), value=50,
                    resolved_after=dt.timedelta(hours=96))
    value(kpi=kpi, account=second.account, as_of=day(4 + 29).date(), value=58)  # nearest to +30
    value(kpi=kpi, account=second.account, as_of=day(4 + 33).date(), value=90)
    completed = run(playbook=playbook, started=day(4), status="completed", breach=second)
    task(playbook_run=completed, step=call, due=day(6), completed=day(5))
    task(playbook_run=completed, step=email, due=day(8), completed=day(8) - dt.timedelta(minutes=1))
    task(playbook_run=completed, step=meeting, due=day(9), completed=day(12))  # late

    third = breach(rule=rule, account=AccountFactory(), opened=day(9), value=30)
    value(kpi=kpi, account=third.account, as_of=day(39).date(), value=31)
    active = run(playbook=playbook, started=day(9), status="active", breach=third)
    task(playbook_run=active, step=call, due=day(12))

    run(playbook=playbook, started=day(19), status="cancelled")

    control_1 = breach(rule=rule, account=AccountFactory(), opened=day(1), value=45)
    value(kpi=kpi, account=control_1.account, as_of=day(31).date(), value=47)
    control_2 = breach(rule=rule, account=AccountFactory(), opened=day(19), value=20,
                       resolved_after=dt.timedelta(days=3))
    value(kpi=kpi, account=control_2.account, as_of=day(50).date(), value=16)
    breach(rule=rule, account=AccountFactory(), opened=day(2), value=10)  # nothing a month later

    other_rule = AlertRuleFactory(kpi=kpi)
    elsewhere = breach(rule=other_rule, account=AccountFactory(), opened=day(1), value=45)
    value(kpi=kpi, account=elsewhere.account, as_of=day(31).date(), value=0)
    other_playbook = PlaybookFactory(name="Another playbook")
    worked = breach(rule=rule, account=AccountFactory(), opened=day(1), value=45)
    value(kpi=kpi, account=worked.account, as_of=day(31).date(), value=0)
    run(playbook=other_playbook, started=day(1), status="active", breach=worked)
    return playbook
