"""One response-SLA clock for a breach and the work it starts: the task answering a breach is due a response when
the breach is, however late its run started, so Alerts, My work, the task's page and the critical-task email say
the same thing (the issue saw Alerts list critical breaches overdue for weeks while My work showed their tasks
on time)."""

from __future__ import annotations

import datetime as dt

from django.core import mail
from django.utils import timezone

from metrics.models import AlertRule, Breach
from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import runs_start_for_breaches
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role

CLOCK = "SLA missed 2 d 5 h ago"


def test_alerts_my_work_the_task_page_and_the_email_read_the_breachs_clock(client, django_capture_on_commit_callbacks):
    csm = UserFactory(role=Role.CSM)
    rule = AlertRule.objects.create(kpi=KPIFactory(), name="Usage collapse", condition="below", threshold=10,
                                    severity="critical")
    now = timezone.now()
    breach = Breach.objects.create(rule=rule, kpi=rule.kpi, scope="account", account=AccountFactory(owner=csm),
                                   severity="critical", opened_at=now - dt.timedelta(days=2, hours=9),
                                   opened_as_of=(now - dt.timedelta(days=3)).date(), value_at_open=1, threshold=10,
                                   respond_by=now - dt.timedelta(days=2, hours=5, minutes=20))
    playbook = Playbook.objects.create(name="Rescue", trigger="alert", alert_rule=rule, mode="sequence")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the sponsor", due_days=1)
    PlaybookStep.objects.create(playbook=playbook, position=2, title="Send the plan", due_days=5)

    with django_capture_on_commit_callbacks(execute=True):
        runs_start_for_breaches(breach_ids=[breach.pk])  # the run starts days after the breach opened

    task = Task.objects.get()
    assert task.respond_by == breach.respond_by
    assert CLOCK in login(client, csm).get("/work/").content.decode()
    assert CLOCK in client.get(f"/tasks/{task.pk}/").content.decode()
    assert CLOCK in mail.outbox[-1].body
    assert CLOCK in login(client, UserFactory(role=Role.LEADER)).get("/alerts/").content.decode()
