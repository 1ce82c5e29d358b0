"""Metrics API routes, included under /api/v1/."""

from django.urls import path

from metrics import theme_pages
from metrics.api import predictions, views

urlpatterns = [
    path("kpis/", views.KPIList.as_view(), name="api-kpis"),
    path("kpis/<slug:slug>/", views.KPIDetail.as_view(), name="api-kpi"),
    path("kpis/<slug:slug>/values", views.KPIValues.as_view(), name="api-kpi-values"),
    path("kpis/<slug:slug>/explain", views.KPIExplain.as_view(), name="api-kpi-explain"),
    path("kpis/<slug:slug>/targets", views.KPITargets.as_view(), name="api-kpi-targets"),
    path("kpis/<slug:slug>/versions", views.KPIVersions.as_view(), name="api-kpi-versions"),
    path("kpis/<slug:slug>/annotations/", views.KPIAnnotations.as_view(), name="api-kpi-annotations"),
    path("metrics/compute", views.ComputeKPIs.as_view(), name="api-metrics-compute"),
    path("metrics/runs/<int:pk>", views.ComputationRunDetail.as_view(), name="api-metrics-run"),
    path("kpis/<slug:slug>/renewal-by-quartile", predictions.KPIRenewalByQuartile.as_view(),
         name="api-kpi-renewal-by-quartile"),
    path("predictions/models/", predictions.PredictionModelList.as_view(), name="api-prediction-models"),
    path("predictions/models/<int:pk>/", predictions.PredictionModelDetail.as_view(), name="api-prediction-model"),
    path("predictions/models/train", predictions.PredictionModelTrain.as_view(), name="api-prediction-models-train"),
    path("predictions/forecast", predictions.RenewalForecast.as_view(), name="api-renewal-forecast"),
    path("glossary/", views.Glossary.as_view(), name="api-glossary"),
    path("feedback-themes/", theme_pages.FeedbackThemes.as_view(), name="api-feedback-themes"),
    path("cohorts/", views.Cohorts.as_view(), name="api-cohorts"),
    path("alert-rules/", views.AlertRuleList.as_view(), name="api-alert-rules"),
    path("alert-rules/<int:pk>/", views.AlertRuleDetail.as_view(), name="api-alert-rule"),
    path("breaches/", views.BreachList.as_view(), name="api-breaches"),
    path("breaches/<int:pk>/acknowledge", views.BreachAcknowledge.as_view(), name="api-breach-acknowledge"),
]
