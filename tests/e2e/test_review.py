"""The review workspace in a real browser: a leader records a decision, with its owner and deadline, and
exports the review; the PDF and the CSV that download carry the decision."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from metrics.models import MetricValue
from metrics.services import kpi_create, kpi_target_set
from reviews.models import Decision
from reviews.services import review_create
from tests.users.factories import UserFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

DECISION = "Run an onboarding clinic for every new enterprise account"


def _quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _review(leader):
    """A planned review of this quarter whose snapshot has NPS, off its target."""
    today = timezone.localdate()
    kpi = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d",
                     tier="advocacy", indicator="lagging", unit="score", owner=leader)
    kpi_target_set(kpi=kpi, period=_quarter(today), value=40, reason="Plan")
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=today - dt.timedelta(days=1),
                               value=12)
    return review_create(quarter=_quarter(today), created_by=leader, facilitator=leader)


def test_a_leader_records_a_decision_and_exports_the_review(page: Page, sign_in, screenshot):
    leader = sign_in(Role.LEADER)
    owner = UserFactory(role=Role.MANAGER, full_name="Morgan Manager")
    review = _review(leader)
    deadline = timezone.localdate() + dt.timedelta(days=45)

    page.goto(f"/reviews/{review.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(review.quarter)
    page.get_by_label("What was decided").fill(DECISION)
    page.get_by_label("Kind").select_option("initiative")
    page.get_by_label("Owner", exact=True).select_option(label="Morgan Manager")
    page.get_by_label("Deadline", exact=True).fill(deadline.isoformat())
    page.get_by_role("button", name="Record the decision").click()

    expect(page.get_by_text(DECISION)).to_be_visible()
    screenshot("decision")
    decision = Decision.objects.get(review=review)
    assert (decision.text, decision.owner, decision.deadline, decision.kind) == (DECISION, owner, deadline,
                                                                                 "initiative")

    with page.expect_download() as pdf:
        page.get_by_role("link", name="PDF").click()
    with page.expect_download() as rows:
        page.get_by_role("link", name="Decisions (CSV)").click()

    from pypdf import PdfReader

    pdf_bytes = pdf.value.path().read_bytes()
    assert pdf_bytes.startswith(b"%PDF")
    text = " ".join(page_.extract_text() for page_ in PdfReader(io.BytesIO(pdf_bytes)).pages)
    assert "onboarding clinic" in text and "Morgan Manager" in text
    exported = list(csv.DictReader(io.StringIO(rows.value.path().read_text(encoding="utf-8"))))
    assert [row for row in exported if DECISION in row.values()], exported
