from django.urls import path

from reviews import scenario_views, views

urlpatterns = [
    path("reviews/", views.review_list, name="review_list"),
    path("reviews/decide/", views.review_decide, name="review_decide"),
    path("reviews/<int:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/edit/", views.review_edit, name="review_edit"),
    path("reviews/<int:pk>/start/", views.review_start_view, name="review_start"),
    path("reviews/<int:pk>/close/", views.review_close_view, name="review_close"),
    path("reviews/<int:pk>/kpis/<int:row>/commentary/", views.review_kpi_commentary, name="review_kpi_commentary"),
    path("reviews/<int:pk>/decisions/", views.decision_create_view, name="decision_create"),
    path("reviews/<int:pk>/print/", views.review_print, name="review_print"),
    path("reviews/<int:pk>/review.pdf", views.review_pdf, name="review_pdf"),
    path("reviews/<int:pk>/decisions.csv", views.decisions_csv, name="review_decisions_csv"),
    path("decisions/<int:pk>/", views.decision_edit_view, name="decision_edit"),
    path("backlog/", scenario_views.backlog_page, name="backlog"),
    path("scenarios/", scenario_views.scenarios_page, name="scenario_list"),
    path("scenarios/<int:pk>/", scenario_views.scenario_detail, name="scenario_detail"),
    path("scenarios/<int:pk>/delete/", scenario_views.scenario_delete, name="scenario_delete"),
]
