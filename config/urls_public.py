"""URLs served on the public host (the bare BASE_DOMAIN): a landing page and the health check, never
a tenant page."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.views.generic import TemplateView

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", login_not_required(TemplateView.as_view(template_name="public/landing.html")), name="landing"),
]
