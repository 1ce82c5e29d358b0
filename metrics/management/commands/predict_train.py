"""`manage.py predict_train --tenant acme [--kpi renewal-probability] [--as-of 2026-11-21]`"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tenants.utils import tenant_context

from metrics.management.commands._tenant import kpis_by_slug, parse_date, tenant_by_slug
from metrics.models import PredictionModel
from metrics.prediction.spec import cutoff_problem
from metrics.predictive import prediction_models_train, predictive_kpis


class Command(BaseCommand):
    help = ("Train, back-test and store a new model version for each predictive KPI, on what was known on a date "
            "(default: yesterday), and print how well it did.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--kpi", action="append", help="Predictive KPI slug; repeat for several (default: all)")
        parser.add_argument("--as-of", help="YYYY-MM-DD: the cutoff (default: yesterday)")

    def handle(self, *args, tenant: str, kpi: list[str] | None, as_of: str | None, **options) -> None:
        found = tenant_by_slug(tenant)
        day = parse_date(as_of, "--as-of") if as_of else timezone.localdate() - timedelta(days=1)
        problem = cutoff_problem(day, today=timezone.localdate())
        if problem:
            raise CommandError(f"--as-of {problem}.")
        with tenant_context(found):
            if kpi:
                named = kpis_by_slug(kpi)
                not_predictive = [item.slug for item in named if not item.calculator.startswith("prediction.")]
                if not_predictive:
                    raise CommandError(f"Not predictive KPI(s): {', '.join(not_predictive)}.")
            elif not predictive_kpis():
                raise CommandError("This tenant has no active predictive KPI.")
            models = prediction_models_train(cutoff=day, trigger=PredictionModel.Trigger.MANUAL, slugs=kpi)
        for model in models:
            if model.status == PredictionModel.Status.TRAINED:
                pooled = model.metrics["pooled"][model.algorithm]
                self.stdout.write(
                    f"{model.kpi_slug} v{model.version} (cutoff {day}): {model.algorithm}, {model.rows:,} observations "
                    f"({model.events:,} events), back-test AUC {pooled['auc']:.3f}, Brier {pooled['brier']:.4f} "
                    f"(base rate {pooled['brier_base_rate']:.4f}), {model.seconds:.1f} s.")
            else:
                self.stdout.write(f"{model.kpi_slug} v{model.version} (cutoff {day}): {model.get_status_display()}: "
                                  f"{model.reason}")
