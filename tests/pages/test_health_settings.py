"""Health-score settings: admins move the bands and weights, which makes a new, audited KPI version."""

from __future__ import annotations

import re

import pytest

from audit.models import AuditEntry
from metrics.models import KPI, KPIVersion
from metrics.services import kpi_create
from tests.conftest import TenantClient, login
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def health():
    kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d", tier="advocacy",
               indicator="lagging", unit="score", poor_value=0, good_value=50)
    return kpi_create(slug="health-score", name="Health score", calculator="health.score", definition="d",
                      tier="advocacy", indicator="leading", unit="score",
                      params={"components": [{"kpi": "nps", "weight": 1}]})


def test_an_admin_moves_the_bands_and_weights_into_a_new_version(client, health):
    admin = UserFactory(role=Role.ADMIN)
    login(client, admin)
    page = client.get("/settings/health/").content.decode()
    assert 'value="50.0"' in page and 'value="75.0"' in page
    assert "Weight of Net Promoter Score" in page and "Weight of nps" not in page  # the KPI's name, not its slug

    response = client.post("/settings/health/", {"red": 40, "yellow": 70, "weight_0": 2,
                                                 "reason": "Calibrated on last year's churn"})

    assert response.status_code == 302
    kpi = KPI.objects.get(pk=health.pk)
    assert kpi.version == 2
    assert (kpi.params["bands"], kpi.params["components"]) == ({"red": 40.0, "yellow": 70.0},
                                                               [{"kpi": "nps", "weight": 2.0}])
    version = KPIVersion.objects.get(kpi=kpi, version=2)
    assert (version.changed_by, version.reason) == (admin, "Calibrated on last year's churn")
    entry = AuditEntry.objects.filter(object_type="metrics.kpi", object_id=str(kpi.pk)).latest("id")
    assert entry.actor_user_id == admin.pk and "params" in entry.changes


