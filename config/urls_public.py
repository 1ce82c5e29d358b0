"""URLs served on the public host (the bare BASE_DOMAIN): a landing page and the health check, never
a tenant page; and the development emails (config/dev_mail.py), which answer 404 unless DEBUG is on."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path
from django.views.generic import TemplateView

from config import dev_mail, errors
from config.health import healthz

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", login_not_required(TemplateView.as_view(template_name="public/landing.html")), name="landing"),
    path("dev/mail/", dev_mail.mail_list, name="dev_mail_list"),
    path("dev/mail/<str:name>", dev_mail.mail_detail, name="dev_mail_detail"),
]
