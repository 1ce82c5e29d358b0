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


def test_my_work_groups_open_tasks_by_account_with_the_days_focus_first(client, csm):
    overdue, upcoming = _tasks(csm, [1, 10])
    calm = AccountFactory(owner=csm, name="Calm Co", renewal_date=None)
    playbook = Playbook.objects.create(name="Quarterly check-in")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Book the QBR", kind="meeting", due_days=20)
    playbook_run_start(playbook=playbook, account=calm)
    login(client, csm)

    response = client.get("/work/")

    focus, rest = response.context["focus"], response.context["rest"]
    assert [(group.account.name, group.tasks) for group in focus] == [("Hooli", [overdue, upcoming])]
    assert focus[0].focus_reasons == ["1 overdue"]
    assert [group.account.name for group in rest] == ["Calm Co"]
    counts = response.context["counts"]
    assert (counts.open, counts.overdue, counts.due_today) == (3, 1, 0)


def test_my_work_filters_by_severity_and_playbook_and_sorts(client, csm):
    _tasks(csm, [1, 10])
    other = Playbook.objects.create(name="Renewal prep")
    PlaybookStep.objects.create(playbook=other, position=1, title="Send the deck", kind="email", due_days=5)
    playbook_run_start(playbook=other, account=AccountFactory(owner=csm, name="Initech"))
    Task.objects.filter(title="Send the deck").update(severity="critical")
    login(client, csm)

    critical = client.get("/work/?severity=critical").context
    by_playbook = client.get(f"/work/?playbook={other.pk}&sort=due").context

    assert [[task.title for task in group.tasks] for group in critical["focus"] + critical["rest"]] == [
        ["Send the deck"]]
    assert by_playbook["focus"] == []  # a sort other than the focus lists every account in one order
    assert [group.account.name for group in by_playbook["rest"]] == ["Initech"]
    assert client.get("/work/?severity=urgent").status_code == 400


def test_my_work_filters_by_segment_plan_region_industry_or_lifecycle_stage(client, csm):
    _tasks(csm, [3])  # Hooli
    latam = AccountFactory(owner=csm, name="Initech", plan="Premier", region="LATAM", lifecycle_stage="renewal")
    playbook = Playbook.objects.create(name="Renewal prep")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Send the deck", due_days=5)
    playbook_run_start(playbook=playbook, account=latam)
    login(client, csm)

    def shown(query: str) -> list[str]:
        context = client.get(f"/work/?{query}").context
        return [group.account.name for group in context["focus"] + context["rest"]]

    assert shown("segment=region:LATAM") == ["Initech"]
    assert shown("segment=lifecycle_stage:renewal") == ["Initech"]
    assert shown("segment=plan:Premier") == ["Initech"]
    page = client.get("/work/").content.decode()
    assert '<optgroup label="Region">' in page and '<option value="region:LATAM">LATAM</option>' in page
    assert '<option value="lifecycle_stage:renewal">Renewal</option>' in page  # the stage's label
    assert client.get("/work/?segment=colour:blue").status_code == 400  # said, and everything shown


def test_completing_needs_an_outcome_chosen_on_purpose(client, csm):
    task = _tasks(csm, [3])[0]
    login(client, csm)

    refused = client.post(f"/tasks/{task.pk}/act/", {"action": "complete", "outcome": ""}, HTTP_HX_REQUEST="true")

    assert refused.status_code == 400
    assert "Choose an outcome" in refused.content.decode()
    task.refresh_from_db()
    assert task.status == "open"


def test_completing_from_the_page(client, csm):
    task = _tasks(csm, [3])[0]
    login(client, csm)

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "complete", "outcome": "resolved",
                                                      "note": "Talked to the VP", "next": "/work/?sort=due"})

    assert (response.status_code, response["Location"]) == (302, "/work/?sort=due")
    task.refresh_from_db()
    assert (task.status, task.outcome, task.note) == ("done", "resolved", "Talked to the VP")


def test_an_action_in_place_answers_with_live_counts_and_the_row(client, csm):
    first, _second = _tasks(csm, [1, 10])
    login(client, csm)

    response = client.post(f"/tasks/{first.pk}/act/", {"action": "complete", "outcome": "no_response"},
                           HTTP_HX_REQUEST="true")

    content = response.content.decode()
    assert response.status_code == 200
    assert response.context["counts"].open == 1 and response.context["counts"].overdue == 0
    assert f'id="task-{first.pk}"' in content and "Completed “Step 1”: No response." in content
    assert 'id="work-counts"' in content


@pytest.mark.parametrize(("data", "status", "event"), [
    ({"action": "start"}, "in_progress", "started"),
    ({"action": "snooze", "days": "3", "reason": "They are at a conference"}, "snoozed", "snoozed"),
    ({"action": "comment", "comment": "Left a voicemail"}, "open", "comment"),
])
def test_start_snooze_and_comment_in_place(client, csm, data, status, event):
    task = _tasks(csm, [3])[0]
    login(client, csm)

    response = client.post(f"/tasks/{task.pk}/act/", data, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == status
    assert task.events.order_by("id").last().kind == event


def test_a_snooze_needs_a_reason_said_beside_the_row(client, csm):
    task = _tasks(csm, [3])[0]
    login(client, csm)

    response = client.post(f"/tasks/{task.pk}/act/", {"action": "snooze", "days": "3", "reason": ""},
                           HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "Say why the task can wait." in response.content.decode()


def test_a_csm_does_not_reassign_but_their_manager_does(client, csm):
    manager = UserFactory(role=Role.MANAGER)
    csm.manager = manager
    csm.save()
    colleague = UserFactory(role=Role.CSM, manager=manager, full_name="Robin Colleague")
    task = _tasks(csm, [3])[0]
    login(client, csm)
    assert client.post(f"/tasks/{task.pk}/act/", {"action": "reassign", "assignee": colleague.pk}).status_code == 302
    task.refresh_from_db()
    assert task.assignee == csm

    client.logout()
    login(client, manager)
    client.post(f"/tasks/{task.pk}/act/", {"action": "reassign", "assignee": colleague.pk})

    task.refresh_from_db()
    assert task.assignee == colleague


def test_nobody_else_acts_on_my_task(client, csm):
    task = _tasks(csm, [3])[0]
    login(client, UserFactory(role=Role.CSM))

    assert client.post(f"/tasks/{task.pk}/act/", {"action": "complete", "outcome": "resolved"}).status_code == 403
    assert client.get(f"/tasks/{task.pk}/").status_code == 403
    task.refresh_from_db()
    assert task.status == "open"


def test_inbox_queries_do_not_grow_with_tasks(client, csm, django_assert_max_num_queries):
    _tasks(csm, list(range(1, 25)))
    login(client, csm)

    with django_assert_max_num_queries(9):
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
    assert "42 Red" in page and "not scored" in page
