"""One playbook through the API: read with its steps, changed by admins (steps kept, added, reordered and
removed), its effectiveness and every playbook's; and nothing of it reachable from another tenant."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from playbooks.models import Playbook, PlaybookStep
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.playbooks.factories import (
    AlertRuleFactory,
    PlaybookFactory,
    PlaybookStepFactory,
    day,
    effectiveness_story,
    run,
    task,
)
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def playbook():
    playbook = PlaybookFactory(name="Onboarding", trigger="account_created", mode="sequence")
    named = UserFactory(email="lead@alpha.example")
    PlaybookStepFactory(playbook=playbook, position=1, title="Kick-off call", kind="call", due_days=2)
    PlaybookStepFactory(playbook=playbook, position=2, title="Training", kind="training", due_days=7,
                        assignee_rule="named_user", assignee=named)
    return playbook


@pytest.fixture
def admin_key():
    return ApiKeyFactory(scopes=["admin", "read"])


def _patch(client, playbook, body, key=None):
    return client.patch(f"/api/v1/playbooks/{playbook.pk}/", body, content_type="application/json",
                        **(bearer(key) if key else {}))


def _steps(playbook) -> list[tuple]:
    return list(PlaybookStep.objects.filter(playbook=playbook).order_by("position")
                .values_list("position", "title", "kind"))


def test_detail_shows_the_playbook_and_its_steps_in_order(client, read_key, playbook):
    response = client.get(f"/api/v1/playbooks/{playbook.pk}/", **bearer(read_key))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["trigger"], body["mode"]) == (
        playbook.pk, "Onboarding", "account_created", "sequence")
    assert [(step["position"], step["title"], step["assignee_rule"], step["assignee"]) for step in body["steps"]] == [
        (1, "Kick-off call", "account_owner", None), (2, "Training", "named_user", "lead@alpha.example")]
    assert all(isinstance(step["id"], int) for step in body["steps"])


def test_an_unknown_playbook_is_404(client, read_key):
    assert client.get("/api/v1/playbooks/999999/", **bearer(read_key)).status_code == 404
    assert client.get("/api/v1/playbooks/999999/effectiveness/", **bearer(read_key)).status_code == 404


def test_an_admin_renames_reorders_keeps_adds_and_removes_steps(client, admin_key, playbook):
    kickoff, training = playbook.steps.order_by("position")

    response = _patch(client, playbook, {"name": "Onboarding v2", "steps": [
        {"id": training.pk, "title": "Training", "kind": "training", "assignee_rule": "account_owner"},
        {"title": "Success plan", "kind": "meeting", "due_days": 10},
    ]}, admin_key)

    assert response.status_code == 200, response.content
    assert [step["title"] for step in response.json()["steps"]] == ["Training", "Success plan"]
    playbook.refresh_from_db()
    assert playbook.name == "Onboarding v2"
    assert _steps(playbook) == [(1, "Training", "training"), (2, "Success plan", "meeting")]
    assert PlaybookStep.objects.get(pk=training.pk).assignee_rule == "account_owner"
    assert not PlaybookStep.objects.filter(pk=kickoff.pk).exists()


def test_a_patch_without_steps_keeps_them(client, admin_key, playbook):
    response = _patch(client, playbook, {"is_active": False}, admin_key)

    assert response.status_code == 200
    assert len(response.json()["steps"]) == 2 and response.json()["is_active"] is False
    assert _steps(playbook) == [(1, "Kick-off call", "call"), (2, "Training", "training")]


def test_a_step_with_tasks_from_past_runs_cannot_be_removed(client, admin_key, playbook):
    kickoff, training = playbook.steps.order_by("position")
    task(playbook_run=run(playbook=playbook, started=day(0)), step=kickoff, due=day(2))

    response = _patch(client, playbook, {"steps": [{"id": training.pk, "title": "Training"}]}, admin_key)

    assert response.status_code == 400
    assert "Kick-off call" in response.json()["steps"][0]
    assert _steps(playbook) == [(1, "Kick-off call", "call"), (2, "Training", "training")]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"trigger": "alert"}, "alert_rule", "needs the alert rule"),
    ({"trigger": "renewal_due"}, "renewal_days", "how many days"),
    ({"trigger": "renewal_due", "renewal_days": 3651}, "renewal_days", "less than or equal to 3650"),
    ({"steps": []}, "steps", "at least one step"),
    ({"steps": [{"title": "Call", "assignee_rule": "named_user"}]}, "steps", "named user needs that user"),
    ({"steps": [{"title": "Call", "assignee_rule": "role_queue", "queue_role": "astronaut"}]}, "steps",
     "needs the role"),
    ({"steps": [{"id": 999999, "title": "Call"}]}, "steps", "Not a step of this playbook: 999999"),
    ({"steps": [{"title": "A", "position": 1}, {"title": "B", "position": 1}]}, "steps", "unique"),
    ({"mode": "sideways"}, "mode", "not a valid choice"),
])
def test_bad_changes_are_400_with_the_field_and_change_nothing(client, admin_key, playbook, body, field, message):
    response = _patch(client, playbook, body, admin_key)

    assert response.status_code == 400
    assert field in response.json()
    assert message in str(response.json()[field])
    playbook.refresh_from_db()
    assert (playbook.trigger, playbook.mode) == ("account_created", "sequence")
    assert len(_steps(playbook)) == 2


def test_an_alert_playbook_is_created_with_its_rule_and_ordered_steps(client, admin_key):
    rule = AlertRuleFactory()

    response = post_json(client, "/api/v1/playbooks/", {
        "name": "Usage drop", "trigger": "alert", "alert_rule": rule.pk, "steps": [
            {"position": 20, "title": "Second"}, {"position": 10, "title": "First", "kind": "email"}]}, admin_key)

    assert response.status_code == 201, response.content
    playbook = Playbook.objects.get(name="Usage drop")
    assert playbook.alert_rule == rule
    assert _steps(playbook) == [(1, "First", "email"), (2, "Second", "call")]


def test_reading_needs_a_key_and_changing_needs_the_admin_scope(client, read_key, playbook):
    csm = UserFactory(role=Role.CSM)

    assert client.get(f"/api/v1/playbooks/{playbook.pk}/").status_code in (401, 403)
    assert _patch(client, playbook, {"name": "Mine"}, read_key).status_code == 403
    login(client, csm)
    assert client.get(f"/api/v1/playbooks/{playbook.pk}/").status_code == 200
    assert _patch(client, playbook, {"name": "Mine"}).status_code == 403
    playbook.refresh_from_db()
    assert playbook.name == "Onboarding"


def test_effectiveness_of_one_playbook(client, read_key):
    playbook = effectiveness_story()

    response = client.get(f"/api/v1/playbooks/{playbook.pk}/effectiveness/", **bearer(read_key))

    assert response.status_code == 200
    body = response.json()
    assert {name: body[name] for name in ("playbook", "name", "start", "end", "runs", "active", "completed",
                                          "recovered", "cancelled", "tasks_done", "tasks_on_time", "on_time_rate",
                                          "breach_runs", "breaches_resolved", "median_hours_to_resolution",
                                          "follow_up_days", "kpi_change", "control", "uplift")} == {
        "playbook": playbook.pk, "name": "Save the account", "start": None, "end": None, "runs": 4, "active": 1,
        "completed": 1, "recovered": 1, "cancelled": 1, "tasks_done": 4, "tasks_on_time": 3, "on_time_rate": 0.75,
        "breach_runs": 3, "breaches_resolved": 2, "median_hours_to_resolution": 72.0, "follow_up_days": 30,
        "kpi_change": {"n": 3, "mean": 8.0, "median": 8.0}, "control": {"n": 2, "mean": -1.0, "median": -1.0},
        "uplift": 9.0}
    assert body["completion_rate"] == pytest.approx(2 / 3) == body["resolved_rate"]


def test_effectiveness_for_a_window(client, read_key):
    playbook = effectiveness_story()

    body = client.get(f"/api/v1/playbooks/{playbook.pk}/effectiveness/?from=2026-07-01&to=2026-07-05",
                      **bearer(read_key)).json()

    assert (body["start"], body["end"], body["runs"], body["completion_rate"]) == ("2026-07-01", "2026-07-05", 2, 1.0)
    assert (body["kpi_change"], body["control"]) == ({"n": 2, "mean": 11.5, "median": 11.5},
                                                     {"n": 1, "mean": 2.0, "median": 2.0})


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-13-01", "from must be a date YYYY-MM-DD"),
    ("to=yesterday", "to must be a date YYYY-MM-DD"),
    ("from=2026-09-30&to=2026-07-01", "from must be on or before to"),
])
def test_bad_dates_are_400_with_a_clear_message(client, read_key, playbook, query, message):
    for path in (f"/api/v1/playbooks/{playbook.pk}/effectiveness/", "/api/v1/playbooks/effectiveness/"):
        response = client.get(f"{path}?{query}", **bearer(read_key))

        assert response.status_code == 400
        assert message in response.json()["detail"]


def test_every_playbooks_effectiveness_in_a_fixed_number_of_queries(client, read_key, playbook,
                                                                     django_assert_max_num_queries):
    story = effectiveness_story()
    for n in range(6):
        extra = PlaybookFactory(name=f"Extra {n}")
        task(playbook_run=run(playbook=extra, started=day(n), status="completed"),
             step=PlaybookStepFactory(playbook=extra), due=day(n + 1), completed=day(n))

    # The tenant and the key (4), the key's last use (1), the page of playbooks (1), effectiveness (3).
    with django_assert_max_num_queries(9):
        response = client.get("/api/v1/playbooks/effectiveness/?from=2026-07-01&to=2026-09-30", **bearer(read_key))

    results = response.json()["results"]
    assert [row["name"] for row in results] == sorted(row["name"] for row in results)
    by_name = {row["name"]: row for row in results}
    assert by_name[story.name]["runs"] == 4 and by_name[story.name]["control"]["n"] == 2
    assert (by_name["Onboarding"]["runs"], by_name["Onboarding"]["completion_rate"]) == (0, None)
    assert all(by_name[f"Extra {n}"]["on_time_rate"] == 1.0 for n in range(6))


def test_the_summary_pages_by_cursor(client, read_key):
    for n in range(3):
        PlaybookFactory(name=f"P{n}")

    first = client.get("/api/v1/playbooks/effectiveness/?page_size=2", **bearer(read_key)).json()
    second = client.get(first["next"], **bearer(read_key)).json()

    assert [row["name"] for row in first["results"] + second["results"]] == ["P0", "P1", "P2"]


def test_another_tenant_cannot_reach_alphas_playbooks(client, other_client, other_tenant, in_other_tenant,
                                                      playbook):
    effectiveness_story()
    with in_other_tenant():
        bravo_key = ApiKeyFactory(scopes=["admin", "read"])
        bravo_admin = UserFactory(role=Role.ADMIN)
    paths = [f"/api/v1/playbooks/{playbook.pk}/", f"/api/v1/playbooks/{playbook.pk}/effectiveness/"]

    for path in paths:
        assert client.get(path, **bearer(bravo_key)).status_code == 401  # bravo's key on alpha's host
        assert other_client.get(path, **bearer(bravo_key)).status_code == 404  # bravo's host: no such playbook
    assert _patch(other_client, playbook, {"name": "Taken"}, bravo_key).status_code == 404
    assert other_client.get("/api/v1/playbooks/effectiveness/", **bearer(bravo_key)).json()["results"] == []
    login(other_client, bravo_admin)
    client.cookies = other_client.cookies  # bravo's session cookie sent to alpha's host
    assert client.get(paths[0]).status_code in (401, 403)
    playbook.refresh_from_db()
    assert playbook.name == "Onboarding"


def test_the_schema_documents_the_playbook_endpoints_without_warnings(client, tmp_path):
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]

    assert set(paths["/api/v1/playbooks/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/playbooks/{id}/effectiveness/"]) == {"get"}
    assert set(paths["/api/v1/playbooks/effectiveness/"]) == {"get"}
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

