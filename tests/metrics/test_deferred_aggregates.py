"""An incremental run corrects every aggregate that is a sum, and leaves the others (the median response time over
every ticket) to the bulk queue: reading every account's stored row is not what an ingest's follow-up should wait
for at 100,000 accounts. The touched accounts' own values are fresh at once; the median's segments and portfolio
when the bulk task has re-aggregated them, debounced per tenant, with their rules evaluated then."""

import datetime as dt

import pytest
from django.db import connection

from metrics.models import AlertRule, Breach, MetricValue, Scope
from metrics.pending import (
    REAGGREGATION_DEBOUNCE_SECONDS,
    _client,
    _keys,
    pending_reaggregations_add,
    pending_reaggregations_take,
)
from metrics.services import kpi_create, kpis_compute
from metrics.tasks import aggregates_refresh_task
from tests.accounts.factories import AccountFactory, SupportTicketFactory, SurveyResponseFactory

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture
def clean_keys():
    yield
    _client().delete(*_keys(connection.schema_name, "reaggregations"), *_keys("alpha", "reaggregations"),
                     *_keys("bravo", "reaggregations"))


def _kpi(slug: str, calculator: str):
    return kpi_create(slug=slug, name=slug, calculator=calculator, params={"window_days": 30}, definition="Test.",
                      tier="advocacy", indicator="lagging", unit="hours", scopes=["account", "segment", "portfolio"])


def _ticket(account, hours: float) -> None:
    opened = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
    SupportTicketFactory(account=account, opened_at=opened, first_response_at=opened + dt.timedelta(hours=hours),
                         resolved_at=None)


def _value(kpi, **subject) -> float | None:
    return MetricValue.objects.get(kpi=kpi, as_of=AS_OF, **subject).value


def test_the_median_is_left_to_the_bulk_queue_and_the_sums_are_merged_at_once(
        django_capture_on_commit_callbacks, monkeypatch, clean_keys):
    median, nps = _kpi("first-response", "support.first_response_hours"), _kpi("nps", "surveys.nps")
    AlertRule.objects.create(kpi=median, name="Slow answers", scope=Scope.PORTFOLIO, condition="above", threshold=2.5,
                             severity="high")
    slow, quick = AccountFactory(plan="Growth"), AccountFactory(plan="Growth")
    _ticket(slow, 1)
    _ticket(quick, 3)
    SurveyResponseFactory(account=slow, kind="nps", score=10, responded_at=dt.datetime(2026, 11, 10, tzinfo=dt.UTC))
    kpis_compute(as_of=AS_OF, kpis=[median, nps])
    assert _value(median, scope=Scope.PORTFOLIO) == 2  # median of 1 and 3
    _ticket(slow, 9)
    SurveyResponseFactory(account=slow, kind="nps", score=0, responded_at=dt.datetime(2026, 11, 11, tzinfo=dt.UTC))
    sent = []
    monkeypatch.setattr(aggregates_refresh_task, "apply_async", lambda **options: sent.append(options))

    with django_capture_on_commit_callbacks(execute=True):
        run = kpis_compute(as_of=AS_OF, kpis=[median, nps], account_ids=[slow.pk], trigger="ingest")
    with django_capture_on_commit_callbacks(execute=True):
        kpis_compute(as_of=AS_OF, kpis=[median, nps], account_ids=[quick.pk], trigger="ingest")

    assert run.status == "succeeded" and run.errors == []
    assert _value(median, account=slow) == 5  # median of 1 and 9: the touched account is fresh
    assert _value(nps, scope=Scope.PORTFOLIO) == 0  # a sum: merged in the run
    assert _value(median, scope=Scope.PORTFOLIO) == 2  # a median: not yet
    assert sent == [{"countdown": REAGGREGATION_DEBOUNCE_SECONDS}]  # one task for both runs
    assert not Breach.objects.exists()

    aggregates_refresh_task()  # what the bulk worker runs, in this tenant

    assert _value(median, scope=Scope.PORTFOLIO) == 3  # median of 1, 3 and 9
    assert _value(median, scope=Scope.SEGMENT, dimension="plan", segment="Growth") == 3
    assert Breach.objects.get().rule.name == "Slow answers"  # the fresh value is checked against the rules
    assert pending_reaggregations_take(schema=connection.schema_name) == {}


def test_a_run_rolled_back_schedules_nothing(monkeypatch, clean_keys):
    median = _kpi("first-response", "support.first_response_hours")
    account = AccountFactory()
    _ticket(account, 1)
    kpis_compute(as_of=AS_OF, kpis=[median])
    sent = []
    monkeypatch.setattr(aggregates_refresh_task, "apply_async", lambda **options: sent.append(options))

    kpis_compute(as_of=AS_OF, kpis=[median], account_ids=[account.pk], trigger="ingest")  # the test never commits

    assert sent == []
    assert pending_reaggregations_take(schema=connection.schema_name) == {}


def test_tenants_never_take_each_others_reaggregations(clean_keys):
    assert pending_reaggregations_add(schema="alpha", as_of=AS_OF, kpi_ids=[1, 2]) is True
    assert pending_reaggregations_add(schema="alpha", as_of=AS_OF + dt.timedelta(days=1), kpi_ids=[2]) is False
    assert pending_reaggregations_add(schema="bravo", as_of=AS_OF, kpi_ids=[3]) is True

    assert pending_reaggregations_take(schema="bravo") == {AS_OF: [3]}
    assert pending_reaggregations_take(schema="alpha") == {AS_OF: [1, 2], AS_OF + dt.timedelta(days=1): [2]}
    assert pending_reaggregations_take(schema="alpha") == {}
