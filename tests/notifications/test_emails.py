"""Emails about work: new critical tasks at once, and each person's daily digest, once a day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import connection

from metrics.models import AlertRule, Breach
from notifications.models import NotificationSent
from playbooks.digest import digests_send
from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role

# 08:30 in Paris on a Monday (07:30 UTC)
MORNING = dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.UTC)


@pytest.fixture
def paris():
    previous = connection.tenant.time_zone
    connection.tenant.time_zone = "Europe/Paris"
    yield
    connection.tenant.time_zone = previous


def _critical_breach(account):
    rule = AlertRule.objects.create(kpi=KPIFactory(), name="Usage collapsed", condition="below", threshold=10,
                                    severity="critical")
    return Breach.objects.create(rule=rule, kpi=rule.kpi, scope="account", account=account, severity="critical",
                                 opened_at=MORNING, opened_as_of=MORNING.date(), value_at_open=2, threshold=10,
                                 respond_by=MORNING + dt.timedelta(hours=24))


def test_a_new_critical_task_is_emailed_to_its_assignee_after_commit(django_capture_on_commit_callbacks):
    csm = UserFactory(role=Role.CSM, email="casey@alpha.example")
    account = AccountFactory(name="Initech", owner=csm)
    playbook = Playbook.objects.create(name="Rescue", mode="parallel")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the sponsor")
    PlaybookStep.objects.create(playbook=playbook, position=2, title="Check the logs", assignee_rule="role_queue",
                                queue_role=Role.MANAGER)
    managers = [UserFactory(role=Role.MANAGER, email=f"m{n}@alpha.example") for n in range(2)]

    with django_capture_on_commit_callbacks(execute=True):
        playbook_run_start(playbook=playbook, account=account, breach=_critical_breach(account))

    by_recipients = {tuple(sorted(message.to)): message for message in mail.outbox}
    assert set(by_recipients) == {("casey@alpha.example",), tuple(sorted(m.email for m in managers))}
    message = by_recipients[("casey@alpha.example",)]
    assert message.subject == "[Bellwether] Critical: Call the sponsor at Initech"
    assert "needs a response by" in message.body


def test_a_task_whose_title_names_its_account_is_emailed_without_naming_it_twice(django_capture_on_commit_callbacks):
    account = AccountFactory(name="Lakewood Freight Corp.", owner=UserFactory(role=Role.CSM))
    playbook = Playbook.objects.create(name="Usage drop investigation")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Find out why usage fell at {account}",
                                instructions="Usage changed {value}% in 30 days (threshold {threshold}%).")

    with django_capture_on_commit_callbacks(execute=True):
        playbook_run_start(playbook=playbook, account=account, breach=_critical_breach(account), now=MORNING)

    [message] = mail.outbox
    assert message.subject == "[Bellwether] Critical: Find out why usage fell at Lakewood Freight Corp."
    assert message.body == (
        "Find out why usage fell at Lakewood Freight Corp.: a critical task that needs a response by "
        "2026-11-24 07:30 UTC (1 d left to respond; due 2026-11-26).\n\nUsage changed 2.0% in 30 days "
        "(threshold 10.0%).")


def test_the_digest_prints_breach_values_in_the_kpis_unit_and_each_account_once(paris):
    csm = UserFactory(role=Role.CSM, email="casey@alpha.example", full_name="Casey")
    account = AccountFactory(name="Lakewood Freight Corp.", owner=csm)
    playbook = Playbook.objects.create(name="Check in")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call")
    usage = _task(playbook, account, "Usage fell", MORNING + dt.timedelta(hours=6))
    Task.objects.filter(pk=usage.pk).update(title="Find out why usage fell at Lakewood Freight Corp.")
    _task(playbook, account, "Send the recap", MORNING + dt.timedelta(days=2))
    rule = AlertRule.objects.create(kpi=KPIFactory(name="Seat utilisation", unit="percent"), name="Seats low",
                                    condition="below", threshold=108, severity="high")
    Breach.objects.create(rule=rule, kpi=rule.kpi, scope="account", account=account, severity="high",
                          opened_at=MORNING, opened_as_of=MORNING.date(), value_at_open=78.73204573978525,
                          threshold=108.0, respond_by=MORNING + dt.timedelta(hours=72))
    revenue = AlertRule.objects.create(kpi=KPIFactory(name="MRR", unit="currency"), name="MRR fell",
                                       condition="below", threshold=5000, severity="medium")
    Breach.objects.create(rule=revenue, kpi=revenue.kpi, scope="account", account=account, severity="medium",
                          opened_at=MORNING - dt.timedelta(hours=1), opened_as_of=MORNING.date(),
                          value_at_open=3250.4, threshold=5000, respond_by=MORNING + dt.timedelta(days=7))

    assert digests_send(now=MORNING) == 1

    [message] = mail.outbox
    assert message.body == (
        "Good morning Casey,\n\n"
        "Due today (1):\n- Find out why usage fell at Lakewood Freight Corp., due Mon 23 Nov\n\n"
        "Due in the next 7 days (1):\n- Send the recap at Lakewood Freight Corp., due Wed 25 Nov\n\n"
        "New breaches on your accounts (2):\n"
        "- Lakewood Freight Corp.: Seat utilisation at 78.7% (threshold 108.0%), high\n"
        "- Lakewood Freight Corp.: MRR at 3,250 (threshold 5,000), medium\n")


def test_other_severities_send_no_email_at_creation(django_capture_on_commit_callbacks):
    account = AccountFactory(owner=UserFactory(role=Role.CSM))
    playbook = Playbook.objects.create(name="Check in")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call")

    with django_capture_on_commit_callbacks(execute=True):
        playbook_run_start(playbook=playbook, account=account)

    assert mail.outbox == []


def _task(playbook, account, title, due):
    """A task of its own: each of another kind of work, since an account has one open task per kind."""
    from playbooks.models import StepKind, Task

    taken = set(Task.objects.filter(account=account, status="open").values_list("kind", flat=True))
    playbook.steps.update(kind=next(kind for kind in StepKind.values if kind not in taken))
    run = playbook_run_start(playbook=playbook, account=account, occasion=title)
    task = run.tasks.get()
    task.title, task.due_at = title, due
    task.save()
    return task


def test_the_digest_goes_once_a_day_after_the_digest_hour_with_each_persons_work(paris):
    csm = UserFactory(role=Role.CSM, email="casey@alpha.example", full_name="Casey")
    idle = UserFactory(role=Role.CSM, email="idle@alpha.example")  # nothing to do: no email
    account = AccountFactory(name="Initech", owner=csm)
    AccountFactory(name="Quiet", owner=idle)
    playbook = Playbook.objects.create(name="Check in")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call")
    _task(playbook, account, "Overdue call", MORNING - dt.timedelta(days=2))
    _task(playbook, account, "Today's call", MORNING + dt.timedelta(hours=6))
    _task(playbook, account, "Next week's QBR", MORNING + dt.timedelta(days=3))
    _task(playbook, account, "Far away", MORNING + dt.timedelta(days=30))
    _critical_breach(account)

    assert digests_send(now=MORNING - dt.timedelta(hours=2)) == 0  # 06:30 in Paris: before the digest hour
    assert digests_send(now=MORNING) == 1
    assert digests_send(now=MORNING + dt.timedelta(hours=1)) == 0  # once a day

    [message] = mail.outbox
    assert message.to == ["casey@alpha.example"]
    assert message.subject == "[Bellwether] Your work for Monday 23 November"
    body = message.body
    assert body.index("Overdue (1):") < body.index("Overdue call") < body.index("Due today (1):")
    assert body.index("Due today (1):") < body.index("Today's call") < body.index("Due in the next 7 days (1):")
    assert "Next week's QBR at Initech" in body and "Far away" not in body
    assert "New breaches on your accounts (1):" in body and "Initech:" in body
    assert NotificationSent.objects.filter(kind="digest", key="2026-11-23", user=csm).exists()

    assert digests_send(now=MORNING + dt.timedelta(days=1)) == 1  # the next day, a new digest


def test_a_failed_send_is_retried_the_next_hour(paris, monkeypatch):
    csm = UserFactory(role=Role.CSM)
    playbook = Playbook.objects.create(name="Check in")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call")
    _task(playbook, AccountFactory(owner=csm), "Call", MORNING)

    def broken(**kwargs):
        raise OSError("SMTP server down")

    monkeypatch.setattr("playbooks.digest.send_mail", broken)
    assert digests_send(now=MORNING) == 0
    assert not NotificationSent.objects.exists()

    monkeypatch.undo()
    assert digests_send(now=MORNING + dt.timedelta(hours=1)) == 1
