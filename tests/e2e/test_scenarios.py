"""Scenarios in a real browser: a leader tries lower churn, saves it attached to a review, and reads the
projection and its arithmetic; the review lists it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reviews.models import Scenario
from reviews.services import review_create
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_leader_saves_a_scenario_and_the_review_lists_it(page: Page, sign_in, screenshot):
    leader = sign_in(Role.LEADER)
    review = review_create(quarter="2026-Q4", created_by=leader)

    page.goto("/scenarios/")
    page.get_by_label("Name").fill("Churn down to 5%")
    page.get_by_label("Logo churn (% a year)").fill("5")
    page.get_by_label("New ARR per quarter").fill("120000")
    page.get_by_label("Attach to review").select_option(label=str(review))
    page.get_by_role("button", name="Save the scenario").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Churn down to 5%")
    expect(page.locator("#projection-table tbody tr")).to_have_count(4)
    expect(page.get_by_role("heading", name="The arithmetic")).to_be_visible()
    screenshot("scenario")
    scenario = Scenario.objects.get()
    assert (scenario.logo_churn, scenario.new_arr, scenario.review_id) == (5, 120_000, review.pk)

    page.goto(f"/reviews/{review.pk}/")
    expect(page.get_by_role("link", name="Churn down to 5%")).to_be_visible()
