"""A compute run over the demo tenant produces a value for every catalogue KPI at portfolio scope."""

import datetime as dt

from django_tenants.utils import schema_context

from metrics.catalogue import CATALOGUE
from metrics.models import Breach, ComputationRun, KPITarget, MetricValue
from workspace.demo.seed import seed_demo


def test_every_catalogue_kpi_has_a_portfolio_value_on_the_demo(django_capture_on_commit_callbacks):
    as_of = dt.date(2026, 6, 30)
    with django_capture_on_commit_callbacks(execute=True):  # breaches start playbooks after commit
        seed_demo(slug="demo-kpis", accounts=120, seed=3, as_of=as_of, progress=False, kpi_history_weeks=1)

    with schema_context("demo_kpis"):
        assert not ComputationRun.objects.exclude(status=ComputationRun.Status.SUCCEEDED).exists()
        values = dict(MetricValue.objects.filter(scope="portfolio", as_of=as_of - dt.timedelta(days=1))
                      .values_list("kpi__slug", "value"))
        missing = sorted(entry.slug for entry in CATALOGUE if values.get(entry.slug) is None)
        assert missing == []
        assert 0 <= values["health-score"] <= 100
        assert values["grr"] <= 100
        assert KPITarget.objects.filter(period="2026-Q2", superseded_at__isnull=True).exists()
        # The demo's rules have fired: there is open work to show.
        assert Breach.objects.filter(status="open", scope="account").exists()
        from playbooks.models import Task

        assert Task.objects.filter(status="open", assignee__role="csm").exists()
        from playbooks.models import PlaybookRun

        assert set(PlaybookRun.objects.values_list("trigger", flat=True)) >= {"alert", "account_created"}
