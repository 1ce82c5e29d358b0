"""An admin writes an alert rule in the product, in a real browser: the preview shows what it would have fired on
the last 90 days before anything is saved, an absurd threshold is refused beside its field with what was typed
kept, and the saved rule is in the list (and the audit log)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from audit.models import AuditEntry
from metrics.models import AlertRule
from tests.metrics.factories import seat_use_story
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_an_admin_creates_an_alert_rule_and_sees_its_preview(page: Page, sign_in, screenshot, accessible):
    admin = sign_in(Role.ADMIN)
    seat_use_story()

    page.goto("/settings/")
    page.get_by_role("link", name="Alert rules").click()
    page.get_by_role("link", name="New alert rule").click()
    page.get_by_label("Name").fill("Seats barely used")
    page.get_by_label("KPI").select_option(label="Seat utilisation")
    page.get_by_label("Condition").select_option(label="Below a value")
    page.get_by_label("Threshold").fill("-5000")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("out of range")).to_be_visible()  # refused beside the field
    expect(page.get_by_label("Name")).to_have_value("Seats barely used")  # what was typed is kept
    assert not AlertRule.objects.exists()

    page.get_by_label("Threshold").fill("20")
    page.get_by_role("button", name=re.compile("^Preview")).click()

    preview = page.locator("section.preview")
    expect(preview).to_contain_text("would have opened 1 breach for 1 subject")
    expect(preview.get_by_role("row").filter(has_text="Initech")).to_contain_text("still open")
    expect(preview).not_to_contain_text("Globex")
    accessible("the alert rule preview")
    screenshot("preview")
    assert not AlertRule.objects.exists()  # a preview saves nothing

    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/settings/alert-rules/$"))
    expect(page.get_by_role("row").filter(has_text="Seats barely used")).to_contain_text("Below a value")
    rule = AlertRule.objects.get()
    assert (rule.threshold, rule.created_by) == (20, admin)
    assert AuditEntry.objects.filter(object_type="metrics.alertrule", object_id=str(rule.pk), action="created").exists()
