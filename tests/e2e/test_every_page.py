"""Every page a person opens, in a real browser, as each role that may open it: it loads, axe-core finds no
serious or critical accessibility violation, and a full-page screenshot lands in .artifacts/screenshots/. A page
added without a place here (or a reason in NOT_PAGES) fails `test_every_page_is_in_the_tour`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from integrations.models import CsvImport
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create
from playbooks.experiments.services import experiment_start
from playbooks.models import Playbook, PlaybookStep
from playbooks.services import playbook_run_start
from reviews.scenario_services import scenario_save
from tenants.services import tenant_host
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UserDailyFactory,
)
from tests.e2e.conftest import ARTIFACTS, LAPTOP, axe_check
from tests.hardening.routes import tenant_routes
from tests.playbooks.experiment_fixtures import churn_experiment
from tests.users.factories import UserFactory
from users.models import Role

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROLES = ("csm", "manager", "leader", "admin")
# Every tenant route that is not a page a person opens, and why: the tour visits every other one, and a route in
# neither place fails `test_every_page_is_in_the_tour`.
NOT_PAGES = {
    "healthz": "the health check: JSON for load balancers",
    "home": "a redirect to the role's own page (test_each_role_lands_on_its_own_page)",
    "logout": "signs out (POST), then the sign-in page",
    "settings_user_deactivate": "an action (POST)", "settings_user_reactivate": "an action (POST)",
    "api_key_revoke": "an action (POST)", "settings_health_segment": "an action (POST)",
    "settings_health_segment_remove": "an action (POST)", "breach_acknowledge": "an action (POST)",
    "playbook_start": "an action (POST)", "review_edit": "an action (POST)", "review_start": "an action (POST)",
    "review_close": "an action (POST)", "review_kpi_commentary": "an action (POST)",
    "decision_create": "an action (POST); its form is on the review's page",
    "decision_edit": "an action (POST); its form is on the review's page", "review_decide": "an action (POST)",
    "review_pdf": "a download (PDF)", "review_decisions_csv": "a download (CSV)",
    "webhook_action": "an action (POST)", "webhook_delivery_redeliver": "an action (POST)",
    "task_act": "an action (POST); in place on My work and the team page", "connector_secret": "an action (POST)",
    "stripe_backfill": "an upload (POST)", "crm_import": "an upload (POST)", "predictions_train": "an action (POST)",
    "experiment_start": "an action (POST)", "experiment_conclude": "an action (POST)",
    "scenario_delete": "an action (POST)",
}
# Pages outside the tenant's own URL names, toured too: (who, path from the world, label). The error pages in the
# product's layout, the Django admin (its index, a list and a form) and the public landing page.
OTHER_PAGES = [
    ("csm", lambda w: "/settings/users/", "403"), ("csm", lambda w: "/no-such-page/", "404"),
    ("admin", lambda w: "/admin/", "admin-index"), ("admin", lambda w: "/admin/accounts/account/", "admin-list"),
    ("admin", lambda w: f"/admin/accounts/account/{w['account'].pk}/change/", "admin-form"),
]


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
    experiment = churn_experiment(playbook=playbook, user=leader)
    experiment_start(experiment=experiment, user=leader)
    playbook_run_start(playbook=playbook, account=AccountFactory(owner=csm, name="Hooli"))
    drivers = {"grr": 90, "expansion": 10, "logo_churn": 5, "activation_rate": 80, "new_arr": 120_000,
               "cost_to_serve": 1_000}
    scenario = scenario_save(name="Churn down to 5%", values=drivers, user=leader, review=review)
    csv_import = CsvImport.objects.create(
        kind="accounts", status=CsvImport.Status.FAILED, file_name="accounts.csv", file_bytes=2048, rows=40,
        user=admin, finished_at=now, detail="2 rows had problems: nothing was stored.", error_count=2,
        errors=[{"row": 3, "field": "mrr", "message": "Not a number: 'ten'."},
                {"row": 9, "field": "external_id", "message": "This field is required."}])
    return {"csm": csm, "manager": manager, "leader": leader, "admin": admin, "account": account, "kpi": kpi,
            "rule": rule, "playbook": playbook, "task": task, "review": review, "webhook": webhook,
            "experiment": experiment, "scenario": scenario, "csv_import": csv_import}


def _no_params(world: dict) -> dict:
    return {}


# (who uses it, URL name, its kwargs from the world) for every page. Each role opens every page it may; the role
# named here must be one of them.
TOUR = [
    ("csm", "my_work", _no_params), ("csm", "task_detail", lambda w: {"pk": w["task"].pk}),
    ("csm", "account_list", _no_params), ("csm", "account_detail", lambda w: {"pk": w["account"].pk}),
    ("csm", "account_kpi", lambda w: {"pk": w["account"].pk, "slug": w["kpi"].slug}), ("csm", "feedback", _no_params),
    ("csm", "password_change", _no_params),
    ("manager", "team", _no_params),
    ("leader", "dashboard", _no_params), ("leader", "kpi_detail", lambda w: {"slug": w["kpi"].slug}),
    ("leader", "glossary", _no_params), ("leader", "alerts", _no_params), ("leader", "predictions", _no_params),
    ("leader", "renewal_forecast", _no_params), ("leader", "experiment_list", _no_params),
    ("leader", "experiment_detail", lambda w: {"pk": w["experiment"].pk}),
    ("leader", "scenario_list", _no_params), ("leader", "scenario_detail", lambda w: {"pk": w["scenario"].pk}),
    ("leader", "feedback_themes", _no_params), ("leader", "backlog", _no_params),
    ("admin", "experiment_new", _no_params), ("admin", "experiment_edit", lambda w: {"pk": w["experiment"].pk}),
    ("leader", "playbook_list", _no_params),
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
    ("admin", "csv_import_detail", lambda w: {"pk": w["csv_import"].pk}),
    ("admin", "playbook_new", _no_params), ("admin", "playbook_edit", lambda w: {"pk": w["playbook"].pk}),
    ("admin", "connectors", _no_params), ("admin", "connector_detail", lambda w: {"connector": "segment"}),
    ("admin", "connector_detail", lambda w: {"connector": "stripe"}),
    ("admin", "connector_detail", lambda w: {"connector": "slack"}),
]


def test_every_page_is_in_the_tour():
    toured = {"login"} | {name for _, name, _ in TOUR}
    pages = {route.key for route in tenant_routes() if not route.is_api and not route.is_admin}

    assert pages - set(NOT_PAGES) - toured == set(), "add the new page to TOUR (or to NOT_PAGES, with the reason)"
    assert set(NOT_PAGES) - pages == set(), "NOT_PAGES names a route that is gone"
    assert set(NOT_PAGES) & toured == set()


def test_the_sign_in_and_landing_pages_pass_axe(page: Page, browser, accessible, screenshot, live_tenant):
    page.goto("/login/")
    accessible("the sign-in page")
    screenshot("login")
    # The public host's page, in a context of its own: the test's page counts any other origin as foreign.
    public = live_tenant.url.replace(tenant_host(live_tenant.tenant.slug), settings.BASE_DOMAIN)
    context = browser.new_context(base_url=public, viewport=LAPTOP)
    try:
        landing = context.new_page()
        landing.goto("/")
        expect(landing.get_by_role("heading", level=1)).to_be_visible()
        axe_check(landing, "the public landing page")
        landing.screenshot(path=ARTIFACTS / "public-landing.png", full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_may_open_passes_axe_and_is_photographed(role: str, page: Page, sign_in, accessible,
                                                                   screenshot):
    """Each role opens every page: those it may see load, pass axe-core and are photographed; the others are
    refused with the product's 403 page (itself toured), never an error."""
    world = _world()
    sign_in(world[role])
    opened, refused = set(), set()
    for _, name, kwargs in TOUR:
        response = page.goto(reverse(name, kwargs=kwargs(world)))
        assert response is not None and response.status in (200, 403), (name, response and response.status)
        if response.status == 403:
            refused.add(name)
            continue
        opened.add(name)
        accessible(f"{name} as {role}")
        screenshot(name)
    for who, path, label in OTHER_PAGES:
        if who == role:
            page.goto(path(world))
            accessible(f"{label} as {role}")
            screenshot(label)
    assert {name for who, name, _ in TOUR if who == role} <= opened, f"the {role}'s own pages refused: {refused}"
