"""Alert rules: one breach per rule and subject, persistence, hysteresis, cooldown, resolution, idempotency."""

import datetime as dt

import pytest
from django.core import mail

from metrics.alerts import SLA_HOURS, alert_rules_evaluate, breach_acknowledge, breach_opened
from metrics.models import AlertRule, Breach, MetricValue
from metrics.services import kpi_create, kpi_target_set
from tests.accounts.factories import AccountFactory

DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def seats():
    return kpi_create(slug="seat-utilization", name="Seat utilisation", calculator="usage.seat_utilization",
                      definition="d", tier="adoption", indicator="leading", unit="percent")


def _store(kpi, day, values: dict):
    """Stored values as a computation would leave them: accounts, plus the portfolio row of the date."""
    for account, value in values.items():
        MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=day, value=value)
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, value=None)


def _rule(kpi, **fields):
    defaults = {"name": "Seats below 40%", "condition": "below", "threshold": 40, "severity": "high"}
    return AlertRule.objects.create(kpi=kpi, **{**defaults, **fields})


def test_a_value_below_the_threshold_opens_one_breach_with_its_sla(seats):
    low, fine = AccountFactory(), AccountFactory()
    _store(seats, DAY, {low: 25, fine: 75})
    rule = _rule(seats)

    result = alert_rules_evaluate(as_of=DAY, now=NOW)

    breach = Breach.objects.get()
    assert result.opened == [breach.pk]
    assert (breach.rule, breach.account, breach.value_at_open, breach.threshold) == (rule, low, 25, 40)
    assert breach.respond_by == NOW + dt.timedelta(hours=SLA_HOURS["high"])


def test_evaluating_twice_opens_nothing_twice(seats):
    _store(seats, DAY, {AccountFactory(): 10})
    _rule(seats)

    alert_rules_evaluate(as_of=DAY, now=NOW)
    again = alert_rules_evaluate(as_of=DAY, now=NOW)

    assert again.opened == []
    assert Breach.objects.count() == 1


def test_persistence_needs_consecutive_evaluations(seats):
    account = AccountFactory()
    _rule(seats, persistence=2)
    _store(seats, DAY - dt.timedelta(days=1), {account: 55})
    _store(seats, DAY, {account: 30})

    assert alert_rules_evaluate(as_of=DAY, now=NOW).opened == []
    _store(seats, DAY + dt.timedelta(days=1), {account: 32})
    assert len(alert_rules_evaluate(as_of=DAY + dt.timedelta(days=1), now=NOW).opened) == 1


def test_hysteresis_keeps_a_hovering_value_from_flapping(seats):
    account = AccountFactory()
    _rule(seats, hysteresis=5)
    _store(seats, DAY, {account: 39})
    alert_rules_evaluate(as_of=DAY, now=NOW)

    _store(seats, DAY + dt.timedelta(days=1), {account: 42})  # above 40 but not past 45
    assert alert_rules_evaluate(as_of=DAY + dt.timedelta(days=1), now=NOW).resolved == []
    _store(seats, DAY + dt.timedelta(days=2), {account: 46})
    result = alert_rules_evaluate(as_of=DAY + dt.timedelta(days=2), now=NOW)

    breach = Breach.objects.get()
    assert result.resolved == [breach.pk]
    assert (breach.status, breach.value_at_resolve, breach.resolved_as_of) == (
        "resolved", 46, DAY + dt.timedelta(days=2))


def test_cooldown_holds_back_a_new_breach_after_one_closed(seats):
    account = AccountFactory()
    _rule(seats, cooldown_hours=48)
    _store(seats, DAY, {account: 20})
    alert_rules_evaluate(as_of=DAY, now=NOW)
    _store(seats, DAY + dt.timedelta(days=1), {account: 60})
    alert_rules_evaluate(as_of=DAY + dt.timedelta(days=1), now=NOW)
    _store(seats, DAY + dt.timedelta(days=2), {account: 20})

    assert alert_rules_evaluate(as_of=DAY + dt.timedelta(days=2), now=NOW + dt.timedelta(hours=24)).opened == []
    assert len(alert_rules_evaluate(as_of=DAY + dt.timedelta(days=2),
                                    now=NOW + dt.timedelta(hours=49)).opened) == 1


