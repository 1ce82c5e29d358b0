"""Feedback themes: recurring subjects found in survey comments and ticket subjects, each with volume, trend,
sentiment, accounts, ARR at stake and examples; a CSM's view is their book; the other tenant's text is never
read; a theme leads to an experiment or a decision."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import RevenueSnapshot, SupportTicket, SurveyResponse
from metrics.themes import theme_summaries
from reviews.services import review_create
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role

SUBJECTS = {
    "invoice": ["Invoice charged twice this month", "Wrong invoice amount again", "Billing invoice has the wrong VAT",
                "Invoice never arrived, billing contact unknown", "Double invoice charge on the card"],
    "export": ["CSV export broken since the release", "Export to CSV times out", "The CSV export drops columns",
               "Export keeps failing for large reports", "Scheduled CSV export did not run"],
    "onboarding": ["Onboarding training was excellent", "Great onboarding training sessions",
                   "The onboarding training helped our admins", "More onboarding training videos please",
                   "Onboarding training for new hires was useful"],
}


def _feedback(csm, *, per_subject: int = 2, today=None) -> dict[str, list]:
    """Each subject's texts said by its own accounts, as survey comments and ticket subjects, recent and older."""
    today = today or timezone.localdate()
    now = timezone.now()
    accounts = {}
    for subject, texts in SUBJECTS.items():
        accounts[subject] = [AccountFactory(owner=csm if subject == "export" else None) for _ in range(per_subject)]
        for k, account in enumerate(accounts[subject]):
            RevenueSnapshot.objects.create(account=account, month=today.replace(day=1), mrr=Decimal(1000))
            for j, text in enumerate(texts):
                when = now - dt.timedelta(days=5 if j % 2 == 0 else 40)
                SurveyResponse.objects.create(account=account, external_id=f"{csm.pk}-{subject}-{k}-{j}", kind="csat",
                                              score=2 if subject != "onboarding" else 5, comment=text,
                                              responded_at=when, sentiment=-0.5 if subject != "onboarding" else 0.6)
                SupportTicket.objects.create(account=account, external_id=f"t-{csm.pk}-{subject}-{k}-{j}", subject=text,
                                             opened_at=when)
    return accounts


def test_recurring_subjects_become_labelled_themes_with_what_is_at_stake():
    _feedback(UserFactory(role=Role.CSM))
    summaries = theme_summaries(today=timezone.localdate(), themes=3)
    labels = {summary.label: summary for summary in summaries}
    assert len(summaries) == 3, labels.keys()
    by_subject = {subject: next(summary for label, summary in labels.items() if subject in label)
                  for subject in SUBJECTS}
    export = by_subject["export"]
    # 2 accounts x 5 texts, each once as a comment and once as a ticket subject.
    assert (export.volume, export.surveys, export.tickets, export.accounts, export.arr) == (20, 10, 10, 2, 24_000)
    assert (export.recent, export.previous) == (12, 8) and export.trend == pytest.approx(0.5)
    assert export.sentiment == pytest.approx(-0.5) and by_subject["onboarding"].sentiment == pytest.approx(0.6)
    assert len(export.examples) == 3 and all("export" in example.text.lower() for example in export.examples)


def test_a_csm_counts_their_own_book():
    csm = UserFactory(role=Role.CSM)
    _feedback(csm)
    summaries = theme_summaries(today=timezone.localdate(), themes=3,
                                account_ids=set(csm.accounts.values_list("pk", flat=True)))
    assert len(summaries) == 1 and "export" in summaries[0].label and summaries[0].accounts == 2


def test_themes_are_found_once_for_the_same_texts_and_again_when_a_text_changes(monkeypatch):
    from metrics import themes

    found = []
    real = themes.themes_found
    monkeypatch.setattr(themes, "themes_found", lambda documents, **kwargs: found.append(1) or real(documents,
                                                                                                    **kwargs))
    _feedback(UserFactory(role=Role.CSM))
    today = timezone.localdate()

    first, second = theme_summaries(today=today, themes=3), theme_summaries(today=today, themes=3)
    assert first == second and len(found) == 1  # the second page view reads the first one's themes
    theme_summaries(today=today, themes=4)
    SurveyResponse.objects.filter(pk=SurveyResponse.objects.order_by("pk").first().pk).update(comment="New words")
    theme_summaries(today=today, themes=3)
    assert len(found) == 3  # another number of themes, then an edited comment: found again


def test_too_little_text_finds_nothing():
    assert theme_summaries(today=timezone.localdate()) == []


def test_the_page_and_api_show_themes_and_lead_to_an_experiment_or_a_decision(client):
    leader = UserFactory(role=Role.LEADER)
    _feedback(UserFactory(role=Role.CSM))
    review = review_create(quarter="2026-Q4", created_by=leader)
    login(client, leader)
    api = client.get("/api/v1/feedback-themes/?themes=3")
    assert api.status_code == 200 and len(api.json()["themes"]) == 3
    assert client.get("/api/v1/feedback-themes/?themes=99").json()["errors"][0]["field"] == "themes"
    page = client.get("/feedback/themes/?themes=3").content.decode()
    assert "Start an experiment" in page and "Record a decision" in page
    decide = client.get("/reviews/decide/?text=Address+the+export+theme")
    assert decide.status_code == 302 and f"/reviews/{review.pk}/" in decide["Location"]
    assert "Address the export theme" in client.get(decide["Location"]).content.decode()
    suggested = client.get("/experiments/new/?name=Theme:+export&hypothesis=Fix+exports").content.decode()
    assert 'value="Theme: export"' in suggested and "Fix exports" in suggested


def test_a_csm_sees_only_their_accounts_themes_in_the_page(client):
    csm = UserFactory(role=Role.CSM)
    _feedback(csm)
    login(client, csm)
    page = client.get("/feedback/themes/?themes=3").content.decode()
    assert "Counted on your accounts only" in page and "invoice" not in page.split("<tbody>")[1]
    assert "Start an experiment" not in page


def test_the_other_tenants_text_is_never_read(client, in_other_tenant):
    with in_other_tenant():
        account = AccountFactory()
        for j in range(12):
            SurveyResponse.objects.create(account=account, external_id=f"b-{j}", kind="nps", score=3,
                                          comment=f"BRAVO-SECRET complaint number {j % 3} about secrets",
                                          responded_at=timezone.now())
    _feedback(UserFactory(role=Role.CSM))
    login(client, UserFactory(role=Role.LEADER))
    assert "BRAVO-SECRET" not in client.get("/api/v1/feedback-themes/?themes=3").content.decode()
    assert "bravo" not in client.get("/feedback/themes/?themes=3").content.decode().lower()


@pytest.mark.parametrize("path", ["/feedback/themes/?themes=3", "/api/v1/feedback-themes/?themes=3"])
def test_query_count_does_not_grow_with_feedback(client, path):
    login(client, UserFactory(role=Role.LEADER))
    counts = []
    for per_subject in (1, 4):
        _feedback(UserFactory(role=Role.CSM), per_subject=per_subject)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1] <= 7, counts
