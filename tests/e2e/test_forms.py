"""Forms that keep what was typed, with each error beside its field: every form of the product that a person can
get wrong is submitted wrong in a real browser, and comes back with the typed values in place and the refusal
within a line or two of the field it is about (never only in a banner at the top of a long page); the page
with its errors passes axe-core."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from reviews.services import decision_create
from tests.e2e.world import small_tenant

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# How far (in CSS pixels) an error may sit from its field, above or below: a label's line and the error's own.
BESIDE_PX = 90


def _yesterday() -> str:
    return (timezone.localdate() - dt.timedelta(days=1)).isoformat()


def _with_decision(world: dict) -> None:
    world["decision"] = decision_create(review=world["review"], user=world["leader"], kind="initiative",
                                        text="Call every detractor within a week", owner=world["csm"],
                                        deadline=timezone.localdate() + dt.timedelta(days=30))


@dataclass(frozen=True)
class Refusal:
    """A form submitted wrong: who, where, what is typed ("=Label" chooses an option), the button, then the
    field the refusal must sit beside and what it says, and which typed fields must be kept."""

    who: str
    url: Callable[[dict], str]
    fill: tuple[tuple[str, str], ...]
    submit: str
    at: str
    error: str
    kept: tuple[str, ...]
    form: Callable[[dict], str] = lambda world: "form"  # a CSS selector, when the page has several forms
    setup: Callable[[dict], None] = lambda world: None


REFUSALS = {
    "plan a review (its quarter taken)": Refusal(
        "leader", lambda w: "/reviews/", (("Quarter", "{quarter}"), ("Meeting date", "2030-01-15")),
        "Plan the review", "Name", "already a review", ("Quarter", "Meeting date")),
    "record a decision (a past deadline)": Refusal(
        "leader", lambda w: f"/reviews/{w['review'].pk}/",
        (("What was decided", "Raise the NPS target"), ("KPI", "=Net Promoter Score"), ("Owner", "=Casey CSM"),
         ("Deadline", "{yesterday}")),
        "Record the decision", "Deadline", "cannot be in the past", ("What was decided", "KPI", "Owner"),
        form=lambda w: "#decision-form"),
    "change a decision (a past deadline)": Refusal(
        "leader", lambda w: f"/reviews/{w['review'].pk}/",
        (("Deadline", "{yesterday}"), ("Progress note", "Finance has not answered")),
        "Save", "Deadline", "cannot be in the past", ("Progress note",),
        form=lambda w: f"#decision-{w['decision'].pk} form", setup=_with_decision),
    "conclude an experiment (no decision chosen)": Refusal(
        "leader", lambda w: f"/experiments/{w['experiment'].pk}/", (("Note", "Too early to tell"),),
        "Record the decision", "Decision", "Choose a decision", ("Note",)),
    "extend an experiment (no days)": Refusal(
        "leader", lambda w: f"/experiments/{w['experiment'].pk}/",
        (("Decision", "=Extend: keep going"), ("Note", "The pricing change muddies it")),
        "Record the decision", "Extend days", "at least 1", ("Decision", "Note")),
    "save a scenario (churn out of range)": Refusal(
        "leader", lambda w: "/scenarios/", (("Name", "Churn doubles"), ("Logo churn (% a year)", "500")),
        "Save the scenario", "Logo churn (% a year)", "100", ("Name", "Logo churn (% a year)")),
    "set a KPI's target (absurd)": Refusal(
        "admin", lambda w: f"/settings/kpis/{w['kpi'].slug}/",
        (("Quarter", "{quarter}"), ("Target", "-5000"), ("Why", "Board asked for it")),
        "Set target", "Target", "range|between|at least", ("Quarter", "Target", "Why")),
    "create an alert rule (absurd threshold)": Refusal(
        "admin", lambda w: "/settings/alert-rules/new/",
        (("Name", "Detractors everywhere"), ("KPI", "=Net Promoter Score"), ("Threshold", "-5000")),
        "Save", "Threshold", "out of range", ("Name", "KPI", "Threshold")),
    "add a webhook (an internal address)": Refusal(
        "admin", lambda w: "/settings/webhooks/", (("Name", "CRM sync"), ("URL", "http://127.0.0.1/hook")),
        "Create webhook", "URL", ".", ("Name", "URL")),
    "set the response SLAs (none at all)": Refusal(
        "admin", lambda w: "/settings/sla/",
        (("Critical breaches: respond within (hours)", "0"), ("High breaches: respond within (hours)", "30")),
        "Save", "Critical breaches: respond within (hours)", ".", ("Critical breaches: respond within (hours)",
                                                                   "High breaches: respond within (hours)")),
    "move the health bands (beyond 100)": Refusal(
        "admin", lambda w: "/settings/health/", (("Yellow begins at", "150"), ("Reason", "Stricter after Q3")),
        "Save a new version", "Yellow begins at", "100", ("Yellow begins at", "Reason"),
        form=lambda w: "form:has(#id_red)"),  # the tenant's bands, not a segment's
    "write a playbook (no name)": Refusal(
        "admin", lambda w: "/playbooks/new/", (("Name", ""), ("Description", "For accounts that went quiet")),
        "Save", "Name", "required", ("Description",)),
    "invite a user (not an email)": Refusal(
        "admin", lambda w: "/settings/users/", (("Email", "casey at example"), ("Full name", "Casey Second")),
        "Invite", "Email", "email", ("Email", "Full name")),
}


def _typed(text: str, world: dict) -> str:
    today = timezone.localdate()
    return text.format(yesterday=_yesterday(), quarter=world["review"].quarter if world.get("review") else
                       f"{today.year}-Q{(today.month - 1) // 3 + 1}")


def _field(form: Locator, label: str) -> Locator:
    """The form's field whose label starts with `label` (a label may add a hint or a colon)."""
    return form.get_by_label(re.compile(rf"^{re.escape(label)}(?![\w%(])"))


