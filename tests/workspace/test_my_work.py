"""My work: a CSM's tasks, overdue first, completed from the page; nobody else's."""

import datetime as dt

import pytest
from django.utils import timezone

from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def csm():
    return UserFactory(role=Role.CSM)


def _tasks(owner, due_days: list[int]):
    playbook = Playbook.objects.create(name="Check-in", mode="parallel")
    for position, days in enumerate(due_days, start=1):
        PlaybookStep.objects.create(playbook=playbook, position=position, title=f"Step {position}", due_days=days)
    account = AccountFactory(owner=owner, name="Hooli")
    playbook_run_start(playbook=playbook, account=account, now=timezone.now() - dt.timedelta(days=2))
    return list(Task.objects.order_by("due_at"))


def test_inbox_groups_overdue_today_and_upcoming(client, csm):
    overdue, upcoming = _tasks(csm, [1, 10])
    login(client, csm)

    inbox = client.get("/work/").context["inbox"]

    assert inbox["overdue"] == [overdue]
    assert inbox["upcoming"] == [upcoming]


def test_completing_from_the_page(client, csm):
    task = _tasks(csm, [3])[0]
    login(client, csm)

    response = client.post(f"/tasks/{task.pk}/complete/", {"outcome": "resolved", "note": "Talked to the VP"})

    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.outcome, task.note) == ("done", "resolved", "Talked to the VP")


def test_nobody_else_completes_my_task(client, csm):
    task = _tasks(csm, [3])[0]
    login(client, UserFactory(role=Role.CSM))

    assert client.post(f"/tasks/{task.pk}/complete/", {"outcome": "resolved"}).status_code == 403
    task.refresh_from_db()
    assert task.status == "open"


def test_inbox_queries_do_not_grow_with_tasks(client, csm, django_assert_max_num_queries):
    _tasks(csm, list(range(1, 25)))
    login(client, csm)

    with django_assert_max_num_queries(8):
        assert client.get("/work/").status_code == 200


def test_another_tenants_session_sees_no_inbox(client, other_client, csm):
    _tasks(csm, [1])
    login(client, csm)
    other_client.cookies = client.cookies

    assert other_client.get("/work/")["Location"].startswith("/login/")


def test_the_owner_starts_a_playbook_from_the_account_page(client, csm):
    playbook = Playbook.objects.create(name="QBR prep")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Prepare the QBR", due_days=7)
    account = AccountFactory(owner=csm)
    login(client, csm)

    assert b"Start a playbook" in client.get(f"/accounts/{account.pk}/").content
    response = client.post(f"/accounts/{account.pk}/playbooks/start/", {"playbook": playbook.pk})

    assert response.status_code == 302
    assert Task.objects.get(account=account).assignee == csm


def test_a_csm_cannot_start_playbooks_on_someone_elses_account(client, csm):
    playbook = Playbook.objects.create(name="QBR prep")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Prepare the QBR", due_days=7)
    account = AccountFactory(owner=UserFactory(role=Role.CSM))
    login(client, csm)

    assert client.post(f"/accounts/{account.pk}/playbooks/start/", {"playbook": playbook.pk}).status_code == 403
    assert not Task.objects.exists()


def test_my_accounts_show_their_latest_health_band(client, csm):
    from metrics.models import MetricValue
    from metrics.services import kpi_create

    health = kpi_create(slug="health-score", name="Health score", calculator="health.score", definition="d",
                        tier="advocacy", indicator="leading", unit="score")
    scored = AccountFactory(owner=csm, name="Initech")
    AccountFactory(owner=csm, name="Hooli")  # never scored
    today = timezone.localdate()
    for days_ago, value, band in ((8, 81, "green"), (1, 42, "red")):
        MetricValue.objects.create(kpi=health, kpi_version=1, scope="account", account=scored, value=value,
                                   as_of=today - dt.timedelta(days=days_ago), details={"band": band})
    login(client, csm)

    accounts = {account.name: account for account in client.get("/work/").context["accounts"]}

    assert (accounts["Initech"].health, accounts["Initech"].health_band) == (42, "red")  # the latest, not the best
    assert accounts["Hooli"].health_band is None
    page = client.get("/work/").content.decode()
    assert "42 red" in page and "not scored" in page
