"""`manage.py platform_migrate [--processes N]`: what `make run` does before it starts anything, and every upgrade."""

import time

from django.core.management.base import BaseCommand, CommandError

from tenants.migrate import TenantMigration, TenantMigrationsFailed
from tenants.services import platform_migrate


class Command(BaseCommand):
    help = ("Migrate the public schema, the tenant template and every tenant (in parallel with --processes); "
            "ensure the public site's host. Prints each migrated tenant's time; names every tenant that failed.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--processes", type=int, default=None,
                            help="tenants migrated at once, each in a process of its own "
                                 "(default: TENANT_MIGRATION_PROCESSES, 1)")

    def handle(self, *args, processes: int | None, verbosity: int, **options) -> None:
        if processes is not None and processes < 1:
            raise CommandError("--processes must be 1 or more.")

        def report(done: int, total: int, result: TenantMigration) -> None:
            if result.error:
                self.stderr.write(f"[{done}/{total}] {result.schema_name}: FAILED after {result.seconds:.2f} s: "
                                  f"{result.error}")
            elif verbosity >= 2 or (verbosity >= 1 and not result.skipped):
                state = "up to date" if result.skipped else "migrated"
                self.stdout.write(f"[{done}/{total}] {result.schema_name}: {state} in {result.seconds:.2f} s")

        started = time.perf_counter()
        try:
            migrated = platform_migrate(processes=processes, report=report)
        except TenantMigrationsFailed as error:
            self.stderr.write(f"Tenants: {error.migrated.summary()}")
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(
            f"Migrated the public schema and the template, then the tenants in {time.perf_counter() - started:.1f} s "
            f"in all. Tenants: {migrated.summary()}"))
