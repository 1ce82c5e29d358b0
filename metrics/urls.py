from django.urls import path

from metrics import configuration, prediction_pages, theme_pages, views
from metrics.health_settings import settings_health, settings_health_segment, settings_health_segment_remove

urlpatterns = [
    path("settings/health/", settings_health, name="settings_health"),
    path("settings/health/segments/", settings_health_segment, name="settings_health_segment"),
    path("settings/health/segments/remove/", settings_health_segment_remove, name="settings_health_segment_remove"),
    path("settings/alert-rules/", configuration.alert_rules, name="settings_alert_rules"),
    path("settings/alert-rules/new/", configuration.alert_rule_edit, name="settings_alert_rule_new"),
    path("settings/alert-rules/<int:pk>/", configuration.alert_rule_edit, name="settings_alert_rule_edit"),
    path("settings/kpis/", configuration.kpi_settings, name="settings_kpis"),
    path("settings/kpis/<slug:slug>/", configuration.kpi_settings_edit, name="settings_kpi_edit"),
    path("kpis/<slug:slug>/", views.kpi_detail, name="kpi_detail"),
    path("glossary/", views.glossary, name="glossary"),
    path("predictions/", prediction_pages.predictions, name="predictions"),
    path("predictions/train/", prediction_pages.predictions_train, name="predictions_train"),
    path("predictions/forecast/", prediction_pages.renewal_forecast, name="renewal_forecast"),
    path("alerts/", views.alerts, name="alerts"),
    path("feedback/themes/", theme_pages.feedback_themes, name="feedback_themes"),
    path("alerts/<int:pk>/acknowledge/", views.breach_acknowledge_view, name="breach_acknowledge"),
]
