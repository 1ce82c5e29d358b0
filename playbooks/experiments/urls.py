from django.urls import path

from playbooks.experiments import views

urlpatterns = [
    path("experiments/", views.experiments_page, name="experiment_list"),
    path("experiments/new/", views.experiment_edit, name="experiment_new"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment_detail"),
    path("experiments/<int:pk>/edit/", views.experiment_edit, name="experiment_edit"),
    path("experiments/<int:pk>/start/", views.experiment_start_view, name="experiment_start"),
    path("experiments/<int:pk>/conclude/", views.experiment_conclude_view, name="experiment_conclude"),
]
