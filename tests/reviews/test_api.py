"""The reviews and decisions API: reads for everyone in the tenant, writes by role or admin-scope key, 409 on
a closed review, 400 with the field to fix (and nothing written) on bad input, and no tenant sees another's."""

from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import schema_context

from core.api.scopes import Scope
from metrics.models import KPITarget
from playbooks.models import Task
from reviews.models import Decision, Review, ReviewKPI
from reviews.services import review_close, review_start
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.reviews.factories import a_decision, a_review

pytestmark = pytest.mark.django_db


def _patch(client, path: str, body: dict, key=None):
    return client.patch(path, body, content_type="application/json", **(bearer(key) if key else {}))


@pytest.fixture
def review(team, kpis):
    return a_review(team["leader"])


@pytest.fixture
def bravo(other_tenant):
    """Tenant bravo's own review, leader and admin key."""
    from tests.users.factories import UserFactory
    from users.models import Role

    with schema_context(other_tenant.schema_name):
        leader = UserFactory(role=Role.LEADER)
        # An id alpha's rows never reach, so every lookup of an alpha id on bravo's host is a miss.
        review = Review.objects.create(pk=900_000_001, quarter="2025-Q1", created_by=leader)
        return {"review": review, "leader": leader, "key": ApiKeyFactory(scopes=[Scope.READ, Scope.ADMIN])}


# --- reviews ------------------------------------------------------------------------------------------------


def test_a_leader_creates_a_review_with_its_snapshot(client, team, kpis):
    login(client, team["leader"])

    response = post_json(client, "/api/v1/reviews/", {
        "quarter": "2026-Q4", "meeting_date": "2027-01-08", "facilitator": team["leader"].email,
        "attendees": [team["manager"].email, team["csm"].email], "segment_dimensions": ["plan"]})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["quarter"], body["status"], body["facilitator"]) == ("2026-Q4", "planned", team["leader"].email)
    assert sorted(body["attendees"]) == sorted([team["manager"].email, team["csm"].email])
    rows = {(row["kpi"], row["segment"]): row for row in body["kpis"]}
    assert set(rows) == {("nps", ""), ("nps", "Growth"), ("churn", ""), ("grr", "")}
    assert {k: rows[("nps", "")][k] for k in ("value", "target", "previous_value", "trend", "status", "kpi_version")} \
        == {"value": 30, "target": 40, "previous_value": 25, "trend": "improving", "status": "off_track",
            "kpi_version": 2}
    assert Review.objects.get().created_by == team["leader"]


def test_an_admin_key_creates_a_review_and_a_read_key_reads_it(client, team, kpis, admin_key, read_key):
    created = post_json(client, "/api/v1/reviews/", {"quarter": "2026-Q4"}, admin_key)
    listed = client.get("/api/v1/reviews/", **bearer(read_key))
    detail = client.get(f"/api/v1/reviews/{created.json()['id']}/", **bearer(read_key))

    assert created.status_code == 201
    assert [r["id"] for r in listed.json()["results"]] == [created.json()["id"]]
    assert detail.status_code == 200 and len(detail.json()["kpis"]) == 3


@pytest.mark.parametrize("role", ["csm", "manager", "viewer"])
def test_only_leaders_and_admins_create_reviews(client, team, kpis, role):
    login(client, team[role])

    response = post_json(client, "/api/v1/reviews/", {"quarter": "2026-Q4"})

    assert response.status_code == 403
    assert "leaders and admins" in response.json()["detail"]
    assert not Review.objects.exists()


def test_a_read_key_cannot_write_and_no_key_is_401(client, team, kpis, read_key):
    assert post_json(client, "/api/v1/reviews/", {"quarter": "2026-Q4"}, read_key).status_code == 403
    assert client.get("/api/v1/reviews/").status_code == 401
    assert not Review.objects.exists()


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"quarter": "Q4 2026"}, "quarter", 400),
    ({"quarter": "2026-Q4", "facilitator": "nobody@example.com"}, "facilitator", 400),
    ({"quarter": "2026-Q4", "kpis": ["no-such-kpi"]}, "kpis", 400),
    ({"quarter": "2026-Q4", "segment_dimensions": ["colour"]}, "segment_dimensions", 400),
    ({"quarter": "2026-Q3"}, "name", 409),
])
def test_bad_review_input_names_the_field_and_writes_nothing(client, team, kpis, admin_key, body, field, status):
    a_review(team["leader"], quarter="2026-Q3")

    response = post_json(client, "/api/v1/reviews/", body, admin_key)

    assert response.status_code == status, response.content
    assert field in response.content.decode()
    assert Review.objects.count() == 1 and ReviewKPI.objects.filter(review__quarter="2026-Q4").count() == 0


