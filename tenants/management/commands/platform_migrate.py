"""`manage.py platform_migrate`: what `make run` does before it starts anything."""

from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.services import platform_migrate


class Command(BaseCommand):
    help = "Migrate the public schema, the tenant template and every tenant; ensure the public site's host."

    def handle(self, *args, **options) -> None:
        platform_migrate()
        tenants = Tenant.objects.exclude(schema_name="public").count()
        self.stdout.write(self.style.SUCCESS(f"Migrated the public schema, the template and {tenants} tenant(s)."))
