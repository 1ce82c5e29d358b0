"""The audit log: who changed which configuration, when, from what to what. Append-only in the database
itself (a trigger refuses UPDATE and DELETE), so not even a bug or a stray admin action rewrites history."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class ActorKind(models.TextChoices):
    USER = "user", "A person"
    API_KEY = "api_key", "An integration (API key)"
    AUTOMATION = "automation", "Automation"


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    # Plain ids, not foreign keys: deleting a user or a key must never touch (or be blocked by) the log.
    actor_user_id = models.IntegerField(null=True, blank=True)
    actor_api_key_id = models.IntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=300)
    action = models.CharField(max_length=20)
    object_type = models.CharField(max_length=60, db_index=True)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_repr}"

    @property
    def changes(self) -> dict[str, tuple]:
        """Field by field, what changed: {field: (before, after)}."""
        before, after = self.before or {}, self.after or {}
        return {field: (before.get(field), after.get(field)) for field in sorted(set(before) | set(after))
                if before.get(field) != after.get(field)}