def test_start_close_and_a_closed_review_refuses_edits_with_409(client, team, kpis, review, admin_key):
    login(client, team["leader"])

    started = client.post(f"/api/v1/reviews/{review.pk}/start")
    closed = client.post(f"/api/v1/reviews/{review.pk}/close")
    refused = [
        _patch(client, f"/api/v1/reviews/{review.pk}/", {"name": "Renamed"}),
        _patch(client, f"/api/v1/reviews/{review.pk}/kpis/{review.kpis.first().pk}/", {"commentary": "Late"}),
        post_json(client, "/api/v1/decisions/", {"review": review.pk, "kind": "other", "text": "Late",
                                                 "owner": team["csm"].email, "deadline": "2030-01-01"}),
        client.post(f"/api/v1/reviews/{review.pk}/close"),
        client.post(f"/api/v1/reviews/{review.pk}/start"),
        _patch(client, f"/api/v1/reviews/{review.pk}/", {"name": "Renamed"}, admin_key),
    ]

    assert (started.status_code, started.json()["status"]) == (200, "in_progress")
    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    for response in refused:
        assert response.status_code == 409, response.content
        assert "closed and read-only" in response.json()["detail"]
    review.refresh_from_db()
    assert review.name == "" and not Decision.objects.exists()


def test_closing_a_planned_review_is_409(client, team, review):
    login(client, team["admin"])

    response = client.post(f"/api/v1/reviews/{review.pk}/close")

    assert response.status_code == 409 and "Start the 2026-Q4 review" in response.json()["detail"]


def test_commentary_and_meeting_details_are_edited_while_open(client, team, kpis, review):
    login(client, team["leader"])
    row = review.kpis.get(kpi=kpis["nps"])

    commented = _patch(client, f"/api/v1/reviews/{review.pk}/kpis/{row.pk}/", {"commentary": "Detractors up"})
    edited = _patch(client, f"/api/v1/reviews/{review.pk}/", {"meeting_date": "2027-01-09",
                                                             "attendees": [team["csm"].email]})

    assert commented.json()["commentary"] == "Detractors up"
    assert (edited.json()["meeting_date"], edited.json()["attendees"]) == ("2027-01-09", [team["csm"].email])


def test_the_review_list_queries_do_not_grow(client, team, kpis, read_key, django_assert_max_num_queries):
    a_review(team["leader"])
    with django_assert_max_num_queries(20) as few:
        client.get("/api/v1/reviews/", **bearer(read_key))
    for year in range(2010, 2018):
        a_review(team["leader"], quarter=f"{year}-Q2", attendees=[team["csm"], team["manager"]])

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/v1/reviews/", **bearer(read_key))
    assert len(response.json()["results"]) == 9


# --- decisions ------------------------------------------------------------------------------------------------


def test_a_leader_records_a_decision_that_lands_in_the_owners_inbox(client, team, kpis, review):
    login(client, team["leader"])

    response = post_json(client, "/api/v1/decisions/", {
        "review": review.pk, "kind": "change_target", "text": "Lower the NPS target", "kpi": "nps",
        "owner": team["kpi_owner"].email, "deadline": "2030-01-31", "new_target": 32,
        "target_rationale": "Price rise"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("review", "kind", "kpi", "owner", "deadline", "status", "target_period")} == {
        "review": review.pk, "kind": "change_target", "kpi": "nps", "owner": team["kpi_owner"].email,
        "deadline": "2030-01-31", "status": "open", "target_period": "2027-Q1"}
    owner = login(type(client)(client.tenant), team["kpi_owner"])
    inbox = owner.get("/api/v1/tasks/?assignee=me").json()["results"]
    assert [(t["decision"], t["account"], t["playbook"]) for t in inbox] == [(body["id"], None, None)]


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "change_target", "kpi": "nps", "new_target": 32}, "target_rationale"),
    ({"kind": "change_target", "new_target": 32, "target_rationale": "r"}, "kpi"),
    ({"kind": "initiative", "deadline": "2020-01-01"}, "deadline"),
    ({"kind": "initiative", "owner": "ghost@example.com"}, "owner"),
    ({"kind": "meeting"}, "kind"),
    ({"kind": "initiative", "review": 999999}, "review"),
])
def test_bad_decisions_are_400_naming_the_field_and_nothing_is_written(client, team, kpis, review, body, field):
    login(client, team["leader"])
    payload = {"review": review.pk, "text": "Do it", "owner": team["csm"].email, "deadline": "2030-01-31", **body}

    response = post_json(client, "/api/v1/decisions/", payload)

    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not Decision.objects.exists() and not Task.objects.exists()


