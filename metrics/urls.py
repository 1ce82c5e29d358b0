from django.urls import path

from metrics import views
from metrics.health_settings import settings_health

urlpatterns = [
    path("settings/health/", settings_health, name="settings_health"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("kpis/<slug:slug>/", views.kpi_detail, name="kpi_detail"),
    path("glossary/", views.glossary, name="glossary"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", views.breach_acknowledge_view, name="breach_acknowledge"),
]
