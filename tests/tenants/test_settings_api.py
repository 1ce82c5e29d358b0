"""A tenant's admins set its time zone and response SLAs; breaches and tasks follow them."""

import datetime as dt

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from metrics.alerts import alert_rules_evaluate
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from tenants.models import Tenant
from tests.accounts.factories import AccountFactory
from tests.integrations.factories import bearer


def _patch(client, key, body):
    return client.patch("/api/v1/settings/", body, content_type="application/json", **bearer(key))


def test_admin_sets_the_slas_and_new_breaches_use_them(client, admin_key):
    response = _patch(client, admin_key, {"sla_critical_hours": 4, "sla_high_hours": 10})

    assert response.status_code == 200, response.content
    tenant = Tenant.objects.get(slug="alpha")
    assert (tenant.sla_critical_hours, tenant.sla_high_hours) == (4, 10)

    connection.tenant.refresh_from_db()
    kpi = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                     indicator="lagging", unit="score")
    day, now = dt.date(2026, 11, 20), dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=AccountFactory(), as_of=day, value=-9)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, value=-9)
    AlertRule.objects.create(kpi=kpi, name="r", condition="below", threshold=0, severity="high")
    alert_rules_evaluate(as_of=day, now=now)

    assert Breach.objects.get().respond_by == now + dt.timedelta(hours=10)


@pytest.mark.parametrize(("body", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"sla_high_hours": 0}, "sla_high_hours"),
    ({"sla_critical_hours": 500}, "sla_high_hours"),  # critical slower than high
    ({"escalation_manager_delay_hours": 48}, "escalation_leader_delay_hours"),  # leaders before the manager
    ({"escalation_manager_delay_hours": -1}, "escalation_manager_delay_hours"),
    ({"escalation_to_leaders": "sometimes"}, "escalation_to_leaders"),
])
def test_bad_settings_are_400_and_change_nothing(client, admin_key, body, field):
    response = _patch(client, admin_key, body)

    assert response.status_code == 400
    assert field in response.json()
    assert Tenant.objects.get(slug="alpha").sla_critical_hours == 24


def test_read_keys_cannot_change_settings(client, read_key):
    assert _patch(client, read_key, {"sla_high_hours": 5}).status_code == 403


def test_settings_change_only_the_callers_tenant(client, admin_key, other_tenant):
    _patch(client, admin_key, {"time_zone": "Europe/Paris"})

    assert Tenant.objects.get(slug="alpha").time_zone == "Europe/Paris"
    assert Tenant.objects.get(slug="bravo").time_zone == "UTC"
    with schema_context(other_tenant.schema_name):
        from integrations.services import api_key_create

        bravo_key = api_key_create(name="b", scopes="admin").secret
    assert client.get("/api/v1/settings/", HTTP_AUTHORIZATION=f"Bearer {bravo_key}").status_code == 401


def test_admin_sets_the_escalation_ladder(client, admin_key):
    response = _patch(client, admin_key, {"escalation_manager_delay_hours": 2, "escalation_leader_delay_hours": 6,
                                          "escalation_to_leaders": False})

    assert response.status_code == 200, response.content
    assert response.json()["escalation_manager_delay_hours"] == 2
    tenant = Tenant.objects.get(slug="alpha")
    assert (tenant.escalation_manager_delay_hours, tenant.escalation_leader_delay_hours,
            tenant.escalation_to_leaders) == (2, 6, False)
