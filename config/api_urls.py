"""The versioned REST API, served on each tenant's host under /api/v1/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.api import views as accounts
from integrations.api import csv_imports
from integrations.api import views as integrations
from playbooks.api import views as playbooks
from tenants.api import views as tenant_settings

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the docs page runs under the CSP (no inline script).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/bulk", accounts.AccountsBulk.as_view(), name="api-accounts-bulk"),
    path("events/bulk", accounts.EventsBulk.as_view(), name="api-events-bulk"),
    path("revenue/bulk", accounts.RevenueBulk.as_view(), name="api-revenue-bulk"),
    path("surveys/bulk", accounts.SurveysBulk.as_view(), name="api-surveys-bulk"),
    path("tickets/bulk", accounts.TicketsBulk.as_view(), name="api-tickets-bulk"),
    path("accounts/import", accounts.AccountsCsvImport.as_view(), name="api-accounts-import"),
    path("revenue/import", accounts.RevenueCsvImport.as_view(), name="api-revenue-import"),
    path("imports/<int:pk>", csv_imports.CsvImportDetail.as_view(), name="api-csv-import"),
    path("accounts/", accounts.AccountList.as_view(), name="api-accounts"),
    path("accounts/<int:pk>/", accounts.AccountDetail.as_view(), name="api-account"),
    path("accounts/<int:pk>/events/", accounts.AccountEvents.as_view(), name="api-account-events"),
    path("accounts/<int:pk>/revenue/", accounts.AccountRevenue.as_view(), name="api-account-revenue"),
    path("accounts/<int:pk>/surveys/", accounts.AccountSurveys.as_view(), name="api-account-surveys"),
    path("accounts/<int:pk>/tickets/", accounts.AccountTickets.as_view(), name="api-account-tickets"),
    path("api-keys/", integrations.ApiKeyList.as_view(), name="api-keys"),
    path("api-keys/<int:pk>/revoke", integrations.ApiKeyRevoke.as_view(), name="api-key-revoke"),
    path("data-health/", accounts.DataHealth.as_view(), name="api-data-health"),
    path("settings/", tenant_settings.TenantSettings.as_view(), name="api-settings"),
    path("", include("metrics.api.urls")),
    path("", include("reviews.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("audit.api.urls")),
    path("tasks/", playbooks.TaskList.as_view(), name="api-tasks"),
    path("playbooks/", playbooks.PlaybookList.as_view(), name="api-playbooks"),
    path("playbooks/", include("playbooks.api.urls")),
    path("playbook-runs/", playbooks.RunList.as_view(), name="api-playbook-runs"),
    path("experiments/", include("playbooks.api.experiment_urls")),
    path("tasks/<int:pk>/actions", playbooks.TaskAction.as_view(), name="api-task-action"),
]
