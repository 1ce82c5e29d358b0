"""The audit log: every configuration change with its actor and before/after values, append-only in the
database, readable by admins only, per tenant."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.context import acting_automation
from audit.models import AuditEntry
from integrations.services import api_key_create, api_key_revoke
from metrics.models import AlertRule
from metrics.services import kpi_create, kpi_target_set, kpi_update
from notifications import webhooks
from tests.conftest import TenantClient, login
from tests.integrations.conftest import post_json
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.users.factories import UserFactory
from users.models import Role


def _kpi(**fields):
    return kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                      definition="d", tier="adoption", indicator="leading", unit="percent", **fields)


@pytest.fixture(autouse=True)
def _since():
    """The log of the session's own setup (installing and removing the catalogue) is not this test's."""
    global _first
    _first = (AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1


_first = 0


def _entries(object_type: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type=object_type, id__gte=_first).order_by("id"))


def test_kpi_changes_are_recorded_with_before_and_after_by_automation_outside_requests():
    with acting_automation("command kpi_backfill"):
        kpi = _kpi()
        kpi_update(kpi=kpi, name="Seat use", params={})

    created, updated = _entries("metrics.kpi")
    assert (created.action, created.before, created.after["name"]) == ("created", None, "Seat utilisation")
    assert (updated.action, updated.changes["name"]) == ("updated", ("Seat utilisation", "Seat use"))
    assert (updated.actor_kind, updated.actor_label) == ("automation", "command kpi_backfill")
    assert updated.object_id == str(kpi.pk)


def test_a_save_that_changes_nothing_records_nothing():
    kpi = _kpi()
    kpi.save()

    assert [entry.action for entry in _entries("metrics.kpi")] == ["created"]


def test_targets_and_alert_rule_thresholds_are_recorded():
    kpi = _kpi()
    kpi_target_set(kpi=kpi, period="2026-Q4", value=70, reason="Board plan")
    rule = AlertRule.objects.create(kpi=kpi, name="Low seats", condition="below", threshold=40, severity="high")
    rule.threshold = 35
    rule.save()
    rule.delete()

    [target] = _entries("metrics.kpitarget")
    assert (target.after["value"], target.after["reason"], target.after["period"]) == (70, "Board plan", "2026-Q4")
    actions = [(entry.action, entry.changes.get("threshold")) for entry in _entries("metrics.alertrule")]
    assert actions == [("created", (None, 40.0)), ("updated", (40.0, 35.0)), ("deleted", (35.0, None))]


def test_an_api_key_is_recorded_as_the_actor_of_what_it_changes(client, settings):
    key = ApiKeyFactory(scopes=["admin", "read"])

    response = post_json(client, "/api/v1/webhooks/", {"name": "CRM", "url": "https://example.com/hook",
                                                      "events": ["task.created"]}, key)

    assert response.status_code == 201
    [entry] = _entries("notifications.webhook")
    assert (entry.actor_kind, entry.actor_api_key_id) == ("api_key", key.api_key.pk)
    assert entry.actor_label.startswith(f"API key {key.api_key.name}")
    assert entry.after["secret"] == "(set)"  # the signing secret itself is never copied into the log
    assert response.json()["secret"] not in str(entry.after)


def test_secret_rotation_shows_as_changed_without_the_secret():
    hook = webhooks.webhook_create(name="CRM", url="https://example.com/hook", events=["task.created"])
    old = hook.secret
    webhooks.webhook_secret_rotate(webhook=hook)

    rotated = _entries("notifications.webhook")[-1]
    assert rotated.changes == {"secret": ("(previous)", "(secret changed)")}
    assert old not in str(rotated.before) and hook.secret not in str(rotated.after)


def test_a_person_is_recorded_for_changes_made_through_pages_and_the_api(client):
    admin = UserFactory(role=Role.ADMIN, email="ada@alpha.example")
    login(client, admin)

    response = client.patch("/api/v1/settings/", {"sla_critical_hours": 12}, content_type="application/json")

    assert response.status_code == 200
    [entry] = _entries("tenants.tenant")
    assert (entry.actor_kind, entry.actor_user_id, entry.actor_label) == ("user", admin.pk,
                                                                          "ada@alpha.example (admin)")
    assert entry.changes == {"sla_critical_hours": (24, 12)}


def test_api_keys_and_users_are_recorded_without_secrets():
    issued = api_key_create(name="CRM", scopes=["read"])
    api_key_revoke(api_key=issued.api_key)
    user = UserFactory(role=Role.CSM, email="casey@alpha.example")
    user.role = Role.MANAGER
    user.set_password("another-secret-pass")
    user.save()

    created, revoked = _entries("integrations.apikey")
    assert created.after["hashed_secret"] == "(set)" and issued.secret not in str(created.after)
    assert (revoked.action, revoked.changes["revoked_at"][0]) == ("revoked", None)
    role_change = _entries("users.user")[-1]
    assert role_change.changes == {"role": ("csm", "manager")}  # the password is not in the log at all
    assert "password" not in role_change.after


def test_the_log_is_append_only_in_the_database():
    _kpi()
    entry = AuditEntry.objects.filter(id__gte=_first).get()

    for statement in ("UPDATE audit_auditentry SET action = 'forged'", "DELETE FROM audit_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.action == "created"


def test_admins_read_it_in_the_api_and_on_the_page_others_cannot(client, read_key):
    _kpi()
    admin_key = ApiKeyFactory(scopes=["admin"])

    body = client.get("/api/v1/audit-log/?object_type=metrics.kpi", **bearer(admin_key)).json()
    assert (body["results"][0]["action"], body["results"][0]["object_repr"]) == ("created", "Seat utilisation")
    assert client.get("/api/v1/audit-log/?actor_kind=robot", **bearer(admin_key)).status_code == 400
    assert client.get("/api/v1/audit-log/", **bearer(read_key)).status_code == 403
    assert client.post("/api/v1/audit-log/", {}, **bearer(admin_key)).status_code == 405

    login(client, UserFactory(role=Role.LEADER))
    assert client.get("/settings/audit-log/").status_code == 403
    admin_client = login(TenantClient(client.tenant), UserFactory(role=Role.ADMIN))
    page = admin_client.get("/settings/audit-log/?object_type=metrics.kpi").content.decode()
    assert "Seat utilisation" in page and "<td>Created</td>" in page


def test_the_page_says_each_change_with_human_names_and_labels(client):
    rule = AlertRule.objects.create(kpi=_kpi(), name="Low seats", condition="below", threshold=40, severity="high")
    rule.severity, rule.lookback_days = "critical", 14
    rule.save()

    login(client, UserFactory(role=Role.ADMIN))
    page = client.get("/settings/audit-log/?object_type=metrics.alertrule").content.decode()

    assert "<li>Severity: High → Critical</li>" in page  # the field's name and the choices' labels
    assert "Lookback days: " in page and "lookback_days" not in page
    assert "<code>severity</code>" not in page and ": high →" not in page


def test_each_tenant_sees_only_its_own_log(client, other_tenant, in_other_tenant):
    kpi_create(slug="alpha-only", name="Alpha-only KPI", calculator="usage.seat_utilization", definition="d",
               tier="adoption", indicator="leading", unit="percent")
    with in_other_tenant():
        bravo_key = ApiKeyFactory(scopes=["admin"])
        assert not AuditEntry.objects.filter(object_repr="Alpha-only KPI").exists()
    bravo = TenantClient(other_tenant)

    listed = bravo.get("/api/v1/audit-log/?object_type=metrics.kpi&page_size=1000", **bearer(bravo_key)).json()
    assert "Alpha-only KPI" not in [row["object_repr"] for row in listed["results"]]
    assert client.get("/api/v1/audit-log/", **bearer(bravo_key)).status_code == 401


def test_celery_tasks_act_as_automation(settings):
    from audit.context import current_actor
    from audit.receivers import _task_acts_as_automation, _task_done

    class FakeTask:
        name = "metrics.tasks.kpis_compute_task"

    _task_acts_as_automation(task_id="t1", task=FakeTask())
    try:
        assert current_actor().label == "task metrics.tasks.kpis_compute_task"
    finally:
        _task_done(task_id="t1")
    assert current_actor().label == "system"