def test_a_drop_against_n_days_earlier(seats):
    fell, steady = AccountFactory(), AccountFactory()
    _rule(seats, name="Seat use fell 30%", condition="drop", threshold=30, lookback_days=7)
    _store(seats, DAY - dt.timedelta(days=7), {fell: 80, steady: 80})
    _store(seats, DAY, {fell: 50, steady: 70})  # -37.5% and -12.5%

    alert_rules_evaluate(as_of=DAY, now=NOW)

    assert list(Breach.objects.values_list("account", flat=True)) == [fell.pk]


def test_leaving_the_target_band_uses_this_quarters_target(seats):
    off, near = AccountFactory(), AccountFactory()
    kpi_target_set(kpi=seats, period="2026-Q4", value=60, reason="Plan")
    _rule(seats, name="Off target", condition="off_target", threshold=None)
    _store(seats, DAY, {off: 40, near: 58})  # 58 is at risk (within 5% of 60), not off track

    alert_rules_evaluate(as_of=DAY, now=NOW)

    breach = Breach.objects.get()
    assert (breach.account, breach.threshold) == (off, 60)


def test_segment_filter_limits_the_rule_to_its_accounts(seats):
    enterprise, starter = AccountFactory(plan="Enterprise"), AccountFactory(plan="Starter")
    _rule(seats, dimension="plan", segment="Enterprise")
    _store(seats, DAY, {enterprise: 10, starter: 10})

    alert_rules_evaluate(as_of=DAY, now=NOW)

    assert list(Breach.objects.values_list("account", flat=True)) == [enterprise.pk]


def test_listeners_hear_of_opened_breaches_after_commit(seats, django_capture_on_commit_callbacks):
    heard = []
    breach_opened.connect(lambda sender, breach_ids, **kw: heard.extend(breach_ids), weak=False,
                          dispatch_uid="test-listener")
    try:
        _store(seats, DAY, {AccountFactory(): 10})
        _rule(seats)
        with django_capture_on_commit_callbacks(execute=True):
            result = alert_rules_evaluate(as_of=DAY, now=NOW)
    finally:
        breach_opened.disconnect(dispatch_uid="test-listener")

    assert heard == result.opened


def test_notify_owner_emails_the_kpi_owner(seats, django_capture_on_commit_callbacks):
    from tests.users.factories import UserFactory

    seats.owner = UserFactory(email="owner@alpha.example")
    seats.save()
    _rule(seats, scope="portfolio", action="notify_owner", severity="critical", name="Portfolio seats low")
    MetricValue.objects.create(kpi=seats, kpi_version=1, scope="portfolio", as_of=DAY, value=12)

    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(as_of=DAY, now=NOW)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@alpha.example"]
    assert "Portfolio seats low" in mail.outbox[0].subject


def test_the_owners_email_prints_values_in_the_kpis_unit(seats, django_capture_on_commit_callbacks):
    from tests.users.factories import UserFactory

    seats.owner = UserFactory(email="owner@alpha.example")
    seats.save()
    _rule(seats, action="notify_owner", severity="critical", name="Seats barely used", threshold=108)
    _store(seats, DAY, {AccountFactory(name="Lakewood Freight Corp."): 78.73204573978525})

    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(as_of=DAY, now=NOW)

    [message] = mail.outbox
    assert message.subject == "[Bellwether] Critical: Seats barely used (1 new)"
    assert message.body == ("Seat utilisation broke the rule 'Seats barely used':\n"
                            "- Lakewood Freight Corp.: 78.7% (threshold 108.0%)")


