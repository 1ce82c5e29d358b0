"""URLs served on a tenant's host (`<slug>.<BASE_DOMAIN>`)."""

from django.contrib import admin
from django.urls import include, path

from config import errors
from config.health import healthz

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("", include("connectors.urls")),
    path("", include("users.urls")),
    path("", include("tenants.urls")),
    path("", include("accounts.urls")),
    path("", include("integrations.urls")),
    path("", include("metrics.urls")),
    path("", include("playbooks.urls")),
    path("", include("reviews.urls")),
    path("", include("notifications.urls")),
    path("", include("audit.urls")),
    path("", include("workspace.urls")),
]
