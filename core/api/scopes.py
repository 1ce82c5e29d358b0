"""The scopes of the API: what an API key may do, and what a person's role grants through the API."""

from django.db import models


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest: push data"
    READ = "read", "Read: accounts, records, KPIs"
    ADMIN = "admin", "Admin: configuration"
