"""The tenant's pages by URL name, for the tests that must cover every page (the accessibility tour in
tests/e2e/test_every_page.py, the pinned query counts in tests/pages/test_query_counts.py): every route of the
URLconf that is not an API, the Django admin or in NOT_PAGES with its reason. A new page is in it the day it is
added, so a test that forgets it fails."""

from __future__ import annotations

from tests.hardening.routes import tenant_routes

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


def page_names() -> set[str]:
    """Every page's URL name; fails if NOT_PAGES names a route that is gone."""
    routes = {route.key for route in tenant_routes() if not route.is_api and not route.is_admin}
    assert set(NOT_PAGES) <= routes, f"NOT_PAGES names routes that are gone: {set(NOT_PAGES) - routes}"
    return routes - set(NOT_PAGES)
