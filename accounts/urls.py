from django.urls import path

from accounts import views

urlpatterns = [
    path("feedback/", views.feedback, name="feedback"),
]
