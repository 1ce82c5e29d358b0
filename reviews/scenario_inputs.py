"""Today's numbers a scenario starts from, read from the tenant's own data: ARR and paying accounts, ticket
load and handling time, book sizes, and the drivers' current values (the trajectory) from its KPIs. Three
queries."""

from __future__ import annotations

from datetime import date

from django.db import connection

from metrics.models import KPI, MetricValue, Scope
from reviews.scenarios import Baseline, Drivers

# The KPI each driver's current value comes from, and the value used when the KPI has none.
DRIVER_KPIS = {"grr": ("grr", 90.0), "expansion": ("expansion-rate", 10.0), "logo_churn": ("logo-churn", 10.0),
               "activation_rate": ("activation-rate", 70.0)}
DEFAULT_HOURLY_SUPPORT_COST, DEFAULT_CSM_MONTHLY_COST = 60.0, 8000.0

TODAY_SQL = """
    WITH latest AS (
        SELECT DISTINCT ON (r.account_id) r.account_id, r.mrr
        FROM accounts_revenuesnapshot r WHERE r.month <= %(today)s ORDER BY r.account_id, r.month DESC
    ), first_paid AS (
        SELECT r.account_id, min(r.month) AS month FROM accounts_revenuesnapshot r WHERE r.mrr > 0
        GROUP BY r.account_id
    ), tickets AS (
        SELECT count(*) AS opened, coalesce(avg(t.handling_minutes), 0) / 60.0 AS hours
        FROM accounts_supportticket t WHERE t.opened_at >= %(today)s::date - 90 AND t.opened_at < %(today)s::date + 1
    )
    SELECT coalesce(sum(l.mrr) FILTER (WHERE l.mrr > 0), 0) * 12,
           count(*) FILTER (WHERE l.mrr > 0),
           count(DISTINCT a.owner_id) FILTER (WHERE l.mrr > 0),
           coalesce(sum(l.mrr) FILTER (WHERE l.mrr > 0 AND f.month > %(today)s::date - 90), 0) * 12,
           (SELECT opened FROM tickets), (SELECT hours FROM tickets)
    FROM latest l JOIN accounts_account a ON a.id = l.account_id LEFT JOIN first_paid f ON f.account_id = l.account_id
"""


def _latest_kpi_values() -> dict[str, tuple[float, date]]:
    """slug -> (latest portfolio value, its date) for the drivers' KPIs. One query."""
    slugs = [slug for slug, _ in DRIVER_KPIS.values()]
    rows = (MetricValue.objects.filter(kpi__slug__in=slugs, scope=Scope.PORTFOLIO, value__isnull=False)
            .order_by("kpi__slug", "-as_of").distinct("kpi__slug").values_list("kpi__slug", "value", "as_of"))
    return {slug: (value, as_of) for slug, value, as_of in rows}


def _support_costs() -> tuple[float, float]:
    params = KPI.objects.filter(slug="cost-to-serve").values_list("params", flat=True).first() or {}
    return (float(params.get("hourly_support_cost", DEFAULT_HOURLY_SUPPORT_COST)),
            float(params.get("csm_monthly_cost", DEFAULT_CSM_MONTHLY_COST)))


def scenario_today(*, today: date) -> tuple[Baseline, Drivers]:
    """Today's baseline and today's drivers (the trajectory a scenario is compared with), each driver's source
    named in `baseline.sources`."""
    with connection.cursor() as cursor:
        cursor.execute(TODAY_SQL, {"today": today})
        arr, accounts, owners, new_arr, tickets, hours = cursor.fetchone()
    arr, new_arr = float(arr), float(new_arr)
    hourly, csm_monthly = _support_costs()
    sources, values = {}, {}
    latest = _latest_kpi_values()
    for driver, (slug, default) in DRIVER_KPIS.items():
        if slug in latest:
            values[driver] = round(latest[slug][0], 1)
            sources[driver] = f"KPI {slug} on {latest[slug][1].isoformat()}"
        else:
            values[driver] = default
            sources[driver] = f"no value of KPI {slug}: a default of {default:g}%"
    accounts_per_csm = accounts / owners if owners else float(accounts or 1)
    support_cost = tickets * float(hours) * hourly
    csm_cost = (owners or 1) * csm_monthly * 3
    cost_to_serve = (support_cost + csm_cost) / accounts * 4 if accounts else 0.0
    sources["new_arr"] = "ARR of accounts that started paying in the last 90 days"
    sources["cost_to_serve"] = (f"last 90 days: {tickets} tickets x {float(hours):.2f} h x {hourly:g} an hour + "
                                f"{owners} CSMs x {csm_monthly:g} a month x 3, per account, x 4")
    sources["ticket_growth"] = "flat: tickets per account as in the last 90 days"
    baseline = Baseline(arr=arr, accounts=accounts, tickets_per_account=tickets / accounts if accounts else 0.0,
                        handling_hours_per_ticket=float(hours), accounts_per_csm=accounts_per_csm,
                        as_of=today.isoformat(), sources=sources)
    drivers = Drivers(**values, new_arr=round(new_arr, 2), cost_to_serve=round(cost_to_serve, 2), ticket_growth=0.0)
    return baseline, drivers
