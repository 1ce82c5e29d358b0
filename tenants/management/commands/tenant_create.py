"""`manage.py tenant_create --slug acme --name "Acme" --admin-email ops@acme.example`"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tenants.services import TenantError, tenant_create


class Command(BaseCommand):
    help = "Create a tenant (schema, host name, first admin) and print the admin's one-time password."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True, help="Host label: <slug>.<BASE_DOMAIN>")
        parser.add_argument("--name", required=True, help="The team's display name")
        parser.add_argument("--admin-email", required=True, help="Email of the first admin")

    def handle(self, *args, slug: str, name: str, admin_email: str, **options) -> None:
        try:
            created = tenant_create(slug=slug, name=name, admin_email=admin_email)
        except TenantError as error:
            raise CommandError(str(error)) from None
        port = getattr(settings, "PORT", 8000)
        self.stdout.write(self.style.SUCCESS(f"Created tenant {created.tenant.slug!r} ({created.tenant.name})"))
        self.stdout.write(f"  URL:      http://{created.domain.domain}:{port}/")
        self.stdout.write(f"  Admin:    {created.admin_email}")
        self.stdout.write(f"  Password: {created.admin_password}  (one-time: must be changed at first login)")
