"""Reads of customer data for pages and the API: each a fixed number of queries whatever the row count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Account, AccountStatus, RevenueSnapshot, SupportTicket, SurveyResponse


def _current_mrr() -> Subquery:
    latest = RevenueSnapshot.objects.filter(account=OuterRef("pk")).order_by("-month").values("mrr")[:1]
    return Coalesce(Subquery(latest), Value(Decimal("0")), output_field=DecimalField(max_digits=14, decimal_places=2))


def account_list(*, owner=None, status: str | None = None) -> QuerySet[Account]:
    """Accounts with their owner and current MRR (the latest snapshot), in one query."""
    accounts = Account.objects.select_related("owner").annotate(current_mrr=_current_mrr())
    if owner is not None:
        accounts = accounts.filter(owner=owner)
    if status is not None:
        accounts = accounts.filter(status=status)
    return accounts.order_by("name")


def account_revenue_history(*, account: Account) -> QuerySet[RevenueSnapshot]:
    return account.revenue_snapshots.order_by("month")


def account_recent_surveys(*, account: Account, limit: int = 20) -> QuerySet[SurveyResponse]:
    return account.survey_responses.order_by("-responded_at")[:limit]


def account_recent_tickets(*, account: Account, limit: int = 20) -> QuerySet[SupportTicket]:
    return account.support_tickets.order_by("-opened_at")[:limit]


@dataclass(frozen=True)
class PlanSummary:
    plan: str
    accounts: int
    mrr: Decimal


@dataclass(frozen=True)
class PortfolioSummary:
    active_accounts: int
    churned_accounts: int
    total_mrr: Decimal
    renewals_next_90_days: int
    by_plan: list[PlanSummary]


def portfolio_summary(*, today: date) -> PortfolioSummary:
    """Headline portfolio figures for the dashboard, in two queries."""
    active = Q(status=AccountStatus.ACTIVE)
    counts = Account.objects.aggregate(
        active=Count("pk", filter=active),
        churned=Count("pk", filter=Q(status=AccountStatus.CHURNED)),
        renewals=Count("pk", filter=active & Q(renewal_date__range=(today, today + timedelta(days=90)))),
    )
    rows = (
        account_list(status=AccountStatus.ACTIVE)
        .order_by()
        .values("plan")
        .annotate(accounts=Count("pk"), mrr=Sum("current_mrr"))
        .order_by("-mrr")
    )
    by_plan = [PlanSummary(plan=row["plan"] or "(none)", accounts=row["accounts"], mrr=row["mrr"] or Decimal(0))
               for row in rows]
    return PortfolioSummary(
        active_accounts=counts["active"],
        churned_accounts=counts["churned"],
        total_mrr=sum((row.mrr for row in by_plan), Decimal(0)),
        renewals_next_90_days=counts["renewals"],
        by_plan=by_plan,
    )


def survey_comments(*, kind: str = "", plan: str = "", region: str = "", industry: str = "", lifecycle_stage: str = "",
                    owner_id: int | None = None) -> QuerySet[SurveyResponse]:
    """Survey answers that came with a comment, newest first, with their account and its owner, filtered by
    survey kind and the account's segment (an empty filter keeps everything). One query per page."""
    comments = (SurveyResponse.objects.exclude(comment="").select_related("account", "account__owner")
                .order_by("-responded_at", "-id"))
    filters = {"kind": kind, "account__plan": plan, "account__region": region, "account__industry": industry,
               "account__lifecycle_stage": lifecycle_stage, "account__owner_id": owner_id}
    return comments.filter(**{field: value for field, value in filters.items() if value not in ("", None)})


def account_attribute_values() -> dict[str, list[str]]:
    """The plans, regions and industries accounts have, for filter choices. One query."""
    found: dict[str, set[str]] = {"plan": set(), "region": set(), "industry": set()}
    for plan, region, industry in Account.objects.order_by().values_list("plan", "region", "industry").distinct():
        for name, value in (("plan", plan), ("region", region), ("industry", industry)):
            if value:
                found[name].add(value)
    return {name: sorted(values) for name, values in found.items()}


# --- data health: problems in the data integrations sent ------------------------------------------------


def accounts_without_owner(*, limit: int = 50) -> tuple[int, list[dict]]:
    unowned = Account.objects.filter(owner__isnull=True, status=AccountStatus.ACTIVE)
    return unowned.count(), list(unowned.order_by("name").values("id", "external_id", "name")[:limit])


def revenue_gaps(*, limit: int = 50) -> list[dict]:
    """Accounts with months missing between their first and last revenue snapshot, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.external_id, a.name, s.first_month, s.last_month, s.months,
                   (EXTRACT(YEAR FROM age(s.last_month, s.first_month)) * 12
                    + EXTRACT(MONTH FROM age(s.last_month, s.first_month)) + 1 - s.months)::int AS missing
            FROM (SELECT account_id, min(month) AS first_month, max(month) AS last_month, count(*) AS months
                  FROM accounts_revenuesnapshot GROUP BY account_id) s
            JOIN accounts_account a ON a.id = s.account_id
            WHERE (EXTRACT(YEAR FROM age(s.last_month, s.first_month)) * 12
                   + EXTRACT(MONTH FROM age(s.last_month, s.first_month)) + 1) > s.months
            ORDER BY missing DESC, a.name LIMIT %s
            """,
            [limit],
        )
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def account_notes(*, account: Account, limit: int = 50) -> QuerySet:
    """The account's notes, newest first, with their authors."""
    return account.notes.select_related("author").order_by("-created_at", "-id")[:limit]


