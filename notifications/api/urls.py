"""Webhook routes, included under /api/v1/."""

from django.urls import path

from notifications.api import views

urlpatterns = [
    path("webhooks/", views.WebhookList.as_view(), name="api-webhooks"),
    path("webhooks/<int:pk>/", views.WebhookDetail.as_view(), name="api-webhook"),
    path("webhooks/<int:pk>/rotate-secret", views.WebhookSecretRotate.as_view(), name="api-webhook-rotate"),
    path("webhooks/<int:pk>/ping", views.WebhookPing.as_view(), name="api-webhook-ping"),
    path("webhooks/<int:pk>/deliveries/", views.WebhookDeliveries.as_view(), name="api-webhook-deliveries"),
    path("webhook-deliveries/<int:pk>/redeliver", views.DeliveryRedeliver.as_view(),
         name="api-webhook-delivery-redeliver"),
]
