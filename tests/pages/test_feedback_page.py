"""Feedback: recent survey comments with score and sentiment, filtered by survey kind and account segment,
paginated, with a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.views import FEEDBACK_PAGE_SIZE
from tests.accounts.factories import AccountFactory, SurveyResponseFactory
from tests.conftest import login
from tests.users.factories import UserFactory
from users.models import Role

NOW = timezone.now()


def _comment(account, kind: str, score: int, comment: str, sentiment: float | None, days_ago: int):
    return SurveyResponseFactory(account=account, kind=kind, score=score, comment=comment, sentiment=sentiment,
                                 responded_at=NOW - dt.timedelta(days=days_ago))


@pytest.fixture
def owners():
    return UserFactory(role=Role.CSM, full_name="Olga Owner"), UserFactory(role=Role.CSM, full_name="Pat Other")


@pytest.fixture
def comments(owners):
    olga, pat = owners
    growth = AccountFactory(name="Globex", plan="Growth", region="EMEA", industry="Retail", lifecycle_stage="mature",
                            owner=olga)
    starter = AccountFactory(name="Initech", plan="Starter", region="NA", industry="Software",
                             lifecycle_stage="onboarding", owner=pat)
    _comment(growth, "nps", 10, "Love the new reports", 0.64, 1)
    _comment(starter, "csat", 2, "Export is broken again", -0.48, 2)
    _comment(growth, "nps", 7, "It is fine", 0.0, 3)
    _comment(starter, "nps", 8, "", None, 0)  # no comment: not feedback to read


@pytest.fixture
def csm_client(client):
    return login(client, UserFactory(role=Role.CSM))


def test_lists_comments_newest_first_with_score_and_sentiment(csm_client, comments):
    response = csm_client.get("/feedback/")

    assert response.status_code == 200
    rows = [(row.account.name, row.kind, row.score, row.comment) for row in response.context["page"]]
    assert rows == [("Globex", "nps", 10, "Love the new reports"), ("Initech", "csat", 2, "Export is broken again"),
                    ("Globex", "nps", 7, "It is fine")]
    content = response.content.decode()
    assert content.index("Love the new reports") < content.index("Export is broken again")
    assert ">positive</span>" in content and ">negative</span>" in content and ">neutral</span>" in content
    assert "-0.48" in content and "3 comments" in content


@pytest.mark.parametrize(("query", "expected"), [
    ({"kind": "csat"}, ["Export is broken again"]),
    ({"plan": "Growth"}, ["Love the new reports", "It is fine"]),
    ({"region": "NA"}, ["Export is broken again"]),
    ({"industry": "Retail", "kind": "nps"}, ["Love the new reports", "It is fine"]),
    ({"lifecycle_stage": "onboarding"}, ["Export is broken again"]),
    ({"plan": "Starter", "kind": "nps"}, []),
])
def test_filters_by_kind_and_segment(csm_client, comments, query, expected):
    response = csm_client.get("/feedback/", query)

    assert response.status_code == 200
    assert [row.comment for row in response.context["page"]] == expected


def test_filters_by_owner(csm_client, comments, owners):
    response = csm_client.get("/feedback/", {"owner": owners[1].pk})

    assert [row.comment for row in response.context["page"]] == ["Export is broken again"]
    assert "Pat Other" in response.content.decode()


@pytest.mark.parametrize("query", [{"kind": "sms"}, {"plan": "Platinum"}, {"owner": "999999"}])
def test_a_bad_filter_is_400_with_the_error_shown_and_nothing_hidden(csm_client, comments, query):
    response = csm_client.get("/feedback/", query)

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert len(response.context["page"].object_list) == 3


def test_pages_of_comments_keep_the_filters(csm_client, owners):
    account = AccountFactory(plan="Growth", owner=owners[0])
    for index in range(FEEDBACK_PAGE_SIZE + 2):
        _comment(account, "nps", 9, f"Comment {index:02d}", 0.5, index)

    first = csm_client.get("/feedback/", {"plan": "Growth"})
    second = csm_client.get("/feedback/", {"plan": "Growth", "page": 2})

    assert len(first.context["page"]) == FEEDBACK_PAGE_SIZE
    assert [row.comment for row in second.context["page"]] == [f"Comment {FEEDBACK_PAGE_SIZE:02d}",
                                                               f"Comment {FEEDBACK_PAGE_SIZE + 1:02d}"]
    assert 'href="?plan=Growth&amp;page=2"' in first.content.decode()


@pytest.mark.parametrize("rows", [2, 40])
def test_feedback_queries_are_fixed_whatever_the_rows(csm_client, owners, rows, django_assert_max_num_queries):
    for index in range(rows):
        account = AccountFactory(owner=owners[index % 2])
        _comment(account, "nps", 9, f"Comment {index}", 0.5, index)

    with django_assert_max_num_queries(9):
        response = csm_client.get("/feedback/", {"kind": "nps"})
    assert response.context["page"].paginator.count == rows


def test_another_tenants_comments_never_show(csm_client, comments, other_tenant, in_other_tenant):
    with in_other_tenant():
        _comment(AccountFactory(name="Bravo Corp"), "nps", 0, "Bravo secret complaint", -0.9, 0)

    assert "Bravo secret complaint" not in csm_client.get("/feedback/").content.decode()