@dataclass(frozen=True)
class UsageWeek:
    week: date
    events: int
    active_users: int


def account_usage_weekly(*, account: Account, today: date, weeks: int = 26) -> list[UsageWeek]:
    """Events and distinct active users per week (Monday) over the last `weeks` weeks, a week with no use as
    zeros (no use is a fact, not a gap). One query over the daily rollups."""
    start = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH weeks AS (SELECT generate_series(%(start)s::date, %(today)s::date, interval '7 days')::date AS week),
            events AS (
                SELECT date_trunc('week', day)::date AS week, sum(events) AS events
                FROM accounts_usagedaily WHERE account_id = %(account)s AND day >= %(start)s AND day <= %(today)s
                GROUP BY 1
            ), users AS (
                SELECT date_trunc('week', day)::date AS week, count(DISTINCT user_id) AS users
                FROM accounts_userdaily WHERE account_id = %(account)s AND day >= %(start)s AND day <= %(today)s
                GROUP BY 1
            )
            SELECT w.week, coalesce(e.events, 0), coalesce(u.users, 0)
            FROM weeks w LEFT JOIN events e USING (week) LEFT JOIN users u USING (week) ORDER BY w.week
            """,
            {"account": account.pk, "start": start, "today": today},
        )
        return [UsageWeek(week=week, events=int(events), active_users=int(users))
                for week, events, users in cursor.fetchall()]


@dataclass(frozen=True)
class AccountPerson:
    user_id: str
    name: str
    active_days: int
    events: int
    last_seen: date
    top_feature: str


def account_people(*, account: Account, today: date, days: int = 30, limit: int = 25) -> list[AccountPerson]:
    """The account's users from its events: those active in the last `days` days, most active first, with their
    active days, events, last day seen and most used feature (an event name), named by their contact where the
    tracking API said who they are. One query."""
    since = today - timedelta(days=days - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH active AS (
                SELECT user_id, count(*) AS active_days, sum(events) AS events, max(day) AS last_seen
                FROM accounts_userdaily WHERE account_id = %(account)s AND day >= %(since)s AND day <= %(today)s
                GROUP BY user_id ORDER BY active_days DESC, events DESC, user_id LIMIT %(limit)s
            ), features AS (
                SELECT DISTINCT ON (e.user_id) e.user_id, e.event_name
                FROM accounts_usageevent e JOIN active a ON a.user_id = e.user_id
                WHERE e.account_id = %(account)s AND e.occurred_at >= %(since)s::timestamptz
                GROUP BY e.user_id, e.event_name ORDER BY e.user_id, count(*) DESC, e.event_name
            )
            SELECT a.user_id, coalesce(nullif(c.name, ''), nullif(c.email, ''), a.user_id), a.active_days, a.events,
                   a.last_seen, coalesce(f.event_name, '')
            FROM active a LEFT JOIN features f USING (user_id)
            LEFT JOIN accounts_contact c ON c.external_id = a.user_id AND c.account_id = %(account)s
            ORDER BY a.active_days DESC, a.events DESC, a.user_id
            """,
            {"account": account.pk, "since": since, "today": today, "limit": limit},
        )
        return [AccountPerson(*row) for row in cursor.fetchall()]


def account_top_features(*, account: Account, today: date, days: int = 30,
                         limit: int = 8) -> list[tuple[str, int, int]]:
    """The account's most used features (event names) over the last `days` days: (name, events, most users on
    one day). One query over the daily rollup."""
    since = today - timedelta(days=days - 1)
    rows = (account.usage_daily.filter(day__gte=since, day__lte=today).values("event_name")
            .annotate(total=Sum("events"), users=Max("distinct_users")).order_by("-total", "event_name")[:limit])
    return [(row["event_name"], row["total"], row["users"]) for row in rows]


def account_active_users_count(*, account: Account, today: date, days: int = 30) -> int:
    """Distinct users active on the account in the last `days` days."""
    since = today - timedelta(days=days - 1)
    return (account.user_daily.filter(day__gte=since, day__lte=today).values("user_id").distinct().count())


def account_books(*, owner_ids) -> QuerySet[Account]:
    """The active accounts of some owners with their current MRR: each CSM's book, to which the caller adds
    health (metrics) before summing it (books_by_owner)."""
    return account_list(status=AccountStatus.ACTIVE).filter(owner_id__in=list(owner_ids)).order_by()


def books_by_owner(accounts: QuerySet[Account], *, today: date, renewal_days: int = 90) -> list[dict]:
    """`accounts` (annotated with `health_band` by the caller) summed per owner and health band: accounts, MRR
    and renewals due within `renewal_days`. One query."""
    due = Q(renewal_date__gte=today, renewal_date__lte=today + timedelta(days=renewal_days))
    return list(accounts.order_by().values("owner_id", "health_band").annotate(
        accounts=Count("pk"), mrr=Sum("current_mrr"), renewals=Count("pk", filter=due)))
