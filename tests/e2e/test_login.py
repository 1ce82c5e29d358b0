"""Signing in with the keyboard alone, through fields that are labelled for screen readers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PASSWORD
from tests.users.factories import UserFactory
from users.models import Role

# Skipped, not failed, where the driver is missing: conftest.py says the same for a missing browser.
sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_every_login_field_has_a_label(page: Page):
    page.goto("/login/")

    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(field => field.labels.length === 0 && !field.getAttribute('aria-label')).map(field => field.name)""")

    assert unlabelled == []
    expect(page.get_by_label("Email")).to_have_attribute("type", "email")
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")


def test_a_csm_signs_in_with_the_keyboard_and_lands_on_the_page_they_asked_for(page: Page):
    csm = UserFactory(role=Role.CSM)

    page.goto("/work/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/work/$"))
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(csm.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.get_by_role("heading", name="My work", level=1)).to_be_visible()


def test_a_wrong_password_is_announced_and_the_email_kept(page: Page):
    csm = UserFactory(role=Role.CSM)
    page.goto("/login/")

    page.get_by_label("Email").fill(csm.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_label("Password").press("Enter")

    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    expect(page.get_by_label("Email")).to_have_value(csm.email)
    expect(page).to_have_url(re.compile(r"/login/$"))
