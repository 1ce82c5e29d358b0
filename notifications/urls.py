from django.urls import path

from notifications import views

urlpatterns = [
    path("settings/webhooks/", views.webhook_list, name="webhooks"),
    path("settings/webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("settings/webhooks/<int:pk>/<slug:action>/", views.webhook_action, name="webhook_action"),
    path("settings/webhook-deliveries/<int:pk>/redeliver/", views.delivery_redeliver_view,
         name="webhook_delivery_redeliver"),
]
