"""Reads of the metrics engine: values over time, what made a number, the glossary and cohort curves."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection
from django.db.models import QuerySet

from metrics.models import KPI, KPITarget, MetricValue, Scope


def kpi_values(*, kpi: KPI, scope: str, subject: str | None = None, start: date | None = None,
               end: date | None = None) -> QuerySet[MetricValue]:
    """Values of one KPI at one scope; `subject` is an account id (account scope) or `dimension:segment`."""
    values = MetricValue.objects.filter(kpi=kpi, scope=scope).order_by("as_of", "id")
    if scope == Scope.ACCOUNT and subject:
        values = values.filter(account_id=int(subject))
    elif scope == Scope.SEGMENT and subject:
        dimension, _, segment = subject.partition(":")
        values = values.filter(dimension=dimension, segment=segment)
    if start:
        values = values.filter(as_of__gte=start)
    if end:
        values = values.filter(as_of__lte=end)
    return values


def kpi_latest_as_of(*, kpi: KPI) -> date | None:
    return MetricValue.objects.filter(kpi=kpi, scope=Scope.PORTFOLIO).order_by("-as_of").values_list(
        "as_of", flat=True).first()


def kpi_explain(*, kpi: KPI, as_of: date, subject: str | None = None) -> dict:
    """The aggregate and the accounts behind it (with what each put in the numerator and denominator), or
    for one account its own value and details (e.g. a health score's components)."""
    if subject and subject.isdigit():
        row = MetricValue.objects.filter(kpi=kpi, scope=Scope.ACCOUNT, as_of=as_of, account_id=int(subject)).first()
        return {"scope": Scope.ACCOUNT, "subject": subject, "value": row and _row(row), "accounts": []}
    aggregate = MetricValue.objects.filter(kpi=kpi, as_of=as_of, account__isnull=True)
    accounts = MetricValue.objects.filter(kpi=kpi, as_of=as_of, scope=Scope.ACCOUNT).select_related("account")
    if subject:
        from metrics.segments import account_segments

        dimension, _, segment = subject.partition(":")
        aggregate = aggregate.filter(scope=Scope.SEGMENT, dimension=dimension, segment=segment)
        members = [account_id for account_id, segments in account_segments(as_of=as_of).items()
                   if segments.get(dimension) == segment]
        accounts = accounts.filter(account_id__in=members)
        scope = Scope.SEGMENT
    else:
        aggregate = aggregate.filter(scope=Scope.PORTFOLIO)
        scope = Scope.PORTFOLIO
    top = aggregate.first()
    contributing = [
        {"account_id": row.account_id, "external_id": row.account.external_id, "name": row.account.name,
         **_row(row)}
        for row in accounts.order_by("-denominator", "account__name")
        if row.denominator or row.numerator or row.value is not None
    ]
    return {"scope": scope, "subject": subject or "", "value": top and _row(top), "accounts": contributing}


def _row(row: MetricValue) -> dict:
    return {"as_of": row.as_of, "value": row.value, "numerator": row.numerator, "denominator": row.denominator,
            "sample_size": row.sample_size, "kpi_version": row.kpi_version, "details": row.details}


def glossary() -> list[dict]:
    """Every active KPI's definition and formula, for people."""
    from metrics.calculators import calculator_for

    entries = []
    for kpi in KPI.objects.filter(is_active=True).select_related("owner").order_by("tier", "name"):
        calculator = calculator_for(kpi.calculator)
        entries.append({
            "slug": kpi.slug, "name": kpi.name, "definition": kpi.definition, "formula": calculator.formula,
            "tier": kpi.tier, "indicator": kpi.indicator, "unit": kpi.unit, "direction": kpi.direction,
            "params": calculator.clean_params(kpi.params), "owner": kpi.owner.email if kpi.owner else None,
            "data_source": kpi.data_source, "cadence": kpi.cadence, "version": kpi.version,
        })
    return entries


def cohort_retention(*, as_of: date, months: int = 12) -> list[dict]:
    """Accounts grouped by start month (their first month with MRR > 0); for month k after the start,
    logo retention (still paying), GRR and NRR relative to the cohort's month-0 MRR. One query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH firsts AS (
                SELECT account_id, min(month) AS start_month
                FROM accounts_revenuesnapshot WHERE mrr > 0 AND month <= %(as_of)s GROUP BY account_id
            ), base AS (
                SELECT f.account_id, f.start_month, r.mrr AS mrr0
                FROM firsts f JOIN accounts_revenuesnapshot r
                  ON r.account_id = f.account_id AND r.month = f.start_month
            ), offsets AS (SELECT generate_series(0, %(months)s) AS k)
            SELECT b.start_month, o.k, count(*) AS accounts, sum(b.mrr0) AS mrr0,
                   count(*) FILTER (WHERE coalesce(cur.mrr, 0) > 0) AS paying,
                   sum(least(coalesce(cur.mrr, 0), b.mrr0)) AS kept, sum(coalesce(cur.mrr, 0)) AS mrr_k
            FROM base b CROSS JOIN offsets o
            LEFT JOIN LATERAL (
                SELECT r.mrr FROM accounts_revenuesnapshot r
                WHERE r.account_id = b.account_id AND r.month <= (b.start_month + make_interval(months => o.k))::date
                ORDER BY r.month DESC LIMIT 1
            ) cur ON true
            WHERE (b.start_month + make_interval(months => o.k))::date <= %(as_of)s
            GROUP BY b.start_month, o.k ORDER BY b.start_month, o.k
            """,
            {"as_of": as_of, "months": months},
        )
        cohorts: dict[date, dict] = {}
        for start_month, k, accounts, mrr0, paying, kept, mrr_k in cursor.fetchall():
            cohort = cohorts.setdefault(start_month, {"start_month": start_month, "accounts": accounts,
                                                      "mrr": float(mrr0), "months": []})
            cohort["months"].append({
                "k": k,
                "logo_retention": 100.0 * paying / accounts,
                "grr": 100.0 * float(kept) / float(mrr0) if mrr0 else None,
                "nrr": 100.0 * float(mrr_k) / float(mrr0) if mrr0 else None,
            })
        return list(cohorts.values())


