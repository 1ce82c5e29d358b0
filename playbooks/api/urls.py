"""Playbook routes below /api/v1/playbooks/ (the list itself is in config.api_urls)."""

from django.urls import path

from playbooks.api import playbooks

urlpatterns = [
    path("effectiveness/", playbooks.PlaybookEffectivenessList.as_view(), name="api-playbooks-effectiveness"),
    path("<int:pk>/", playbooks.PlaybookDetail.as_view(), name="api-playbook"),
    path("<int:pk>/effectiveness/", playbooks.PlaybookEffectivenessDetail.as_view(),
         name="api-playbook-effectiveness"),
]
