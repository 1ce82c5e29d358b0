from django.urls import path

from audit import views

urlpatterns = [path("settings/audit-log/", views.audit_log, name="audit_log")]
