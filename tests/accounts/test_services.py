"""Usage rollups: one row per account, day and event (and per active user), rebuilt idempotently."""

import datetime as dt

from django.db import connection

from accounts.models import UsageDaily, UserDaily
from accounts.services import usage_days_received_since, usage_rollups_refresh, usage_rollups_refresh_all
from tests.accounts.factories import AccountFactory, UsageEventFactory


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=dt.UTC)


def test_rollup_counts_events_and_distinct_users_per_account_day_and_event():
    acme, globex = AccountFactory(), AccountFactory()
    UsageEventFactory(account=acme, user_id="ann", event_name="login", occurred_at=_at(3, 9))
    UsageEventFactory(account=acme, user_id="ann", event_name="login", occurred_at=_at(3, 17))
    UsageEventFactory(account=acme, user_id="bob", event_name="login", occurred_at=_at(3, 18))
    UsageEventFactory(account=acme, user_id="bob", event_name="export", occurred_at=_at(3, 19))
    UsageEventFactory(account=acme, user_id="ann", event_name="login", occurred_at=_at(4, 9))
    UsageEventFactory(account=globex, user_id="cy", event_name="login", occurred_at=_at(3, 9))

    written = usage_rollups_refresh(days=[dt.date(2026, 11, 3), dt.date(2026, 11, 4)])

    assert written == 4
    rows = {(r.account_id, r.day.day, r.event_name): (r.events, r.distinct_users) for r in UsageDaily.objects.all()}
    assert rows == {
        (acme.pk, 3, "login"): (3, 2),
        (acme.pk, 3, "export"): (1, 1),
        (acme.pk, 4, "login"): (1, 1),
        (globex.pk, 3, "login"): (1, 1),
    }
    users = {(r.account_id, r.day.day, r.user_id): r.events for r in UserDaily.objects.all()}
    assert users == {(acme.pk, 3, "ann"): 2, (acme.pk, 3, "bob"): 2, (acme.pk, 4, "ann"): 1, (globex.pk, 3, "cy"): 1}


def test_refreshing_twice_or_after_new_events_gives_the_true_counts():
    account = AccountFactory()
    UsageEventFactory(account=account, user_id="ann", occurred_at=_at(3, 9))
    day = [dt.date(2026, 11, 3)]
    usage_rollups_refresh(days=day)
    usage_rollups_refresh(days=day)
    assert UsageDaily.objects.get().events == 1

    UsageEventFactory(account=account, user_id="bob", occurred_at=_at(3, 10))
    usage_rollups_refresh(days=day)

    daily = UsageDaily.objects.get()
    assert (daily.events, daily.distinct_users) == (2, 2)


def test_refresh_leaves_other_days_alone():
    account = AccountFactory()
    UsageEventFactory(account=account, occurred_at=_at(3, 9))
    UsageEventFactory(account=account, occurred_at=_at(5, 9))
    usage_rollups_refresh(days=[dt.date(2026, 11, 3), dt.date(2026, 11, 5)])
    UsageEventFactory(account=account, occurred_at=_at(5, 10))

    usage_rollups_refresh(days=[dt.date(2026, 11, 3)])

    assert dict(UsageDaily.objects.values_list("day__day", "events")) == {3: 1, 5: 1}


def test_days_are_counted_in_the_tenant_time_zone():
    account = AccountFactory()
    # 23:30 UTC on the 3rd is already the 4th in Auckland.
    UsageEventFactory(account=account, occurred_at=dt.datetime(2026, 11, 3, 23, 30, tzinfo=dt.UTC))
    connection.tenant.time_zone = "Pacific/Auckland"
    try:
        usage_rollups_refresh_all()
    finally:
        connection.tenant.time_zone = "UTC"

    assert list(UsageDaily.objects.values_list("day", flat=True)) == [dt.date(2026, 11, 4)]


def test_sweeper_finds_the_days_of_recently_received_events():
    account = AccountFactory()
    UsageEventFactory(account=account, occurred_at=_at(1, 9))
    UsageEventFactory(account=account, occurred_at=_at(2, 9))

    recent = usage_days_received_since(since=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    future = usage_days_received_since(since=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))

    assert sorted(recent) == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    assert future == []
