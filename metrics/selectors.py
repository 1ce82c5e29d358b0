"""Reads of the metrics engine: values over time, what made a number, the glossary and cohort curves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection
from django.db.models import CharField, Count, FloatField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import Account, AccountStatus
from accounts.selectors import account_list
from metrics.models import KPI, OPEN_STATUSES, Annotation, Breach, KPITarget, MetricValue, Scope
from metrics.segments import DIMENSIONS


def kpi_values(*, kpi: KPI, scope: str, account: dict | None = None, segment: tuple[str, str] | None = None,
               start: date | None = None, end: date | None = None) -> QuerySet[MetricValue]:
    """Values of one KPI at one scope; for one account (`account`: filter arguments on the value's account, as
    accounts.references.account_filter gives them) or one segment (`(dimension, segment)`)."""
    values = MetricValue.objects.filter(kpi=kpi, scope=scope).order_by("as_of", "id")
    if scope == Scope.ACCOUNT and account:
        values = values.filter(**account)
    elif scope == Scope.SEGMENT and segment:
        values = values.filter(dimension=segment[0], segment=segment[1])
    if start:
        values = values.filter(as_of__gte=start)
    if end:
        values = values.filter(as_of__lte=end)
    return values


def kpi_latest_as_of(*, kpi: KPI) -> date | None:
    return MetricValue.objects.filter(kpi=kpi, scope=Scope.PORTFOLIO).order_by("-as_of").values_list(
        "as_of", flat=True).first()


def kpi_explain(*, kpi: KPI, as_of: date, subject: str = "", account: dict | None = None,
                segment: tuple[str, str] | None = None) -> dict:
    """The aggregate and the accounts behind it (with what each put in the numerator and denominator), or
    for one account (`account`: filter arguments, see kpi_values) its own value and details (e.g. a health
    score's components); `subject` is echoed as the caller wrote it."""
    if account:
        row = MetricValue.objects.filter(kpi=kpi, scope=Scope.ACCOUNT, as_of=as_of, **account).first()
        return {"scope": Scope.ACCOUNT, "subject": subject, "value": row and _row(row), "accounts": []}
    aggregate = MetricValue.objects.filter(kpi=kpi, as_of=as_of, account__isnull=True)
    accounts = MetricValue.objects.filter(kpi=kpi, as_of=as_of, scope=Scope.ACCOUNT).select_related("account")
    if segment:
        from metrics.segments import account_segments

        dimension, value = segment
        aggregate = aggregate.filter(scope=Scope.SEGMENT, dimension=dimension, segment=value)
        members = [account_id for account_id, segments in account_segments(as_of=as_of).items()
                   if segments.get(dimension) == value]
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


def cohort_retention(*, as_of: date, months: int = 12, account_ids: Collection[int] | None = None) -> list[dict]:
    """Accounts grouped by start month (their first month with MRR > 0); for month k after the start,
    logo retention (still paying), GRR and NRR relative to the cohort's month-0 MRR. `account_ids` limits it
    to some accounts (a segment). One query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH firsts AS (
                SELECT account_id, min(month) AS start_month
                FROM accounts_revenuesnapshot
                WHERE mrr > 0 AND month <= %(as_of)s AND (%(everyone)s OR account_id = ANY(%(account_ids)s))
                GROUP BY account_id
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
            {"as_of": as_of, "months": months, "everyone": account_ids is None,
             "account_ids": list(account_ids or [])},
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
    dates: list[date]
    annotations: list[Annotation]


def dashboard_tiles(*, today: date, weeks: int = 13, segment: tuple[str, str] | None = None) -> list[KPITile]:
    """Every active KPI with its latest value, this quarter's target, status, a weekly history and the notes
    pinned inside that history; core KPIs first. For the portfolio, or for one `(dimension, segment)`, whose
    own target wins over the portfolio's when both exist. Four queries whatever the number of KPIs or values."""
    from metrics.status import target_status

    kpis = list(KPI.objects.filter(is_active=True).order_by("-is_core", "tier", "name"))
    since = today - timedelta(weeks=weeks)
    values = MetricValue.objects.filter(kpi__in=kpis, as_of__gte=since)
    targets = KPITarget.objects.filter(kpi__in=kpis, period=quarter_of(today), superseded_at__isnull=True)
    if segment:
        values = values.filter(scope=Scope.SEGMENT, dimension=segment[0], segment=segment[1])
        targets = targets.filter(Q(dimension="") | Q(dimension=segment[0], segment=segment[1]))
    else:
        values = values.filter(scope=Scope.PORTFOLIO)
        targets = targets.filter(dimension="")
    series: dict[int, dict[date, float | None]] = defaultdict(dict)
    for kpi_id, as_of, value in values.values_list("kpi_id", "as_of", "value"):
        series[kpi_id][as_of] = value
    target_by_kpi: dict[int, float] = {}
    # Ordered by dimension so a segment's own target ("plan" sorts after "") comes last and wins.
    for kpi_id, value in targets.order_by("dimension").values_list("kpi_id", "value"):
        target_by_kpi[kpi_id] = value
    notes = annotations_for(kpis=kpis, start=since, end=today)
    tiles = []
    for kpi in kpis:
        points = series.get(kpi.pk, {})
        latest = max(points) if points else None
        dates = [latest - timedelta(weeks=back) for back in range(weeks, -1, -1)] if latest else []
        target = target_by_kpi.get(kpi.pk)
        value = points.get(latest) if latest else None
        tiles.append(KPITile(kpi=kpi, value=value, as_of=latest, target=target,
                             status=target_status(value=value, target=target, direction=kpi.direction),
                             history=[points.get(day) for day in dates], dates=dates,
                             annotations=notes.get(kpi.pk, [])))
    return tiles


def quarter_of(day: date) -> str:
    """The target period a day falls in, e.g. 2026-Q4."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def annotations_for(*, kpis: Iterable[KPI], start: date | None = None,
                    end: date | None = None) -> dict[int, list[Annotation]]:
    """The notes pinned to each KPI between `start` and `end` (inclusive, either open), oldest first, keyed by
    KPI id; every KPI asked about has a list, empty when it has no notes. One query."""
    kpis = list(kpis)
    by_kpi: dict[int, list[Annotation]] = {kpi.pk: [] for kpi in kpis}
    for annotation in kpi_annotations(kpis=kpis, start=start, end=end):
        by_kpi[annotation.kpi_id].append(annotation)
    return by_kpi


def kpi_annotations(*, kpis: Iterable[KPI], start: date | None = None,
                    end: date | None = None) -> QuerySet[Annotation]:
    """The notes pinned to some KPIs between `start` and `end` (inclusive, either open), oldest first, with
    their KPI and author loaded."""
    annotations = Annotation.objects.filter(kpi__in=list(kpis)).select_related("kpi", "author")
    if start:
        annotations = annotations.filter(date__gte=start)
    if end:
        annotations = annotations.filter(date__lte=end)
    return annotations.order_by("date", "id")


def segment_options(*, kpis: Iterable[KPI], as_of: date | None) -> dict[str, list[str]]:
    """The segments the dashboard can be cut by: those with values on the latest computed date, by
    dimension in the product's order. One query."""
    if as_of is None:
        return {}
    found: dict[str, set[str]] = defaultdict(set)
    rows = MetricValue.objects.filter(kpi__in=list(kpis), scope=Scope.SEGMENT, as_of=as_of).order_by()
    for dimension, segment in rows.values_list("dimension", "segment").distinct():
        found[dimension].add(segment)
    return {dimension: sorted(found[dimension]) for dimension in DIMENSIONS if found.get(dimension)}


@dataclass(frozen=True)
class HealthDistribution:
    as_of: date | None
    counts: dict[str, int]
    total: int


def health_distribution(*, health_kpi: KPI | None, segment: tuple[str, str] | None = None) -> HealthDistribution:
    """How many accounts sit in each health band on the latest computed date, as the health score stored
    it with its portfolio (or segment) value, so the page agrees with the KPI. One query."""
    from metrics.calculators.health import BANDS

    empty = HealthDistribution(as_of=None, counts=dict.fromkeys(BANDS, 0), total=0)
    if health_kpi is None:
        return empty
    rows = MetricValue.objects.filter(kpi=health_kpi)
    if segment:
        rows = rows.filter(scope=Scope.SEGMENT, dimension=segment[0], segment=segment[1])
    else:
        rows = rows.filter(scope=Scope.PORTFOLIO)
    latest = rows.order_by("-as_of").values_list("as_of", "details").first()
    if latest is None:
        return empty
    stored = (latest[1] or {}).get("bands") or {}
    counts = {band: int(stored.get(band, 0)) for band in BANDS}
    return HealthDistribution(as_of=latest[0], counts=counts, total=sum(counts.values()))


AT_RISK_BANDS = ("red", "yellow")


def accounts_with_health(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """Each account's latest health score and band (None when never scored), in the same query."""
    latest = (MetricValue.objects.filter(kpi__calculator="health.score", kpi__is_active=True, scope=Scope.ACCOUNT,
                                         account=OuterRef("pk")).order_by("-as_of"))
    return accounts.annotate(health=Subquery(latest.values("value")[:1]),
                             health_band=Subquery(latest.values("details__band")[:1]))


def at_risk_accounts(*, health_kpi: KPI | None, as_of: date | None, account_ids: Collection[int] | None = None,
                     limit: int = 25) -> list[Account]:
    """Active accounts in a red or yellow health band on `as_of`, or with an open breach, most ARR first:
    where attention protects the most revenue. Each carries `current_mrr`, `arr`, `health`, `health_band`
    and `open_breaches`. One query."""
    open_breaches = (Breach.objects.filter(account=OuterRef("pk"), status__in=OPEN_STATUSES).order_by()
                     .values("account").annotate(count=Count("pk")).values("count"))
    accounts = account_list(status=AccountStatus.ACTIVE).annotate(
        open_breaches=Coalesce(Subquery(open_breaches), 0))
    at_risk = Q(open_breaches__gt=0)
    if health_kpi is not None and as_of is not None:
        health = MetricValue.objects.filter(kpi=health_kpi, scope=Scope.ACCOUNT, as_of=as_of, account=OuterRef("pk"))
        accounts = accounts.annotate(health=Subquery(health.values("value")[:1]),
                                     health_band=Subquery(health.values("details__band")[:1]))
        at_risk |= Q(health_band__in=AT_RISK_BANDS)
    else:
        accounts = accounts.annotate(health=Value(None, output_field=FloatField()),
                                     health_band=Value(None, output_field=CharField()))
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    rows = list(accounts.filter(at_risk).order_by("-current_mrr", "name")[:limit])
    for account in rows:
        account.arr = account.current_mrr * 12
    return rows


def kpi_segment_breakdown(*, kpi: KPI, as_of: date) -> dict[str, list[MetricValue]]:
    """The KPI's segment values on one date, by dimension."""
    breakdown: dict[str, list[MetricValue]] = defaultdict(list)
    for row in MetricValue.objects.filter(kpi=kpi, scope=Scope.SEGMENT, as_of=as_of).order_by("dimension",
                                                                                               "segment"):
        breakdown[row.dimension].append(row)
    return dict(breakdown)


def account_kpis(*, account_id: int, change_days: int = 30) -> list[dict]:
    """An account's latest value of every active KPI shown per account, with its recent history (the last 14
    values and their dates) and its change over about `change_days` days; core KPIs first. A KPI whose
    calculator means nothing for one account (a rate of accounts, like logo churn: 0 or 100%) is left out.
    Two queries."""
    from metrics.calculators import calculator_for

    kpis = {kpi.pk: kpi for kpi in KPI.objects.filter(is_active=True, scopes__contains=[Scope.ACCOUNT])
            if calculator_for(kpi.calculator).per_account}
    rows = MetricValue.objects.filter(account_id=account_id, kpi_id__in=kpis).order_by("as_of").values_list(
        "kpi_id", "as_of", "value", "details")
    history: dict[int, list] = defaultdict(list)
    for kpi_id, as_of, value, details in rows:
        history[kpi_id].append((as_of, value, details))
    result = []
    for kpi_id, kpi in sorted(kpis.items(), key=lambda item: (not item[1].is_core, item[1].name)):
        points = history.get(kpi_id, [])
        latest = points[-1] if points else (None, None, None)
        earlier = next((value for as_of, value, _ in reversed(points)
                        if latest[0] and (latest[0] - as_of).days >= change_days and value is not None), None)
        result.append({"kpi": kpi, "as_of": latest[0], "value": latest[1], "details": latest[2],
                       "history": [value for _, value, _ in points[-14:]],
                       "dates": [as_of for as_of, _, _ in points[-14:]],
                       "change": latest[1] - earlier if latest[1] is not None and earlier is not None else None})
    return result


def open_breaches_by_severity(*, per_severity: int = 50) -> list[tuple[str, list, int]]:
    """Open and acknowledged breaches, most severe first, oldest first within a severity: each severity's
    `per_severity` oldest and its count. Two queries, however many breaches are open."""
    from django.db.models import Count, F, Window
    from django.db.models.functions import RowNumber

    from metrics.models import OPEN_STATUSES, Breach, Severity

    open_breaches = Breach.objects.filter(status__in=OPEN_STATUSES)
    counts = dict(open_breaches.values_list("severity").annotate(n=Count("id")).values_list("severity", "n"))
    oldest = (open_breaches.select_related("kpi", "rule", "account", "account__owner")
              .annotate(rank=Window(RowNumber(), partition_by=F("severity"), order_by=[F("opened_at"), F("id")]))
              .filter(rank__lte=per_severity).order_by("opened_at", "id"))
    grouped: dict[str, list] = {severity: [] for severity in Severity.values}
    for breach in oldest:
        grouped[breach.severity].append(breach)
    return [(severity, grouped[severity], counts[severity]) for severity in Severity.values if counts.get(severity)]


def open_breaches_of_severity(severity: str):
    """Every open breach of one severity, oldest first, for paging through."""
    from metrics.models import OPEN_STATUSES, Breach

    return (Breach.objects.filter(status__in=OPEN_STATUSES, severity=severity)
            .select_related("kpi", "rule", "account", "account__owner").order_by("opened_at", "id"))


def account_breaches(*, account_id: int, limit: int = 30) -> QuerySet[Breach]:
    """The account's breaches, newest first, with their rule and KPI: what its timeline shows opened and resolved."""
    return Breach.objects.filter(account_id=account_id).select_related("rule", "kpi").order_by("-opened_at")[:limit]


def account_kpi_history(*, kpi: KPI, account_id: int, limit: int = 400) -> list[MetricValue]:
    """One account's values of one KPI, oldest first (the latest `limit`)."""
    rows = MetricValue.objects.filter(kpi=kpi, scope=Scope.ACCOUNT, account_id=account_id).order_by("-as_of")
    return list(rows[:limit])[::-1]
