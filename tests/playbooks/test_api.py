"""The tasks API: the inbox, actions, and who may act."""

import datetime as dt

import pytest
from django.utils import timezone

from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.factories import bearer
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def team():
    manager = UserFactory(role=Role.MANAGER)
    return {"manager": manager, "csm": UserFactory(role=Role.CSM, manager=manager),
            "other": UserFactory(role=Role.CSM)}


@pytest.fixture
def task(team):
    playbook = Playbook.objects.create(name="Check-in", mode="sequence")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call", due_days=1)
    PlaybookStep.objects.create(playbook=playbook, position=2, title="Follow up", due_days=3)
    playbook_run_start(playbook=playbook, account=AccountFactory(owner=team["csm"], name="Hooli"))
    return Task.objects.get()


def _act(client, task, **body):
    return client.post(f"/api/v1/tasks/{task.pk}/actions", body, content_type="application/json")


def test_my_inbox(client, team, task):
    login(client, team["csm"])

    body = client.get("/api/v1/tasks/?assignee=me").json()

    assert [(t["id"], t["account_name"], t["status"], t["assignee"]) for t in body["results"]] == [
        (task.pk, "Hooli", "open", team["csm"].email)]


def test_complete_creates_the_next_step_and_a_second_complete_is_409(client, team, task):
    login(client, team["csm"])

    first = _act(client, task, action="complete", outcome="resolved", note="Spoke to the champion")
    again = _act(client, task, action="complete", outcome="resolved")

    assert first.status_code == 200 and first.json()["status"] == "done"
    assert again.status_code == 409
    assert Task.objects.filter(title="Follow up", assignee=team["csm"]).exists()


@pytest.mark.parametrize(("body", "message"), [
    ({"action": "complete"}, "needs an outcome"),
    ({"action": "snooze", "note": "away"}, "needs `until`"),
    ({"action": "comment", "note": ""}, "needs text"),
    ({"action": "dance"}, "action"),
])
def test_bad_actions_are_400(client, team, task, body, message):
    login(client, team["csm"])

    response = _act(client, task, **body)

    assert response.status_code == 400
    assert message in response.content.decode()


def test_another_csm_cannot_act_but_the_manager_can(client, team, task):
    login(client, team["other"])
    assert _act(client, task, action="start").status_code == 403

    manager_client = type(client)(client.tenant)
    login(manager_client, team["manager"])
    response = _act(manager_client, task, action="reassign", assignee=team["other"].email)
    assert response.status_code == 200 and response.json()["assignee"] == team["other"].email


def test_a_csm_cannot_reassign(client, team, task):
    login(client, team["csm"])

    assert _act(client, task, action="reassign", assignee=team["other"].email).status_code == 403


def test_snooze_through_the_api(client, team, task):
    login(client, team["csm"])
    until = (timezone.now() + dt.timedelta(days=2)).isoformat()

    response = _act(client, task, action="snooze", until=until, note="Customer offsite")

    assert response.status_code == 200 and response.json()["status"] == "snoozed"


def test_api_keys_read_tasks_but_do_not_act(client, read_key, task):
    assert client.get("/api/v1/tasks/", **bearer(read_key)).status_code == 200
    response = client.post(f"/api/v1/tasks/{task.pk}/actions", {"action": "start"},
                           content_type="application/json", **bearer(read_key))
    assert response.status_code == 403


def test_another_tenants_tasks_are_out_of_reach(other_client, team, task, other_tenant):
    from django_tenants.utils import schema_context

    with schema_context(other_tenant.schema_name):
        bravo_user = UserFactory(role=Role.ADMIN)
    login(other_client, bravo_user)

    assert other_client.get("/api/v1/tasks/").json()["results"] == []
    assert other_client.post(f"/api/v1/tasks/{task.pk}/actions", {"action": "start"},
                             content_type="application/json").status_code == 404


def test_admin_creates_a_playbook_with_steps(client, team):
    from tests.integrations.factories import ApiKeyFactory

    admin = ApiKeyFactory(scopes=["admin", "read"])
    body = {"name": "Renewal prep", "trigger": "renewal_due", "renewal_days": 90, "mode": "sequence", "steps": [
        {"position": 1, "title": "Prepare the renewal deck", "kind": "value_review", "due_days": 5},
        {"position": 2, "title": "Pricing review", "kind": "internal", "assignee_rule": "role_queue",
         "queue_role": "manager"}]}

    response = client.post("/api/v1/playbooks/", body, content_type="application/json", **bearer(admin))

    assert response.status_code == 201, response.content
    playbook = Playbook.objects.get(name="Renewal prep")
    assert list(playbook.steps.values_list("position", "title")) == [
        (1, "Prepare the renewal deck"), (2, "Pricing review")]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "trigger": "manual", "steps": []}, "steps"),
    ({"name": "x", "trigger": "alert", "steps": [{"position": 1, "title": "t"}]}, "alert_rule"),
    ({"name": "x", "trigger": "manual", "steps": [{"position": 1, "title": "t", "assignee_rule": "named_user"}]},
     "assignee"),
    ({"name": "x", "trigger": "manual", "steps": [{"position": 1, "title": "a"}, {"position": 1, "title": "b"}]},
     "steps"),
])
def test_bad_playbooks_are_400(client, body, field):
    from tests.integrations.factories import ApiKeyFactory

    admin = ApiKeyFactory(scopes=["admin"])
    response = client.post("/api/v1/playbooks/", body, content_type="application/json", **bearer(admin))

    assert response.status_code == 400
    assert field in response.content.decode()
    assert not Playbook.objects.filter(name="x").exists()


def test_a_csm_starts_a_playbook_by_hand_for_their_own_account_only(client, team):
    playbook = Playbook.objects.create(name="QBR prep")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Prepare the QBR", due_days=7)
    mine, theirs = AccountFactory(owner=team["csm"]), AccountFactory(owner=team["other"])
    login(client, team["csm"])

    started = client.post("/api/v1/playbook-runs/", {"playbook": playbook.pk, "account": mine.pk},
                          content_type="application/json")
    refused = client.post("/api/v1/playbook-runs/", {"playbook": playbook.pk, "account": theirs.pk},
                          content_type="application/json")

    assert started.status_code == 201 and started.json()["trigger"] == "manual"
    assert refused.status_code == 403
    assert Task.objects.get(account=mine).assignee == team["csm"]
    runs = client.get(f"/api/v1/playbook-runs/?account={mine.pk}").json()["results"]
    assert [run["playbook"] for run in runs] == ["QBR prep"]
