"""The database itself refuses impossible customer data, whatever path it comes by."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import SurveyKind
from tests.accounts.factories import (
    AccountFactory,
    RevenueSnapshotFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
    UsageEventFactory,
)


def _refused(factory, constraint: str, **fields) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        factory(**fields)


def test_duplicate_external_id_is_refused():
    AccountFactory(external_id="CRM-1")
    _refused(AccountFactory, "account_external_id_unique", external_id="CRM-1")


def test_empty_external_id_is_refused():
    _refused(AccountFactory, "account_external_id_not_empty", external_id="")


def test_renewal_before_start_is_refused():
    _refused(AccountFactory, "account_renewal_after_start",
             start_date=dt.date(2026, 5, 1), renewal_date=dt.date(2026, 4, 30))


def test_negative_mrr_is_refused_but_zero_is_churn():
    account = AccountFactory()
    RevenueSnapshotFactory(account=account, month=dt.date(2026, 9, 1), mrr=Decimal("0"))
    _refused(RevenueSnapshotFactory, "revenue_snapshot_mrr_not_negative", account=account, mrr=Decimal("-0.01"))


def test_second_snapshot_for_the_same_account_and_month_is_refused():
    snapshot = RevenueSnapshotFactory()
    _refused(RevenueSnapshotFactory, "revenue_snapshot_account_month_unique",
             account=snapshot.account, month=snapshot.month)


def test_snapshot_month_must_be_a_first_day():
    _refused(RevenueSnapshotFactory, "revenue_snapshot_month_first_day", month=dt.date(2026, 9, 15))


@pytest.mark.parametrize(
    ("kind", "score", "accepted"),
    [
        (SurveyKind.NPS, 0, True), (SurveyKind.NPS, 10, True),
        (SurveyKind.NPS, 11, False), (SurveyKind.NPS, -1, False),
        (SurveyKind.CSAT, 1, True), (SurveyKind.CSAT, 5, True),
        (SurveyKind.CSAT, 0, False), (SurveyKind.CSAT, 6, False),
        (SurveyKind.CES, 1, True), (SurveyKind.CES, 7, True), (SurveyKind.CES, 8, False),
    ],
)
def test_survey_score_must_lie_on_its_kind_scale(kind, score, accepted):
    if accepted:
        assert SurveyResponseFactory(kind=kind, score=score).pk
    else:
        _refused(SurveyResponseFactory, "survey_response_score_in_scale", kind=kind, score=score)


def test_survey_kind_outside_the_known_kinds_is_refused():
    _refused(SurveyResponseFactory, "survey_response_score_in_scale", kind="ces2", score=3)


def test_duplicate_event_idempotency_key_is_refused():
    UsageEventFactory(idempotency_key="evt-1")
    _refused(UsageEventFactory, "usage_event_idempotency_key_unique", idempotency_key="evt-1")


def test_ticket_cannot_be_answered_or_resolved_before_it_was_opened():
    opened = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
    _refused(SupportTicketFactory, "support_ticket_response_after_open",
             opened_at=opened, first_response_at=opened - dt.timedelta(minutes=1))
    _refused(SupportTicketFactory, "support_ticket_resolved_after_open",
             opened_at=opened, first_response_at=None, resolved_at=opened - dt.timedelta(seconds=1))


def test_user_cannot_be_their_own_manager():
    from tests.users.factories import UserFactory

    user = UserFactory()
    user.manager = user
    with pytest.raises(IntegrityError, match="user_not_own_manager"), transaction.atomic():
        user.save()


def test_second_rollup_row_for_the_same_account_day_and_event_or_user_is_refused():
    from tests.accounts.factories import UsageDailyFactory, UserDailyFactory

    daily = UsageDailyFactory()
    _refused(UsageDailyFactory, "usage_daily_unique", account=daily.account, day=daily.day, event_name=daily.event_name)
    user_day = UserDailyFactory(user_id="ann")
    _refused(UserDailyFactory, "user_daily_unique", account=user_day.account, day=user_day.day, user_id="ann")
