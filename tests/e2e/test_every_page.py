"""Every page a person opens, in a real browser, as the role that uses it: it loads, axe-core finds no serious or
critical accessibility violation, and a full-page screenshot lands in .artifacts/screenshots/. A page added
without a place here fails `test_every_page_is_in_the_tour`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse
from django.utils import timezone

from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UserDailyFactory,
)
from tests.hardening.routes import tenant_routes
from tests.users.factories import UserFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Routes that are not pages: actions (POST only), downloads, sign-out, redirects, the health check, the
# connectors' secret and import actions.
NOT_PAGES = {"healthz", "home", "logout", "settings_user_deactivate", "settings_user_reactivate",
             "api_key_revoke", "settings_health_segment", "settings_health_segment_remove", "breach_acknowledge",
             "playbook_start", "review_edit", "review_start", "review_close", "review_kpi_commentary",
             "decision_create", "review_pdf", "review_decisions_csv", "decision_edit", "webhook_action",
             "webhook_delivery_redeliver", "task_act", "connector_secret", "stripe_backfill", "crm_import",
             "predictions_train", "experiment_start", "experiment_conclude", "scenario_delete",
             "review_decide"}
# Pages whose object needs more than this tour builds: an experiment's design (tests/e2e/test_experiments.py
# drives them in a browser, without the accessibility check yet), a CSV import job, a saved scenario.
ELSEWHERE = {"experiment_detail", "experiment_edit", "csv_import_detail", "scenario_detail"}


def _world() -> dict:
    """A small tenant with something on every page: a CSM's account with KPI values, a breach and its task, a
    review, a webhook."""
    from notifications.models import Webhook
    from reviews.services import review_create

    manager = UserFactory(role=Role.MANAGER, full_name="Morgan Manager")
    csm = UserFactory(role=Role.CSM, full_name="Casey CSM", manager=manager)
    leader = UserFactory(role=Role.LEADER, full_name="Lee Leader")
    admin = UserFactory(role=Role.ADMIN, full_name="Ada Admin")
    account = AccountFactory(owner=csm, name="Initech")
    today = timezone.localdate()
    for month, mrr in ((dt.date(2026, 8, 1), "900"), (dt.date(2026, 9, 1), "1200")):
        RevenueSnapshotFactory(account=account, month=month, mrr=Decimal(mrr))
    SurveyResponseFactory(account=account, score=4, comment="Slow reports")
    SupportTicketFactory(account=account)
    UserDailyFactory(account=account, user_id="ada@initech.example", day=today)
    kpi = kpi_create(slug="nps", name="Net Promoter Score", calculator="surveys.nps", definition="d",
                     tier="advocacy", indicator="lagging", unit="score", poor_value=0, good_value=50, is_core=True)
    for back, value in ((21, 40.0), (14, 20.0), (7, None), (0, -10.0)):
        day = today - dt.timedelta(days=back)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=day, value=value)
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, value=value)
    kpi_create(slug="health-score", name="Health score", calculator="health.score", definition="d", tier="advocacy",
               indicator="leading", unit="score", params={"components": [{"kpi": "nps", "weight": 1}]})
    rule = AlertRule.objects.create(kpi=kpi, name="Detractors", condition="below", threshold=0, severity="high")
    now = timezone.now()
    breach = Breach.objects.create(rule=rule, kpi=kpi, scope="account", account=account, severity="high",
                                   opened_at=now, opened_as_of=today, value_at_open=-10, threshold=0,
                                   respond_by=now + dt.timedelta(hours=72))
    playbook = Playbook.objects.create(name="Detractor call", trigger="alert", alert_rule=rule)
    PlaybookStep.objects.create(playbook=playbook, position=1, title="Call the detractor", due_days=2)
    task = playbook_run_start(playbook=playbook, account=account, breach=breach, trigger="alert").tasks.get()
    review = review_create(quarter=f"{today.year}-Q{(today.month - 1) // 3 + 1}", created_by=leader)
    webhook = Webhook.objects.create(name="CRM", url="https://hooks.example.com/in", secret="s",
                                     events=["breach.opened"])
    return {"csm": csm, "manager": manager, "leader": leader, "admin": admin, "account": account, "kpi": kpi,
            "rule": rule, "playbook": playbook, "task": task, "review": review, "webhook": webhook}


def _no_params(world: dict) -> dict:
    return {}


# (who, URL name, its kwargs from the world) for every page.
TOUR = [
    ("csm", "my_work", _no_params), ("csm", "task_detail", lambda w: {"pk": w["task"].pk}),
    ("csm", "account_list", _no_params), ("csm", "account_detail", lambda w: {"pk": w["account"].pk}),
    ("csm", "account_kpi", lambda w: {"pk": w["account"].pk, "slug": w["kpi"].slug}), ("csm", "feedback", _no_params),
    ("csm", "password_change", _no_params),
    ("manager", "team", _no_params),
    ("leader", "dashboard", _no_params), ("leader", "kpi_detail", lambda w: {"slug": w["kpi"].slug}),
    ("leader", "glossary", _no_params), ("leader", "alerts", _no_params), ("leader", "predictions", _no_params),
    ("leader", "renewal_forecast", _no_params), ("leader", "experiment_list", _no_params),
    ("leader", "scenario_list", _no_params), ("leader", "feedback_themes", _no_params),
    ("leader", "backlog", _no_params),
    ("admin", "experiment_new", _no_params), ("leader", "playbook_list", _no_params),
    ("leader", "playbook_detail", lambda w: {"pk": w["playbook"].pk}), ("leader", "review_list", _no_params),
    ("leader", "review_detail", lambda w: {"pk": w["review"].pk}),
    ("leader", "review_print", lambda w: {"pk": w["review"].pk}),
    ("admin", "settings", _no_params), ("admin", "settings_users", _no_params),
    ("admin", "settings_user_edit", lambda w: {"pk": w["csm"].pk}), ("admin", "settings_sla", _no_params),
    ("admin", "settings_health", _no_params), ("admin", "settings_alert_rules", _no_params),
    ("admin", "settings_alert_rule_new", _no_params),
    ("admin", "settings_alert_rule_edit", lambda w: {"pk": w["rule"].pk}), ("admin", "settings_kpis", _no_params),
    ("admin", "settings_kpi_edit", lambda w: {"slug": w["kpi"].slug}), ("admin", "api_keys", _no_params),
    ("admin", "webhooks", _no_params), ("admin", "webhook_detail", lambda w: {"pk": w["webhook"].pk}),
    ("admin", "audit_log", _no_params), ("admin", "data_health", _no_params), ("admin", "csv_import", _no_params),
    ("admin", "playbook_new", _no_params), ("admin", "playbook_edit", lambda w: {"pk": w["playbook"].pk}),
    ("admin", "connectors", _no_params), ("admin", "connector_detail", lambda w: {"connector": "segment"}),
]


def test_every_page_is_in_the_tour():
    toured = {"login"} | {name for _, name, _ in TOUR}
    pages = {route.key for route in tenant_routes() if not route.is_api and not route.is_admin}

    missing = pages - NOT_PAGES - ELSEWHERE - toured
    assert missing == set(), "add the new page to the tour in tests/e2e/test_every_page.py"


def test_every_page_loads_passes_axe_and_is_photographed(page: Page, sign_in, accessible, screenshot):
    world = _world()
    page.goto("/login/")
    accessible("the sign-in page")
    screenshot("login")
    signed_in = None
    for who, name, kwargs in TOUR:
        if who != signed_in:
            page.context.clear_cookies()
            sign_in(world[who])
            signed_in = who
        response = page.goto(reverse(name, kwargs=kwargs(world)))
        assert response is not None and response.status == 200, (name, response and response.status)
        accessible(name)
        screenshot(name)
