"""The improvement backlog: initiatives and experiments ranked by the ARR behind the KPI gap they address, with
owner, status and measured result; a CSM's stake is their own accounts; fixed queries; the other tenant unseen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import RevenueSnapshot
from metrics.models import KPITarget, MetricValue
from playbooks.experiments.services import experiment_start
from playbooks.services import playbook_run_start
from reviews.backlog import improvement_backlog
from reviews.services import decision_create, review_create
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.metrics.factories import KPIFactory
from tests.playbooks.experiment_fixtures import churn_experiment
from tests.users.factories import UserFactory
from users.models import Role


def _kpi_with_gap(slug: str, *, values: list[float], mrr: int, target: float, owner=None):
    """A higher-is-better KPI with target `target` and one account per value, each paying `mrr` a month."""
    kpi = KPIFactory(slug=slug, name=slug.title(), unit="percent")
    KPITarget.objects.create(kpi=kpi, period="2026-Q4", value=target)
    today = timezone.localdate()
    for value in values:
        account = AccountFactory(owner=owner)
        RevenueSnapshot.objects.create(account=account, month=today.replace(day=1), mrr=Decimal(mrr))
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=today, value=value)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=today - dt.timedelta(days=40),
                               value=50)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=today, value=56)
    return kpi


def _initiative(review, leader, kpi, text):
    return decision_create(review=review, user=leader, kind="initiative", text=text, owner=leader,
                           deadline=timezone.localdate() + dt.timedelta(days=60), kpi=kpi)


@pytest.fixture
def backlog():
    leader = UserFactory(role=Role.LEADER)
    csm = UserFactory(role=Role.CSM)
    review = review_create(quarter="2026-Q4", created_by=leader)
    adoption = _kpi_with_gap("adoption", values=[30, 40, 90], mrr=1000, target=60)  # 2 behind: 24,000 at stake
    csat = _kpi_with_gap("csat", values=[50, 95], mrr=5000, target=80, owner=csm)  # 1 behind: 60,000 at stake
    _initiative(review, leader, adoption, "Adoption clinics")
    _initiative(review, leader, csat, "Faster first responses")
    experiment = churn_experiment(holdout_share=0.5)
    experiment_start(experiment=experiment, user=leader)
    for account in AccountFactory.create_batch(4):
        RevenueSnapshot.objects.create(account=account, month=timezone.localdate().replace(day=1), mrr=Decimal(100))
        playbook_run_start(playbook=experiment.playbook, account=account)
    return {"leader": leader, "csm": csm, "experiment": experiment}


def test_items_rank_by_the_revenue_behind_their_kpi_gap(backlog):
    items = improvement_backlog(today=timezone.localdate())
    assert [(item.title, item.accounts_behind, item.revenue_at_stake) for item in items] == [
        ("Faster first responses", 1, 60_000), ("Adoption clinics", 2, 24_000),
        ("Onboarding call cuts churn", 4, 4_800)]
    first = items[0]
    assert (first.owner, first.status, first.target) == (backlog["leader"], "Open", 80)
    # The decision was taken today: the KPI's portfolio value then and now are both today's.
    assert first.result == "KPI 56.0 when decided, 56.0 now (+0.0)."
    held = backlog["experiment"].assignments.filter(arm="holdout").count()
    assert items[2].result.startswith(f"Running ({4 - held} treated, {held} held out); the pre-registered test")


def test_a_decided_experiment_shows_the_result_it_was_decided_on(backlog):
    from playbooks.experiments.services import experiment_conclude

    experiment_conclude(experiment=backlog["experiment"], user=backlog["leader"], decision="stop", note="No effect")

    item = next(item for item in improvement_backlog(today=timezone.localdate()) if item.kind == "experiment")
    assert item.status == "Concluded" and item.owner == backlog["leader"]
    assert item.result.startswith("Decided: Stop: it does not pay. Measured then: Churn within 90 days: too few "
                                  "outcomes yet (")


def test_a_csm_counts_only_their_accounts_at_stake(backlog):
    items = {item.title: item for item in improvement_backlog(today=timezone.localdate(), owner=backlog["csm"])}
    assert items["Faster first responses"].revenue_at_stake == 60_000
    assert items["Adoption clinics"].revenue_at_stake == 0


def test_the_page_and_api_list_the_backlog_with_fixed_queries(client, backlog):
    login(client, backlog["leader"])
    body = client.get("/api/v1/backlog/").json()
    assert [row["title"] for row in body][:2] == ["Faster first responses", "Adoption clinics"]
    counts = []
    for extra in (0, 10):
        review = review_create(quarter=f"2027-Q{1 + extra % 4}", created_by=backlog["leader"], name=f"R{extra}")
        for n in range(extra):
            _initiative(review, backlog["leader"], KPIFactory(), f"More {n}")
        with CaptureQueriesContext(connection) as captured:
            page = client.get("/backlog/")
        assert page.status_code == 200 and "Faster first responses" in page.content.decode()
        counts.append(len(captured))
    assert counts[0] == counts[1] <= 10, counts


def test_the_other_tenants_backlog_is_not_shown(client, in_other_tenant, backlog):
    with in_other_tenant():
        leader = UserFactory(role=Role.LEADER)
        _initiative(review_create(quarter="2026-Q4", created_by=leader), leader, None, "BRAVO-SECRET initiative")
    login(client, backlog["leader"])
    assert "BRAVO-SECRET" not in client.get("/api/v1/backlog/").content.decode()
    assert "BRAVO-SECRET" not in client.get("/backlog/").content.decode()
