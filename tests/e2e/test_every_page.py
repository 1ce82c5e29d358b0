"""Every page a person opens, in a real browser, as each role that may open it: it loads, axe-core finds no
serious or critical accessibility violation, and a full-page screenshot lands in .artifacts/screenshots/. A page
added without a place here (or a reason in NOT_PAGES) fails `test_every_page_is_in_the_tour`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.urls import reverse

from tenants.services import tenant_host
from tests.e2e.conftest import ARTIFACTS, LAPTOP, axe_check
from tests.e2e.world import small_tenant
from tests.pages.routes import page_names

sync_api = pytest.importorskip("playwright.sync_api", reason="no browser driver: the playwright package is missing")
expect = sync_api.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROLES = ("csm", "manager", "leader", "admin")
# Pages outside the tenant's own URL names, toured too: (who, path from the world, label). The error pages in the
# product's layout, the Django admin (its index, a list and a form) and the public landing page.
OTHER_PAGES = [
    ("csm", lambda w: "/settings/users/", "403"), ("csm", lambda w: "/no-such-page/", "404"),
    ("admin", lambda w: "/admin/", "admin-index"), ("admin", lambda w: "/admin/accounts/account/", "admin-list"),
    ("admin", lambda w: f"/admin/accounts/account/{w['account'].pk}/change/", "admin-form"),
]


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

    assert page_names() - toured == set(), "add the new page to TOUR (or to NOT_PAGES in tests/pages/routes.py)"
    assert toured - page_names() == set()


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
    world = small_tenant()
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
