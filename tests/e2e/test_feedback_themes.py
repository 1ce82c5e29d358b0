"""Feedback themes in a real browser: a leader finds the recurring subjects and turns one into an experiment."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.metrics.test_themes import _feedback
from tests.users.factories import UserFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_leader_turns_a_theme_into_an_experiment(page: Page, sign_in, screenshot):
    sign_in(Role.LEADER)
    _feedback(UserFactory(role=Role.CSM))

    page.goto("/feedback/")
    page.get_by_role("link", name="Recurring themes").click()
    page.get_by_label("Themes").fill("3")
    page.get_by_role("button", name="Find themes").click()
    expect(page.locator("#themes tbody tr")).to_have_count(3)
    export_row = page.locator("#themes tbody tr", has_text="export")
    expect(export_row).to_contain_text("24,000")
    screenshot("themes")
    export_row.get_by_role("link", name="Start an experiment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pre-register an experiment")
    assert "export" in page.get_by_label("Name").input_value()
    assert "Customers keep raising" in page.get_by_label("Hypothesis").input_value()
