"""The connectors for operators: settings (the secret masked: it is set on the connector's page), the calls
received and held, the vendor event ids applied, the accounts' vendor ids (which an operator may set by hand, so
a Stripe customer with no metadata finds its account) and the subscriptions as last applied. Logs are read-only:
they are what the vendors sent."""

from __future__ import annotations

from django.contrib import admin

from connectors.billing import stripe_held_replay
from connectors.models import (
    AccountRef,
    BillingSubscription,
    Connector,
    ConnectorCall,
    ConnectorSettings,
    HeldCall,
    ReceivedEvent,
)


class ReadOnly(admin.ModelAdmin):
    """A log: viewed and, where the model allows, deleted; never written by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def secret_masked(secret: str) -> str:
    """The secret's first 6 and last 4 characters, as the connector's page shows it; '-' when unset."""
    return f"{secret[:6]}…{secret[-4:]}" if len(secret) > 12 else ("set" if secret else "-")


@admin.register(ConnectorSettings)
class ConnectorSettingsAdmin(ReadOnly):
    list_display = ["connector", "secret_shown", "updated_at"]
    fields = ["connector", "secret_shown", "options", "updated_at"]
    readonly_fields = fields

    @admin.display(description="Signing secret")
    def secret_shown(self, settings: ConnectorSettings) -> str:
        return secret_masked(settings.secret)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the connector's page checks the options and audits the change


@admin.register(ConnectorCall)
class ConnectorCallAdmin(ReadOnly):
    list_display = ["received_at", "connector", "status_code", "summary", "api_key"]
    list_filter = ["connector", "status_code"]
    list_select_related = ["api_key"]
    search_fields = ["summary"]
    date_hierarchy = "received_at"


@admin.register(HeldCall)
class HeldCallAdmin(ReadOnly):
    """Deleting a held call lets it go (as the 90-day purge would)."""

    list_display = ["received_at", "connector", "kind", "account_key", "user_id", "reason"]
    list_filter = ["connector", "kind"]
    search_fields = ["account_key", "user_id", "message_id"]


@admin.register(ReceivedEvent)
class ReceivedEventAdmin(ReadOnly):
    list_display = ["received_at", "connector", "event_id", "kind"]
    list_filter = ["connector", "kind"]
    search_fields = ["event_id"]


@admin.register(AccountRef)
class AccountRefAdmin(admin.ModelAdmin):
    list_display = ["connector", "ref", "account", "created_at"]
    list_filter = ["connector"]
    list_select_related = ["account"]
    search_fields = ["ref", "account__name", "account__external_id"]
    raw_id_fields = ["account"]

    def save_model(self, request, obj: AccountRef, form, change: bool) -> None:
        """A Stripe customer linked by hand: the events held for it are applied now, not at the next event."""
        super().save_model(request, obj, form, change)
        if obj.connector == Connector.STRIPE:
            stripe_held_replay(account_keys={obj.ref})


@admin.register(BillingSubscription)
class BillingSubscriptionAdmin(ReadOnly):
    list_display = ["subscription_id", "connector", "customer_id", "account", "status", "currency", "mrr", "event_at"]
    list_filter = ["connector", "status", "currency"]
    list_select_related = ["account"]
    search_fields = ["subscription_id", "customer_id", "account__name"]
