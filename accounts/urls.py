from django.urls import path

from accounts import views

urlpatterns = [
    path("feedback/", views.feedback, name="feedback"),
    path("data-health/", views.data_health, name="data_health"),
]
