"""The experiments API and pages: who may configure, what a CSM sees, bad input named, the other tenant's
experiments out of reach, and the review agenda that lists a decision."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from playbooks.experiments.services import experiment_conclude, experiment_start
from playbooks.models import Arm, ExperimentAssignment
from playbooks.services import playbook_run_start
from reviews.selectors import review_agenda
from reviews.services import review_close, review_create, review_start
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.playbooks.experiment_fixtures import churn_experiment, playbook_with_a_step
from tests.users.factories import UserFactory
from users.models import Role

DESIGN = {"name": "Kick-off call", "hypothesis": "A call in week one cuts churn.", "metric": "churn",
          "horizon_days": 90, "baseline": 20, "minimum_effect": -5, "holdout_share": 0.2, "accounts_per_week": 50}


def _post(client, path, body=None, **extra):
    return client.post(path, body or {}, content_type="application/json", **extra)


@pytest.mark.parametrize("role", [Role.LEADER, Role.ADMIN])
def test_leaders_and_admins_pre_register_start_and_conclude(client, role):
    login(client, UserFactory(role=role))
    playbook = playbook_with_a_step()
    created = _post(client, "/api/v1/experiments/", {**DESIGN, "playbook": playbook.pk})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["test"], body["sample_treated"], body["sample_holdout"]) == (
        "draft", "proportions", 4 * body["sample_holdout"], body["sample_holdout"])
    started = _post(client, f"/api/v1/experiments/{body['id']}/start")
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert started.json()["results"]["look"] == "interim"
    assert started.json()["results"]["primary"]["estimate"] is None  # no naive p-value before the planned end
    again = _post(client, f"/api/v1/experiments/{body['id']}/start")
    assert again.status_code == 409
    concluded = _post(client, f"/api/v1/experiments/{body['id']}/conclude", {"decision": "stop", "note": "No lift"})
    assert concluded.status_code == 200 and concluded.json()["decision"] == "stop"


def test_a_renewal_experiment_is_sized_as_proportions_and_shown_as_renewal(client):
    login(client, UserFactory(role=Role.LEADER))
    design = {**DESIGN, "metric": "renewal", "baseline": 80, "minimum_effect": 10,
              "playbook": playbook_with_a_step().pk}

    created = _post(client, "/api/v1/experiments/", design)
    refused = _post(client, "/api/v1/experiments/", {**design, "name": "Other", "test": "welch_t"})

    assert created.status_code == 201, created.json()
    assert created.json()["test"] == "proportions" and created.json()["sample_holdout"] > 0
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "test"
    pk = created.json()["id"]
    assert "Renewal at a renewal date within 90 days of entry" in client.get(f"/experiments/{pk}/").content.decode()
    assert "Renewal within 90 days" in client.get("/experiments/").content.decode()


def test_bad_designs_are_refused_naming_the_field(client):
    login(client, UserFactory(role=Role.LEADER))
    playbook = playbook_with_a_step()
    for change, field in (({"accounts_per_week": 0}, "accounts_per_week"), ({"holdout_share": 0.7}, "holdout_share"),
                          ({"metric": "kpi_change"}, "kpi"), ({"test": "welch_t"}, "test"),
                          ({"baseline": 2}, "minimum_effect"), ({"playbook": 999999}, "playbook")):
        response = _post(client, "/api/v1/experiments/", {**DESIGN, "playbook": playbook.pk, **change})
        assert response.status_code == 400, (change, response.json())
        assert field in {error["field"] for error in response.json()["errors"]}, (change, response.json())
    experiment = churn_experiment(playbook=playbook)
    bad = _post(client, f"/api/v1/experiments/{experiment.pk}/conclude", {"decision": "maybe", "note": "x"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "decision"


@pytest.mark.parametrize("role", [Role.CSM, Role.MANAGER, Role.VIEWER])
def test_others_may_read_but_not_configure(client, role):
    user = UserFactory(role=role)
    login(client, user)
    experiment = churn_experiment()
    response = _post(client, "/api/v1/experiments/", {**DESIGN, "playbook": experiment.playbook_id})
    assert response.status_code == 403
    assert _post(client, f"/api/v1/experiments/{experiment.pk}/start").status_code in (403, 404)
    assert client.patch(f"/api/v1/experiments/{experiment.pk}/", {"name": "x"},
                        content_type="application/json").status_code in (403, 404)
    experiment.refresh_from_db()
    assert experiment.status == "draft" and experiment.name != "x"


def test_a_csm_sees_the_experiments_with_their_accounts_and_only_their_arms(client):
    csm = UserFactory(role=Role.CSM)
    mine, theirs = churn_experiment(name="Mine"), churn_experiment(name="Theirs")
    for experiment in (mine, theirs):
        experiment_start(experiment=experiment, user=None)
    for account in AccountFactory.create_batch(3, owner=csm):
        playbook_run_start(playbook=mine.playbook, account=account)
    for account in AccountFactory.create_batch(4):
        playbook_run_start(playbook=mine.playbook, account=account)
        playbook_run_start(playbook=theirs.playbook, account=account)
    login(client, csm)
    listed = client.get("/api/v1/experiments/").json()["results"]
    assert [row["name"] for row in listed] == ["Mine"]
    assert client.get(f"/api/v1/experiments/{theirs.pk}/").status_code == 404
    arms = client.get(f"/api/v1/experiments/{mine.pk}/assignments/").json()["results"]
    assert len(arms) == 3 and {row["account"] for row in arms} <= set(csm.accounts.values_list("pk", flat=True))
    page = client.get("/experiments/")
    assert "Mine" in page.content.decode() and "Theirs" not in page.content.decode()
    assert client.get(f"/experiments/{theirs.pk}/").status_code == 404
    assert client.get("/experiments/new/").status_code == 403


def test_api_keys_read_with_read_and_configure_with_admin(client):
    experiment = churn_experiment()
    read, admin = ApiKeyFactory(scopes=["read"]), ApiKeyFactory(scopes=["read", "admin"])
    assert client.get(f"/api/v1/experiments/{experiment.pk}/", **bearer(read)).status_code == 200
    assert _post(client, f"/api/v1/experiments/{experiment.pk}/start", **bearer(read)).status_code == 403
    assert _post(client, f"/api/v1/experiments/{experiment.pk}/start", **bearer(admin)).status_code == 200


def test_a_held_out_account_is_refused_a_manual_run_with_the_reason(client):
    leader = UserFactory(role=Role.LEADER)
    experiment = churn_experiment(holdout_share=0.5)
    experiment_start(experiment=experiment, user=None)
    accounts = AccountFactory.create_batch(12)
    for account in accounts:
        playbook_run_start(playbook=experiment.playbook, account=account)
    held = ExperimentAssignment.objects.filter(experiment=experiment, arm=Arm.HOLDOUT).first()
    login(client, leader)
    response = _post(client, "/api/v1/playbook-runs/", {"playbook": experiment.playbook_id,
                                                          "account": held.account_id})
    assert response.status_code == 409 and "holdout" in response.json()["detail"]
    page = client.post(f"/accounts/{held.account_id}/playbooks/start/", {"playbook": experiment.playbook_id},
                       follow=True)
    assert "holdout" in page.content.decode()


def test_other_tenants_experiments_are_out_of_reach(client, other_tenant, in_other_tenant):
    with in_other_tenant():
        theirs = churn_experiment(name="BRAVO-SECRET experiment")
    login(client, UserFactory(role=Role.LEADER))
    assert "BRAVO-SECRET" not in client.get("/api/v1/experiments/").content.decode()
    for path in (f"/api/v1/experiments/{theirs.pk}/", f"/experiments/{theirs.pk}/"):
        assert client.get(path).status_code == 404
    assert _post(client, f"/api/v1/experiments/{theirs.pk}/start").status_code == 404


def test_pages_pre_register_start_and_conclude(client):
    login(client, UserFactory(role=Role.LEADER))
    playbook = playbook_with_a_step(name="Kick-off")
    form = {**DESIGN, "playbook": playbook.pk, "stratify_by": "", "test": "", "alpha": 0.05, "power": 0.8}
    refused = client.post("/experiments/new/", {**form, "accounts_per_week": 0})
    assert refused.status_code == 400 and "accounts enter per week" in refused.content.decode()
    created = client.post("/experiments/new/", form)
    assert created.status_code == 302
    detail = client.get(created["Location"]).content.decode()
    assert "Pre-registration" in detail and "Start the experiment" in detail
    pk = int(created["Location"].rstrip("/").rsplit("/", 1)[1])
    client.post(f"/experiments/{pk}/start/")
    concluded = client.post(f"/experiments/{pk}/conclude/", {"decision": "adopt", "note": "It worked"}, follow=True)
    assert "Decision: Adopt" in concluded.content.decode()


def test_the_next_review_agenda_lists_the_decision_once(client):
    leader = UserFactory(role=Role.LEADER)
    experiment = churn_experiment()
    experiment_start(experiment=experiment, user=leader)
    earlier = review_create(quarter="2026-Q3", created_by=leader)
    review_start(review=earlier, user=leader)
    review_close(review=earlier, user=leader, now=timezone.now() - dt.timedelta(days=1))
    experiment_conclude(experiment=experiment, user=leader, decision="adopt", note="Churn fell by 6 points")
    later = review_create(quarter="2026-Q4", created_by=leader)
    assert review_agenda(review=later, today=timezone.localdate()).experiments == [experiment]
    assert review_agenda(review=earlier, today=timezone.localdate()).experiments == []
    login(client, leader)
    page = client.get(f"/reviews/{later.pk}/").content.decode()
    assert "Experiments decided since the last review" in page and "Churn fell by 6 points" in page
    decided = client.get(f"/api/v1/reviews/{later.pk}/").json()["experiments_decided"]
    assert [(row["id"], row["decision"], row["decision_note"], row["decided_by"]) for row in decided] == [
        (experiment.pk, "adopt", "Churn fell by 6 points", leader.email)]
    assert decided[0]["result"].startswith("Churn within 90 days: too few outcomes yet")
    assert client.get(f"/api/v1/reviews/{earlier.pk}/").json()["experiments_decided"] == []
