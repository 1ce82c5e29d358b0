from django.urls import path

from tenants import views

urlpatterns = [
    path("settings/sla/", views.settings_sla, name="settings_sla"),
]
