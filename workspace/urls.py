"""The pages that put several apps in front of one person."""

from django.urls import path

from workspace.views import accounts, dashboard, my_work

urlpatterns = [
    path("work/", my_work.my_work, name="my_work"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("accounts/", accounts.account_list, name="account_list"),
    path("accounts/<int:pk>/", accounts.account_detail, name="account_detail"),
]
