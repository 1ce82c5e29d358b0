"""Reads of customer data for pages and the API: each a fixed number of queries whatever the row count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
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
