from django.urls import path

from playbooks import views

urlpatterns = [
    path("work/", views.my_work, name="my_work"),
    path("tasks/<int:pk>/complete/", views.task_complete_view, name="task_complete"),
]
