"""The tools a tenant already runs, connected: each connector's settings and secret, the calls it received
(accepted or refused, for its page), the calls held until their account exists, the vendor event ids already
applied (replays are refused), and the vendor's ids for accounts (a Stripe customer)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Connector(models.TextChoices):
    SEGMENT = "segment", "Segment / RudderStack"
    STRIPE = "stripe", "Stripe"
    HUBSPOT = "hubspot", "HubSpot"
    SALESFORCE = "salesforce", "Salesforce"
    ZENDESK = "zendesk", "Zendesk"
    INTERCOM = "intercom", "Intercom"


class ConnectorSettings(models.Model):
    """One connector's configuration in this tenant: its signing secret (for vendors that sign what they send)
    and its options (mappings, currency), each defaulting to what `connectors.settings` says."""

    connector = models.CharField(max_length=16, choices=Connector.choices, unique=True)
    secret = models.CharField(max_length=200, blank=True,
                              help_text="The vendor's signing secret; verifies every call it sends.")
    options = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "connector settings"

    def __str__(self) -> str:
        return self.get_connector_display()


class ConnectorCall(models.Model):
    """One call a connector received, accepted (with what it did) or refused (with why): its page lists them."""

    connector = models.CharField(max_length=16, choices=Connector.choices)
    received_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField()
    summary = models.CharField(max_length=1000, help_text="What the call did, or why it was refused.")
    api_key = models.ForeignKey("integrations.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["connector", "received_at"]), models.Index(fields=["received_at"])]

    def __str__(self) -> str:
        return f"{self.connector} {self.status_code} at {self.received_at:%Y-%m-%d %H:%M}"

    @property
    def accepted(self) -> bool:
        return 200 <= self.status_code < 300


class HeldCall(models.Model):
    """A call whose account cannot be resolved yet (a track before its group call, a Stripe customer not yet
    linked): kept, reported in data health, and applied when the account appears."""

    connector = models.CharField(max_length=16, choices=Connector.choices)
    message_id = models.CharField(max_length=200, db_collation="C")
    kind = models.CharField(max_length=40, help_text="The call's type (track, identify, invoice.paid...).")
    account_key = models.CharField(max_length=200, db_collation="C", blank=True,
                                   help_text="The account id the call named, if any.")
    user_id = models.CharField(max_length=200, db_collation="C", blank=True)
    message = models.JSONField(help_text="The call as received.")
    reason = models.CharField(max_length=500)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "message_id"], name="held_call_once_per_message"),
        ]
        indexes = [
            models.Index(fields=["connector", "account_key"]),
            models.Index(fields=["connector", "user_id"], condition=~Q(user_id=""), name="held_call_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.kind} {self.message_id}"


class ReceivedEvent(models.Model):
    """A vendor's event id already applied: a replay of it (or the vendor's own retry) changes nothing."""

    connector = models.CharField(max_length=16, choices=Connector.choices)
    event_id = models.CharField(max_length=200, db_collation="C")
    kind = models.CharField(max_length=60)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "event_id"], name="received_event_once")]
        indexes = [models.Index(fields=["received_at"])]

    def __str__(self) -> str:
        return f"{self.connector} {self.event_id}"


class AccountRef(models.Model):
    """The id a vendor knows an account by (a Stripe customer), learnt from its metadata or set by an admin."""

    connector = models.CharField(max_length=16, choices=Connector.choices)
    ref = models.CharField(max_length=200, db_collation="C")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "ref"], name="account_ref_unique")]
        indexes = [models.Index(fields=["account"])]

    def __str__(self) -> str:
        return f"{self.connector}:{self.ref}"


class BillingSubscription(models.Model):
    """A billing system's subscription as last applied: its account, status and monthly recurring revenue (0 while
    in trial, free or ended). An account's MRR is the sum of its subscriptions'; events older than the one last
    applied change nothing (a vendor may deliver them out of order)."""

    connector = models.CharField(max_length=16, choices=Connector.choices)
    subscription_id = models.CharField(max_length=200, db_collation="C")
    customer_id = models.CharField(max_length=200, db_collation="C")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=32)
    currency = models.CharField(max_length=3)
    mrr = models.DecimalField(max_digits=14, decimal_places=2)
    ever_paid = models.BooleanField(default=False, help_text="It once brought revenue: its end is churn.")
    event_at = models.DateTimeField(help_text="When the vendor created the event last applied.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "subscription_id"], name="billing_subscription_unique"),
            models.CheckConstraint(condition=Q(mrr__gte=0), name="billing_subscription_mrr_not_negative"),
        ]
        indexes = [models.Index(fields=["account"])]

    def __str__(self) -> str:
        return f"{self.subscription_id} ({self.status})"
