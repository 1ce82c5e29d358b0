"""Experiment routes below /api/v1/experiments/."""

from django.urls import path

from playbooks.api import experiments

urlpatterns = [
    path("", experiments.ExperimentList.as_view(), name="api-experiments"),
    path("<int:pk>/", experiments.ExperimentDetail.as_view(), name="api-experiment"),
    path("<int:pk>/start", experiments.ExperimentStart.as_view(), name="api-experiment-start"),
    path("<int:pk>/conclude", experiments.ExperimentConclude.as_view(), name="api-experiment-conclude"),
    path("<int:pk>/assignments/", experiments.ExperimentAssignmentList.as_view(), name="api-experiment-assignments"),
]