def test_acknowledge_is_compare_and_set(seats):
    from tests.users.factories import UserFactory

    _store(seats, DAY, {AccountFactory(): 10})
    _rule(seats)
    alert_rules_evaluate(as_of=DAY, now=NOW)
    breach = Breach.objects.get()
    user = UserFactory()

    assert breach_acknowledge(breach=breach, user=user) is True
    assert breach_acknowledge(breach=breach, user=user) is False
    breach.refresh_from_db()
    assert (breach.status, breach.acknowledged_by) == ("acknowledged", user)


def test_a_computation_run_evaluates_the_rules_of_its_kpis():
    from metrics.models import ComputationRun
    from metrics.services import kpis_compute
    from tests.accounts.factories import SurveyResponseFactory

    nps = kpi_create(slug="nps", name="NPS", calculator="surveys.nps", definition="d", tier="advocacy",
                     indicator="lagging", unit="score")
    unhappy = AccountFactory()
    SurveyResponseFactory(account=unhappy, kind="nps", score=2,
                          responded_at=dt.datetime(2026, 11, 15, tzinfo=dt.UTC))
    AlertRule.objects.create(kpi=nps, name="Detractor account", condition="below", threshold=0, severity="high")

    run = kpis_compute(as_of=DAY, trigger=ComputationRun.Trigger.MANUAL)

    assert run.status == "succeeded"
    assert list(Breach.objects.values_list("account", "value_at_open")) == [(unhappy.pk, -100.0)]


def test_the_database_refuses_a_second_open_breach_for_the_same_rule_and_subject(seats):
    from django.db import IntegrityError, transaction

    _store(seats, DAY, {AccountFactory(): 10})
    _rule(seats)
    alert_rules_evaluate(as_of=DAY, now=NOW)
    first = Breach.objects.get()

    with pytest.raises(IntegrityError, match="breach_one_open_per_rule_and_subject"), transaction.atomic():
        Breach.objects.create(rule=first.rule, kpi=first.kpi, scope="account", account=first.account,
                              severity="high", opened_at=NOW, opened_as_of=DAY, respond_by=NOW)


def test_churned_accounts_open_no_breaches(seats):
    gone = AccountFactory(status="churned")
    _store(seats, DAY, {gone: 0})
    _rule(seats)

    assert alert_rules_evaluate(as_of=DAY, now=NOW).opened == []


def test_an_anomaly_rule_opens_on_the_calculators_flag_and_resolves_when_it_clears():
    """An anomaly rule reads only the flag in each account's details (usage.anomaly stores it), whatever the value."""
    anomaly = kpi_create(slug="usage-anomaly", name="Usage anomalies", calculator="usage.anomaly", definition="d",
                         tier="adoption", indicator="leading", unit="count")
    flagged, calm, unknown = AccountFactory(), AccountFactory(), AccountFactory()
    for account, details in ((flagged, {"anomalous": True, "z": -4.2}), (calm, {"anomalous": False}),
                             (unknown, None)):
        MetricValue.objects.create(kpi=anomaly, kpi_version=1, scope="account", account=account, as_of=DAY, value=1,
                                   details=details)
    MetricValue.objects.create(kpi=anomaly, kpi_version=1, scope="portfolio", as_of=DAY, value=1)
    _rule(anomaly, name="Usage anomaly", condition="anomaly", threshold=None)

    opened = alert_rules_evaluate(as_of=DAY, now=NOW).opened

    assert [Breach.objects.get(pk=pk).account for pk in opened] == [flagged]
    later = DAY + dt.timedelta(days=1)
    MetricValue.objects.create(kpi=anomaly, kpi_version=1, scope="account", account=flagged, as_of=later, value=1,
                               details={"anomalous": False})
    MetricValue.objects.create(kpi=anomaly, kpi_version=1, scope="portfolio", as_of=later, value=1)

    resolved = alert_rules_evaluate(as_of=later, now=NOW + dt.timedelta(days=1)).resolved

    assert resolved == opened and Breach.objects.get().status == "resolved"
