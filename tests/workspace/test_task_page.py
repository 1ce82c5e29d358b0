"""A task's page: why it exists (the breach, its KPI against the threshold), the SLA clock, its history and
comments, its outcome; for the people who may see it, in a fixed number of queries."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start, task_comment, task_complete
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def csm():
    return UserFactory(role=Role.CSM, full_name="Casey CSM")


@pytest.fixture
def task(csm):
    kpi = kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                     definition="d", tier="adoption", indicator="leading", unit="percent")
    account = AccountFactory(name="Initech", owner=csm)
    today = timezone.localdate()
    for days_ago, value in ((20, 35.0), (10, 25.0), (1, 12.0)):
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account,
                                   as_of=today - dt.timedelta(days=days_ago), value=value)
    rule = AlertRule.objects.create(kpi=kpi, name="Seats barely used", condition="below", threshold=20,
                                    severity="high")
    now = timezone.now()
    breach = Breach.objects.create(rule=rule, kpi=kpi, scope="account", account=account, severity="high",
                                   opened_at=now, opened_as_of=today - dt.timedelta(days=1), value_at_open=12,
                                   threshold=20, respond_by=now + dt.timedelta(hours=72))
    playbook = Playbook.objects.create(name="Adoption rescue", trigger="alert", alert_rule=rule)
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call {account}", due_days=3,
                                instructions="Seat use is {value}% at {account}.")
    return playbook_run_start(playbook=playbook, account=account, breach=breach, trigger="alert").tasks.get()


def test_the_task_page_says_why_with_the_kpi_against_its_threshold(client, csm, task):
    login(client, csm)

    response = client.get(f"/tasks/{task.pk}/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Seat utilisation</strong> was 12.0%" in content and "threshold of 20.0%" in content
    assert "Seat use is 12.0% at Initech." in content
    assert "left to respond" in content  # the SLA clock
    assert 'class="reference threshold"' in content  # the chart draws the threshold line
    assert content.count("<circle") == 3  # one point per value, each with its value on hover


def test_the_task_page_shows_comments_history_and_outcome(client, csm, task):
    task_comment(task=task, user=csm, note="Champion on leave until Monday")
    task_complete(task=task, user=csm, outcome="partial", note="Two teams trained")
    login(client, csm)

    content = client.get(f"/tasks/{task.pk}/").content.decode()

    assert "Champion on leave until Monday" in content
    assert "Partly resolved" in content and "Two teams trained" in content
    assert "Completed" in content and "Casey CSM" in content
    assert "Work on it" not in content  # a closed task has no actions left


def test_a_comment_from_the_task_page_comes_back_to_it(client, csm, task):
    login(client, csm)

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "comment", "comment": "Sent the agenda",
                                                      "next": f"/tasks/{task.pk}/"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/tasks/{task.pk}/"
    assert "Sent the agenda" in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 200), (Role.LEADER, 200), (Role.CSM, 403),
                                              (Role.MANAGER, 403)])
def test_who_sees_a_task(client, task, role, status):
    login(client, UserFactory(role=role))

    assert client.get(f"/tasks/{task.pk}/").status_code == status


def test_the_owners_manager_sees_and_acts(client, csm, task):
    manager = UserFactory(role=Role.MANAGER)
    csm.manager = manager
    csm.save()
    login(client, manager)

    assert client.get(f"/tasks/{task.pk}/").status_code == 200


def test_the_task_page_has_a_fixed_number_of_queries(client, csm, task, django_assert_num_queries):
    login(client, csm)
    client.get(f"/tasks/{task.pk}/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/tasks/{task.pk}/")
    for number in range(5):
        task_comment(task=task, user=csm, note=f"Comment {number}")

    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(f"/tasks/{task.pk}/").status_code == 200
    assert len(few.captured_queries) <= 10


def test_an_unknown_task_is_404(client, csm):
    login(client, csm)

    assert client.get("/tasks/999999/").status_code == 404