def test_the_owner_moves_the_status_and_adds_progress_but_cannot_redefine_it(client, team, kpis, review):
    decision = a_decision(review, team["csm"])
    login(client, team["csm"])

    started = _patch(client, f"/api/v1/decisions/{decision.pk}/", {"status": "in_progress", "note": "Calling"})
    progress = post_json(client, f"/api/v1/decisions/{decision.pk}/updates", {"note": "Half done"})
    redefine = _patch(client, f"/api/v1/decisions/{decision.pk}/", {"deadline": "2031-01-01"})
    missed = _patch(client, f"/api/v1/decisions/{decision.pk}/", {"status": "missed"})
    updates = client.get(f"/api/v1/decisions/{decision.pk}/updates").json()

    assert started.status_code == 200 and started.json()["status"] == "in_progress"
    assert progress.status_code == 201
    assert redefine.status_code == 403 and "deadline" in redefine.json()["detail"]
    assert missed.status_code == 400 and "automatically" in missed.json()["detail"]
    assert [(u["note"], u["status"], u["author"]) for u in updates] == [
        ("Calling", "in_progress", team["csm"].email), ("Half done", "", team["csm"].email)]
    decision.refresh_from_db()
    assert decision.deadline == dt.date(2027, 2, 15)


def test_other_people_and_read_keys_cannot_update_a_decision(client, team, kpis, review, read_key):
    decision = a_decision(review, team["csm"])
    login(client, team["other_csm"])

    assert _patch(client, f"/api/v1/decisions/{decision.pk}/", {"status": "done"}).status_code == 403
    assert post_json(client, f"/api/v1/decisions/{decision.pk}/updates", {"note": "x"}).status_code == 403
    fresh = type(client)(client.tenant)
    assert post_json(fresh, f"/api/v1/decisions/{decision.pk}/updates", {"note": "x"}, read_key).status_code == 403
    assert _patch(fresh, f"/api/v1/decisions/{decision.pk}/", {"status": "done"}, read_key).status_code == 403
    decision.refresh_from_db()
    assert decision.status == "open" and not decision.updates.exists()


def test_an_admin_key_records_progress_for_an_integration(client, team, kpis, review):
    decision = a_decision(review, team["csm"])
    key = ApiKeyFactory(scopes=[Scope.ADMIN])

    response = post_json(client, f"/api/v1/decisions/{decision.pk}/updates", {"note": "Synced from Jira",
                                                                             "status": "in_progress"}, key)

    assert response.status_code == 201 and response.json()["status"] == "in_progress"
    assert [(u["note"], u["author"]) for u in response.json()["updates"]] == [("Synced from Jira", None)]


def test_a_closed_reviews_decisions_still_progress_but_cannot_be_redefined(client, team, kpis, review):
    decision = a_decision(review, team["csm"])
    review_start(review=review, user=team["leader"])
    review_close(review=review, user=team["leader"])
    login(client, team["leader"])

    redefined = _patch(client, f"/api/v1/decisions/{decision.pk}/", {"text": "Something else"})
    done = _patch(client, f"/api/v1/decisions/{decision.pk}/", {"status": "done", "note": "Finished late"})

    assert redefined.status_code == 409 and "closed and read-only" in redefined.json()["detail"]
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert Task.objects.get(decision=decision).status == "done"