@dataclass(frozen=True)
class KPITile:
    kpi: KPI
    value: float | None
    as_of: date | None
    target: float | None
    status: str
    history: list[float | None]


def dashboard_tiles(*, today: date, weeks: int = 13) -> list[KPITile]:
    """Every active KPI with its latest portfolio value, this quarter's target, status and a weekly history;
    core KPIs first. Three queries whatever the number of KPIs or values."""
    from metrics.status import target_status

    kpis = list(KPI.objects.filter(is_active=True).order_by("-is_core", "tier", "name"))
    since = today - timedelta(weeks=weeks)
    series: dict[int, dict[date, float | None]] = defaultdict(dict)
    for kpi_id, as_of, value in MetricValue.objects.filter(
            kpi__in=kpis, scope=Scope.PORTFOLIO, as_of__gte=since).values_list("kpi_id", "as_of", "value"):
        series[kpi_id][as_of] = value
    period = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    targets = dict(KPITarget.objects.filter(kpi__in=kpis, period=period, dimension="", superseded_at__isnull=True)
                   .values_list("kpi_id", "value"))
    tiles = []
    for kpi in kpis:
        points = series.get(kpi.pk, {})
        latest = max(points) if points else None
        value = points.get(latest) if latest else None
        weekly = [points.get(latest - timedelta(weeks=back)) for back in range(weeks, -1, -1)] if latest else []
        tiles.append(KPITile(kpi=kpi, value=value, as_of=latest, target=targets.get(kpi.pk),
                             status=target_status(value=value, target=targets.get(kpi.pk), direction=kpi.direction),
                             history=weekly))
    return tiles


def kpi_segment_breakdown(*, kpi: KPI, as_of: date) -> dict[str, list[MetricValue]]:
    """The KPI's segment values on one date, by dimension."""
    breakdown: dict[str, list[MetricValue]] = defaultdict(list)
    for row in MetricValue.objects.filter(kpi=kpi, scope=Scope.SEGMENT, as_of=as_of).order_by("dimension",
                                                                                               "segment"):
        breakdown[row.dimension].append(row)
    return dict(breakdown)


def account_kpis(*, account_id: int) -> list[dict]:
    """An account's latest value of every active KPI with account scope, with its recent history. Two queries."""
    kpis = {kpi.pk: kpi for kpi in KPI.objects.filter(is_active=True, scopes__contains=[Scope.ACCOUNT])}
    rows = MetricValue.objects.filter(account_id=account_id, kpi_id__in=kpis).order_by("as_of").values_list(
        "kpi_id", "as_of", "value", "details")
    history: dict[int, list] = defaultdict(list)
    for kpi_id, as_of, value, details in rows:
        history[kpi_id].append((as_of, value, details))
    result = []
    for kpi_id, kpi in sorted(kpis.items(), key=lambda item: (not item[1].is_core, item[1].name)):
        points = history.get(kpi_id, [])
        latest = points[-1] if points else (None, None, None)
        result.append({"kpi": kpi, "as_of": latest[0], "value": latest[1], "details": latest[2],
                       "history": [value for _, value, _ in points[-14:]]})
    return result


def open_breaches_by_severity() -> list[tuple[str, list]]:
    """Open and acknowledged breaches, most severe first, oldest first within a severity. One query."""
    from metrics.models import OPEN_STATUSES, Breach, Severity

    breaches = Breach.objects.filter(status__in=OPEN_STATUSES).select_related("kpi", "rule", "account",
                                                                              "account__owner")
    grouped: dict[str, list] = {severity: [] for severity in Severity.values}
    for breach in breaches.order_by("opened_at"):
        grouped[breach.severity].append(breach)
    return [(severity, grouped[severity]) for severity in Severity.values if grouped[severity]]
