"""`manage.py stripe_backfill --tenant acme --file subscriptions.csv`: MRR history from a Stripe export."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from connectors.backfill import stripe_subscriptions_backfill
from core.errors import InvalidInput
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Import a Stripe subscriptions export (CSV) as monthly MRR snapshots of one tenant."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument("--file", required=True, type=Path, help="The CSV exported from Stripe.")

    def handle(self, *args, tenant: str, file: Path, **options) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        with tenant_context(found):
            try:
                result = stripe_subscriptions_backfill(data=file.read_bytes())
            except InvalidInput as error:
                lines = [f"line {problem['row']} {problem['field']}: {problem['message']}" for problem in error.errors]
                raise CommandError("\n".join([error.detail, *lines])) from None
        self.stdout.write(result.summary())
        for unmatched in result.unmatched:
            self.stdout.write(f"  line {unmatched['row']}: {unmatched['subscription']} of {unmatched['customer']} "
                              "matches no account")
