"""The improvement backlog in a real browser: a leader reads it ranked by revenue at stake and opens an item."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reviews.services import review_create
from tests.reviews.test_backlog import _initiative, _kpi_with_gap
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_leader_reads_the_backlog_by_revenue_at_stake(page: Page, sign_in):
    leader = sign_in(Role.LEADER)
    review = review_create(quarter="2026-Q4", created_by=leader)
    _initiative(review, leader, _kpi_with_gap("adoption", values=[30, 40], mrr=1000, target=60), "Adoption clinics")
    _initiative(review, leader, _kpi_with_gap("csat", values=[50], mrr=5000, target=80), "Faster first responses")

    page.goto("/reviews/")
    page.get_by_role("link", name="Improvement backlog").click()
    rows = page.locator("#backlog tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Faster first responses")
    expect(rows.nth(0)).to_contain_text("60,000")
    expect(rows.nth(1)).to_contain_text("24,000")
    rows.nth(0).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2026-Q4")
