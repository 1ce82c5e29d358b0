"""Every route against every role and every API key scope, the expected allow or deny asserted.

Generated from the URL configuration like the isolation matrix: a route nobody gave a policy fails, with
the policy it shows today printed for the developer to check and copy. "Allowed" means the caller got past
authentication and authorisation (any answer but 401/403 or a redirect to a sign-in page); a 400 for an
empty body or a 404 for a missing object still counts as allowed. Objects named in URLs are alpha's own
(the isolation matrix covers other tenants'). Object-level rules (a CSM acts only on their own tasks, a
decision's owner updates it) are tested where they live; here the objects belong to nobody in particular.
"""

from __future__ import annotations

import os

import orjson
import pytest
from django.db import connection

from core.api.scopes import Scope
from tests.conftest import TenantClient
from tests.hardening.bravo import WRITE_BODIES, World, references
from tests.hardening.routes import Route, tenant_routes
from tests.integrations.factories import ApiKeyFactory, bearer
from tests.users.factories import UserFactory

ROLES = ("admin", "leader", "manager", "csm", "viewer")
KEYS = ("key:read", "key:ingest", "key:admin")
ACTORS = ROLES + KEYS

EVERYONE = frozenset(ROLES)
NOT_VIEWER = frozenset({"admin", "leader", "manager", "csm"})
LEADERS = frozenset({"admin", "leader"})
MANAGERS = frozenset({"admin", "leader", "manager"})
ADMIN = frozenset({"admin"})
READERS = frozenset(ROLES) | {"key:read"}
INGEST = frozenset({"admin", "key:ingest"})
ADMINS = frozenset({"admin", "key:admin"})
NOBODY = frozenset()
GROUPS = {"EVERYONE": EVERYONE, "NOT_VIEWER": NOT_VIEWER, "LEADERS": LEADERS, "MANAGERS": MANAGERS,
          "ADMIN": ADMIN, "READERS": READERS, "INGEST": INGEST, "ADMINS": ADMINS, "NOBODY": NOBODY}

