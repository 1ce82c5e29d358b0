"""Scenarios for finance: the projection's arithmetic checked by hand, today's numbers read from the tenant's
own data, and the API and pages with their role rules and the other tenant out of reach."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import RevenueSnapshot, SupportTicket
from metrics.models import MetricValue
from reviews.models import Scenario
from reviews.scenario_inputs import scenario_today
from reviews.scenarios import Baseline, Drivers, project
from reviews.services import review_create
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role

BASELINE = Baseline(arr=1_000_000, accounts=100, tickets_per_account=2, handling_hours_per_ticket=1.5,
                    accounts_per_csm=25)
DRIVERS = Drivers(grr=90, expansion=10, logo_churn=8, activation_rate=80, new_arr=50_000, cost_to_serve=2_000)
BODY = {"name": "Fix onboarding", **DRIVERS.as_dict()}


def test_the_projection_is_the_arithmetic_shown():
    """By hand. Q+1: lost 1,000,000 x 10% / 4 = 25,000; expansion 25,000; new 50,000 -> 1,050,000. Accounts:
    100 - 2 (8% / 4) + 5 (50,000 / ARPA 10,000) = 103. Revenue (1,000,000 + 1,050,000) / 8 = 256,250; cost
    103 x 2,000 / 4 = 51,500; margin 204,750. LTV = 1,050,000 / 103 x 79.90% / 8%. Support 103 x 2 x 1.5 = 309 h;
    CSMs 103 / 25 = 4.12. Q+2: the 20% of Q+1's new accounts that did not activate leave (10,000 of ARR, 1
    account): 1,050,000 - 26,250 + 26,250 + 50,000 - 10,000 = 1,090,000; 103 - 2.06 + 5 - 1 = 104.94."""
    first, second, *_ = project(DRIVERS, BASELINE)
    assert (first.arr, first.accounts, first.revenue, first.margin) == (1_050_000, 103, 256_250, 204_750)
    assert first.margin_percent == pytest.approx(204_750 / 256_250 * 100)
    assert first.ltv == pytest.approx(1_050_000 / 103 * (204_750 / 256_250 * 100) / 8)
    assert (first.support_hours, first.csms, first.nrr) == (309, pytest.approx(4.12), 100)
    assert (second.arr, second.accounts) == (1_090_000, pytest.approx(104.94))
    assert "= 1,050,000" in first.arithmetic[0] and "= 103.0" in first.arithmetic[1]
    assert len(project(DRIVERS, BASELINE)) == 4


def test_no_churn_means_no_lifetime_to_value():
    (first, *_) = project(Drivers(**{**DRIVERS.as_dict(), "logo_churn": 0}), BASELINE)
    assert first.ltv is None and "no churn" in first.arithmetic[3]


def test_a_churn_or_revenue_next_to_nothing_gives_no_value_rather_than_infinity():
    """The fuzz test's find: a logo churn of 5e-324 % made LTV infinite, and the API's JSON could not carry it
    (a 500); revenue of a fraction of a cent made the margin % overflow the same way."""
    (first, *_) = project(Drivers(**{**DRIVERS.as_dict(), "logo_churn": 5e-324}), BASELINE)
    assert first.ltv is None and "no churn" in first.arithmetic[3]
    empty = Baseline(arr=0, accounts=0, tickets_per_account=0, handling_hours_per_ticket=0, accounts_per_csm=0)
    (first, *_) = project(Drivers(**{**DRIVERS.as_dict(), "new_arr": 5e-324, "cost_to_serve": 1e9}), empty)
    assert first.margin_percent is None and first.ltv is None


def test_saving_a_scenario_of_a_churn_next_to_nothing_answers_in_json(client):
    admin = ApiKeyFactory(scopes=["read", "admin"])
    RevenueSnapshot.objects.create(account=AccountFactory(), month=timezone.localdate().replace(day=1),
                                   mrr=Decimal(1000))

    response = client.post("/api/v1/scenarios/", {**BODY, "logo_churn": 5e-324}, content_type="application/json",
                           **bearer(admin))

    assert response.status_code == 201
    assert all(quarter["ltv"] is None for quarter in response.json()["quarters"])


def test_ticket_growth_raises_support_hours_each_quarter():
    rows = project(Drivers(**{**DRIVERS.as_dict(), "ticket_growth": 10, "new_arr": 0, "logo_churn": 0}), BASELINE)
    assert [round(row.support_hours, 1) for row in rows] == [round(100 * 2 * 1.1 ** q * 1.5, 1) for q in (1, 2, 3, 4)]


def test_today_comes_from_the_tenants_own_data():
    today = timezone.localdate()
    month = today.replace(day=1)
    csm = UserFactory(role=Role.CSM)
    for index in range(4):
        account = AccountFactory(owner=csm)
        RevenueSnapshot.objects.create(account=account, month=dt.date(2025, 1, 1) if index else month,
                                       mrr=Decimal(1000))
        SupportTicket.objects.create(account=account, external_id=f"t-{index}", subject="Export",
                                     opened_at=timezone.now() - dt.timedelta(days=5), handling_minutes=90)
    grr = KPIFactory(slug="grr", unit="percent")
    MetricValue.objects.create(kpi=grr, kpi_version=1, scope="portfolio", as_of=today, value=87.5)
    baseline, drivers = scenario_today(today=today)
    assert (baseline.arr, baseline.accounts, baseline.accounts_per_csm) == (48_000, 4, 4)
    assert (baseline.tickets_per_account, baseline.handling_hours_per_ticket) == (1, 1.5)
    assert drivers.grr == 87.5 and "KPI grr on" in baseline.sources["grr"]
    assert drivers.expansion == 10 and "default" in baseline.sources["expansion"]
    # The one account that started paying this month: 1,000 x 12 of new ARR in the last 90 days.
    assert drivers.new_arr == 12_000
    # Cost to serve from the tenant's own costs (the cost-to-serve KPI's settings): 4 tickets x 1.5 h x 100 an
    # hour + 1 CSM x 5,000 a month x 3, a quarter for 4 accounts, per account, x 4 quarters.
    KPIFactory(slug="cost-to-serve", params={"hourly_support_cost": 100, "csm_monthly_cost": 5000})
    baseline, drivers = scenario_today(today=today)
    assert drivers.cost_to_serve == (4 * 1.5 * 100 + 5000 * 3) / 4 * 4
    assert "x 100 an hour" in baseline.sources["cost_to_serve"]


def test_leaders_save_and_attach_a_scenario_that_the_review_lists(client):
    leader = UserFactory(role=Role.LEADER)
    review = review_create(quarter="2026-Q4", created_by=leader)
    login(client, leader)
    response = client.post("/api/v1/scenarios/", {**BODY, "review": review.pk}, content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert len(body["quarters"]) == 4 and len(body["trajectory"]) == 4 and body["quarters"][0]["arithmetic"]
    assert Scenario.objects.get().review == review
    assert "Fix onboarding" in client.get(f"/reviews/{review.pk}/").content.decode()
    attached = [{"id": Scenario.objects.get().pk, "name": "Fix onboarding"}]
    assert client.get(f"/api/v1/reviews/{review.pk}/").json()["scenarios"] == attached
    assert client.get("/api/v1/reviews/").json()["results"][0]["scenarios"] == attached
    duplicate = client.post("/api/v1/scenarios/", BODY, content_type="application/json")
    assert duplicate.status_code == 400 and duplicate.json()["errors"][0]["field"] == "name"
    bad = client.post("/api/v1/scenarios/", {**BODY, "name": "x", "grr": 140}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "grr"
    preview = client.post("/api/v1/scenarios/preview", DRIVERS.as_dict(), content_type="application/json")
    assert preview.status_code == 200 and len(preview.json()["quarters"]) == 4


@pytest.mark.parametrize(("role", "reads", "saves"), [
    (Role.MANAGER, True, False), (Role.VIEWER, True, False), (Role.CSM, False, False), (Role.ADMIN, True, True),
])
def test_who_reads_and_who_saves(client, role, reads, saves):
    login(client, UserFactory(role=role))
    assert (client.get("/api/v1/scenarios/").status_code == 200) is reads
    assert (client.get("/scenarios/").status_code == 200) is reads
    created = client.post("/api/v1/scenarios/", BODY, content_type="application/json")
    assert (created.status_code == 201) is saves
    assert Scenario.objects.exists() is saves


def test_api_keys_read_with_read_and_save_with_admin(client):
    read, admin = ApiKeyFactory(scopes=["read"]), ApiKeyFactory(scopes=["read", "admin"])
    assert client.get("/api/v1/scenarios/today", **bearer(read)).status_code == 200
    assert client.post("/api/v1/scenarios/", BODY, content_type="application/json", **bearer(read)).status_code == 403
    assert client.post("/api/v1/scenarios/", BODY, content_type="application/json", **bearer(admin)).status_code == 201


def test_the_page_saves_a_scenario_and_shows_its_arithmetic(client):
    login(client, UserFactory(role=Role.LEADER))
    page = client.get("/scenarios/")
    assert "New scenario" in page.content.decode()
    refused = client.post("/scenarios/", {**BODY, "logo_churn": -5})
    assert refused.status_code == 400
    saved = client.post("/scenarios/", {**BODY, "review": ""})
    assert saved.status_code == 302
    detail = client.get(saved["Location"]).content.decode()
    assert "Next four quarters" in detail and "The arithmetic" in detail and "Q+4" in detail


def test_other_tenants_scenarios_are_out_of_reach(client, in_other_tenant):
    with in_other_tenant():
        theirs = Scenario.objects.create(name="BRAVO-SECRET plan", baseline={"arr": 1, "accounts": 1,
                                         "tickets_per_account": 0, "handling_hours_per_ticket": 0,
                                         "accounts_per_csm": 1}, trajectory=DRIVERS.as_dict(),
                                         **DRIVERS.as_dict())
    login(client, UserFactory(role=Role.LEADER))
    assert "BRAVO-SECRET" not in client.get("/api/v1/scenarios/").content.decode()
    assert client.get(f"/api/v1/scenarios/{theirs.pk}/").status_code == 404
    assert client.get(f"/scenarios/{theirs.pk}/").status_code == 404


@pytest.mark.parametrize("path", ["/scenarios/", "/scenarios/{pk}/", "/api/v1/scenarios/", "/api/v1/scenarios/{pk}/"])
def test_query_count_does_not_grow_with_scenarios(client, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    leader = UserFactory(role=Role.LEADER)
    login(client, leader)
    subject = Scenario.objects.create(name="Subject", baseline=BASELINE.__dict__ | {"sources": {}},
                                      trajectory=DRIVERS.as_dict(), **DRIVERS.as_dict())
    counts = []
    for n in (2, 20):
        review = review_create(quarter=f"2026-Q{1 + n % 4}", created_by=leader, name=f"R{n}")
        Scenario.objects.bulk_create([Scenario(name=f"S{n}-{i}", review=review, baseline=subject.baseline,
                                               trajectory=subject.trajectory, **DRIVERS.as_dict())
                                      for i in range(n)])
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path.format(pk=subject.pk)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1] <= 12, counts
