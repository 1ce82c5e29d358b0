"""An account's page and a manager's page in a real browser: a CSM writes a note that lands on the timeline; a
manager lands on the team, sees an escalation and reassigns it in place. Each page passes axe-core's check."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from accounts.models import AccountNote
from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory, UserDailyFactory
from tests.users.factories import UserFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page


def test_a_csm_writes_a_note_that_appears_on_the_timeline(page: Page, sign_in, screenshot, accessible):
    csm = sign_in(Role.CSM, full_name="Casey CSM")
    account = AccountFactory(owner=csm, name="Initech", renewal_date=timezone.localdate() + dt.timedelta(days=45))
    for month, mrr in ((dt.date(2026, 8, 1), "900"), (dt.date(2026, 9, 1), "1200")):
        RevenueSnapshotFactory(account=account, month=month, mrr=Decimal(mrr))
    UserDailyFactory(account=account, user_id="ada@initech.example", day=timezone.localdate())

    page.goto(f"/accounts/{account.pk}/")

    expect(page.get_by_role("heading", name=re.compile("^Initech"), level=1)).to_be_visible()
    expect(page.locator(".glance")).to_contain_text("in 45 days")
    expect(page.locator(".glance")).to_contain_text("14,400")  # ARR from the latest MRR
    page.get_by_role("button", name="Save note").click()  # empty: refused beside the field
    expect(page.locator("#note-error")).to_contain_text("the note is empty")
    page.get_by_label("Write a note").fill("Champion moves to a new role in January: meet the successor")
    page.get_by_role("button", name="Save note").click()

    timeline = page.get_by_role("list", name="Activity, newest first")
    expect(timeline.locator("li").first).to_contain_text("Champion moves to a new role in January")
    expect(timeline.locator("li").first).to_contain_text("Casey CSM")
    expect(timeline).to_contain_text("MRR grew to 1,200")
    expect(page.get_by_role("table").filter(has_text="Active days")).to_contain_text("ada@initech.example")
    accessible("the account page")
    screenshot("account-page")
    assert AccountNote.objects.get().author == csm


def _expect_open_and_escalated(queue: Locator, person: str, open_: str, escalated: str) -> None:
    """The queue's row of `person`: its Open (first) and Escalated (fourth) numbers."""
    cells = queue.get_by_role("row").filter(has=queue.page.get_by_role("rowheader", name=person)).get_by_role("cell")
    expect(cells.nth(0)).to_have_text(open_)
    expect(cells.nth(3)).to_have_text(escalated)


def test_a_manager_reassigns_and_sees_an_escalation(page: Page, sign_in, screenshot, accessible):
    manager = sign_in(Role.MANAGER, full_name="Morgan Manager")
    casey = UserFactory(role=Role.CSM, full_name="Casey CSM", manager=manager)
    robin = UserFactory(role=Role.CSM, full_name="Robin CSM", manager=manager)
    playbook = Playbook.objects.create(name="Churn signal")
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the sponsor", due_days=1)
    run = playbook_run_start(playbook=playbook, account=AccountFactory(owner=casey, name="Globex"),
                             now=timezone.now() - dt.timedelta(days=9))
    Task.objects.filter(run=run).update(escalation_level=1)

    page.goto("/")

    expect(page).to_have_url(re.compile(r"/team/$"))  # a manager lands on the team
    queue = page.get_by_role("table").filter(has_text="Past SLA")
    expect(queue.get_by_role("row").filter(has_text="Casey CSM")).to_be_visible()
    _expect_open_and_escalated(queue, "Casey CSM", "1", "1")
    _expect_open_and_escalated(queue, "Robin CSM", "0", "0")
    escalations = page.locator("section").filter(has=page.get_by_role("heading", name=re.compile("^Escalations")))
    row = escalations.locator("tbody.task").filter(has_text="Call the sponsor")
    expect(row).to_contain_text("Globex")
    accessible("the team page")
    screenshot("team")

    row.locator("summary", has_text="Reassign").click()
    row.get_by_label("Give to").select_option(label="Robin CSM")
    row.get_by_role("button", name="Reassign").click()

    expect(escalations.locator("tbody.task").filter(has_text="Call the sponsor").get_by_role("status")).to_have_text(
        "Gave “Call the sponsor” to Robin CSM.")
    # The queue per person follows the reassignment in place: the page was not reloaded.
    _expect_open_and_escalated(queue, "Casey CSM", "0", "0")
    _expect_open_and_escalated(queue, "Robin CSM", "1", "1")
    expect(page.get_by_role("heading", name=re.compile("^Escalations"))).to_have_text("Escalations (1)")
    assert Task.objects.get(run=run).assignee == robin
    screenshot("after-reassign")
