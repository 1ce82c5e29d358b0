"""Shared by the metrics commands: find the tenant and the KPIs named on the command line."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError
from django_tenants.utils import get_public_schema_name

from tenants.models import Tenant


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.exclude(schema_name=get_public_schema_name()).filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"No tenant with slug {slug!r}.")
    return tenant


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date YYYY-MM-DD, not {value!r}.") from None


def kpis_by_slug(slugs: list[str] | None):
    from metrics.models import KPI

    if not slugs:
        return list(KPI.objects.filter(is_active=True))
    found = {kpi.slug: kpi for kpi in KPI.objects.filter(slug__in=slugs)}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise CommandError(f"Unknown KPI(s): {', '.join(missing)}.")
    return [found[slug] for slug in slugs]
