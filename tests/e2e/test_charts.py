"""Charts in a real browser: the leader's dashboard tiles and an account's KPI trends draw real lines, each point
says its value on hover, a gap stays a gap, a constant series sits mid-chart, reference lines are named."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone

from accounts.models import Account
from metrics.models import KPI, MetricValue
from metrics.services import kpi_compute, kpi_create, kpi_target_set
from tests.accounts.factories import AccountFactory, SurveyResponseFactory
from tests.e2e.world import small_tenant
from users.models import Role

# Skipped, not failed, where the driver is missing: conftest.py says the same for a missing browser.
sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

NPS = "Net Promoter Score"


def _nps_over_four_weeks() -> tuple[KPI, Account]:
    """NPS computed weekly for four weeks: 100 while only a promoter had answered, 0 once a detractor did."""
    kpi = kpi_create(slug="nps", name=NPS, calculator="surveys.nps", params={"window_days": 30},
                     definition="Would they recommend us?", tier="advocacy", indicator="lagging", unit="score",
                     is_core=True)
    account = AccountFactory(name="Globex")
    now = timezone.now()
    SurveyResponseFactory(account=account, kind="nps", score=10, responded_at=now - dt.timedelta(days=22))
    SurveyResponseFactory(account=account, kind="nps", score=2, responded_at=now - dt.timedelta(days=1))
    today = timezone.localdate()
    for weeks_back in range(3, -1, -1):
        kpi_compute(kpi=kpi, as_of=today - dt.timedelta(weeks=weeks_back))
    kpi_target_set(kpi=kpi, period=f"{today.year}-Q{(today.month - 1) // 3 + 1}", value=40, reason="Plan")
    return kpi, account


def _assert_draws_a_line(chart: Locator) -> None:
    """The chart is on screen with a size, and its line joins at least two points inside its box."""
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0
    points = chart.locator("polyline").first.get_attribute("points") or ""
    pairs = [tuple(float(number) for number in pair.split(",")) for pair in points.split()]
    assert len(pairs) >= 2, f"a line needs two points, got {points!r}"
    width, height = (float(number) for number in chart.get_attribute("viewBox").split()[2:])
    assert all(0 <= x <= width and 0 <= y <= height for x, y in pairs), pairs
    assert len({y for _, y in pairs}) > 1, "the values changed, so the line must too"


def test_the_dashboard_draws_each_core_kpi_tile_with_its_trend(page: Page, sign_in):
    _nps_over_four_weeks()
    sign_in(Role.LEADER)

    page.goto("/dashboard/")

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    tile = page.locator(".kpi-tile").filter(has_text=NPS)
    expect(tile).to_have_count(1)
    expect(tile).to_contain_text("target 40")
    _assert_draws_a_line(tile.get_by_role("img", name=re.compile(f"^{NPS}")))


def test_the_account_page_draws_its_kpi_trends(page: Page, sign_in):
    kpi, account = _nps_over_four_weeks()
    assert MetricValue.objects.filter(kpi=kpi, account=account).count() == 4
    sign_in(Role.LEADER)

    page.goto(f"/accounts/{account.pk}/")

    expect(page.get_by_role("heading", name=re.compile("^Globex"), level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=NPS))
    _assert_draws_a_line(row.get_by_role("img", name=re.compile(f"^{NPS}")))
    for chart in page.locator("svg").all():  # whatever else the page charts must be drawn too, never blank
        expect(chart).to_be_visible()
        assert chart.locator("polyline, path, rect, circle, line").count() > 0


def _points(chart: Locator) -> list[tuple[float, float]]:
    return [tuple(float(number) for number in pair.split(","))
            for line in chart.locator("polyline").all() for pair in (line.get_attribute("points") or "").split()]


def test_charts_read_without_a_legend_values_on_hover_gaps_as_gaps_reference_lines(page: Page, sign_in):
    """NPS for an account: 40, 20, a missing week, -10; CSAT for the portfolio: the same 4.2 four weeks running."""
    world = small_tenant()
    csat = kpi_create(slug="csat", name="CSAT", calculator="surveys.csat", definition="d", tier="advocacy",
                      indicator="lagging", unit="score", is_core=True)
    today = timezone.localdate()
    for back in (21, 14, 7, 0):
        MetricValue.objects.create(kpi=csat, kpi_version=1, scope="portfolio", as_of=today - dt.timedelta(days=back),
                                   value=4.2)
    sign_in(world["leader"])

    page.goto(f"/accounts/{world['account'].pk}/kpis/nps/")

    chart = page.locator("svg.kpi-chart").first
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Net Promoter Score: from 40\.0 on .* to -10\.0 on "))
    assert chart.locator("polyline").count() == 1, "the missing week breaks the line: 40 to 20, then -10 alone"
    titles = chart.locator("circle > title").all_text_contents()
    assert [title.split(": ")[1] for title in titles] == ["40.0", "20.0", "-10.0"]  # each point says its value
    expect(chart.locator(".reference.threshold")).to_contain_text("poor 0.0")
    expect(chart.locator(".reference.target")).to_contain_text("good 50.0")
    expect(chart.locator(".axis text")).to_have_count(6)  # three values, three dates

    page.goto("/dashboard/")

    nps_tile = page.locator(".kpi-tile").filter(has_text="Net Promoter Score").locator("svg")
    assert [title.split(": ")[1] for title in nps_tile.locator("circle > title").all_text_contents()] == [
        "40.0", "20.0", "-10.0"]  # the small chart too
    csat_tile = page.locator(".kpi-tile").filter(has_text="CSAT").locator("svg")
    height = float(csat_tile.get_attribute("viewBox").split()[3])
    heights = {y for _, y in _points(csat_tile)}
    assert len(heights) == 1 and 0.25 * height < heights.pop() < 0.75 * height, "a constant series sits mid-chart"
