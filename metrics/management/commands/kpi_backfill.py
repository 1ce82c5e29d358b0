"""`manage.py kpi_backfill --tenant acme --kpi nrr --from 2026-01-01 --to 2026-06-30`"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from metrics.management.commands._tenant import kpis_by_slug, parse_date, tenant_by_slug
from metrics.models import ComputationRun
from metrics.services import kpis_compute

MAX_DAYS = 3 * 366


class Command(BaseCommand):
    help = "Recompute KPIs for every day of a date range under their current version (replacing stored values)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--kpi", action="append", required=True, help="KPI slug; repeat for several")
        parser.add_argument("--from", dest="start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="YYYY-MM-DD")

    def handle(self, *args, tenant: str, kpi: list[str], start: str, end: str, verbosity: int, **options) -> None:
        found = tenant_by_slug(tenant)
        first, last = parse_date(start, "--from"), parse_date(end, "--to")
        if last < first:
            raise CommandError("--to must not be before --from.")
        days = (last - first).days + 1
        if days > MAX_DAYS:
            raise CommandError(f"At most {MAX_DAYS} days per backfill; split the range.")
        failed = []
        with tenant_context(found):
            kpis = kpis_by_slug(kpi)
            for offset in tqdm(range(days), desc="Backfilling", unit="day", disable=verbosity < 1):
                day = first + timedelta(days=offset)
                run = kpis_compute(as_of=day, kpis=kpis, trigger=ComputationRun.Trigger.BACKFILL)
                failed += [f"{day}: {error['kpi']}: {error['error']}" for error in run.errors]
        for line in failed:
            self.stderr.write(line)
        if failed:
            raise CommandError(f"{len(failed)} KPI-day(s) failed; see above.")
        self.stdout.write(self.style.SUCCESS(f"Backfilled {len(kpis)} KPI(s) over {days} day(s)."))