def _value(field: Locator) -> str:
    """What a field shows: an input's value, or a select's chosen option's text."""
    return field.evaluate("e => e.tagName === 'SELECT' ? e.options[e.selectedIndex].text : e.value")


@pytest.mark.parametrize("name", REFUSALS)
def test_a_refused_form_keeps_what_was_typed_and_says_why_beside_the_field(name: str, page: Page, sign_in,
                                                                           screenshot, accessible):
    case = REFUSALS[name]
    world = small_tenant()
    case.setup(world)
    sign_in(world[case.who])
    page.goto(case.url(world))
    form = page.locator(case.form(world)).filter(has=page.get_by_role("button", name=case.submit, exact=True))
    typed = {}
    for label, text in case.fill:
        field = _field(form, label)
        value = _typed(text, world)
        if value.startswith("="):
            field.select_option(label=value[1:])
            typed[label] = value[1:]
        else:
            field.fill(value)
            typed[label] = value

    form.get_by_role("button", name=case.submit, exact=True).click()

    form = page.locator(case.form(world)).filter(has=page.get_by_role("button", name=case.submit, exact=True))
    field = _field(form, case.at)
    error = form.get_by_text(re.compile(case.error)).filter(has_not=page.locator("input, select, textarea")).and_(
        form.locator(".error, .field-error, .errorlist li, [role=alert]")).first
    expect(error).to_be_visible()
    screenshot("refused")
    accessible(f"{name}, refused")  # the page with its errors passes axe-core too
    field_box, error_box = field.bounding_box(), error.bounding_box()
    assert field_box and error_box
    gap = max(error_box["y"] - (field_box["y"] + field_box["height"]),
              field_box["y"] - (error_box["y"] + error_box["height"]))
    assert gap <= BESIDE_PX, f"the error is {gap:.0f}px from its field {case.at!r}"
    for label in case.kept:
        assert _value(_field(form, label)) == typed[label], f"{label!r} lost what was typed"
