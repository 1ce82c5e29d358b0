from django.urls import path

from audit.api import views

urlpatterns = [path("audit-log/", views.AuditLog.as_view(), name="api-audit-log")]
