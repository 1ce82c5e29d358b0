"""A compute run over the demo tenant produces a value for every catalogue KPI at portfolio scope, and the demo's
churn process is one a model can learn, modestly: customers leave at renewals, mostly after their use fell, their
answers soured and their tickets piled up, or after never getting started, and a few leave with no warning at all.
Its back-test shows it: better than the usage trend alone, far from perfect. One seed for both (seeding 500
accounts is most of the time)."""

import datetime as dt

from django_tenants.utils import schema_context

from metrics.catalogue import CATALOGUE
from metrics.models import KPI, AlertRule, Breach, ComputationRun, KPITarget, MetricValue, PredictionModel
from workspace.demo.seed import seed_demo

AS_OF = dt.date(2026, 12, 1)


def test_every_catalogue_kpi_has_a_portfolio_value_and_the_renewal_back_test_a_real_modest_auc(
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # breaches start playbooks after commit
        seed_demo(slug="demo-kpis", accounts=500, seed=42, as_of=AS_OF, progress=False, kpi_history_weeks=0)

    with schema_context("demo_kpis"):
        assert not ComputationRun.objects.exclude(status=ComputationRun.Status.SUCCEEDED).exists()
        values = dict(MetricValue.objects.filter(scope="portfolio", as_of=AS_OF - dt.timedelta(days=1))
                      .values_list("kpi__slug", "value"))
        missing = sorted(entry.slug for entry in CATALOGUE if values.get(entry.slug) is None)
        assert missing == []
        assert 0 <= values["health-score"] <= 100
        assert values["grr"] <= 100
        assert KPITarget.objects.filter(period="2026-Q4", superseded_at__isnull=True).exists()
        # The demo's rules have fired: there is open work to show.
        assert Breach.objects.filter(status="open", scope="account").exists()
        from playbooks.models import PlaybookRun, Task

        assert Task.objects.filter(status="open", assignee__role="csm").exists()
        assert set(PlaybookRun.objects.values_list("trigger", flat=True)) >= {"alert", "account_created"}

        kpi = KPI.objects.get(slug="renewal-probability")
        model = PredictionModel.objects.get(target="renewal", cutoff=AS_OF - dt.timedelta(days=1))
        assert model.status == "trained", model.reason
        pooled = model.metrics["pooled"]
        winner = pooled[model.algorithm]
        assert 0.7 <= winner["auc"] <= 0.88
        assert winner["auc"] > pooled["usage_trend"]["auc"]
        assert winner["brier"] < winner["brier_base_rate"]
        rule = AlertRule.objects.get(name="Renewal at risk")
        assert (rule.kpi_id, rule.condition, rule.threshold, rule.renewal_within_days) == (kpi.pk, "below", 60, 120)
        assert rule.playbooks.get().name == "Value review"
        assert PlaybookRun.objects.filter(playbook__name="Value review").exists()
