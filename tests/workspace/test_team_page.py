"""A manager's own page: the team's queue, SLA attainment and books, the escalations, reassigning in place;
managers land on it and see only their reports."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start, task_complete
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def team():
    manager = UserFactory(role=Role.MANAGER, full_name="Morgan Manager")
    casey = UserFactory(role=Role.CSM, full_name="Casey CSM", manager=manager)
    robin = UserFactory(role=Role.CSM, full_name="Robin CSM", manager=manager)
    outsider = UserFactory(role=Role.CSM, full_name="Other Team")
    return {"manager": manager, "casey": casey, "robin": robin, "outsider": outsider}


def _work(owner, *, started_days_ago: int = 0, kinds=("call", "email")) -> list[Task]:
    playbook = Playbook.objects.create(name=f"Rescue {owner}", mode="parallel")
    for position, kind in enumerate(kinds, start=1):
        PlaybookStep.objects.create(playbook=playbook, position=position, title=f"{kind} for {owner}", kind=kind,
                                    due_days=2)
    account = AccountFactory(owner=owner, renewal_date=timezone.localdate() + dt.timedelta(days=30))
    RevenueSnapshotFactory(account=account, mrr=Decimal("1000"))
    run = playbook_run_start(playbook=playbook, account=account,
                             now=timezone.now() - dt.timedelta(days=started_days_ago))
    return list(run.tasks.order_by("id"))


def test_a_manager_lands_on_their_team(client, team):
    login(client, team["manager"])

    assert client.get("/")["Location"] == "/team/"


def test_the_queue_counts_each_persons_work_and_book(client, team):
    overdue_call, _ = _work(team["casey"], started_days_ago=10)  # due 8 days ago, SLA missed
    Task.objects.filter(pk=overdue_call.pk).update(escalation_level=1)
    done, _ = _work(team["robin"], kinds=("call", "meeting"))
    task_complete(task=done, user=team["robin"], outcome="resolved")
    _work(team["outsider"])
    login(client, team["manager"])

    response = client.get("/team/")

    rows = {row.person.full_name: row for row in response.context["rows"]}
    assert set(rows) == {"Casey CSM", "Robin CSM"}  # only the manager's reports
    casey, robin = rows["Casey CSM"], rows["Robin CSM"]
    assert (casey.open, casey.overdue, casey.escalated, casey.sla_missed) == (2, 2, 1, 2)
    assert (robin.open, robin.closed, robin.closed_in_sla, robin.sla_attainment) == (1, 1, 1, 1.0)
    assert (casey.accounts, casey.arr, casey.renewals_due) == (1, Decimal("12000"), 1)
    assert casey.health["unscored"] == 1
    assert [task.pk for task in response.context["escalated"]] == [overdue_call.pk]
    assert "Other Team" not in response.content.decode()


def test_a_manager_reassigns_in_the_page(client, team):
    task, _ = _work(team["casey"], started_days_ago=10)
    login(client, team["manager"])

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "reassign", "assignee": team["robin"].pk,
                                                      "counts": "team"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "Gave “call for Casey CSM” to Robin CSM." in response.content.decode()
    task.refresh_from_db()
    assert task.assignee == team["robin"]
    assert response.context["counts"].open == 2  # the team's open work, unchanged by a reassignment


def test_a_manager_cannot_give_work_outside_their_team(client, team):
    task, _ = _work(team["casey"])
    login(client, team["manager"])

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "reassign", "assignee": team["outsider"].pk})

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.assignee == team["casey"]


@pytest.mark.parametrize("role", [Role.CSM, Role.VIEWER])
def test_csms_and_viewers_have_no_team_page(client, role):
    login(client, UserFactory(role=role))

    assert client.get("/team/").status_code == 403


def test_the_team_page_has_a_fixed_number_of_queries(client, team, django_assert_num_queries):
    _work(team["casey"])
    login(client, team["manager"])
    client.get("/team/")
    with CaptureQueriesContext(connection) as few:
        client.get("/team/")
    for _ in range(3):
        _work(team["robin"], started_days_ago=10)

    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get("/team/").status_code == 200
