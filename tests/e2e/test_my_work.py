"""A CSM works their inbox in a real browser: sees their task, completes it, and it leaves the inbox."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from playbooks.models import Playbook, PlaybookStep, Task
from playbooks.services import playbook_run_start
from tests.accounts.factories import AccountFactory
from tests.e2e.conftest import PHONE
from users.models import Role, User

# Skipped, not failed, where the driver is missing: conftest.py says the same for a missing browser.
sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CALL = "Call the champion"
DECK = "Send the renewal deck"


def _renewal_tasks(csm: User) -> dict[str, Task]:
    """Two open tasks for the CSM on an account they own, started now: one due in 2 days, one in 9."""
    playbook = Playbook.objects.create(name="Renewal at risk", mode="parallel")
    PlaybookStep.objects.create(playbook=playbook, position=1, title=CALL, due_days=2)
    PlaybookStep.objects.create(playbook=playbook, position=2, title=DECK, due_days=9)
    account = AccountFactory(owner=csm, name="Initech")
    playbook_run_start(playbook=playbook, account=account, now=timezone.now())
    return {task.title: task for task in Task.objects.filter(account=account)}


def _task_row(page: Page, title: str) -> Locator:
    return page.get_by_role("row").filter(has_text=title)


def _complete(page: Page, title: str, *, outcome: str, note: str) -> None:
    """Fill the task's row as a person would: by the fields' labels, then the Done button."""
    row = _task_row(page, title)
    row.get_by_label("Outcome").select_option(label=outcome)
    row.get_by_label("Note").fill(note)
    row.get_by_role("button", name="Done").click()


def test_a_csm_sees_their_tasks_and_accounts_in_my_work(page: Page, sign_in):
    csm = sign_in(Role.CSM)
    _renewal_tasks(csm)

    page.goto("/")

    expect(page).to_have_url(re.compile(r"/work/$"))  # a CSM's home is their work
    expect(page.get_by_role("heading", name="My work", level=1)).to_be_visible()
    expect(_task_row(page, CALL)).to_have_count(1)
    expect(_task_row(page, DECK)).to_have_count(1)
    expect(_task_row(page, CALL).get_by_role("link", name="Initech")).to_be_visible()


def test_completing_a_task_with_outcome_and_note_takes_it_out_of_the_inbox(page: Page, sign_in, screenshot):
    csm = sign_in(Role.CSM)
    tasks = _renewal_tasks(csm)
    page.goto("/work/")
    screenshot("before")

    _complete(page, CALL, outcome="Resolved", note="Champion confirmed the renewal")

    expect(_task_row(page, CALL)).to_have_count(0)
    expect(_task_row(page, DECK)).to_have_count(1)
    done = Task.objects.get(pk=tasks[CALL].pk)
    assert (done.status, done.outcome, done.note) == ("done", "resolved", "Champion confirmed the renewal")
    assert Task.objects.get(pk=tasks[DECK].pk).status == "open"


def test_completing_a_task_does_not_reload_the_page(page: Page, sign_in):
    csm = sign_in(Role.CSM)
    _renewal_tasks(csm)
    page.goto("/work/")
    # A full navigation starts a new document, and with it a new `window`: the mark survives only without one.
    page.evaluate("window.bellwetherSamePage = true")

    _complete(page, CALL, outcome="No response", note="Left a voicemail")

    expect(_task_row(page, CALL)).to_have_count(0)
    assert page.evaluate("window.bellwetherSamePage === true"), "completing the task reloaded the whole page"
    expect(_task_row(page, DECK)).to_have_count(1)
    expect(page.get_by_role("status")).to_have_text(f"Completed: {CALL}.")


@pytest.mark.viewport(**PHONE)
def test_my_work_fits_a_phone_screen(page: Page, sign_in):
    csm = sign_in(Role.CSM)
    _renewal_tasks(csm)

    page.goto("/work/")

    expect(_task_row(page, CALL)).to_have_count(1)
    page_width, screen_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert page_width <= screen_width, f"the page is {page_width}px wide on a {screen_width}px screen"
    done = _task_row(page, CALL).get_by_role("button", name="Done")
    done.scroll_into_view_if_needed()
    expect(done).to_be_in_viewport()
