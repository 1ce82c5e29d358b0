"""Tenants and the host names that reach them; the only tables in the public schema."""

from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "A tenant slug is 3-40 characters: lower-case letters, digits and hyphens, "
    "starting with a letter and not ending with a hyphen.",
)


class Tenant(TenantMixin):
    """A customer of Bellwether: one CS team with its own PostgreSQL schema."""

    slug = models.SlugField(max_length=40, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="Days (rollups, KPI windows) are counted in this time zone."
    )
    # Response SLAs by severity, and how long after a missed SLA the leaders hear of it.
    sla_critical_hours = models.PositiveIntegerField(default=24)
    sla_high_hours = models.PositiveIntegerField(default=72)
    sla_medium_hours = models.PositiveIntegerField(default=7 * 24)
    sla_low_hours = models.PositiveIntegerField(default=14 * 24)
    escalation_leader_delay_hours = models.PositiveIntegerField(default=24)
    # The escalation ladder: the assignee's manager this long after a missed response SLA (level 1), then
    # the CS leaders `escalation_leader_delay_hours` after the SLA (level 2) unless the tenant stops at level 1.
    escalation_manager_delay_hours = models.PositiveIntegerField(default=0)
    escalation_to_leaders = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def sla_hours(self, severity: str) -> int:
        return getattr(self, f"sla_{severity}_hours")


class Domain(DomainMixin):
    """A host name (e.g. `acme.localhost`) routed to a tenant."""


class SchemaRecipe(models.Model):
    """The SQL that makes a new tenant's schema: pg_dump's definition of the migrated template, for one state of
    its migrations (`fingerprint`). Kept here so any machine can create tenants without pg_dump (tenants.template)."""

    fingerprint = models.CharField(max_length=64, unique=True)
    sql = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"schema recipe {self.fingerprint[:12]}"
