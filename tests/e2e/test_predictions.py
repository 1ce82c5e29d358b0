"""The renewal probability in a real browser: a leader reads how far to trust the model (its back-test beside the
alternatives, the calibration chart against the line where predicted equals happened), goes on to the renewal
forecast, and a CSM sees on an account's page why its chance to renew is low, in words."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest

from metrics.models import MetricValue
from metrics.services import kpi_compute
from tests.metrics.prediction import world
from tests.metrics.prediction.conftest import UNTIL, renewal_kpi
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_leader_reads_the_back_test_and_a_csm_the_drivers_of_an_account(page: Page, sign_in, screenshot,
                                                                          accessible):
    customers = world.separable(until=UNTIL)
    customers.append(world.Customer(start=date(2024, 9, 1), silent_from=UNTIL - timedelta(days=40)))
    ids = world.build(customers, until=UNTIL)
    kpi = renewal_kpi()
    kpi_compute(kpi=kpi, as_of=UNTIL)
    sign_in(Role.LEADER)

    page.goto("/predictions/")
    section = page.locator("section#renewal-probability")
    expect(section).to_contain_text("0.50 is a coin toss")
    expect(section.get_by_role("row").filter(has_text="The base rate")).to_be_visible()
    expect(section.get_by_role("img", name=re.compile("^Calibration by tenth of the accounts"))).to_be_visible()
    expect(section).not_to_contain_text("logistic_regression")
    accessible("the predictions page")
    screenshot("predictions")

    page.get_by_role("link", name="The renewal forecast").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Renewal forecast")
    expect(page.get_by_role("heading", name="The same forecast on past quarters")).to_be_visible()
    accessible("the renewal forecast")

    sign_in(Role.CSM)
    page.goto(f"/accounts/{ids[-1]}/")
    value = MetricValue.objects.get(kpi=kpi, account_id=ids[-1], as_of=UNTIL)
    drivers = page.locator(".prediction")
    expect(drivers).to_contain_text(f"Renewal probability {value.value:.0f}%")
    expect(drivers.get_by_role("row").nth(1)).to_contain_text(value.details["drivers"][0]["says"])
    accessible("an account's renewal drivers")
    screenshot("account drivers")
