"""`manage.py apikey_create --tenant acme --name "Segment" --scopes ingest,read`"""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from integrations.services import ApiKeyError, api_key_create
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Issue an API key for a tenant and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="Which integration uses the key")
        parser.add_argument("--scopes", required=True, help="Comma-separated: ingest, read, admin")

    def handle(self, *args, tenant: str, name: str, scopes: str, **options) -> None:
        found = Tenant.objects.filter(slug=tenant).exclude(schema_name="public").first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        with schema_context(found.schema_name):
            try:
                issued = api_key_create(name=name, scopes=scopes)
            except ApiKeyError as error:
                raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Created API key {issued.api_key} for tenant {found.slug!r} "
                                             f"with scopes {', '.join(issued.api_key.scopes)}."))
        self.stdout.write("Store it now; it is never shown again:")
        self.stdout.write(issued.secret)
