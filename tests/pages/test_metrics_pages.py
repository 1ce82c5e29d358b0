"""KPI pages: the dashboard tiles against target, a KPI's page, the glossary, and an account's KPIs."""

import datetime as dt

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from metrics.models import MetricValue
from metrics.services import kpi_compute, kpi_create, kpi_target_set
from metrics.status import TargetStatus, target_status
from tests.accounts.factories import AccountFactory, SurveyResponseFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def nps():
    kpi = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", params={"window_days": 30},
                     definition="Would they recommend us?", tier="advocacy", indicator="lagging", unit="score",
                     is_core=True)
    account = AccountFactory(name="Globex")
    today = timezone.localdate()
    for days_ago in (1, 22):  # the 22-day-old answer falls in every weekly window below
        SurveyResponseFactory(account=account, kind="nps", score=10,
                              responded_at=timezone.now() - dt.timedelta(days=days_ago))
    for weeks_back in range(3, -1, -1):
        kpi_compute(kpi=kpi, as_of=today - dt.timedelta(weeks=weeks_back))
    kpi_target_set(kpi=kpi, period=f"{today.year}-Q{(today.month - 1) // 3 + 1}", value=40, reason="Plan")
    return kpi


@pytest.fixture
def leader_client(client):
    return login(client, UserFactory(role=Role.LEADER))


def test_dashboard_shows_core_kpi_against_target(leader_client, nps):
    response = leader_client.get("/dashboard/")

    assert response.status_code == 200
    tile = response.context["core_tiles"][0]
    assert (tile.kpi.slug, tile.value, tile.target, tile.status) == ("nps", 100.0, 40.0, TargetStatus.ON_TRACK)
    assert b"<svg class=\"sparkline\"" in response.content


def test_dashboard_queries_do_not_grow_with_kpis(leader_client, nps, django_assert_max_num_queries):
    for n in range(10):
        kpi_create(slug=f"extra-{n}", name=f"Extra {n}", calculator="surveys.csat", definition="d",
                   tier="advocacy", indicator="lagging", unit="percent")
    with django_assert_max_num_queries(15):  # tenant 3, session, user, tiles 4, segments, summary 2, health 2, cohorts
        assert leader_client.get("/dashboard/").status_code == 200


def test_kpi_page_has_formula_targets_versions_segments_and_explain(leader_client, nps):
    response = leader_client.get("/kpis/nps/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "passives (7-8) count in the denominator" in content
    assert "Plan" in content and "v1" in content
    assert "Globex" in content
    assert set(response.context["segments"]) >= {"plan", "region", "owner"}


def test_glossary_lists_every_active_kpi(leader_client, nps):
    response = leader_client.get("/glossary/")

    assert response.status_code == 200
    assert [entry["slug"] for entry in response.context["entries"]] == ["nps"]


def test_account_page_shows_its_kpis_and_health_components(leader_client, nps):
    account = MetricValue.objects.filter(kpi=nps, scope="account").first().account
    health = kpi_create(slug="health-score", name="Health", calculator="health.score", definition="d",
                        tier="advocacy", indicator="leading", unit="score",
                        params={"components": [{"kpi": "nps", "weight": 1}]})
    type(nps).objects.filter(pk=nps.pk).update(poor_value=0, good_value=50)
    kpi_compute(kpi=health, as_of=timezone.localdate())

    response = leader_client.get(f"/accounts/{account.pk}/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "Health 100 <small>Green" in content
    assert "Yellow from 50, green from 75." in content
    assert "<td>Net Promoter Score</td>" in content  # the component by its name, not its slug


def test_account_page_says_whose_bands_and_weights_score_it(leader_client, nps):
    account = MetricValue.objects.filter(kpi=nps, scope="account").first().account
    segment = f"plan:{account.plan}"
    health = kpi_create(slug="health-score", name="Health", calculator="health.score", definition="d",
                        tier="advocacy", indicator="leading", unit="score",
                        params={"components": [{"kpi": "nps", "weight": 1}],
                                "segment_weights": {segment: [{"kpi": "nps", "weight": 2}]},
                                "segment_bands": {segment: {"yellow": 100}}})
    type(nps).objects.filter(pk=nps.pk).update(poor_value=0, good_value=50)
    kpi_compute(kpi=health, as_of=timezone.localdate())

    content = leader_client.get(f"/accounts/{account.pk}/").content.decode()

    assert f"Yellow from 50, green from 100 (the bands of {segment}); weighed as {segment}." in content


def test_a_csm_is_sent_from_the_dashboard_to_their_work(client, nps):
    login(client, UserFactory(role=Role.CSM))

    assert client.get("/dashboard/")["Location"] == "/work/"


def test_another_tenants_kpi_page_is_404(leader_client, other_tenant):
    with schema_context(other_tenant.schema_name):
        kpi_create(slug="bravo-only", name="Bravo only", calculator="surveys.nps", definition="d",
                   tier="advocacy", indicator="lagging", unit="score")

    assert leader_client.get("/kpis/bravo-only/").status_code == 404


@pytest.mark.parametrize(("value", "target", "direction", "status"), [
    (100, 90, "higher", TargetStatus.ON_TRACK),
    (86, 90, "higher", TargetStatus.AT_RISK),  # 4 below a 90 target: within 5% of it
    (80, 90, "higher", TargetStatus.OFF_TRACK),
    (3, 5, "lower", TargetStatus.ON_TRACK),
    (5.5, 5, "lower", TargetStatus.AT_RISK),  # near-zero targets get at least 1 unit of tolerance
    (8, 5, "lower", TargetStatus.OFF_TRACK),
    (None, 5, "lower", TargetStatus.NO_VALUE),
    (5, None, "lower", TargetStatus.NO_TARGET),
])
def test_target_status_rule(value, target, direction, status):
    assert target_status(value=value, target=target, direction=direction) == status


def test_alerts_page_lists_open_breaches_by_severity_and_acknowledges(leader_client, nps):
    from metrics.alerts import alert_rules_evaluate
    from metrics.models import AlertRule, Breach

    AlertRule.objects.create(kpi=nps, name="NPS above 50 is suspicious", condition="above", threshold=50,
                             severity="low")
    alert_rules_evaluate(as_of=timezone.localdate())
    breach = Breach.objects.get()

    page = leader_client.get("/alerts/")
    assert page.status_code == 200
    assert [(severity, count) for severity, _, count in page.context["groups"]] == [("low", 1)]
    assert b"NPS above 50 is suspicious" in page.content and b"Globex" in page.content

    assert leader_client.post(f"/alerts/{breach.pk}/acknowledge/").status_code == 302
    breach.refresh_from_db()
    assert breach.status == "acknowledged"
