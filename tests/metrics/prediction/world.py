"""Small synthetic tenants whose churn process is known, written straight into the tables in a few statements.

Each customer pays a monthly MRR from its start month until its churn month (MRR 0 from then on), uses the
product every day from its start until the day before it goes silent (or stops paying), and may answer NPS
surveys and open tickets. Rollups are written directly (the features read the rollups, not raw events).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import connection

from accounts.models import Account


@dataclass
class Customer:
    start: date
    mrr: float = 1000.0
    churn: date | None = None  # the first month (a 1st) with MRR 0
    silent_from: date | None = None  # no usage from this day on
    events: int = 10
    renewal: date | None = None
    seats: int = 10
    plan: str = "Growth"
    expand_on: date | None = None  # the month (a 1st) the MRR rises to expanded_mrr
    expanded_mrr: float = 0.0
    busy_from: date | None = None  # daily events are busy_events from this day on
    busy_events: int = 0
    nps: list[tuple[date, int]] = field(default_factory=list)
    tickets: list[tuple[date, date | None]] = field(default_factory=list)  # (opened, resolved)


def month_start(day: date) -> date:
    return day.replace(day=1)


def months_between(first: date, last: date) -> list[date]:
    months, month = [], month_start(first)
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def build(customers: list[Customer], *, until: date, prefix: str = "W") -> list[int]:
    """Write the customers' accounts, revenue up to `until`'s month, daily usage before `until`, surveys and
    tickets; returns the account ids in order."""
    accounts = Account.objects.bulk_create([
        Account(external_id=f"{prefix}-{index:05d}", name=f"{prefix} customer {index}", plan=customer.plan,
                start_date=customer.start, renewal_date=customer.renewal, licensed_seats=customer.seats)
        for index, customer in enumerate(customers)])
    ids = [account.pk for account in accounts]
    revenue = ([], [], [])
    usage = ([], [], [], [])
    surveys = ([], [], [], [])
    tickets = ([], [], [], [])
    for account_id, customer in zip(ids, customers, strict=True):
        for month in months_between(customer.start, until):
            mrr = customer.mrr
            if customer.expand_on and month >= customer.expand_on:
                mrr = customer.expanded_mrr
            if customer.churn and month >= customer.churn:
                mrr = 0
            revenue[0].append(account_id)
            revenue[1].append(month)
            revenue[2].append(float(mrr))
        last = min(day for day in (until, customer.churn, customer.silent_from) if day) - timedelta(days=1)
        spans = [(customer.start, last, customer.events)]
        if customer.busy_from:
            spans = [(customer.start, customer.busy_from - timedelta(days=1), customer.events),
                     (customer.busy_from, last, customer.busy_events)]
        for first_day, last_day, events in spans:
            if last_day >= first_day and events > 0:
                usage[0].append(account_id)
                usage[1].append(first_day)
                usage[2].append(last_day)
                usage[3].append(events)
        for number, (day, score) in enumerate(customer.nps):
            surveys[0].append(account_id)
            surveys[1].append(f"{prefix}-{account_id}-nps-{number}")
            surveys[2].append(score)
            surveys[3].append(datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12))
        for number, (opened, resolved) in enumerate(customer.tickets):
            tickets[0].append(account_id)
            tickets[1].append(f"{prefix}-{account_id}-t-{number}")
            tickets[2].append(datetime.combine(opened, datetime.min.time(), UTC) + timedelta(hours=9))
            tickets[3].append(None if resolved is None
                              else datetime.combine(resolved, datetime.min.time(), UTC) + timedelta(hours=17))
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO accounts_revenuesnapshot (account_id, month, mrr, updated_at)
            SELECT * , now() FROM unnest(%s::bigint[], %s::date[], %s::numeric[])""", list(revenue))
        cursor.execute("""
            WITH spans AS (SELECT * FROM unnest(%s::bigint[], %s::date[], %s::date[], %s::int[])
                           AS s(account_id, first_day, last_day, events)),
            days AS (SELECT s.account_id, d::date AS day, s.events FROM spans s
                     CROSS JOIN LATERAL generate_series(s.first_day, s.last_day, interval '1 day') d),
            usage AS (INSERT INTO accounts_usagedaily (account_id, day, event_name, events, distinct_users)
                      SELECT account_id, day, 'report_created', events, 1 FROM days RETURNING 1)
            INSERT INTO accounts_userdaily (account_id, day, user_id, events)
            SELECT account_id, day, 'u-' || account_id, events FROM days""", list(usage))
        cursor.execute("""
            INSERT INTO accounts_surveyresponse (account_id, external_id, kind, score, comment, respondent,
                                                 responded_at)
            SELECT a, e, 'nps', s, '', '', r FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::timestamptz[])
                AS x(a, e, s, r)""", list(surveys))
        cursor.execute("""
            INSERT INTO accounts_supportticket (account_id, external_id, subject, priority, opened_at,
                                                first_response_at, resolved_at, handling_minutes)
            SELECT a, e, '', 'normal', o, o + interval '2 hours', r, 30
            FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::timestamptz[]) AS x(a, e, o, r)""",
                       list(tickets))
    return ids


def separable(*, until: date, accounts: int = 120, seed: int = 7) -> list[Customer]:
    """A third of the customers churn at a month start, and go silent 100 days before: every observation within
    90 days of a churn has at least 10 silent days behind it, and no other observation has any."""
    rng = random.Random(seed)
    customers = []
    for index in range(accounts):
        start = until - timedelta(days=rng.randint(560, 700))
        if index % 3 == 0:
            churn = month_start(until - timedelta(days=rng.randint(40, 450)))
            customers.append(Customer(start=start, churn=churn, silent_from=churn - timedelta(days=100)))
        else:
            customers.append(Customer(start=start))
    return customers


def noise(*, until: date, accounts: int = 400, seed: int = 11, monthly_churn: float = 0.025) -> list[Customer]:
    """Churn at random (a constant monthly hazard), whatever the customer does: nothing to learn."""
    rng = random.Random(seed)
    customers = []
    for _ in range(accounts):
        start = month_start(until - timedelta(days=rng.randint(600, 720)))
        churn = None
        for month in months_between(start + timedelta(days=32), until):
            if rng.random() < monthly_churn:
                churn = month
                break
        customers.append(Customer(
            start=start, churn=churn, events=rng.randint(1, 40), seats=rng.randint(2, 50),
            mrr=float(rng.choice((100, 500, 1000, 5000))), plan=rng.choice(("Starter", "Growth", "Enterprise")),
            nps=[(start + timedelta(days=rng.randint(30, 500)), rng.randint(0, 10))],
            tickets=[(start + timedelta(days=rng.randint(10, 500)), None if rng.random() < 0.3 else
                      start + timedelta(days=520)) for _ in range(rng.randint(0, 3))]))
    return customers