# route key -> {method: who may}. The Django admin site is one policy for all its routes (ADMIN_SITE).
# A page's GET on a POST-only view is a 405 after the sign-in check, so it shows as allowed; object-level
# refusals (a task that is not yours) show as denied for everyone the object does not belong to.
POLICY: dict[str, dict[str, frozenset]] = {
    "api-accounts-bulk": {"POST": INGEST},
    "api-events-bulk": {"POST": INGEST},
    "api-revenue-bulk": {"POST": INGEST},
    "api-surveys-bulk": {"POST": INGEST},
    "api-tickets-bulk": {"POST": INGEST},
    "api-accounts-import": {"POST": INGEST},
    "api-revenue-import": {"POST": INGEST},
    "api-csv-import": {"GET": INGEST},
    "api-accounts": {"GET": READERS},
    "api-account": {"GET": READERS, "PATCH": INGEST},
    "api-account-events": {"GET": READERS},
    "api-account-revenue": {"GET": READERS},
    "api-account-surveys": {"GET": READERS},
    "api-account-tickets": {"GET": READERS},
    "api-keys": {"GET": ADMINS, "POST": ADMINS},
    "api-key-revoke": {"POST": ADMINS},
    "api-data-health": {"GET": ADMINS},
    "api-settings": {"GET": ADMINS, "PATCH": ADMINS},
    "api-kpis": {"GET": READERS, "POST": ADMINS},
    "api-kpi": {"GET": READERS, "PATCH": ADMINS},
    "api-kpi-values": {"GET": READERS},
    "api-kpi-explain": {"GET": READERS},
    "api-kpi-targets": {"GET": READERS, "POST": ADMINS},
    "api-kpi-versions": {"GET": READERS},
    "api-kpi-annotations": {"GET": READERS, "POST": NOT_VIEWER | {"key:admin"}},
    "api-metrics-compute": {"POST": ADMINS},
    "api-metrics-run": {"GET": READERS},
    "api-glossary": {"GET": READERS},
    "api-kpi-renewal-by-quartile": {"GET": READERS},
    "api-prediction-models": {"GET": READERS},
    "api-prediction-model": {"GET": READERS},
    "api-prediction-models-train": {"POST": ADMINS},
    "api-renewal-forecast": {"GET": READERS},
    "api-cohorts": {"GET": READERS},
    "api-alert-rules": {"GET": READERS, "POST": ADMINS},
    "api-alert-rule": {"GET": READERS, "PATCH": ADMINS},
    "api-breaches": {"GET": READERS},
    "api-breach-acknowledge": {"POST": NOT_VIEWER},  # a person's acknowledgement; viewers only read
    "api-reviews": {"GET": READERS, "POST": LEADERS | {"key:admin"}},
    "api-review": {"GET": READERS, "PATCH": LEADERS | {"key:admin"}},
    "api-review-start": {"POST": LEADERS | {"key:admin"}},
    "api-review-close": {"POST": LEADERS | {"key:admin"}},
    "api-review-kpi": {"PATCH": LEADERS | {"key:admin"}},
    "api-decisions": {"GET": READERS, "POST": LEADERS | {"key:admin"}},
    "api-decision": {"GET": READERS, "PATCH": LEADERS | {"key:admin"}},
    "api-decision-updates": {"GET": READERS, "POST": LEADERS | {"key:admin"}},
    "api-webhooks": {"GET": ADMINS, "POST": ADMINS},
    "api-webhook": {"GET": ADMINS, "PATCH": ADMINS, "DELETE": ADMINS},
    "api-webhook-rotate": {"POST": ADMINS},
    "api-webhook-ping": {"POST": ADMINS},
    "api-webhook-deliveries": {"GET": ADMINS},
    "api-webhook-delivery-redeliver": {"POST": ADMINS},
    "api-audit-log": {"GET": ADMINS},
    "api-tasks": {"GET": READERS},
    "api-playbooks": {"GET": READERS, "POST": ADMINS},
    "api-playbooks-effectiveness": {"GET": READERS},
    "api-playbook": {"GET": READERS, "PATCH": ADMINS},
    "api-playbook-effectiveness": {"GET": READERS},
    "api-playbook-runs": {"GET": READERS, "POST": NOT_VIEWER},
    "api-experiments": {"GET": READERS, "POST": LEADERS | {"key:admin"}},
    "api-feedback-themes": {"GET": READERS},
    "api-backlog": {"GET": READERS},
    "api-scenarios": {"GET": READERS - {"csm"}, "POST": LEADERS | {"key:admin"}},
    "api-scenarios-today": {"GET": READERS - {"csm"}},
    "api-scenarios-preview": {"POST": READERS - {"csm"}},
    "api-scenario": {"GET": READERS - {"csm"}, "PUT": LEADERS | {"key:admin"}, "DELETE": LEADERS | {"key:admin"}},
    "api-experiment": {"GET": READERS, "PATCH": LEADERS | {"key:admin"}},
    "api-experiment-start": {"POST": LEADERS | {"key:admin"}},
    "api-experiment-conclude": {"POST": LEADERS | {"key:admin"}},
    "api-experiment-assignments": {"GET": READERS},
    "api-task-action": {"POST": LEADERS},
    "home": {"GET": EVERYONE, "POST": EVERYONE},
    "password_change": {"GET": EVERYONE, "POST": EVERYONE, "PUT": EVERYONE},
    "settings": {"GET": ADMIN, "POST": ADMIN},
    "settings_users": {"GET": ADMIN, "POST": ADMIN},
    "settings_user_edit": {"GET": ADMIN, "POST": ADMIN},
    "settings_user_deactivate": {"GET": ADMIN, "POST": ADMIN},
    "settings_user_reactivate": {"GET": ADMIN, "POST": ADMIN},
    "settings_sla": {"GET": ADMIN, "POST": ADMIN},
    "settings_health": {"GET": ADMIN, "POST": ADMIN},
    "settings_alert_rules": {"GET": ADMIN, "POST": ADMIN},
    "settings_alert_rule_new": {"GET": ADMIN, "POST": ADMIN},
    "settings_alert_rule_edit": {"GET": ADMIN, "POST": ADMIN},
    "settings_kpis": {"GET": ADMIN, "POST": ADMIN},
    "settings_kpi_edit": {"GET": ADMIN, "POST": ADMIN},
    "settings_health_segment": {"GET": ADMIN, "POST": ADMIN},  # GET: 405 past the sign-in
    "settings_health_segment_remove": {"GET": ADMIN, "POST": ADMIN},
    "account_list": {"GET": EVERYONE, "POST": EVERYONE},
    "account_detail": {"GET": EVERYONE, "POST": NOT_VIEWER},  # a POST writes a note
    "account_kpi": {"GET": EVERYONE, "POST": EVERYONE},
    "team": {"GET": MANAGERS, "POST": MANAGERS},
    "feedback": {"GET": EVERYONE, "POST": EVERYONE},
    "data_health": {"GET": ADMIN, "POST": ADMIN},
    "csv_import": {"GET": ADMIN, "POST": ADMIN},
    "csv_import_detail": {"GET": ADMIN, "POST": ADMIN},  # a 405 for admins
    "api_keys": {"GET": ADMIN, "POST": ADMIN},
    "api_key_revoke": {"GET": ADMIN, "POST": ADMIN},
    "dashboard": {"GET": EVERYONE, "POST": EVERYONE},
    "kpi_detail": {"GET": EVERYONE, "POST": NOT_VIEWER},
    "glossary": {"GET": EVERYONE, "POST": EVERYONE},
    "predictions": {"GET": EVERYONE, "POST": EVERYONE},
    "predictions_train": {"GET": ADMIN, "POST": ADMIN},  # GET: 405 past the sign-in
    "renewal_forecast": {"GET": EVERYONE, "POST": EVERYONE},
    "alerts": {"GET": EVERYONE, "POST": EVERYONE},
    "breach_acknowledge": {"GET": EVERYONE, "POST": NOT_VIEWER},  # GET: 405 past the sign-in
    "my_work": {"GET": EVERYONE, "POST": EVERYONE},
    # A task named by the matrix belongs to nobody in particular: leaders and admins act on every task; a viewer
    # reads it; a manager (not the assignee's) and a CSM (not the assignee or the account's owner) may not.
    "task_detail": {"GET": LEADERS | {"viewer"}, "POST": LEADERS | {"viewer"}},
    "task_act": {"GET": EVERYONE, "POST": LEADERS},
    "playbook_start": {"GET": EVERYONE, "POST": MANAGERS},
    "playbook_list": {"GET": EVERYONE, "POST": EVERYONE},
    "playbook_new": {"GET": ADMIN, "POST": ADMIN},
    "playbook_detail": {"GET": EVERYONE, "POST": EVERYONE},
    "playbook_edit": {"GET": ADMIN, "POST": ADMIN},
    "experiment_list": {"GET": EVERYONE, "POST": EVERYONE},
    "feedback_themes": {"GET": EVERYONE, "POST": EVERYONE},
    "backlog": {"GET": EVERYONE, "POST": EVERYONE},
    "review_decide": {"GET": LEADERS, "POST": LEADERS},
    "scenario_list": {"GET": EVERYONE - {"csm"}, "POST": LEADERS},
    "scenario_detail": {"GET": EVERYONE - {"csm"}, "POST": LEADERS},
    "scenario_delete": {"GET": EVERYONE, "POST": LEADERS},
    "experiment_new": {"GET": LEADERS, "POST": LEADERS},
    "experiment_detail": {"GET": EVERYONE, "POST": EVERYONE},
    "experiment_edit": {"GET": LEADERS, "POST": LEADERS},
    "experiment_start": {"GET": EVERYONE, "POST": LEADERS},
    "experiment_conclude": {"GET": EVERYONE, "POST": LEADERS},
    "review_list": {"GET": EVERYONE, "POST": LEADERS},
    "review_detail": {"GET": EVERYONE, "POST": EVERYONE},
    "review_edit": {"GET": EVERYONE, "POST": LEADERS},
    "review_start": {"GET": EVERYONE, "POST": LEADERS},
    "review_close": {"GET": EVERYONE, "POST": LEADERS},
    "review_kpi_commentary": {"GET": EVERYONE, "POST": LEADERS},
    "decision_create": {"GET": EVERYONE, "POST": LEADERS},
    "review_print": {"GET": EVERYONE, "POST": EVERYONE},
    "review_pdf": {"GET": EVERYONE, "POST": EVERYONE},
    "review_decisions_csv": {"GET": EVERYONE, "POST": EVERYONE},
    "decision_edit": {"GET": EVERYONE, "POST": LEADERS},
    "webhooks": {"GET": ADMIN, "POST": ADMIN},
    "webhook_detail": {"GET": ADMIN, "POST": ADMIN},
    "webhook_action": {"GET": ADMIN, "POST": ADMIN},
    "webhook_delivery_redeliver": {"GET": ADMIN, "POST": ADMIN},
    "audit_log": {"GET": ADMIN, "POST": ADMIN},
    # Segment's tracking API takes a write key (an ingest key, by HTTP Basic, writeKey or bearer), never a session.
    "segment-batch": {"POST": frozenset({"key:ingest"})},
    "segment-track": {"POST": frozenset({"key:ingest"})},
    "segment-identify": {"POST": frozenset({"key:ingest"})},
    "segment-group": {"POST": frozenset({"key:ingest"})},
    "segment-page": {"POST": frozenset({"key:ingest"})},
    "segment-screen": {"POST": frozenset({"key:ingest"})},
    "stripe-webhook": {"POST": NOBODY},  # only Stripe's signature, never a key or a session
    "zendesk-webhook": {"POST": NOBODY},  # only Zendesk's signature
    "intercom-webhook": {"POST": NOBODY},  # only Intercom's signature
    "connectors": {"GET": ADMIN, "POST": ADMIN},
    "connector_detail": {"GET": ADMIN, "POST": ADMIN},
    "connector_secret": {"GET": ADMIN, "POST": ADMIN},  # GET: 405 past the sign-in
    "stripe_backfill": {"GET": ADMIN, "POST": ADMIN},  # GET: 405 past the sign-in
    "crm_import": {"GET": ADMIN, "POST": ADMIN},  # GET: 405 past the sign-in
}
PUBLIC = {"healthz", "login", "logout", "admin:login", "admin:logout", "api-schema", "api-docs"}
ADMIN_SITE = ADMIN
SIGN_IN_PAGES = ("/login/", "/admin/login/")

