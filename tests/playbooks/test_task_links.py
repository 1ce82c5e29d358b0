"""One open task of a kind per account: a second playbook that wants the same kind of work links its reason to
the task already open, and the linked run moves on (or hands the task over) with it."""

import datetime as dt

import pytest

from playbooks.models import Playbook, PlaybookStep, Task, TaskReason
from playbooks.services import playbook_run_start, runs_close_for_recovered_breaches, task_complete
from tests.accounts.factories import AccountFactory
from tests.users.factories import UserFactory
from users.models import Role

NOW = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def account():
    return AccountFactory(name="Greenhaven Freight", owner=UserFactory(role=Role.CSM))


def _playbook(name: str, *steps: tuple[str, str], mode: str = "sequence") -> Playbook:
    playbook = Playbook.objects.create(name=name, mode=mode)
    for position, (title, kind) in enumerate(steps, start=1):
        PlaybookStep.objects.create(playbook=playbook, position=position, title=title, kind=kind, due_days=2)
    return playbook


def test_a_second_playbook_links_its_reason_to_the_open_task_of_the_same_kind(account):
    first = playbook_run_start(playbook=_playbook("Usage drop", ("Call them", "call")), account=account, now=NOW)
    second = playbook_run_start(playbook=_playbook("NPS detractor", ("Call the detractor", "call")),
                                account=account, now=NOW)

    task = Task.objects.get()
    assert task.run == first
    assert [(reason.run, reason.step.title) for reason in task.reasons.all()] == [(second, "Call the detractor")]
    assert task.events.order_by("id").last().kind == "linked"
    assert "NPS detractor" in task.events.order_by("id").last().note


def test_another_kind_of_work_opens_its_own_task(account):
    playbook_run_start(playbook=_playbook("Usage drop", ("Call them", "call")), account=account, now=NOW)
    playbook_run_start(playbook=_playbook("Renewal", ("Send the deck", "email")), account=account, now=NOW)

    assert sorted(Task.objects.values_list("kind", flat=True)) == ["call", "email"]
    assert not TaskReason.objects.exists()


def test_another_account_gets_its_own_task(account):
    playbook = _playbook("Usage drop", ("Call them", "call"))
    playbook_run_start(playbook=playbook, account=account, now=NOW)
    playbook_run_start(playbook=playbook, account=AccountFactory(), now=NOW)

    assert Task.objects.count() == 2


def test_a_closed_task_does_not_take_new_reasons(account):
    run = playbook_run_start(playbook=_playbook("Usage drop", ("Call them", "call")), account=account, now=NOW)
    task_complete(task=run.tasks.get(), user=account.owner, outcome="resolved", now=NOW)

    playbook_run_start(playbook=_playbook("NPS detractor", ("Call the detractor", "call")), account=account, now=NOW)

    assert Task.objects.filter(status="open").count() == 1
    assert not TaskReason.objects.exists()


def test_completing_the_task_completes_the_linked_run_too(account):
    first = playbook_run_start(playbook=_playbook("Usage drop", ("Call them", "call")), account=account, now=NOW)
    second = playbook_run_start(playbook=_playbook("NPS detractor", ("Call the detractor", "call"),
                                                   ("Send the survey follow-up", "email")), account=account, now=NOW)

    task_complete(task=Task.objects.get(), user=account.owner, outcome="resolved", now=NOW)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "completed"
    assert second.status == "active"  # its next step is open now, its own task
    assert Task.objects.get(status="open").run == second


def test_when_the_owning_run_recovers_the_task_is_handed_to_the_linked_run(account):
    from metrics.models import Breach
    from tests.playbooks.factories import AlertRuleFactory, breach

    rule = AlertRuleFactory()
    recovered = breach(rule=rule, account=account, opened=NOW, value=10)
    first = playbook_run_start(playbook=_playbook("Usage drop", ("Call them", "call")), account=account,
                               breach=recovered, trigger="alert", now=NOW)
    second = playbook_run_start(playbook=_playbook("NPS detractor", ("Call the detractor", "call")),
                                account=account, now=NOW)
    Breach.objects.filter(pk=recovered.pk).update(status="resolved")

    assert runs_close_for_recovered_breaches(breach_ids=[recovered.pk]) == 1

    task = Task.objects.get()
    first.refresh_from_db()
    assert (first.status, task.status, task.run, task.step.title) == ("recovered", "open", second,
                                                                      "Call the detractor")
    assert not TaskReason.objects.exists()


def test_a_worse_reason_raises_the_tasks_severity(account):
    from tests.playbooks.factories import AlertRuleFactory, breach

    rule = AlertRuleFactory(severity="critical")
    playbook_run_start(playbook=_playbook("Usage drop", ("Call them", "call")), account=account, now=NOW)
    critical = breach(rule=rule, account=account, opened=NOW, value=10)
    critical.severity, critical.respond_by = "critical", NOW + dt.timedelta(hours=24)  # as the alert opens it
    critical.save(update_fields=["severity", "respond_by"])
    playbook_run_start(playbook=_playbook("Churn risk", ("Call now", "call")), account=account, breach=critical,
                       trigger="alert", now=NOW + dt.timedelta(hours=2))  # the run starts a little later

    task = Task.objects.get()
    assert task.severity == "critical"
    assert task.respond_by == critical.respond_by  # the breach's response is due: one clock