def test_closing_through_the_api_applies_the_target_change_with_its_history(client, team, kpis, review, admin_key):
    decision = a_decision(review, team["kpi_owner"], kind="change_target", kpi=kpis["nps"], new_target=32,
                          target_rationale="Price rise")
    post_json(client, f"/api/v1/reviews/{review.pk}/start", {}, admin_key)

    post_json(client, f"/api/v1/reviews/{review.pk}/close", {}, admin_key)

    target = KPITarget.objects.get(kpi=kpis["nps"], period="2027-Q1", superseded_at__isnull=True)
    assert (target.value, target.set_by) == (32, None)
    body = client.get(f"/api/v1/decisions/{decision.pk}/", **bearer(admin_key)).json()
    assert (body["status"], body["applied_target"]) == ("done", target.pk)
    history = client.get("/api/v1/kpis/nps/targets", **bearer(admin_key)).json()
    assert any(f"Decision #{decision.pk}" in row["reason"] for row in history)


def test_decision_filters_and_fixed_queries(client, team, kpis, review, read_key, django_assert_max_num_queries):
    mine = a_decision(review, team["csm"], text="Mine", kpi=kpis["nps"])
    a_decision(review, team["other_csm"], text="Theirs")
    login(client, team["csm"])

    assert [d["id"] for d in client.get("/api/v1/decisions/?owner=me").json()["results"]] == [mine.pk]
    assert [d["id"] for d in client.get("/api/v1/decisions/?kpi=nps").json()["results"]] == [mine.pk]
    assert client.get("/api/v1/decisions/?status=lost").status_code == 400
    with django_assert_max_num_queries(20) as few:
        client.get("/api/v1/decisions/", **bearer(read_key))
    for n in range(8):
        a_decision(review, team["manager"], text=f"More {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/decisions/", **bearer(read_key)).json()["results"]) == 10


# --- isolation ------------------------------------------------------------------------------------------------


def test_another_tenants_host_and_key_see_none_of_alphas_reviews(client, other_client, team, kpis, review, bravo,
                                                                admin_key):
    decision = a_decision(review, team["csm"])

    listed = other_client.get("/api/v1/reviews/", **bearer(bravo["key"])).json()["results"]
    decisions = other_client.get("/api/v1/decisions/", **bearer(bravo["key"])).json()["results"]

    assert [r["id"] for r in listed] == [bravo["review"].pk]
    assert decisions == []
    for path in (f"/api/v1/reviews/{review.pk}/", f"/api/v1/decisions/{decision.pk}/",
                 f"/api/v1/decisions/{decision.pk}/updates"):
        assert other_client.get(path, **bearer(bravo["key"])).status_code == 404, path
    # Alpha's key is nobody on bravo's host, and bravo's key nobody on alpha's.
    assert other_client.get("/api/v1/reviews/", **bearer(admin_key)).status_code == 401
    assert client.get("/api/v1/reviews/", **bearer(bravo["key"])).status_code == 401
    decision.refresh_from_db()
    assert decision.status == "open"


@pytest.mark.parametrize("caller", ["key", "leader"])
def test_bravo_cannot_write_to_alphas_review_or_decisions(other_client, team, kpis, review, bravo, caller):
    decision = a_decision(review, team["csm"])
    row = review.kpis.first()
    credentials = bearer(bravo["key"]) if caller == "key" else {}
    if caller == "leader":
        login(other_client, bravo["leader"])
    writes = [
        ("patch", f"/api/v1/reviews/{review.pk}/", {"name": "Hijacked"}, 404),
        ("post", f"/api/v1/reviews/{review.pk}/start", {}, 404),
        ("post", f"/api/v1/reviews/{review.pk}/close", {}, 404),
        ("patch", f"/api/v1/reviews/{review.pk}/kpis/{row.pk}/", {"commentary": "Hijacked"}, 404),
        ("patch", f"/api/v1/decisions/{decision.pk}/", {"status": "done"}, 404),
        ("post", f"/api/v1/decisions/{decision.pk}/updates", {"note": "Hijacked"}, 404),
        ("post", "/api/v1/decisions/", {"review": review.pk, "kind": "other", "text": "Hijacked",
                                        "owner": bravo["leader"].email, "deadline": "2030-01-01"}, 400),
    ]

    for method, path, body, expected in writes:
        response = getattr(other_client, method)(path, body, content_type="application/json", **credentials)
        assert response.status_code == expected, (path, response.content)

    review.refresh_from_db()
    decision.refresh_from_db()
    row.refresh_from_db()
    assert (review.name, review.status, decision.status, row.commentary) == ("", "planned", "open", "")
    assert not decision.updates.exists() and Decision.objects.count() == 1
