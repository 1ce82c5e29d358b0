"""The leaders' dashboard: KPI tiles (core first, with notes), the segment cut, the health distribution, the
at-risk accounts by ARR and the cohort heat map; and where each role lands."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AccountStatus
from metrics.models import Annotation, Breach, MetricValue
from metrics.selectors import quarter_of
from metrics.status import TargetStatus
from tests.accounts.factories import AccountFactory, RevenueSnapshotFactory
from tests.conftest import login
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role

# A fixed number of queries whatever the rows: the tenant (3), session, user, KPIs, values, targets, notes,
# segment options, portfolio summary (2), health distribution, at-risk accounts, cohorts; +1 for the segment's
# members.
DASHBOARD_QUERIES = 15
SEGMENT_DASHBOARD_QUERIES = 16


def _value(kpi, as_of, value, *, account=None, segment: tuple[str, str] | None = None, details=None):
    scope = "account" if account else "segment" if segment else "portfolio"
    dimension, name = segment or ("", "")
    return MetricValue.objects.create(kpi=kpi, kpi_version=1, scope=scope, account=account, dimension=dimension,
                                      segment=name, as_of=as_of, value=value, details=details)


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def leader_client(client):
    return login(client, UserFactory(role=Role.LEADER))


@pytest.fixture
def nrr(today):
    """A core KPI: 104 -> 108 over two weeks for the portfolio, 96 for the Growth plan."""
    kpi = KPIFactory(slug="nrr", name="Net revenue retention", calculator="revenue.nrr", unit="percent",
                     is_core=True, params={})
    for weeks_back, value in ((2, 104.0), (1, 106.0), (0, 108.0)):
        _value(kpi, today - dt.timedelta(weeks=weeks_back), value)
    _value(kpi, today, 96.0, segment=("plan", "Growth"))
    _value(kpi, today, 112.0, segment=("plan", "Enterprise"))
    kpi.targets.create(period=quarter_of(today), value=105, reason="Board plan")
    kpi.targets.create(period=quarter_of(today), dimension="plan", segment="Growth", value=95, reason="Growth plan")
    return kpi


@pytest.fixture
def health(today):
    kpi = KPIFactory(slug="health-score", name="Health score", calculator="health.score", params={})
    _value(kpi, today, 61.0, details={"bands": {"red": 2, "yellow": 1, "green": 3}})
    _value(kpi, today, 40.0, segment=("plan", "Growth"), details={"bands": {"red": 1, "yellow": 0, "green": 0}})
    return kpi


def test_core_tiles_come_first_with_value_target_status_history_and_notes(leader_client, nrr, today):
    KPIFactory(slug="csat", name="CSAT", calculator="surveys.csat", unit="percent", is_core=False)
    Annotation.objects.create(kpi=nrr, date=today - dt.timedelta(days=9), text="Price change for Growth")
    Annotation.objects.create(kpi=nrr, date=today - dt.timedelta(days=200), text="Too old for the tile")

    response = leader_client.get("/dashboard/")

    assert response.status_code == 200
    [tile] = response.context["core_tiles"]
    assert (tile.kpi.slug, tile.value, tile.target, tile.status) == ("nrr", 108.0, 105.0, TargetStatus.ON_TRACK)
    assert tile.history[-3:] == [104.0, 106.0, 108.0]
    assert [note.text for note in tile.annotations] == ["Price change for Growth"]
    assert [other.kpi.slug for other in response.context["other_tiles"]] == ["csat"]
    content = response.content.decode()
    assert content.index("Net revenue retention") < content.index("CSAT")
    assert "108.0%" in content and "target 105.0%" in content and "On track" in content
    assert "Price change for Growth" in content and "Too old for the tile" not in content
    assert '<svg class="sparkline"' in content and 'class="marker"' in content


def test_cut_by_segment_shows_its_values_and_its_own_target(leader_client, nrr, health):
    response = leader_client.get("/dashboard/", {"segment": "plan:Growth"})

    assert response.status_code == 200
    tile = response.context["core_tiles"][0]
    assert (tile.value, tile.target, tile.status) == (96.0, 95.0, TargetStatus.ON_TRACK)
    enterprise = leader_client.get("/dashboard/", {"segment": "plan:Enterprise"}).context["core_tiles"][0]
    assert (enterprise.value, enterprise.target) == (112.0, 105.0)  # no segment target: the portfolio's
    assert response.context["segment_options"] == [("Plan", [("plan:Enterprise", "Enterprise"),
                                                               ("plan:Growth", "Growth")])]
    assert '<option value="plan:Growth" selected>Growth</option>' in response.content.decode()


@pytest.mark.parametrize("segment", ["plan", "planet:Growth", "plan:Nowhere"])
def test_an_unknown_segment_is_refused_with_a_message_and_the_portfolio_shown(leader_client, nrr, segment):
    response = leader_client.get("/dashboard/", {"segment": segment})

    assert response.status_code == 400
    assert response.context["segment"] is None
    assert response.context["core_tiles"][0].value == 108.0
    assert "role=\"alert\"" in response.content.decode()


def test_health_distribution_counts_accounts_per_band_for_the_cut(leader_client, health, nrr, today):
    portfolio = leader_client.get("/dashboard/")
    growth = leader_client.get("/dashboard/", {"segment": "plan:Growth"})

    assert [(band, count) for _, band, count, _ in portfolio.context["health_rows"]] == [
        ("red", 2), ("yellow", 1), ("green", 3)]
    assert portfolio.context["health"].total == 6 and portfolio.context["health"].as_of == today
    assert [count for _, _, count, _ in growth.context["health_rows"]] == [1, 0, 0]
    assert "Accounts per health band" in portfolio.content.decode()


def _account(name: str, mrr: int, *, plan: str = "Growth", status: str = AccountStatus.ACTIVE):
    account = AccountFactory(name=name, plan=plan, status=status)
    RevenueSnapshotFactory(account=account, month=timezone.localdate().replace(day=1), mrr=Decimal(mrr))
    return account


def test_at_risk_accounts_are_red_yellow_or_breached_sorted_by_arr(leader_client, health, today):
    small_red = _account("Small red", 500)
    big_yellow = _account("Big yellow", 9000, plan="Enterprise")
    breached_green = _account("Breached green", 3000)
    quiet_green = _account("Quiet green", 20000)
    churned_red = _account("Churned red", 50000, status=AccountStatus.CHURNED)
    for account, score, band in ((small_red, 30, "red"), (big_yellow, 60, "yellow"), (breached_green, 90, "green"),
                                 (quiet_green, 95, "green"), (churned_red, 10, "red")):
        _value(health, today, score, account=account, details={"band": band})
    rule = health.alert_rules.create(name="Health drop", condition="drop", threshold=10)
    Breach.objects.create(rule=rule, kpi=health, scope="account", account=breached_green, severity="medium",
                          opened_at=timezone.now(), opened_as_of=today, respond_by=timezone.now())

    response = leader_client.get("/dashboard/")

    rows = [(account.name, account.arr, account.health_band, account.open_breaches)
            for account in response.context["at_risk"]]
    assert rows == [("Big yellow", Decimal(108000), "yellow", 0), ("Breached green", Decimal(36000), "green", 1),
                    ("Small red", Decimal(6000), "red", 0)]
    content = response.content.decode()
    assert content.index("Big yellow") < content.index("Breached green") < content.index("Small red")
    assert "108,000" in content and "Quiet green" not in content and "Churned red" not in content

    growth = leader_client.get("/dashboard/", {"segment": "plan:Growth"}).context["at_risk"]
    assert [account.name for account in growth] == ["Breached green", "Small red"]


def test_cohort_heat_map_shows_retention_by_start_month_and_month_k(leader_client, today):
    start = (today.replace(day=1) - dt.timedelta(days=40)).replace(day=1)  # two months ago
    month_1 = (start + dt.timedelta(days=32)).replace(day=1)
    keeps, leaves = AccountFactory(name="Keeps"), AccountFactory(name="Leaves")
    for account, mrr0, mrr1 in ((keeps, 1000, 1200), (leaves, 500, 0)):
        RevenueSnapshotFactory(account=account, month=start, mrr=Decimal(mrr0))
        RevenueSnapshotFactory(account=account, month=month_1, mrr=Decimal(mrr1))

    logo = leader_client.get("/dashboard/").context["cohorts"]
    nrr = leader_client.get("/dashboard/", {"cohort": "nrr"})
    grr = leader_client.get("/dashboard/", {"cohort": "grr"}).context["cohorts"]

    assert [(row["start_month"], row["accounts"]) for row in logo] == [(start, 2)]
    assert logo[0]["cells"][:4] == [100.0, 50.0, 50.0, None]  # month 3 is still in the future
    assert [round(value, 1) for value in nrr.context["cohorts"][0]["cells"][:3]] == [100.0, 80.0, 80.0]
    assert [round(value, 1) for value in grr[0]["cells"][:3]] == [100.0, 66.7, 66.7]
    content = nrr.content.decode()
    assert f"<th scope=\"row\">{start:%Y-%m}</th>" in content and ">80%</td>" in content
    assert "Net revenue retention by start month" in content


def test_cohort_heat_map_follows_the_segment(leader_client, nrr, today):
    start = today.replace(day=1)
    for plan, mrr in (("Growth", 100), ("Enterprise", 900)):
        RevenueSnapshotFactory(account=AccountFactory(plan=plan), month=start, mrr=Decimal(mrr))

    cohorts = leader_client.get("/dashboard/", {"segment": "plan:Growth"}).context["cohorts"]

    assert [row["accounts"] for row in cohorts] == [1]


def _rows(n: int, nrr, health, today) -> None:
    """n accounts at risk with revenue, breaches and notes, and n more KPIs with values."""
    rule = health.alert_rules.create(name="Drop", condition="drop", threshold=10)
    for index in range(n):
        account = _account(f"Account {index}", 1000 + index)
        RevenueSnapshotFactory(account=account, month=(today.replace(day=1) - dt.timedelta(days=1)).replace(day=1))
        _value(health, today, 20, account=account, details={"band": "red"})
        Breach.objects.create(rule=rule, kpi=health, scope="account", account=account, severity="low",
                              opened_at=timezone.now(), opened_as_of=today, respond_by=timezone.now())
        kpi = KPIFactory(is_core=index % 2 == 0)
        _value(kpi, today, index)
        _value(kpi, today, index, segment=("plan", "Growth"))
        Annotation.objects.create(kpi=kpi, date=today, text=f"Note {index}")


@pytest.mark.parametrize("rows", [1, 25])
def test_dashboard_queries_are_fixed_whatever_the_rows(leader_client, nrr, health, today, rows,
                                                        django_assert_max_num_queries):
    _rows(rows, nrr, health, today)

    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        response = leader_client.get("/dashboard/")
    assert len(response.context["at_risk"]) == rows
    with django_assert_max_num_queries(SEGMENT_DASHBOARD_QUERIES):
        assert leader_client.get("/dashboard/", {"segment": "plan:Growth"}).status_code == 200


@pytest.mark.parametrize(("role", "lands_on"), [
    (Role.CSM, "/work/"), (Role.MANAGER, "/team/"), (Role.LEADER, "/dashboard/"), (Role.ADMIN, "/dashboard/"),
    (Role.VIEWER, "/dashboard/"),
])
def test_home_lands_each_role_on_its_page(client, role, lands_on):
    login(client, UserFactory(role=role))

    assert client.get("/")["Location"] == lands_on
    assert client.get(lands_on).status_code == 200


def test_signing_in_lands_a_csm_on_my_work_and_a_leader_on_the_dashboard(client):
    csm, leader = UserFactory(role=Role.CSM), UserFactory(role=Role.LEADER)

    assert client.get("/", follow=True).redirect_chain[-1][0].startswith("/login/")
    assert login(client, csm).get("/", follow=True).redirect_chain[-1][0] == "/work/"
    client.logout()
    assert login(client, leader).get("/", follow=True).redirect_chain[-1][0] == "/dashboard/"
