"""The playbooks pages: the list with its rates, a playbook with its effectiveness explained, and the editor
(admins only) with ordered steps; a fixed number of queries; nothing of another tenant's."""

from __future__ import annotations

import pytest

from playbooks.models import Playbook, PlaybookStep
from tests.conftest import login
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
def admin():
    return UserFactory(role=Role.ADMIN)


@pytest.fixture
def csm():
    return UserFactory(role=Role.CSM)


def _management(prefix: str = "steps", total: int = 1, initial: int = 0) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _playbook_fields(**changes) -> dict:
    return {"name": "Usage drop", "description": "", "trigger": "manual", "alert_rule": "", "renewal_days": "",
            "mode": "sequence", "close_on_recovery": "on", "is_active": "on", **changes}


def _step(n: int, title: str, order: int | str = "", **changes) -> dict:
    fields = {"title": title, "instructions": "", "kind": "call", "due_days": "3", "assignee_rule": "account_owner",
              "assignee": "", "queue_role": "", "ORDER": str(order), **changes}
    return {f"steps-{n}-{name}": value for name, value in fields.items()}


def test_the_list_shows_each_playbook_with_its_rates(client, csm):
    story = effectiveness_story()
    PlaybookFactory(name="Onboarding", trigger="account_created", is_active=False)
    login(client, csm)

    response = client.get("/playbooks/")

    assert response.status_code == 200
    rows = {report.playbook.name: report for report in response.context["reports"]}
    assert (rows[story.name].runs, rows["Onboarding"].runs) == (4, 0)
    html = response.content.decode()
    # 4 runs; 3 ended: 1 with every task done, 1 closed on recovery (named apart, never one "completion");
    # 3 of 4 tasks on time; 2 of 3 breaches resolved
    assert '<td class="num">4</td>\n      <td class="num">3</td>\n      <td class="num">1</td>\n      ' \
           '<td class="num">1</td>\n      <td class="num">75%</td>\n      <td class="num">67%</td>' in html
    assert "inactive" in html and "New playbook" not in html


def test_an_admin_sees_the_nav_link_and_the_ways_to_edit(client, admin):
    playbook = PlaybookFactory()
    login(client, admin)

    listing = client.get("/playbooks/").content.decode()
    detail = client.get(f"/playbooks/{playbook.pk}/").content.decode()

    assert 'href="/playbooks/new/"' in listing and 'href="/playbooks/">Playbooks</a>' in listing
    assert f'href="/playbooks/{playbook.pk}/edit/"' in detail


def test_the_list_queries_do_not_grow_with_playbooks_or_runs(client, csm, django_assert_max_num_queries):
    effectiveness_story()
    login(client, csm)
    # The tenant (3), the session and user (2), the playbooks (1), effectiveness (3).
    with django_assert_max_num_queries(9) as few:
        client.get("/playbooks/")
    for n in range(8):
        extra = PlaybookFactory(name=f"Extra {n}", trigger="alert", alert_rule=AlertRuleFactory())
        task(playbook_run=run(playbook=extra, started=day(n), status="completed"),
             step=PlaybookStepFactory(playbook=extra), due=day(n + 1), completed=day(n))

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/playbooks/").status_code == 200


