"""Account pages: the right rows for the right person, in a fixed number of queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccountStatus
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
)
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role


def _book(owner, count: int) -> None:
    for account in AccountFactory.create_batch(count, owner=owner):
        RevenueSnapshotFactory(account=account, month=dt.date(2026, 9, 1), mrr=Decimal("100"))
        RevenueSnapshotFactory(account=account, month=dt.date(2026, 10, 1), mrr=Decimal("150"))


def test_my_work_lists_only_my_accounts_with_current_mrr(client):
    me, colleague = UserFactory(role=Role.CSM), UserFactory(role=Role.CSM)
    mine = AccountFactory(owner=me, name="Mine Ltd")
    RevenueSnapshotFactory(account=mine, month=dt.date(2026, 9, 1), mrr=Decimal("900"))
    RevenueSnapshotFactory(account=mine, month=dt.date(2026, 10, 1), mrr=Decimal("1200"))
    AccountFactory(owner=colleague, name="Theirs Inc")
    login(client, me)

    response = client.get("/work/")

    assert response.status_code == 200
    assert [a.name for a in response.context["accounts"]] == ["Mine Ltd"]
    assert response.context["accounts"][0].current_mrr == Decimal("1200")
    assert b"Theirs Inc" not in response.content


def test_dashboard_sums_current_mrr_of_active_accounts_by_plan(client):
    leader = UserFactory(role=Role.LEADER)
    for plan, mrr, status in [("Growth", "1000", AccountStatus.ACTIVE), ("Growth", "500", AccountStatus.ACTIVE),
                              ("Starter", "99", AccountStatus.ACTIVE), ("Starter", "0", AccountStatus.CHURNED)]:
        RevenueSnapshotFactory(account=AccountFactory(plan=plan, status=status), mrr=Decimal(mrr))
    login(client, leader)

    summary = client.get("/dashboard/").context["summary"]

    assert summary.active_accounts == 3
    assert summary.churned_accounts == 1
    assert summary.total_mrr == Decimal("1599")
    assert [(row.plan, row.accounts, row.mrr) for row in summary.by_plan] == [
        ("Growth", 2, Decimal("1500")), ("Starter", 1, Decimal("99"))]


@pytest.mark.parametrize("path", ["/work/", "/accounts/", "/dashboard/"])
def test_list_pages_issue_a_fixed_number_of_queries(client, django_assert_num_queries, path):
    leader = UserFactory(role=Role.LEADER)
    login(client, leader)
    _book(leader, 2)
    client.get(path)  # warm the session and content-type caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(path).status_code == 200
    _book(leader, 25)

    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(path).status_code == 200


def test_account_page_shows_revenue_surveys_and_tickets_in_fixed_queries(client, django_assert_max_num_queries):
    login(client, UserFactory(role=Role.CSM))
    account = AccountFactory(name="Wayne Enterprises")
    RevenueSnapshotFactory(account=account, month=dt.date(2026, 10, 1), mrr=Decimal("4200"))
    SurveyResponseFactory.create_batch(5, account=account, comment="Reporting is slow")
    SupportTicketFactory.create_batch(5, account=account, subject="SSO login loop")

    # KPIs and their values, revenue, breaches, tasks and their count, runs, notes, surveys, tickets, weekly usage,
    # people, features, startable playbooks: each source one query, whatever its rows.
    with django_assert_max_num_queries(19):
        response = client.get(f"/accounts/{account.pk}/")

    assert response.status_code == 200
    assert b"Wayne Enterprises" in response.content
    assert b"50,400" in response.content  # ARR: the latest MRR x 12
    assert response.content.count(b"Reporting is slow") == 5
    assert response.content.count(b"SSO login loop") == 5


def test_unknown_account_is_404(client):
    login(client, UserFactory())

    assert client.get("/accounts/999999/").status_code == 404


def test_the_account_list_pages_and_searches(client):
    from tests.accounts.factories import AccountFactory
    from tests.conftest import login
    from tests.users.factories import UserFactory
    from users.models import Role
    from workspace.views.accounts import ACCOUNTS_PAGE_SIZE

    for n in range(ACCOUNTS_PAGE_SIZE + 3):
        AccountFactory(name=f"Company {n:03d}", external_id=f"EXT-{n:03d}")
    AccountFactory(name="Initech", external_id="crm-77")
    login(client, UserFactory(role=Role.CSM))

    first, second = client.get("/accounts/"), client.get("/accounts/?page=2")
    assert (len(first.context["accounts"]), first.context["page"].paginator.count) == (ACCOUNTS_PAGE_SIZE,
                                                                                      ACCOUNTS_PAGE_SIZE + 4)
    assert len(second.context["accounts"]) == 4
    found = client.get("/accounts/?q=crm-77")
    assert [account.name for account in found.context["accounts"]] == ["Initech"]
    assert [account.name for account in client.get("/accounts/?q=initECH").context["accounts"]] == ["Initech"]
