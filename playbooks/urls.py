from django.urls import include, path

from playbooks import views

urlpatterns = [
    path("accounts/<int:account_id>/playbooks/start/", views.playbook_start_view, name="playbook_start"),
    path("playbooks/", views.playbook_list, name="playbook_list"),
    path("playbooks/new/", views.playbook_edit, name="playbook_new"),
    path("playbooks/<int:pk>/", views.playbook_detail, name="playbook_detail"),
    path("playbooks/<int:pk>/edit/", views.playbook_edit, name="playbook_edit"),
    path("", include("playbooks.experiments.urls")),
]
