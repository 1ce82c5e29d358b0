"""`manage.py kpi_compute --tenant acme [--kpi nrr --kpi nps] [--as-of 2026-11-21]`"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tenants.utils import tenant_context

from metrics.management.commands._tenant import kpis_by_slug, parse_date, tenant_by_slug
from metrics.models import ComputationRun
from metrics.services import kpis_compute


class Command(BaseCommand):
    help = "Compute KPIs for one date (default: yesterday, the last complete day) for every account and segment."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--kpi", action="append", help="KPI slug; repeat for several (default: all active)")
        parser.add_argument("--as-of", help="YYYY-MM-DD")

    def handle(self, *args, tenant: str, kpi: list[str] | None, as_of: str | None, **options) -> None:
        found = tenant_by_slug(tenant)
        day = parse_date(as_of, "--as-of") if as_of else timezone.localdate() - timedelta(days=1)
        with tenant_context(found):
            run = kpis_compute(as_of=day, kpis=kpis_by_slug(kpi), trigger=ComputationRun.Trigger.MANUAL)
        self.stdout.write(f"Run {run.pk} for {day}: {run.status}, {run.kpis_done} KPI(s), {run.values_computed:,} "
                          f"values ({run.rows_written:,} rows written) in {run.duration_seconds:.2f} s.")
        for error in run.errors:
            self.stderr.write(f"  {error['kpi']}: {error['error']}")
        if run.status != ComputationRun.Status.SUCCEEDED:
            raise CommandError("Some KPIs failed; see above.")
