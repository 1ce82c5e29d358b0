"""A compute run over the demo tenant produces a value for every catalogue KPI at portfolio scope; incremental runs
of the whole catalogue then store the aggregates that re-aggregating every account gives; and the demo's churn
process is one a model can learn, modestly: customers leave at renewals, mostly after their use fell, their answers
soured and their tickets piled up, or after never getting started, and a few leave with no warning at all. Its
back-test shows it: better than the usage trend alone, far from perfect. One seed for all three (seeding 500
accounts is most of the time)."""

import datetime as dt
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from accounts.models import Account, RevenueSnapshot, UsageDaily
from metrics.calculators.base import Calculator
from metrics.catalogue import CATALOGUE
from metrics.models import KPI, AlertRule, Breach, ComputationRun, KPITarget, MetricValue, PredictionModel
from metrics.services import aggregates_refresh, kpis_compute
from metrics.signals import aggregates_deferred
from tests.accounts.factories import (
    SupportTicketFactory,
    SurveyResponseFactory,
)
from workspace.demo.seed import seed_demo

AS_OF = dt.date(2026, 12, 1)


def test_every_catalogue_kpi_has_a_portfolio_value_and_the_renewal_back_test_a_real_modest_auc(
        django_capture_on_commit_callbacks, monkeypatch):
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

        _incremental_runs_merge_what_re_aggregating_gives(AS_OF - dt.timedelta(days=1), monkeypatch)


def _groups(as_of: dt.date) -> dict[tuple, tuple]:
    return {(row.kpi_id, row.dimension, row.segment): (row.value, row.numerator, row.denominator, row.sample_size,
                                                       row.details)
            for row in MetricValue.objects.filter(as_of=as_of).exclude(scope="account")}


def _incremental_runs_merge_what_re_aggregating_gives(as_of: dt.date, monkeypatch) -> None:
    """Every calculator's merge (metrics.services._merged) on the demo's data with a trained model: new answers,
    tickets, usage and MRR for 20 accounts in an incremental run of the whole catalogue, which every calculator but
    the median's merges (the median's segments are left to the bulk queue: its task's work is done here); then 20
    more, 5 of them moved to another plan, which every calculator re-aggregates. After each, every group
    re-aggregated from the stored account rows: same groups, same numbers."""
    from metrics import services

    merging = services._merged
    merged_by: list[str] = []

    def recorded(cursor, calculator, *args):
        done, written = merging(cursor, calculator, *args)
        if done is not None:
            merged_by.append(calculator.id)
        return done, written

    monkeypatch.setattr(services, "_merged", recorded)
    deferred: list[int] = []

    def left(sender, *, kpi_ids, **kwargs):
        deferred.extend(kpi_ids)

    monkeypatch.setattr(aggregates_deferred, "receivers", list(aggregates_deferred.receivers))
    aggregates_deferred.connect(left, weak=False)
    noon = dt.datetime.combine(as_of, dt.time(12), tzinfo=dt.UTC)
    touched = list(Account.objects.order_by("id")[:40])
    for moved, accounts in ((0, touched[:20]), (5, touched[20:])):
        for index, account in enumerate(accounts):
            SurveyResponseFactory(account=account, kind="nps", score=(index * 3 + moved) % 11, responded_at=noon)
            SurveyResponseFactory(account=account, kind="csat", score=1 + index % 5, responded_at=noon)
            SupportTicketFactory(account=account, opened_at=noon - dt.timedelta(hours=5 + index),
                                 first_response_at=noon - dt.timedelta(hours=index % 4), resolved_at=None)
            UsageDaily.objects.update_or_create(account=account, day=as_of, event_name="report_created",
                                                defaults={"events": 3 + index, "distinct_users": 1})
            latest = RevenueSnapshot.objects.filter(account=account, month__lte=as_of).order_by("month").last()
            if moved:
                RevenueSnapshot.objects.update_or_create(account=account, month=as_of.replace(day=1),
                                                         defaults={"mrr": Decimal(500 + 150 * index)})
            elif latest and _size_band(latest.mrr) == _size_band(latest.mrr + 1):  # the account stays in its band
                RevenueSnapshot.objects.filter(pk=latest.pk).update(mrr=latest.mrr + 1)
        Account.objects.filter(pk__in=[account.pk for account in accounts[:moved]]).update(plan="Moved here")
        merged_by.clear()
        deferred.clear()
        run = kpis_compute(as_of=as_of, account_ids=[account.pk for account in accounts], trigger="ingest")
        assert run.status == ComputationRun.Status.SUCCEEDED, run.errors
        median = KPI.objects.get(calculator="support.first_response_hours")
        assert deferred == [median.pk]  # left to the bulk queue: what its task does
        aggregates_refresh(as_of=as_of, kpi_ids=deferred)
        merged = _groups(as_of)
        calculators = set(KPI.objects.filter(is_active=True).values_list("calculator", flat=True))
        assert set(merged_by) == (set() if moved else calculators - {"support.first_response_hours"})

        with monkeypatch.context() as patched:
            patched.setattr(Calculator, "merges_aggregates", property(lambda self: False))
            kpis_compute(as_of=as_of, account_ids=[], trigger="ingest")  # every group from every stored row
        reaggregated = _groups(as_of)

        assert merged.keys() == reaggregated.keys()
        assert (moved and ("plan", "Moved here") in {key[1:] for key in merged}) or not moved
        different = {key: (row, reaggregated[key]) for key, row in merged.items()
                     if not _close(row, reaggregated[key])}
        assert different == {}, "\n".join(f"{key}: {pair}" for key, pair in different.items())


def _size_band(mrr: Decimal) -> int:
    return sum(mrr >= bound for bound in (Decimal("0.01"), 1000, 5000, 20000))  # as metrics.segments bands MRR


def _close(merged, expected) -> bool:
    """Equal, numbers to 1e-9 (a merged sum is added in another order than a re-aggregated one)."""
    if isinstance(merged, dict) and isinstance(expected, dict):
        return merged.keys() == expected.keys() and all(_close(merged[key], expected[key]) for key in merged)
    if isinstance(merged, list | tuple) and isinstance(expected, list | tuple):
        return len(merged) == len(expected) and all(map(_close, merged, expected))
    if isinstance(merged, int | float) and isinstance(expected, int | float) and not isinstance(merged, bool):
        return merged == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return merged == expected
