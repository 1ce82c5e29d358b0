"""Configuration in the product: alert rules tried on the last 90 days before they are saved, KPI thresholds and
targets with bounds that refuse absurd values; every change audited; refused forms keep what was typed."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from metrics.models import AlertRule, KPITarget
from metrics.services import kpi_create
from tests.conftest import login
from tests.metrics.factories import seat_use_story
from tests.users.factories import UserFactory
from users.models import Role


@pytest.fixture
def admin(client):
    user = UserFactory(role=Role.ADMIN)
    login(client, user)
    return user


@pytest.fixture
def seats():
    return seat_use_story()


def _rule(kpi, **changes) -> dict:
    return {"name": "Seats barely used", "kpi": kpi.pk, "scope": "account", "condition": "below", "threshold": 20,
            "lookback_days": 30, "dimension": "", "segment": "", "persistence": 2, "hysteresis": 0,
            "cooldown_hours": 0, "severity": "high", "action": "start_playbook", "is_active": "on", **changes}


def test_the_preview_shows_what_the_rule_would_have_fired_without_saving(client, admin, seats):
    response = client.post("/settings/alert-rules/new/", {**_rule(seats), "preview": "1"})

    assert response.status_code == 200
    preview = response.context["preview"]
    [breach] = preview.breaches
    assert (breach.label, breach.value, breach.threshold, breach.resolved_on) == ("Initech", 10, 20, None)
    assert breach.opened_on == timezone.localdate() - dt.timedelta(days=3)  # persistence 2: the second day below
    assert "would have opened" in response.content.decode()
    assert not AlertRule.objects.exists()


def test_the_preview_of_a_renewal_window_counts_only_the_days_the_renewal_was_within_it(client, admin, seats):
    from accounts.models import Account

    # Initech has been below 20 for 5 days, but its renewal came within 117 days only 3 days ago.
    Account.objects.filter(name="Initech").update(renewal_date=timezone.localdate() + dt.timedelta(days=117))

    response = client.post("/settings/alert-rules/new/", {**_rule(seats, renewal_within_days=120), "preview": "1"})

    [breach] = response.context["preview"].breaches
    assert breach.opened_on == timezone.localdate() - dt.timedelta(days=2)  # persistence 2 inside the window
    Account.objects.filter(name="Initech").update(renewal_date=None)
    again = client.post("/settings/alert-rules/new/", {**_rule(seats, renewal_within_days=120), "preview": "1"})
    assert again.context["preview"].breaches == []


def test_saving_a_rule_is_audited(client, admin, seats):
    response = client.post("/settings/alert-rules/new/", {**_rule(seats), "save": "1"})

    assert response.status_code == 302
    rule = AlertRule.objects.get()
    assert (rule.threshold, rule.persistence, rule.created_by) == (20, 2, admin)
    entry = AuditEntry.objects.get(object_type="metrics.alertrule", object_id=str(rule.pk))
    assert (entry.action, entry.actor_user_id) == ("created", admin.pk)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"threshold": -5000}, "threshold", "out of range"),
    ({"condition": "drop", "threshold": 150}, "threshold", "at most 100"),
    ({"threshold": ""}, "threshold", "needs a threshold"),
    ({"persistence": 99}, "persistence", "less than or equal to 30"),
    ({"dimension": "plan", "segment": ""}, "segment", "Name the segment"),
    ({"renewal_within_days": 0}, "renewal_within_days", "greater than or equal to 1"),
    ({"renewal_within_days": 5000}, "renewal_within_days", "less than or equal to 730"),
    ({"scope": "portfolio", "renewal_within_days": 120}, "renewal_within_days", "Only a rule on accounts"),
])
def test_absurd_rules_are_refused_keeping_what_was_typed(client, admin, seats, changes, field, message):
    response = client.post("/settings/alert-rules/new/", {**_rule(seats, name="Typed name"), **changes, "save": "1"})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors[field] if field else errors["__all__"])
    assert 'value="Typed name"' in response.content.decode()
    assert not AlertRule.objects.exists()


def test_a_target_of_minus_5000_percent_or_for_2099_is_refused(client, admin):
    kpi_create(slug="nrr", name="Net revenue retention", calculator="revenue.nrr", definition="d",
               tier="expansion", indicator="lagging", unit="percent")

    absurd = client.post("/settings/kpis/nrr/", {"set_target": "1", "period": "2026-Q4", "value": -5000,
                                                 "reason": "Board"})
    far = client.post("/settings/kpis/nrr/", {"set_target": "1", "period": "2099-Q1", "value": 108,
                                              "reason": "Board"})
    fine = client.post("/settings/kpis/nrr/", {"set_target": "1", "period": f"{timezone.localdate().year}-Q4",
                                               "value": 108, "reason": "Board"})

    assert absurd.status_code == far.status_code == 400
    assert "out of range" in absurd.content.decode() and "2099" in far.content.decode()
    assert fine.status_code == 302
    assert list(KPITarget.objects.values_list("value", flat=True)) == [108]
    assert AuditEntry.objects.filter(object_type="metrics.kpitarget", action="created").count() == 1


def test_kpi_thresholds_owner_and_cadence_are_saved_and_bounded(client, admin):
    kpi = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d",
                     tier="advocacy", indicator="lagging", unit="score")
    base = {"save_settings": "1", "poor_value": 0, "good_value": 50, "owner": admin.pk, "cadence": "weekly",
            "is_active": "on"}

    refused = client.post("/settings/kpis/nps/", {**base, "good_value": 500})
    saved = client.post("/settings/kpis/nps/", base)

    assert refused.status_code == 400 and "out of range" in refused.content.decode()
    assert saved.status_code == 302
    kpi.refresh_from_db()
    assert (kpi.poor_value, kpi.good_value, kpi.owner, kpi.cadence) == (0, 50, admin, "weekly")
    assert AuditEntry.objects.filter(object_type="metrics.kpi", action="updated").exists()


@pytest.mark.parametrize("path", ["/settings/alert-rules/", "/settings/alert-rules/new/", "/settings/kpis/"])
def test_configuration_is_for_admins(client, path):
    login(client, UserFactory(role=Role.LEADER))

    assert client.get(path).status_code == 403