ROUTES = [route for route in tenant_routes() if route.key not in PUBLIC]


def _allowed(response) -> bool:
    if response.status_code in (401, 403):
        return False
    location = response.get("Location", "") if response.status_code in (301, 302) else ""
    return not any(location.startswith(page) or f"{page}?" in location for page in SIGN_IN_PAGES)


def _actor_request(client: TenantClient, actor: str, keys: dict, route: Route, method: str, path: str):
    extra = bearer(keys[actor]) if actor in keys else {}
    if method == "GET":
        return client.get(path, **extra)
    body = WRITE_BODIES.get((route.key, method), {})
    if route.is_api:
        return client.generic(method, path, orjson.dumps(body), content_type="application/json", **extra)
    return client.post(path, body, **extra) if method == "POST" else client.generic(method, path, **extra)


def _name(actors: frozenset) -> str:
    for name, group in GROUPS.items():
        if group == actors:
            return name
    return "frozenset({" + ", ".join(repr(actor) for actor in sorted(actors)) + "})"


@pytest.fixture
def people():
    return {role: UserFactory(role=role, email=f"matrix-{role}@alpha.example") for role in ROLES}


@pytest.fixture
def keys():
    return {"key:read": ApiKeyFactory(scopes=[Scope.READ]), "key:ingest": ApiKeyFactory(scopes=[Scope.INGEST]),
            "key:admin": ApiKeyFactory(scopes=[Scope.ADMIN])}


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.key)
def test_each_role_and_key_scope_gets_what_the_policy_says(route: Route, tenant, people, keys):
    world = World(connection.schema_name)
    path = route.path({kwarg: world.value(reference) for kwarg, reference in references(route).items()})
    observed: dict[str, frozenset] = {}
    for method in route.methods:
        allowed = set()
        for actor in ACTORS:
            if actor in keys and not route.is_api:
                continue  # pages take sessions only; a key on a page is just an anonymous visitor
            client = TenantClient(tenant)
            if actor in people:
                client.force_login(people[actor])
            if _allowed(_actor_request(client, actor, keys, route, method, path)):
                allowed.add(actor)
        observed[method] = frozenset(allowed)
    shown = "{" + ", ".join(f'"{method}": {_name(actors)}' for method, actors in observed.items()) + "}"
    if os.environ.get("ROLE_MATRIX_SHOW"):
        print(f'ROLE-MATRIX    "{route.key}": {shown},')
    if route.is_admin:
        # The Django admin: nobody but admins gets anything (what admins get is each ModelAdmin's own rule:
        # read-only models refuse add and change even to them).
        assert all(actors <= ADMIN_SITE for actors in observed.values()), f"{route.key}: observed {shown}"
        return
    expected = POLICY.get(route.key)
    assert expected is not None, f'No policy for {route.key!r}: today it is {shown}; check it and add it to POLICY.'
    assert observed == {method: expected.get(method, NOBODY) for method in observed}, (
        f"{route.key}: observed {shown}")
