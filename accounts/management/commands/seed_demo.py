"""`manage.py seed_demo [--accounts N] [--seed S] [--as-of YYYY-MM-DD] [--tenant SLUG] [--if-missing]`"""

from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEFAULT_ACCOUNTS, DEFAULT_SEED, DEFAULT_SLUG, DemoSeedError, parse_as_of, seed_demo


class Command(BaseCommand):
    help = "Create the demo tenant if needed and fill it with deterministic, realistic customer data."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS, help="Accounts to seed (1-20000)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Random seed: same seed, same data")
        parser.add_argument("--as-of", help="Data ends the day before this date (YYYY-MM-DD); default today, UTC")
        parser.add_argument("--tenant", default=DEFAULT_SLUG, help="Tenant slug; created if missing")
        parser.add_argument("--if-missing", action="store_true", help="Do nothing if the tenant already has accounts")

    def handle(self, *args, accounts: int, seed: int, as_of: str | None, tenant: str, if_missing: bool,
               **options) -> None:
        try:
            summary = seed_demo(
                slug=tenant, accounts=accounts, seed=seed, as_of=parse_as_of(as_of) if as_of else None,
                if_missing=if_missing, progress=options["verbosity"] > 0,
            )
        except DemoSeedError as error:
            raise CommandError(str(error)) from None
        if summary.skipped:
            self.stdout.write(f"Tenant {tenant!r} already has demo data; left as it is (--if-missing).")
            return
        if summary.tenant_created:
            self.stdout.write(f"Created tenant {tenant!r} (admin@{tenant}.example, password 'bellwether-demo').")
        self.stdout.write(self.style.SUCCESS(
            f"Seeded tenant {tenant!r} in {summary.seconds:.1f} s: {summary.users} users "
            f"({summary.users_created} new), {summary.accounts} accounts, {summary.revenue_snapshots} revenue "
            f"snapshots, {summary.usage_events} usage events ({summary.usage_events_inserted} new), "
            f"{summary.survey_responses} survey responses, {summary.support_tickets} support tickets."
        ))
