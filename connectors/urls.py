"""The connectors' endpoints (on the tenant's host, for the vendors' tools) and their pages (for admins)."""

from django.urls import path

from connectors import endpoints, views

segment = [
    path(f"api/segment/v1/{name}", endpoints.SegmentEndpoint.as_view(call_type=call_type), name=f"segment-{name}")
    for name, call_type in (("batch", None), ("track", "track"), ("identify", "identify"), ("group", "group"),
                            ("page", "page"), ("screen", "screen"))
]

urlpatterns = [
    *segment,
    path("api/stripe/webhook", endpoints.StripeWebhook.as_view(), name="stripe-webhook"),
    path("api/zendesk/webhook", endpoints.ZendeskWebhook.as_view(), name="zendesk-webhook"),
    path("api/intercom/webhook", endpoints.IntercomWebhook.as_view(), name="intercom-webhook"),
    path("settings/connectors/", views.connector_list, name="connectors"),
    path("settings/connectors/<slug:connector>/", views.connector_detail, name="connector_detail"),
    path("settings/connectors/<slug:connector>/secret", views.connector_secret, name="connector_secret"),
    path("settings/connectors/stripe/backfill", views.stripe_backfill, name="stripe_backfill"),
    path("settings/connectors/<slug:connector>/import", views.crm_import, name="crm_import"),
]
