"""`manage.py seed_demo [--accounts N] [--seed S] [--as-of YYYY-MM-DD] [--tenant SLUG] [--if-missing]`"""

from django.core.management.base import BaseCommand, CommandError

from workspace.demo.seed import (
    DEFAULT_ACCOUNTS,
    DEFAULT_SEED,
    DEFAULT_SLUG,
    DEMO_PASSWORD,
    MAX_ACCOUNTS,
    DemoSeedError,
    parse_as_of,
    seed_demo,
)


class Command(BaseCommand):
    help = "Create the demo tenant if needed and fill it with deterministic, realistic customer data."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS,
                            help=f"Accounts to seed, 1-{MAX_ACCOUNTS} (default {DEFAULT_ACCOUNTS})")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed: same seed, same data")
        parser.add_argument("--as-of", help="Data ends the day before this date, YYYY-MM-DD (default today, UTC)")
        parser.add_argument("--tenant", default=DEFAULT_SLUG, help="Tenant slug; the tenant is created if missing")
        parser.add_argument("--if-missing", action="store_true", help="Do nothing if the tenant already has accounts")

    def handle(self, *args, accounts: int, seed: int, as_of: str | None, tenant: str, if_missing: bool,
               verbosity: int, **options) -> None:
        try:
            summary = seed_demo(
                slug=tenant, accounts=accounts, seed=seed, as_of=parse_as_of(as_of) if as_of else None,
                if_missing=if_missing, progress=verbosity > 0,
            )
        except DemoSeedError as error:
            raise CommandError(str(error)) from None
        if verbosity < 1:
            return
        slug = summary.tenant_slug
        if summary.skipped:
            self.stdout.write(f"Tenant {slug!r} already has demo data; left as it is (--if-missing).")
            return
        if summary.tenant_created:
            self.stdout.write(f"Created tenant {slug!r}: sign in as admin@{slug}.example, password {DEMO_PASSWORD!r}.")
        self.stdout.write(self.style.SUCCESS(
            f"Seeded tenant {slug!r} in {summary.seconds:.1f} s: {summary.users} users ({summary.users_created} new), "
            f"{summary.accounts:,} accounts, {summary.revenue_snapshots:,} revenue snapshots, "
            f"{summary.usage_events:,} usage events ({summary.usage_events_inserted:,} new), "
            f"{summary.survey_responses:,} survey responses, {summary.support_tickets:,} support tickets, "
            f"{summary.metric_values:,} KPI values."
        ))
