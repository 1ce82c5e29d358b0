"""Customer data as integrations send it: accounts, usage events and their daily rollups, monthly
revenue, survey answers and support tickets. Integrity lives in database constraints, so no path
(API, admin, import, raw SQL) can store an impossible row.

The foreign keys to the account have no index of their own (`db_index=False`): each table has an index or
unique key leading with the account, which serves every lookup by account (and the checks when an account
is deleted), and an index fewer is a write fewer for every row ingested."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class LifecycleStage(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTION = "adoption", "Adoption"
    MATURE = "mature", "Mature"
    RENEWAL = "renewal", "Renewal"
    AT_RISK = "at_risk", "At risk"
    CHURNED = "churned", "Churned"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CHURNED = "churned", "Churned"


class Account(models.Model):
    """A customer of the tenant: the subject of every per-account KPI."""

    external_id = models.CharField(max_length=200, help_text="The id the CRM or billing system knows it by.")
    name = models.CharField(max_length=300)
    plan = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.ONBOARDING)
    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    start_date = models.DateField(null=True, blank=True)
    renewal_date = models.DateField(null=True, blank=True)
    licensed_seats = models.PositiveIntegerField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts",
        help_text="The CSM who owns the account.", db_index=False,  # (owner, name) below serves lookups by owner
    )
    custom_attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="account_external_id_unique"),
            models.CheckConstraint(condition=~Q(external_id=""), name="account_external_id_not_empty"),
            models.CheckConstraint(
                condition=Q(renewal_date__isnull=True) | Q(start_date__isnull=True)
                | Q(renewal_date__gte=models.F("start_date")),
                name="account_renewal_after_start",
            ),
        ]
        indexes = [models.Index(fields=["owner", "name"]), models.Index(fields=["renewal_date"])]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person at a customer who uses the product: whom a usage event's `user_id` names, the account they
    belong to (their last group, as the tracking API calls it), and when they were first and last seen."""

    external_id = models.CharField(max_length=200, db_collation="C", help_text="The product's id for the user.")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    email = models.CharField(max_length=254, blank=True)
    name = models.CharField(max_length=300, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="contact_external_id_unique"),
            models.CheckConstraint(condition=Q(last_seen_at__gte=models.F("first_seen_at")),
                                   name="contact_last_seen_after_first"),
        ]
        indexes = [models.Index(fields=["account", "last_seen_at"])]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id


class UsageEvent(models.Model):
    """One thing a user of the customer did in the product. `idempotency_key` makes a resent event harmless."""

    # COLLATE "C" makes the unique index on the key byte-ordered: markedly cheaper to maintain on ingest.
    idempotency_key = models.CharField(max_length=200, db_collation="C")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_events", db_index=False)
    user_id = models.CharField(max_length=200, db_collation="C")
    event_name = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="usage_event_idempotency_key_unique"),
        ]
        indexes = [
            models.Index(fields=["account", "occurred_at"]),
            # The rollup sweeper finds recently received events by this.
            models.Index(fields=["received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} by {self.user_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class UsageDaily(models.Model):
    """Events and distinct users per account, day and event name; usage KPIs read this, not raw events."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_daily", db_index=False)
    day = models.DateField()
    event_name = models.CharField(max_length=200)
    events = models.PositiveIntegerField()
    distinct_users = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "event_name"], name="usage_daily_unique"),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.event_name}: {self.events} events"


class UserDaily(models.Model):
    """One row per account, day and active user: distinct users over a window do not add up across days,
    so stickiness and seat utilisation need this per-user rollup."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="user_daily", db_index=False)
    day = models.DateField()
    user_id = models.CharField(max_length=200, db_collation="C")
    events = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "user_id"], name="user_daily_unique"),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}: {self.events} events"


class RevenueSnapshot(models.Model):
    """An account's monthly recurring revenue for one month (stored as the month's first day)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="revenue_snapshots", db_index=False)
    month = models.DateField()
    mrr = models.DecimalField(max_digits=14, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "month"]
        constraints = [
            models.UniqueConstraint(fields=["account", "month"], name="revenue_snapshot_account_month_unique"),
            models.CheckConstraint(condition=Q(mrr__gte=0), name="revenue_snapshot_mrr_not_negative"),
            models.CheckConstraint(condition=Q(month__day=1), name="revenue_snapshot_month_first_day"),
        ]
        indexes = [models.Index(fields=["month"])]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.mrr}"


class SurveyKind(models.TextChoices):
    NPS = "nps", "NPS (0-10)"
    CSAT = "csat", "CSAT (1-5)"
    CES = "ces", "CES (1-7)"


SURVEY_SCALES = {SurveyKind.NPS: (0, 10), SurveyKind.CSAT: (1, 5), SurveyKind.CES: (1, 7)}


class SurveyResponse(models.Model):
    """One answer to an NPS, CSAT or CES survey; the score must lie on its kind's scale."""

    external_id = models.CharField(max_length=200, db_collation="C")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="survey_responses", db_index=False)
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    score = models.SmallIntegerField()
    comment = models.TextField(blank=True)
    respondent = models.CharField(max_length=254, blank=True)
    responded_at = models.DateTimeField()
    sentiment = models.FloatField(null=True, blank=True,
                                  help_text="Compound sentiment of the comment, -1 to 1; null until scored or empty.")

    class Meta:
        ordering = ["-responded_at"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="survey_response_external_id_unique"),
            models.CheckConstraint(
                condition=Q(
                    *[Q(kind=kind, score__gte=low, score__lte=high) for kind, (low, high) in SURVEY_SCALES.items()],
                    _connector=Q.OR,
                ),
                name="survey_response_score_in_scale",
            ),
        ]
        indexes = [models.Index(fields=["account", "kind", "responded_at"]), models.Index(fields=["responded_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.score}"


class TicketPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class SupportTicket(models.Model):
    """A helpdesk ticket: load, first response time and handling effort feed the support KPIs."""

    external_id = models.CharField(max_length=200, db_collation="C")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="support_tickets", db_index=False)
    subject = models.CharField(max_length=500, blank=True)
    priority = models.CharField(max_length=10, choices=TicketPriority.choices, default=TicketPriority.NORMAL)
    opened_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    handling_minutes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="support_ticket_external_id_unique"),
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True) | Q(first_response_at__gte=models.F("opened_at")),
                name="support_ticket_response_after_open",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("opened_at")),
                name="support_ticket_resolved_after_open",
            ),
        ]
        indexes = [models.Index(fields=["account", "opened_at"]), models.Index(fields=["opened_at"])]

    def __str__(self) -> str:
        return self.subject or self.external_id


class AccountNote(models.Model):
    """What a CSM writes down about an account (a call, a risk, a promise): on its timeline with its author and
    time, and in the audit log."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notes", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="account_note_text_not_empty")]
        indexes = [models.Index(fields=["account", "created_at"])]

    def __str__(self) -> str:
        return f"Note on {self.account_id}: {self.text[:40]}"
