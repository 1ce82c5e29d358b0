"""The escalation ladder, with a frozen clock: manager at the SLA, leaders a day later, each once."""

import datetime as dt

import pytest
from django.core import mail

from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start, task_complete, task_snooze, tasks_escalate
from tests.accounts.factories import AccountFactory
from tests.users.factories import UserFactory
from users.models import Role

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # medium severity: respond within 7 days


@pytest.fixture
def team():
    leader = UserFactory(role=Role.LEADER, email="leader@alpha.example")
    manager = UserFactory(role=Role.MANAGER, email="manager@alpha.example", manager=leader)
    csm = UserFactory(role=Role.CSM, email="csm@alpha.example", manager=manager)
    return {"leader": leader, "manager": manager, "csm": csm}


@pytest.fixture
def task(team):
    playbook = Playbook.objects.create(name="Check-in")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call them", due_days=2)
    playbook_run_start(playbook=playbook, account=AccountFactory(owner=team["csm"]), now=START)
    return Task.objects.get()


def test_nothing_escalates_before_the_sla(task):
    assert tasks_escalate(now=task.respond_by - dt.timedelta(minutes=1)) == {"woken": 0, "escalated": 0}
    assert mail.outbox == []


def test_the_manager_hears_first_and_the_leader_a_day_later(task):
    at_sla = task.respond_by + dt.timedelta(minutes=1)

    assert tasks_escalate(now=at_sla)["escalated"] == 1
    assert tasks_escalate(now=at_sla)["escalated"] == 0  # run twice: nothing twice
    assert [m.to for m in mail.outbox] == [["manager@alpha.example"]]

    assert tasks_escalate(now=at_sla + dt.timedelta(hours=23))["escalated"] == 0
    assert tasks_escalate(now=at_sla + dt.timedelta(hours=25))["escalated"] == 1
    assert [m.to for m in mail.outbox] == [["manager@alpha.example"], ["leader@alpha.example"]]

    task.refresh_from_db()
    assert task.escalation_level == 2
    assert [e.note for e in task.events.filter(kind="escalated")] == [
        "Level 1: to " + str(task.assignee.manager), "Level 2: to " + str(task.assignee.manager.manager)]
    assert tasks_escalate(now=at_sla + dt.timedelta(days=30))["escalated"] == 0


def test_the_escalation_email_names_the_account_once(team):
    playbook = Playbook.objects.create(name="Usage drop investigation")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Find out why usage fell at {account}")
    account = AccountFactory(name="Lakewood Freight Corp.", owner=team["csm"])
    playbook_run_start(playbook=playbook, account=account, now=START)
    task = Task.objects.get()

    tasks_escalate(now=task.respond_by + dt.timedelta(minutes=1))

    [message] = mail.outbox
    assert message.subject == "[Bellwether] Overdue (medium): Find out why usage fell at Lakewood Freight Corp."
    assert message.body == (f"Find out why usage fell at Lakewood Freight Corp., assigned to {team['csm']}, was due "
                            "a response by 2026-11-09 09:00 UTC (SLA missed 1 min ago, as My work and Alerts say). "
                            "Escalation level 1.")


def test_a_completed_task_never_escalates(task, team):
    task_complete(task=task, user=team["csm"], outcome="resolved", now=START)

    assert tasks_escalate(now=task.respond_by + dt.timedelta(days=3))["escalated"] == 0


def test_a_snoozed_task_wakes_when_its_snooze_ends(task, team):
    until = START + dt.timedelta(days=1)
    from unittest import mock

    with mock.patch("playbooks.services.timezone.now", return_value=START):
        task_snooze(task=task, user=team["csm"], until=until, reason="Customer travelling")

    assert tasks_escalate(now=until + dt.timedelta(minutes=1))["woken"] == 1
    task.refresh_from_db()
    assert task.status == "open"


@pytest.fixture
def ladder(tenant):
    """Change the current tenant's escalation settings for one test."""
    from django.db import connection

    saved = {name: getattr(connection.tenant, name) for name in
             ("escalation_manager_delay_hours", "escalation_leader_delay_hours", "escalation_to_leaders")}

    def configure(**values) -> None:
        for name, value in values.items():
            setattr(connection.tenant, name, value)

    yield configure
    configure(**saved)


def test_the_manager_delay_holds_level_one_back(task, ladder):
    ladder(escalation_manager_delay_hours=4, escalation_leader_delay_hours=10)

    assert tasks_escalate(now=task.respond_by + dt.timedelta(hours=3, minutes=59))["escalated"] == 0
    assert tasks_escalate(now=task.respond_by + dt.timedelta(hours=4))["escalated"] == 1
    assert tasks_escalate(now=task.respond_by + dt.timedelta(hours=9))["escalated"] == 0
    assert tasks_escalate(now=task.respond_by + dt.timedelta(hours=10))["escalated"] == 1
    assert [m.to for m in mail.outbox] == [["manager@alpha.example"], ["leader@alpha.example"]]


def test_a_tenant_can_stop_the_ladder_at_the_manager(task, team, ladder):
    ladder(escalation_to_leaders=False)

    tasks_escalate(now=task.respond_by + dt.timedelta(minutes=1))
    tasks_escalate(now=task.respond_by + dt.timedelta(days=30))

    task.refresh_from_db()
    assert task.escalation_level == 1
    assert [m.to for m in mail.outbox] == [["manager@alpha.example"]]


def test_without_a_manager_and_without_leaders_the_escalation_is_recorded_to_nobody(task, team, ladder):
    ladder(escalation_to_leaders=False)
    team["csm"].manager = None
    team["csm"].save()

    tasks_escalate(now=task.respond_by + dt.timedelta(minutes=1))

    assert mail.outbox == []
    assert [e.note for e in task.events.filter(kind="escalated")] == ["Level 1: to nobody (no manager or leader)"]


def test_the_sweep_finds_every_task_it_would_escalate_or_wake_and_not_the_others(task, team):
    """The fan-out sends the escalation sweep only to tenants where this finds a task (tenants.tasks)."""
    from playbooks.services import tasks_escalation_due

    before_sla = task.respond_by - dt.timedelta(minutes=1)
    at_sla = task.respond_by + dt.timedelta(minutes=1)
    assert not tasks_escalation_due(now=before_sla).exists()
    assert list(tasks_escalation_due(now=at_sla)) == [task]

    tasks_escalate(now=at_sla)  # the manager
    tasks_escalate(now=at_sla + dt.timedelta(hours=25))  # then the leader: the top of the ladder
    assert not tasks_escalation_due(now=at_sla + dt.timedelta(days=30)).exists()

    Task.objects.filter(pk=task.pk).update(status="snoozed", snoozed_until=at_sla + dt.timedelta(days=31))
    assert not tasks_escalation_due(now=at_sla + dt.timedelta(days=30)).exists()
    assert tasks_escalation_due(now=at_sla + dt.timedelta(days=32)).exists()  # the snooze ended: to wake
