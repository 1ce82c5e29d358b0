"""The pages that put several apps in front of one person."""

from django.urls import path

from workspace.views import accounts, dashboard, my_work, tasks, team

urlpatterns = [
    path("work/", my_work.my_work, name="my_work"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task_detail"),
    path("tasks/<int:pk>/act/", tasks.task_act, name="task_act"),
    path("team/", team.team, name="team"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("accounts/", accounts.account_list, name="account_list"),
    path("accounts/<int:pk>/", accounts.account_detail, name="account_detail"),
    path("accounts/<int:pk>/kpis/<slug:slug>/", accounts.account_kpi, name="account_kpi"),
]