@pytest.mark.parametrize(("data", "message"), [
    ({"red": 80, "yellow": 70, "weight_0": 1, "reason": "x"}, "must be below yellow"),
    ({"red": 40, "yellow": 170, "weight_0": 1, "reason": "x"}, "less than or equal to 100"),
    ({"red": 40, "yellow": 70, "weight_0": 1, "reason": ""}, "This field is required"),
])
def test_bad_bands_are_shown_and_change_nothing(client, health, data, message):
    login(client, UserFactory(role=Role.ADMIN))

    response = client.post("/settings/health/", data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert KPI.objects.get(pk=health.pk).version == 1


def test_only_admins_and_only_in_their_tenant(client, health, other_tenant):
    login(client, UserFactory(role=Role.LEADER))
    assert client.get("/settings/health/").status_code == 403
    assert client.post("/settings/health/", {"red": 1, "yellow": 2, "reason": "x"}).status_code == 403
    assert KPI.objects.get(pk=health.pk).version == 1
    bravo = TenantClient(other_tenant)
    assert bravo.get("/settings/health/").status_code == 302  # not signed in there


def _segment(client, **data):
    return client.post("/settings/health/segments/", {"dimension": "plan", "segment": "Enterprise",
                                                      "reason": "Enterprise renews on adoption", **data})


def test_an_admin_gives_a_segment_weights_and_bands_then_edits_and_removes_them(client, health):
    admin = UserFactory(role=Role.ADMIN)
    login(client, admin)

    response = _segment(client, weight_0=3, red=60)

    assert response.status_code == 302
    kpi = KPI.objects.get(pk=health.pk)
    assert kpi.version == 2
    assert kpi.params["segment_weights"] == {"plan:Enterprise": [{"kpi": "nps", "weight": 3.0}]}
    assert kpi.params["segment_bands"] == {"plan:Enterprise": {"red": 60.0}}
    assert KPIVersion.objects.get(kpi=kpi, version=2).reason == "Enterprise renews on adoption"
    page = client.get("/settings/health/").content.decode()
    assert "Plan: Enterprise</a>" in page and "Net Promoter Score \u00d7 3" in page  # names, not stored keys

    edit = client.get("/settings/health/?segment=plan:Enterprise").content.decode()
    assert 'name="segment" value="Enterprise"' in edit and 'name="weight_0" value="3.0"' in edit
    assert 'name="red" value="60.0"' in edit

    # Saved again with bands only: the weights go back to the tenant's.
    assert _segment(client, yellow=90).status_code == 302
    kpi.refresh_from_db()
    assert (kpi.version, kpi.params["segment_weights"], kpi.params["segment_bands"]) == (
        3, {}, {"plan:Enterprise": {"yellow": 90.0}})

    response = client.post("/settings/health/segments/remove/", {"key": "plan:Enterprise", "reason": "Too few"})

    assert response.status_code == 302
    kpi.refresh_from_db()
    assert (kpi.version, kpi.params["segment_weights"], kpi.params["segment_bands"]) == (4, {}, {})
    assert KPIVersion.objects.get(kpi=kpi, version=4).changed_by == admin


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Give the segment some weights or a band"),
    ({"weight_0": 0}, "Give the segment some weights or a band"),
    ({"red": 80, "yellow": 70}, "must be below yellow"),
    ({"red": 90}, "must be below yellow"),  # the tenant's yellow is 75
    ({"red": 40, "dimension": "owner"}, "Select a valid choice"),
    ({"red": 40, "segment": "  "}, "This field is required"),
    ({"red": 40, "reason": ""}, "This field is required"),
])
def test_a_bad_segment_override_is_shown_and_changes_nothing(client, health, data, message):
    login(client, UserFactory(role=Role.ADMIN))

    response = _segment(client, **data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert KPI.objects.get(pk=health.pk).version == 1


def test_removing_a_segment_without_one_or_without_a_reason_is_refused(client, health):
    login(client, UserFactory(role=Role.ADMIN))

    unknown = client.post("/settings/health/segments/remove/", {"key": "plan:Nope", "reason": "x"})
    no_reason = client.post("/settings/health/segments/remove/", {"key": "plan:Nope"})

    assert (unknown.status_code, no_reason.status_code) == (404, 400)
    assert "plan:Nope" in unknown.content.decode() and "reason" in no_reason.content.decode()
    assert KPI.objects.get(pk=health.pk).version == 1


def test_segment_overrides_are_for_admins_of_the_tenant_only(client, health, other_tenant):
    login(client, UserFactory(role=Role.LEADER))
    assert _segment(client, red=40).status_code == 403
    assert client.post("/settings/health/segments/remove/", {"key": "plan:Enterprise", "reason": "x"}).status_code \
        == 403
    assert KPI.objects.get(pk=health.pk).version == 1
    bravo = TenantClient(other_tenant)
    assert bravo.post("/settings/health/segments/", {"dimension": "plan", "segment": "E", "red": 1,
                                                     "reason": "x"}).status_code == 302  # not signed in there


def test_a_bound_a_segment_leaves_out_keeps_following_the_tenants(client, health):
    login(client, UserFactory(role=Role.ADMIN))
    assert _segment(client, red=60).status_code == 302
    assert "the tenant's (75)" in client.get("/settings/health/").content.decode()

    # Saving the tenant-wide form, then another segment, stores the Enterprise bands as they were entered.
    assert client.post("/settings/health/", {"red": 40, "yellow": 70, "weight_0": 1,
                                             "reason": "Recalibrated"}).status_code == 302
    assert _segment(client, dimension="region", segment="EMEA", yellow=80).status_code == 302

    kpi = KPI.objects.get(pk=health.pk)
    assert kpi.params["segment_bands"] == {"plan:Enterprise": {"red": 60.0}, "region:EMEA": {"yellow": 80.0}}
    page = client.get("/settings/health/").content.decode()
    assert "the tenant's (70)" in page and "the tenant's (40)" in page
    edit = client.get("/settings/health/?segment=plan:Enterprise").content.decode()
    segment_fields = {name: tag for tag, name in re.findall(r'(<input[^>]*id="segment_(red|yellow)"[^>]*>)', edit)}
    assert 'value="60.0"' in segment_fields["red"] and "value=" not in segment_fields["yellow"]
