"""An account rule with a renewal window ("renewal probability below 60 for an account renewing within 120
days") opens breaches only for accounts renewing in the window, and closes them when the renewal leaves it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from metrics.alerts import alert_rules_evaluate
from metrics.models import AlertRule, Breach, MetricValue
from tests.accounts.factories import AccountFactory
from tests.integrations.conftest import post_json
from tests.metrics.prediction.conftest import renewal_kpi

DAY = date(2026, 10, 1)


def _value(kpi, account, day: date, value: float) -> None:
    MetricValue.objects.create(kpi=kpi, kpi_version=1, scope="account", account=account, as_of=day, value=value)
    MetricValue.objects.get_or_create(kpi=kpi, kpi_version=1, scope="portfolio", as_of=day, account=None,
                                      dimension="", segment="")


def test_only_accounts_renewing_within_the_window_open_and_a_passed_renewal_closes():
    kpi = renewal_kpi()
    rule = AlertRule.objects.create(kpi=kpi, name="Renewal at risk", scope="account", condition="below",
                                    threshold=60, renewal_within_days=120, severity="high")
    soon = AccountFactory(renewal_date=DAY + timedelta(days=60))
    later = AccountFactory(renewal_date=DAY + timedelta(days=200))
    for account in (soon, later):
        _value(kpi, account, DAY, 35.0)

    alert_rules_evaluate(as_of=DAY)

    assert list(Breach.objects.filter(rule=rule).values_list("account_id", flat=True)) == [soon.pk]
    passed = DAY + timedelta(days=70)  # the renewal is behind it now
    _value(kpi, soon, passed, 30.0)
    alert_rules_evaluate(as_of=passed)
    assert Breach.objects.get(rule=rule).status == "resolved"


def test_the_api_takes_a_renewal_window_for_account_rules_only(client, admin_key):
    renewal_kpi()
    body = {"kpi": "renewal-probability", "name": "Renewal at risk", "scope": "account", "condition": "below",
            "threshold": 60, "renewal_within_days": 120, "severity": "high"}

    assert post_json(client, "/api/v1/alert-rules/", body, admin_key).json()["renewal_within_days"] == 120
    response = post_json(client, "/api/v1/alert-rules/", {**body, "scope": "portfolio"}, admin_key)
    assert response.status_code == 400 and "renewal_within_days" in response.content.decode()


def test_a_stale_renewal_date_counts_by_its_next_anniversary():
    kpi = renewal_kpi()
    rule = AlertRule.objects.create(kpi=kpi, name="Renewal at risk", scope="account", condition="below",
                                    threshold=60, renewal_within_days=120, severity="high")
    # Stored as last year's renewal: it renews again 30 days after DAY.
    stale = AccountFactory(start_date=DAY - timedelta(days=700), renewal_date=DAY - timedelta(days=335))
    _value(kpi, stale, DAY, 35.0)

    alert_rules_evaluate(as_of=DAY)

    assert list(Breach.objects.filter(rule=rule).values_list("account_id", flat=True)) == [stale.pk]


def test_the_default_rule_starts_a_value_review_due_within_14_days(django_capture_on_commit_callbacks):
    from metrics.catalogue import default_rules_install
    from playbooks.defaults import default_playbooks_install
    from playbooks.models import Task
    from tests.users.factories import UserFactory

    kpi = renewal_kpi()
    default_rules_install()
    default_playbooks_install()
    owner = UserFactory(role="csm")
    account = AccountFactory(owner=owner, renewal_date=DAY + timedelta(days=90), name="Risky Co")
    _value(kpi, account, DAY, 42.0)

    with django_capture_on_commit_callbacks(execute=True):
        alert_rules_evaluate(as_of=DAY)

    task = Task.objects.get(run__account=account)
    assert (task.assignee, task.run.playbook.name, task.step.kind) == (owner, "Value review", "value_review")
    assert task.due_at - task.created_at <= timedelta(days=14, minutes=1)
    assert "Renewal probability is 42.0% (threshold 60.0%)" in task.instructions
    assert default_rules_install() == [] and default_playbooks_install() == []  # installing again adds nothing


@pytest.mark.parametrize("days", [0, 731, "120x"])
def test_a_renewal_window_out_of_bounds_is_a_400_naming_it(client, admin_key, days):
    renewal_kpi()
    body = {"kpi": "renewal-probability", "name": "Renewal at risk", "scope": "account", "condition": "below",
            "threshold": 60, "renewal_within_days": days, "severity": "high"}

    response = post_json(client, "/api/v1/alert-rules/", body, admin_key)

    assert response.status_code == 400 and "renewal_within_days" in response.content.decode()


def test_deleting_the_kpi_of_the_default_rule_keeps_its_playbook_as_a_manual_one():
    from metrics.catalogue import default_rules_install
    from playbooks.defaults import default_playbooks_install
    from playbooks.models import Playbook

    kpi = renewal_kpi()
    default_rules_install()
    default_playbooks_install()

    kpi.delete()  # the rule goes with it (it was an IntegrityError: an alert playbook without its rule)

    playbook = Playbook.objects.get(name="Value review")
    assert (playbook.trigger, playbook.is_active, playbook.alert_rule_id) == ("manual", False, None)
    assert not AlertRule.objects.exists()
