"""Outbound notifications: webhooks (signed, retried, every delivery logged) and a record of emails that
must go out once only (the daily digest)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q


class Event(models.TextChoices):
    BREACH_OPENED = "breach.opened", "A breach opened"
    BREACH_RESOLVED = "breach.resolved", "A breach resolved"
    TASK_CREATED = "task.created", "A task was created"
    TASK_OVERDUE = "task.overdue", "A task missed its response SLA"
    TASK_COMPLETED = "task.completed", "A task was completed"
    PLAYBOOK_RUN_COMPLETED = "playbook_run.completed", "A playbook run finished"
    PING = "ping", "A test delivery"


SUBSCRIBABLE_EVENTS = [event for event in Event.values if event != Event.PING]


class WebhookFormat(models.TextChoices):
    BELLWETHER = "bellwether", "Bellwether JSON (signed)"
    SLACK = "slack", "Slack incoming webhook"


class Webhook(models.Model):
    """An endpoint that receives the events it subscribes to, signed with its secret."""

    name = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=80, help_text="Signs each delivery (HMAC-SHA256).")
    events = models.JSONField(default=list, help_text="Event names this endpoint receives.")
    format = models.CharField(max_length=16, choices=WebhookFormat.choices, db_default=WebhookFormat.BELLWETHER,
                              help_text="What each delivery's body is: Bellwether's event, or a Slack message.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def event_labels(self) -> list[str]:
        """The events it receives as people read them ("A breach opened"), in its own order."""
        return [Event(event).label if event in Event.values else event for event in self.events]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event for one endpoint: written in the same transaction as the change it reports (an outbox),
    so an event is never lost to a broker outage or a crash between commit and send."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=Event.choices)
    event_id = models.UUIDField(default=uuid.uuid4, help_text="The same for every endpoint receiving this event.")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When the next attempt is due (or a lease on one running).")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="webhook_delivery_once_per_event"),
            models.CheckConstraint(condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                                   name="webhook_delivery_delivered_has_time"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.status})"


class NotificationSent(models.Model):
    """An email that must go out once per key (a user's digest for a day), however often the job runs."""

    kind = models.CharField(max_length=32)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "user", "key"], name="notification_sent_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} to {self.user_id}"