def test_the_detail_shows_steps_trigger_numbers_control_group_and_explanation(client, csm):
    story = effectiveness_story()
    login(client, csm)

    response = client.get(f"/playbooks/{story.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "An alert rule" in html and story.alert_rule.name in html
    assert [step.position for step in response.context["steps"]] == [1, 2, 3]
    assert '<td class="num">3</td>\n        <td class="num">8.0</td>' in html  # with the playbook: 3, +8.0
    assert '<td class="num">2</td>\n        <td class="num">-1.0</td>' in html  # control: 2, -1.0
    assert "67%" in html and "75%" in html and "72.0 h" in html
    explanation = " ".join(response.context["explanation"])
    assert "moved by +8.0 on average for the 3 accounts" in explanation
    assert "For the 2 breached accounts of the same rule that got no run, it moved by -1.0" in explanation
    assert "did better by 9.0" in explanation and "may be chance" in explanation
    assert f'href="/playbooks/{story.pk}/edit/"' not in html


def test_the_detail_for_a_period(client, csm):
    story = effectiveness_story()
    login(client, csm)

    response = client.get(f"/playbooks/{story.pk}/?from=2026-07-01&to=2026-07-05")

    report = response.context["report"]
    assert (report.runs, report.kpi_change.mean, report.control.n) == (2, 11.5, 1)
    assert "<small>2026-07-01 to 2026-07-05</small>" in response.content.decode()


@pytest.mark.parametrize(("query", "message"), [
    ("from=someday", "Enter a valid date."),
    ("from=2026-09-30&to=2026-07-01", "The end of the period is before its start."),
])
def test_a_bad_period_is_400_with_the_error_next_to_the_field(client, csm, query, message):
    story = effectiveness_story()
    login(client, csm)

    response = client.get(f"/playbooks/{story.pk}/?{query}")

    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["report"].runs == 4  # the whole history is shown meanwhile


def test_an_empty_playbook_explains_there_is_nothing_yet(client, csm):
    playbook = PlaybookFactory(name="Quiet")
    login(client, csm)

    response = client.get(f"/playbooks/{playbook.pk}/")

    assert response.status_code == 200
    assert response.context["explanation"] == ["This playbook has not run in this period."]


def test_the_detail_queries_do_not_grow_with_steps_or_runs(client, csm, django_assert_max_num_queries):
    story = effectiveness_story()
    login(client, csm)
    # The tenant (3), the session and user (2), the playbook with its rule and KPI (1), effectiveness (3), steps.
    with django_assert_max_num_queries(10) as few:
        client.get(f"/playbooks/{story.pk}/")
    for n in range(10):
        step = PlaybookStepFactory(playbook=story, position=10 + n, assignee=UserFactory(),
                                   assignee_rule="named_user")
        task(playbook_run=run(playbook=story, started=day(n), status="completed"), step=step, due=day(n + 1),
             completed=day(n))

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(f"/playbooks/{story.pk}/").status_code == 200


def test_an_admin_creates_a_playbook_with_ordered_steps(client, admin):
    login(client, admin)
    rule = AlertRuleFactory()

    response = client.post("/playbooks/new/", {
        **_playbook_fields(trigger="alert", alert_rule=str(rule.pk)), **_management(total=2),
        **_step(0, "Second", order=2), **_step(1, "First", order=1, kind="email")})

    playbook = Playbook.objects.get(name="Usage drop")
    assert response.status_code == 302 and response["Location"] == f"/playbooks/{playbook.pk}/"
    assert playbook.alert_rule == rule
    assert list(playbook.steps.values_list("position", "title", "kind")) == [(1, "First", "email"),
                                                                           (2, "Second", "call")]


def test_an_admin_reorders_removes_and_adds_steps(client, admin):
    playbook = PlaybookFactory(name="Renewal", trigger="renewal_due", renewal_days=90)
    deck, pricing, call = (PlaybookStepFactory(playbook=playbook, position=n, title=title)
                           for n, title in ((1, "Deck"), (2, "Pricing"), (3, "Call")))
    login(client, admin)

    response = client.post(f"/playbooks/{playbook.pk}/edit/", {
        **_playbook_fields(name="Renewal", trigger="renewal_due", renewal_days="60"),
        **_management(total=4, initial=3),
        **_step(0, "Deck", order=2, id=str(deck.pk)), **_step(1, "Pricing", order=3, id=str(pricing.pk), DELETE="on"),
        **_step(2, "Call the sponsor", order=1, id=str(call.pk)), **_step(3, "Thank-you note", kind="email")})

    assert response.status_code == 302, response.context and response.context["formset"].errors
    playbook.refresh_from_db()
    assert playbook.renewal_days == 60
    assert list(playbook.steps.values_list("pk", "position", "title")) == [
        (call.pk, 1, "Call the sponsor"), (deck.pk, 2, "Deck"), (playbook.steps.get(title="Thank-you note").pk, 3,
                                                                 "Thank-you note")]
    assert not PlaybookStep.objects.filter(pk=pricing.pk).exists()


def test_add_a_step_shows_one_more_blank_row_and_saves_nothing(client, admin):
    login(client, admin)

    response = client.post("/playbooks/new/", {**_playbook_fields(), **_management(total=1),
                                               **_step(0, "First"), "add_step": "1"})

    assert response.status_code == 200
    assert len(response.context["formset"].forms) == 2
    assert not Playbook.objects.filter(name="Usage drop").exists()


@pytest.mark.parametrize(("changes", "step_changes", "field", "message"), [
    ({"trigger": "alert"}, {}, "alert_rule", "needs the alert rule"),
    ({"trigger": "renewal_due"}, {}, "renewal_days", "how many days before"),
    ({"trigger": "renewal_due", "renewal_days": "2147483647"}, {}, "renewal_days", "At most 3,650 days"),
    ({"name": ""}, {}, "name", "This field is required."),
    ({}, {"assignee_rule": "named_user"}, "assignee", "named user needs that user"),
    ({}, {"assignee_rule": "role_queue"}, "queue_role", "needs the role"),
])
def test_validation_errors_are_shown_next_to_their_fields(client, admin, changes, step_changes, field, message):
    login(client, admin)

    response = client.post("/playbooks/new/", {**_playbook_fields(**changes), **_management(total=1),
                                               **_step(0, "First", **step_changes)})

    assert response.status_code == 400
    form, formset = response.context["form"], response.context["formset"]
    errors = form.errors.get(field) or formset.forms[0].errors.get(field)
    assert errors and message in errors[0]
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Playbook.objects.exists() or not Playbook.objects.filter(name="Usage drop").exists()


def test_a_playbook_needs_a_step(client, admin):
    playbook = PlaybookFactory(name="Check-in")
    only = PlaybookStepFactory(playbook=playbook, position=1, title="Call")
    login(client, admin)

    blank = client.post("/playbooks/new/", {**_playbook_fields(), **_management(total=1), **_step(0, "")})
    emptied = client.post(f"/playbooks/{playbook.pk}/edit/", {
        **_playbook_fields(name="Check-in"), **_management(total=1, initial=1),
        **_step(0, "Call", order=1, id=str(only.pk), DELETE="on")})

    for response in (blank, emptied):
        assert response.status_code == 400
        assert "A playbook needs at least one step." in response.content.decode()
    assert list(playbook.steps.values_list("title", flat=True)) == ["Call"]


def test_a_step_with_past_tasks_cannot_be_deleted_and_the_page_says_why(client, admin):
    playbook = PlaybookFactory(name="Check-in")
    used, spare = PlaybookStepFactory(playbook=playbook, position=1, title="Call"), \
        PlaybookStepFactory(playbook=playbook, position=2, title="Email")
    task(playbook_run=run(playbook=playbook, started=day(0)), step=used, due=day(1))
    login(client, admin)

    response = client.post(f"/playbooks/{playbook.pk}/edit/", {
        **_playbook_fields(name="Check-in"), **_management(total=2, initial=2),
        **_step(0, "Call", order=1, id=str(used.pk), DELETE="on"), **_step(1, "Email", order=2, id=str(spare.pk))})

    assert response.status_code == 400
    assert "Steps with tasks from past runs cannot be removed (&#x27;Call&#x27;)" in response.content.decode()
    assert list(playbook.steps.values_list("title", flat=True)) == ["Call", "Email"]


def test_the_editor_queries_do_not_grow_with_steps(client, admin, django_assert_max_num_queries):
    playbook = PlaybookFactory()
    PlaybookStepFactory(playbook=playbook, position=1)
    login(client, admin)
    # The tenant (3), the session and user (2), the playbook, the people, the alert rules, the steps.
    with django_assert_max_num_queries(9) as few:
        client.get(f"/playbooks/{playbook.pk}/edit/")
    for position in range(2, 12):
        PlaybookStepFactory(playbook=playbook, position=position)

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(f"/playbooks/{playbook.pk}/edit/").status_code == 200


@pytest.mark.parametrize("role", [Role.CSM, Role.MANAGER, Role.LEADER, Role.VIEWER])
def test_only_admins_open_or_post_the_editor(client, role):
    playbook = PlaybookFactory(name="Check-in")
    PlaybookStepFactory(playbook=playbook, position=1, title="Call")
    login(client, UserFactory(role=role))

    assert client.get("/playbooks/new/").status_code == 403
    assert client.get(f"/playbooks/{playbook.pk}/edit/").status_code == 403
    response = client.post(f"/playbooks/{playbook.pk}/edit/", {**_playbook_fields(name="Taken"),
                                                               **_management(total=1), **_step(0, "x")})
    assert response.status_code == 403
    assert client.get(f"/playbooks/{playbook.pk}/").status_code == 200
    playbook.refresh_from_db()
    assert playbook.name == "Check-in"


def test_another_tenants_user_cannot_open_alphas_playbook(client, other_client, in_other_tenant, csm):
    story = effectiveness_story()
    with in_other_tenant():
        bravo_admin = UserFactory(role=Role.ADMIN)
    login(other_client, bravo_admin)

    assert other_client.get(f"/playbooks/{story.pk}/").status_code == 404
    assert other_client.get(f"/playbooks/{story.pk}/edit/").status_code == 404
    assert story.name not in other_client.get("/playbooks/").content.decode()
    client.cookies = other_client.cookies  # bravo's session sent to alpha's host is nobody's
    assert client.get(f"/playbooks/{story.pk}/")["Location"].startswith("/login/")


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/playbooks/")["Location"].startswith("/login/")


@pytest.mark.parametrize(("extra", "status"), [({}, 400), ({"add_step": "1"}, 200)])
def test_a_tampered_step_count_is_refused_with_a_message_not_a_crash(client, admin, extra, status):
    login(client, admin)

    response = client.post("/playbooks/new/", {**_playbook_fields(), **_management(total=1), **_step(0, "First"),
                                               "steps-TOTAL_FORMS": "lots", **extra})

    assert response.status_code == status
    assert "ManagementForm data is missing or has been tampered with" in response.content.decode()
    assert not Playbook.objects.filter(name="Usage drop").exists()
