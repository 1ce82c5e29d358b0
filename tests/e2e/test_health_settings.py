"""Health-score settings in a real browser: an admin gives a segment bands of its own, and an account of that
segment is banded by them on its page once the score is computed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from metrics.models import KPI, MetricValue
from metrics.services import kpi_compute, kpi_create
from tests.accounts.factories import AccountFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_an_admin_gives_enterprise_accounts_their_own_bands(page: Page, sign_in, screenshot):
    sign_in(Role.ADMIN)
    today = timezone.localdate()
    nps = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                     indicator="lagging", unit="score", poor_value=0, good_value=100)
    kpi_create(slug="health-score", name="Health score", calculator="health.score", definition="d",
               tier="advocacy", indicator="leading", unit="score", params={"components": [{"kpi": "nps", "weight": 1}]})
    enterprise = AccountFactory(plan="Enterprise", name="Enterprise Ltd")
    MetricValue.objects.create(kpi=nps, kpi_version=1, scope="account", account=enterprise, as_of=today, value=70)

    page.goto("/settings/health/")
    expect(page.get_by_text("None: every account is scored and banded alike.")).to_be_visible()
    # Two forms share field names (red, yellow, reason): each label must still point at its own field.
    assert page.evaluate("""() => { const ids = [...document.querySelectorAll('[id]')].map(element => element.id);
                                    return ids.filter((id, index) => ids.indexOf(id) !== index); }""") == []
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(field => field.labels.length === 0 && !field.getAttribute('aria-label')).map(field => field.name)""")
    assert unlabelled == []
    segment_form = page.locator("form", has=page.get_by_role("textbox", name="Segment"))
    segment_form.get_by_label("Dimension").select_option("plan")
    segment_form.get_by_label("Segment").fill("Enterprise")
    segment_form.get_by_label("Yellow begins at").fill("75")
    segment_form.get_by_label("Green begins at").fill("90")
    segment_form.get_by_label("Reason").fill("Enterprise accounts churn from higher scores")
    segment_form.get_by_role("button", name="Save a new version").click()

    row = page.get_by_role("row", name="plan:Enterprise")
    expect(row).to_contain_text("75")
    expect(row).to_contain_text("90")
    expect(page.get_by_role("heading", level=1)).to_contain_text("version 2")
    screenshot("segment-bands")
    health = KPI.objects.get(slug="health-score")
    assert health.params["segment_bands"] == {"plan:Enterprise": {"red": 75.0, "yellow": 90.0}}

    kpi_compute(kpi=health, as_of=today)
    page.goto(f"/accounts/{enterprise.pk}/")

    # 70 points: yellow for every other account (50 / 75), red for Enterprise (75 / 90).
    expect(page.get_by_role("heading", name="Health 70 Red")).to_be_visible()
    expect(page.locator(".health.band-red")).to_contain_text("Red on")
    expect(page.locator(".health")).to_contain_text("Yellow from 75, green from 90 (the bands of plan:Enterprise)")
