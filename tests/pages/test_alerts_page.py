"""The alerts page stays small however many breaches are open: each severity's oldest, then page by page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from metrics.models import AlertRule, Breach
from metrics.views import ALERTS_PER_SEVERITY
from tests.accounts.factories import AccountFactory
from tests.conftest import login
from tests.metrics.factories import KPIFactory
from tests.users.factories import UserFactory
from users.models import Role


def _open(count: int, severity: str = "high") -> list[Breach]:
    rule = AlertRule.objects.create(kpi=KPIFactory(), name=f"Rule {severity}", condition="below", threshold=10,
                                    severity=severity)
    start = timezone.now() - dt.timedelta(days=count)
    return [Breach.objects.create(rule=rule, kpi=rule.kpi, scope="account", account=AccountFactory(name=f"A{n}"),
                                  severity=severity, opened_at=start + dt.timedelta(hours=n), opened_as_of=start.date(),
                                  value_at_open=1, threshold=10, respond_by=start + dt.timedelta(days=3))
            for n in range(count)]


@pytest.fixture
def leader(client):
    return login(client, UserFactory(role=Role.LEADER))


def test_each_severity_shows_its_oldest_and_links_to_all(leader):
    high = _open(ALERTS_PER_SEVERITY + 5)
    _open(2, severity="critical")

    page = leader.get("/alerts/")

    groups = page.context["groups"]
    assert [(severity, len(shown), count) for severity, shown, count in groups] == [
        ("critical", 2, 2), ("high", ALERTS_PER_SEVERITY, ALERTS_PER_SEVERITY + 5)]
    assert groups[1][1] == high[:ALERTS_PER_SEVERITY]  # the oldest first
    assert f"All {ALERTS_PER_SEVERITY + 5} high breaches".encode() in page.content


def test_one_severity_pages_through_all_of_it(leader):
    high = _open(ALERTS_PER_SEVERITY + 5)

    page = leader.get("/alerts/?severity=high")

    [(severity, shown, count)] = page.context["groups"]
    assert (severity, shown, count) == ("high", high, ALERTS_PER_SEVERITY + 5)
    assert leader.get("/alerts/?severity=urgent").status_code == 400


def test_the_query_count_does_not_grow_with_the_breaches(leader, django_assert_num_queries):
    _open(3)
    with django_assert_num_queries(7) as few:
        leader.get("/alerts/")
    _open(ALERTS_PER_SEVERITY + 20, severity="medium")
    with django_assert_num_queries(len(few.captured_queries)):
        leader.get("/alerts/")
