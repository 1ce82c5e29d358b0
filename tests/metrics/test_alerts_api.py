"""The alerts API: rules (admin scope to change) and breaches (read; people acknowledge)."""

import datetime as dt

import pytest
from django_tenants.utils import schema_context

from metrics.alerts import alert_rules_evaluate
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.integrations.conftest import post_json
from tests.integrations.factories import bearer
from tests.users.factories import UserFactory

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def nps():
    return kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                      indicator="lagging", unit="score")


@pytest.fixture
def breach(nps):
    account = AccountFactory(name="Unhappy Ltd")
    MetricValue.objects.create(kpi=nps, kpi_version=1, scope="account", account=account, as_of=DAY, value=-50)
    MetricValue.objects.create(kpi=nps, kpi_version=1, scope="portfolio", as_of=DAY, value=-50)
    AlertRule.objects.create(kpi=nps, name="Detractors", condition="below", threshold=0, severity="critical")
    alert_rules_evaluate(as_of=DAY)
    return Breach.objects.get()


def test_admin_creates_a_rule(client, admin_key, nps):
    response = post_json(client, "/api/v1/alert-rules/", {
        "kpi": "nps", "name": "NPS below 0", "condition": "below", "threshold": 0, "severity": "high",
        "persistence": 2, "hysteresis": 5}, admin_key)

    assert response.status_code == 201, response.content
    rule = AlertRule.objects.get()
    assert (rule.kpi, rule.persistence, rule.hysteresis) == (nps, 2, 5)


@pytest.mark.parametrize(("body", "field"), [
    ({"condition": "below"}, "threshold"),
    ({"condition": "drop", "threshold": -10}, "threshold"),
    ({"condition": "anomaly"}, "condition"),
    ({"condition": "below", "threshold": 1, "dimension": "plan"}, "segment"),
    ({"condition": "below", "threshold": 1, "dimension": "colour", "segment": "red"}, "dimension"),
    ({"condition": "below", "threshold": 1, "severity": "apocalyptic"}, "severity"),
    ({"condition": "below", "threshold": 1, "kpi": "nope"}, "kpi"),
])
def test_bad_rules_are_400_with_the_field(client, admin_key, nps, body, field):
    response = post_json(client, "/api/v1/alert-rules/", {"kpi": "nps", "name": "r", **body}, admin_key)

    assert response.status_code == 400
    assert field in response.json()
    assert not AlertRule.objects.exists()


def test_read_key_lists_rules_but_cannot_create(client, read_key, nps):
    assert client.get("/api/v1/alert-rules/", **bearer(read_key)).status_code == 200
    response = post_json(client, "/api/v1/alert-rules/", {"kpi": "nps", "name": "r", "condition": "below",
                                                          "threshold": 1}, read_key)
    assert response.status_code == 403


def test_breaches_filter_by_status_and_severity(client, read_key, breach):
    open_critical = client.get("/api/v1/breaches/?status=open&severity=critical", **bearer(read_key)).json()
    resolved = client.get("/api/v1/breaches/?status=resolved", **bearer(read_key)).json()

    assert [(b["id"], b["account_name"], b["value_at_open"], b["threshold"]) for b in open_critical["results"]] == [
        (breach.pk, "Unhappy Ltd", -50.0, 0.0)]
    assert resolved["results"] == []
    assert client.get("/api/v1/breaches/?status=maybe", **bearer(read_key)).status_code == 400


def test_a_person_acknowledges_once(client, breach):
    login(client, UserFactory())

    first = client.post(f"/api/v1/breaches/{breach.pk}/acknowledge")
    again = client.post(f"/api/v1/breaches/{breach.pk}/acknowledge")

    assert first.status_code == 200 and first.json()["status"] == "acknowledged"
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]


def test_an_api_key_cannot_acknowledge(client, read_key, breach):
    assert client.post(f"/api/v1/breaches/{breach.pk}/acknowledge", **bearer(read_key)).status_code == 403


def test_another_tenants_breaches_are_out_of_reach(other_client, breach, other_tenant):
    from integrations.services import api_key_create

    with schema_context(other_tenant.schema_name):
        bravo_key = api_key_create(name="bravo", scopes="read")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {bravo_key.secret}"}

    assert other_client.get("/api/v1/breaches/", **auth).json()["results"] == []
    assert other_client.post(f"/api/v1/breaches/{breach.pk}/acknowledge", **auth).status_code in (403, 404)
