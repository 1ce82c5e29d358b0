"""How integrations reach a tenant: API keys, replayable idempotent requests, and the log of every
batch received, which data health reads."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from core.api.scopes import Scope


class ApiKey(models.Model):
    """A secret an integration sends as `Authorization: Bearer <key>`.

    Only a SHA-256 of the secret is stored; the short `prefix` finds the row and identifies the key in
    lists and logs. The key is shown once, when created.
    """

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True, db_collation="C")
    hashed_secret = models.CharField(max_length=64, db_collation="C")
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(scopes__len__gt=0), name="api_key_has_a_scope"),
            models.CheckConstraint(condition=Q(scopes__contained_by=Scope.values), name="api_key_scopes_known"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotentRequest(models.Model):
    """The first response to a POST sent with an `Idempotency-Key`, replayed for any retry of it."""

    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    key = models.CharField(max_length=200, db_collation="C")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    status_code = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], condition=Q(api_key__isnull=False),
                                    name="idempotent_request_key_unique_per_api_key"),
            models.UniqueConstraint(fields=["user", "key"], condition=Q(user__isnull=False),
                                    name="idempotent_request_key_unique_per_user"),
            models.CheckConstraint(condition=Q(api_key__isnull=False) | Q(user__isnull=False),
                                   name="idempotent_request_has_a_caller"),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class DataKind(models.TextChoices):
    ACCOUNTS = "accounts", "Accounts"
    EVENTS = "events", "Usage events"
    CONTACTS = "contacts", "Contacts"
    REVENUE = "revenue", "Revenue snapshots"
    SURVEYS = "surveys", "Survey responses"
    TICKETS = "tickets", "Support tickets"


# Who sent a batch without an API key, as people say it; a connector by its vendor's name.
SOURCE_LABELS = {"api": "The API", "csv": "A CSV upload", "seed": "Demo data", "hubspot": "HubSpot"}


class IngestBatch(models.Model):
    """One batch received for one kind of data: accepted with its counts, or rejected with its reasons."""

    kind = models.CharField(max_length=16, choices=DataKind.choices)
    source = models.CharField(max_length=16, default="api", help_text="api, csv, seed or a connector.")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)
    accepted = models.BooleanField()
    items = models.PositiveIntegerField()
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first errors of a rejected batch.")
    # An outbox: what the batch touched is stored with the data, in its transaction, and the follow-up work
    # (rollups, recomputes) marks it done; a broker outage or a dead worker delays that work, never loses it.
    follow_up = models.JSONField(null=True, blank=True, help_text="The accounts and days the batch touched.")
    followed_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["kind", "received_at"]), models.Index(fields=["api_key", "received_at"]),
            models.Index(fields=["received_at"], condition=Q(follow_up__isnull=False, followed_up_at__isnull=True),
                         name="ingest_batch_follow_up_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} x{self.items} at {self.received_at:%Y-%m-%d %H:%M}"

    @property
    def source_label(self) -> str:
        """`csv` as "A CSV upload", `segment` as "Segment": the stored code as people read it."""
        return SOURCE_LABELS.get(self.source, self.source.replace("_", " ").title())


class FeedPolicy(models.Model):
    """How long a kind of data may go quiet before admins are alerted (a KPI on stale data misleads)."""

    kind = models.CharField(max_length=16, choices=DataKind.choices, unique=True)
    max_silence_hours = models.PositiveIntegerField(default=48)
    alerted_at = models.DateTimeField(null=True, blank=True,
                                      help_text="When admins were last told this feed went quiet.")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.max_silence_hours}h"


class CsvImport(models.Model):
    """A CSV file too large to import within its request, imported whole (or not at all) by a worker.

    The request checks the file's form (quoting, columns, row count) and stores it; the worker checks every
    row, then writes them all in one transaction. While it runs, its progress is in the cache
    (integrations.csv_import.csv_import_progress); the row holds the outcome.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Importing"
        SUCCEEDED = "succeeded", "Imported"
        FAILED = "failed", "Failed: nothing was stored"

    kind = models.CharField(max_length=16, choices=DataKind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    file_name = models.CharField(max_length=255, blank=True)
    file_bytes = models.PositiveBigIntegerField()
    rows = models.PositiveIntegerField(help_text="Data rows in the file (the header and blank lines aside).")
    source = models.CharField(max_length=16, default="csv")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True, help_text="The outcome in words.")
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first problems, by line.")
    batch = models.OneToOneField(IngestBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="The data-health record of the import.")

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["received_at"], condition=Q(status__in=["queued", "running"]),
                                name="csv_import_unfinished")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                                   name="csv_import_status_known"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} CSV of {self.rows} rows ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class CsvImportPart(models.Model):
    """The uploaded file of a CsvImport, in parts of about a megabyte, until the import finishes.

    Kept in the tenant's schema, not on a disk: a worker on any machine reads it, and it never leaves the
    tenant. The import deletes its parts when it finishes, whatever the outcome.
    """

    csv_import = models.ForeignKey(CsvImport, on_delete=models.CASCADE, related_name="parts")
    position = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["csv_import", "position"], name="csv_import_part_unique")]

    def __str__(self) -> str:
        return f"part {self.position} of import {self.csv_import_id}"
