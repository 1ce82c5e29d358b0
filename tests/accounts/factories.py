import datetime as dt
from decimal import Decimal

import factory

from accounts.models import (
    Account,
    RevenueSnapshot,
    SupportTicket,
    SurveyKind,
    SurveyResponse,
    UsageDaily,
    UsageEvent,
    UserDaily,
)
from tests.users.factories import UserFactory


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    external_id = factory.Sequence(lambda n: f"ACC-{n:05d}")
    name = factory.Faker("company")
    plan = factory.Iterator(["Starter", "Growth", "Enterprise"])
    region = factory.Iterator(["NA", "EMEA", "APAC"])
    industry = "Software"
    start_date = dt.date(2025, 1, 15)
    renewal_date = dt.date(2027, 1, 15)
    licensed_seats = 25
    owner = factory.SubFactory(UserFactory)


class UsageEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageEvent

    idempotency_key = factory.Sequence(lambda n: f"evt-{n:08d}")
    account = factory.SubFactory(AccountFactory)
    user_id = "u-1"
    event_name = "login"
    occurred_at = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


class RevenueSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RevenueSnapshot

    account = factory.SubFactory(AccountFactory)
    month = dt.date(2026, 10, 1)
    mrr = Decimal("1000.00")


class SurveyResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyResponse

    external_id = factory.Sequence(lambda n: f"srv-{n:06d}")
    account = factory.SubFactory(AccountFactory)
    kind = SurveyKind.NPS
    score = 9
    comment = "Great support team."
    responded_at = dt.datetime(2026, 10, 20, 9, 0, tzinfo=dt.UTC)


class SupportTicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupportTicket

    external_id = factory.Sequence(lambda n: f"tkt-{n:06d}")
    account = factory.SubFactory(AccountFactory)
    subject = "Cannot export report"
    opened_at = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
    first_response_at = dt.datetime(2026, 10, 1, 10, 30, tzinfo=dt.UTC)
    resolved_at = dt.datetime(2026, 10, 2, 9, 0, tzinfo=dt.UTC)
    handling_minutes = 45


class UsageDailyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageDaily

    account = factory.SubFactory(AccountFactory)
    day = dt.date(2026, 11, 1)
    event_name = "login"
    events = 10
    distinct_users = 3


class UserDailyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserDaily

    account = factory.SubFactory(AccountFactory)
    day = dt.date(2026, 11, 1)
    user_id = factory.Sequence(lambda n: f"u-{n}")
    events = 4
