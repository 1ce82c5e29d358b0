"""Reviews API routes, included under /api/v1/."""

from django.urls import path

from reviews.api import scenarios, views

urlpatterns = [
    path("reviews/", views.ReviewList.as_view(), name="api-reviews"),
    path("reviews/<int:pk>/", views.ReviewDetail.as_view(), name="api-review"),
    path("reviews/<int:pk>/start", views.ReviewStart.as_view(), name="api-review-start"),
    path("reviews/<int:pk>/close", views.ReviewClose.as_view(), name="api-review-close"),
    path("reviews/<int:pk>/kpis/<int:row>/", views.ReviewKPICommentary.as_view(), name="api-review-kpi"),
    path("decisions/", views.DecisionList.as_view(), name="api-decisions"),
    path("decisions/<int:pk>/", views.DecisionDetail.as_view(), name="api-decision"),
    path("decisions/<int:pk>/updates", views.DecisionProgress.as_view(), name="api-decision-updates"),
    path("backlog/", scenarios.Backlog.as_view(), name="api-backlog"),
    path("scenarios/", scenarios.ScenarioList.as_view(), name="api-scenarios"),
    path("scenarios/today", scenarios.ScenarioToday.as_view(), name="api-scenarios-today"),
    path("scenarios/preview", scenarios.ScenarioPreview.as_view(), name="api-scenarios-preview"),
    path("scenarios/<int:pk>/", scenarios.ScenarioDetail.as_view(), name="api-scenario"),
]
