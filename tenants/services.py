"""Creating tenants: a schema copied from the migrated template (tenants.template), its host name and its first
admin; migrating every schema."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context, tenant_context

from tenants.migrate import TenantMigration, TenantMigrationsFailed, TenantsMigrated, tenants_migrate
from tenants.models import Domain, Tenant, slug_validator
from tenants.signals import tenant_created
from tenants.template import (
    recipe_for,
    schema_constraint_names_align,
    schema_create_from_recipe,
    template_schema_sync,
)

# Host labels that must never become a tenant: they name infrastructure or the public site.
RESERVED_SLUGS = frozenset({"www", "api", "admin", "app", "public", "static", "media", "mail", "status",
                            "tenant-template", "test", "postgres"})


class TenantError(Exception):
    """A tenant cannot be created as asked; the message says why, for the operator."""


@dataclass(frozen=True)
class TenantCreation:
    tenant: Tenant
    domain: Domain
    admin_email: str
    admin_password: str


def schema_name_for(slug: str) -> str:
    return slug.replace("-", "_")


def tenant_host(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def tenant_slug_validate(slug: str) -> None:
    """Raise TenantError unless `slug` is well-formed, not reserved and not taken."""
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise TenantError(f"Invalid slug {slug!r}: {error.messages[0]}") from None
    if slug in RESERVED_SLUGS:
        raise TenantError(f"The slug {slug!r} is reserved; choose another.")
    if Tenant.objects.filter(slug=slug).exists() or Domain.objects.filter(domain=tenant_host(slug)).exists():
        raise TenantError(f"The slug {slug!r} is already taken by another tenant.")


def _tenant_save_with_schema(tenant: Tenant, recipe: str | None) -> Tenant:
    """Save a new tenant and make its schema: the template's recipe replayed, else django-tenants' clone."""
    if recipe is None:
        tenant.save(verbosity=0)
        schema_constraint_names_align(source=settings.TENANT_BASE_SCHEMA, targets=[tenant.schema_name])
    else:
        tenant.auto_create_schema = False
        tenant.save(verbosity=0)
        schema_create_from_recipe(schema_name=tenant.schema_name, recipe=recipe)
    return tenant


def tenant_create(*, slug: str, name: str, admin_email: str, admin_password: str | None = None) -> TenantCreation:
    """Create a tenant with its schema, its host name and its first admin, all or nothing.

    Without `admin_password` a one-time password is generated; the admin must change it at first login.
    """
    from users.models import Role
    from users.services import one_time_password, user_create

    slug = slug.strip().lower()
    name = name.strip()
    if not name:
        raise TenantError("A tenant needs a name.")
    tenant_slug_validate(slug)
    try:
        from django.core.validators import validate_email

        validate_email(admin_email)
    except ValidationError:
        raise TenantError(f"{admin_email!r} is not a valid email address.") from None

    # Tenants are made from the public schema, whatever tenant the caller is in; the caller's is restored after.
    with schema_context(get_public_schema_name()):
        recipe = recipe_for(template_schema_sync())
        password = admin_password or one_time_password()
        # The admin's password hash (PBKDF2, deliberately slow) is computed while PostgreSQL makes the schema:
        # hashlib releases the GIL, so the two overlap.
        with ThreadPoolExecutor(max_workers=1) as hasher, transaction.atomic():
            password_hash = hasher.submit(make_password, password)
            tenant = _tenant_save_with_schema(Tenant(schema_name=schema_name_for(slug), slug=slug, name=name), recipe)
            domain = Domain.objects.create(domain=tenant_host(slug), tenant=tenant, is_primary=True)
            with tenant_context(tenant):
                admin = user_create(email=admin_email, role=Role.ADMIN, full_name="Administrator",
                                    password_hash=password_hash.result(),
                                    password_change_required=admin_password is None)
                # Inside the tenant, inside the transaction: a failing receiver leaves no half-made tenant.
                tenant_created.send(sender=Tenant, tenant=tenant, admin=admin)
    return TenantCreation(tenant=tenant, domain=domain, admin_email=admin_email.lower(), admin_password=password)


def public_tenant_ensure() -> Tenant:
    """The public schema's tenant row and the bare BASE_DOMAIN host that serves the landing page."""
    public, _ = Tenant.objects.get_or_create(
        schema_name=get_public_schema_name(), defaults={"slug": "public", "name": "Bellwether"}
    )
    Domain.objects.update_or_create(domain=settings.BASE_DOMAIN, defaults={"tenant": public, "is_primary": True})
    return public


def platform_migrate(*, processes: int | None = None,
                     report: Callable[[int, int, TenantMigration], None] | None = None) -> TenantsMigrated:
    """Bring every schema up to date: public first, then the template (a migration that fails there stops
    everything before any tenant is touched), then each tenant, `processes` at a time (default
    `TENANT_MULTIPROCESSING_MAX_PROCESSES`). Raises TenantMigrationsFailed naming each tenant that failed, after
    all the others are done."""
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    public_tenant_ensure()
    recipe_for(template_schema_sync(always=True))
    schema_names = list(Tenant.objects.exclude(schema_name=get_public_schema_name())
                        .order_by("schema_name").values_list("schema_name", flat=True))
    started = time.perf_counter()
    results = tenants_migrate(schema_names, processes=processes or settings.TENANT_MULTIPROCESSING_MAX_PROCESSES,
                              report=report)
    migrated = TenantsMigrated(results, time.perf_counter() - started)
    connection.set_schema_to_public()
    schema_constraint_names_align(source=settings.TENANT_BASE_SCHEMA,
                                  targets=[result.schema_name for result in results if not result.error])
    if any(result.error for result in results):
        raise TenantMigrationsFailed(migrated)
    return migrated
