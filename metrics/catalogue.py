"""The default KPI catalogue every new tenant starts with (docs/metrics.md, "The default catalogue")."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from metrics.models import KPI, Cadence, Direction, Indicator, Scope, Tier, Unit

ALL_SCOPES = [Scope.ACCOUNT, Scope.SEGMENT, Scope.PORTFOLIO]
AGGREGATE_SCOPES = [Scope.SEGMENT, Scope.PORTFOLIO]


@dataclass(frozen=True)
class CatalogueEntry:
    slug: str
    name: str
    calculator: str
    tier: str
    unit: str
    direction: str
    definition: str
    params: dict = field(default_factory=dict)
    indicator: str = Indicator.LAGGING
    scopes: tuple = tuple(ALL_SCOPES)
    cadence: str = Cadence.DAILY
    data_source: str = ""
    poor: float | None = None
    good: float | None = None
    core: bool = False


REVENUE = "Monthly revenue snapshots (billing system via /api/v1/revenue/bulk)"
USAGE = "Product usage events (via /api/v1/events/bulk), daily rollups"
SURVEYS = "Survey answers (via /api/v1/surveys/bulk)"
TICKETS = "Helpdesk tickets (via /api/v1/tickets/bulk)"
PREDICTION = "The tenant's own model, trained on its history of accounts (revenue, usage, surveys, tickets)"

CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("grr", "Gross revenue retention", "revenue.grr", Tier.RETENTION, Unit.PERCENT, Direction.HIGHER,
                   "Share of the recurring revenue of a year ago that is still here, counting losses but no "
                   "expansion. Never above 100%.", {"window_months": 12}, data_source=REVENUE, poor=80, good=95,
                   core=True, cadence=Cadence.MONTHLY),
    CatalogueEntry("nrr", "Net revenue retention", "revenue.nrr", Tier.EXPANSION, Unit.PERCENT, Direction.HIGHER,
                   "Recurring revenue today from the customers who paid a year ago, as a share of what they paid "
                   "then: expansion minus contraction and churn.", {"window_months": 12}, data_source=REVENUE,
                   poor=90, good=115, core=True, cadence=Cadence.MONTHLY),
    CatalogueEntry("logo-churn", "Logo churn rate", "revenue.logo_churn", Tier.RETENTION, Unit.PERCENT,
                   Direction.LOWER, "Share of the customers paying a year ago who pay nothing today.",
                   {"window_months": 12}, data_source=REVENUE, poor=20, good=5, cadence=Cadence.MONTHLY),
    CatalogueEntry("expansion-rate", "Expansion rate", "revenue.expansion_rate", Tier.EXPANSION, Unit.PERCENT,
                   Direction.HIGHER, "Revenue growth from existing customers over the window, as a share of their "
                   "revenue at its start.", {"window_months": 12}, data_source=REVENUE, cadence=Cadence.MONTHLY),
    CatalogueEntry("contraction-rate", "Contraction rate", "revenue.contraction_rate", Tier.RETENTION,
                   Unit.PERCENT, Direction.LOWER, "Revenue lost to downgrades of customers who still pay.",
                   {"window_months": 12}, data_source=REVENUE, cadence=Cadence.MONTHLY),
    CatalogueEntry("revenue-churn", "Revenue churn rate", "revenue.revenue_churn", Tier.RETENTION, Unit.PERCENT,
                   Direction.LOWER, "Revenue lost to customers who stopped paying.", {"window_months": 12},
                   data_source=REVENUE, cadence=Cadence.MONTHLY),
    CatalogueEntry("quick-ratio", "SaaS quick ratio", "revenue.quick_ratio", Tier.EXPANSION, Unit.RATIO,
                   Direction.HIGHER, "Revenue gained (new and expansion) for each unit lost (churn and "
                   "contraction) over the window. Above 4 is efficient growth.", {"window_months": 3},
                   data_source=REVENUE, scopes=tuple(AGGREGATE_SCOPES), cadence=Cadence.MONTHLY),
    CatalogueEntry("renewal-rate", "Renewal rate", "revenue.renewal_rate", Tier.RETENTION, Unit.PERCENT,
                   Direction.HIGHER, "Share of the customers up for renewal who renewed (still paying after the "
                   "grace period).", {"window_days": 90, "grace_days": 30}, data_source=REVENUE,
                   scopes=tuple(AGGREGATE_SCOPES), cadence=Cadence.MONTHLY, core=True),
    CatalogueEntry("arpa", "Average revenue per account", "revenue.arpa", Tier.PROFITABILITY, Unit.CURRENCY,
                   Direction.HIGHER, "Monthly recurring revenue per paying customer.", data_source=REVENUE,
                   cadence=Cadence.MONTHLY),
    CatalogueEntry("ltv", "Customer lifetime value", "revenue.ltv", Tier.PROFITABILITY, Unit.CURRENCY,
                   Direction.HIGHER, "What a customer is worth over its life: ARPA x gross margin / monthly logo "
                   "churn.", {"gross_margin": 0.8}, data_source=REVENUE, scopes=tuple(AGGREGATE_SCOPES),
                   cadence=Cadence.MONTHLY),
    CatalogueEntry("nps", "Net Promoter Score", "surveys.nps", Tier.ADVOCACY, Unit.SCORE, Direction.HIGHER,
                   "How many customers would recommend us, minus how many would not (-100 to 100).",
                   {"window_days": 90}, data_source=SURVEYS, poor=0, good=50, core=True),
    CatalogueEntry("csat", "Customer satisfaction", "surveys.csat", Tier.ADVOCACY, Unit.PERCENT, Direction.HIGHER,
                   "Share of satisfied answers (4 or 5 of 5) to post-interaction surveys.", {"window_days": 90},
                   data_source=SURVEYS, poor=70, good=90),
    CatalogueEntry("ces", "Customer effort score", "surveys.ces", Tier.ADVOCACY, Unit.SCORE, Direction.HIGHER,
                   "How easy customers find it to get things done with us (mean of 1-7, 7 = very easy).",
                   {"window_days": 90}, data_source=SURVEYS, poor=4, good=6),
    CatalogueEntry("activation-rate", "Activation rate", "usage.activation_rate", Tier.ONBOARDING, Unit.PERCENT,
                   Direction.HIGHER, "Share of new customers who reached their activation milestone within their "
                   "first days.", {"window_days": 30, "cohort_days": 180}, indicator=Indicator.LEADING,
                   data_source=USAGE, scopes=tuple(AGGREGATE_SCOPES), poor=40, good=80, core=True),
    CatalogueEntry("time-to-first-value", "Time to first value", "usage.time_to_first_value", Tier.ONBOARDING,
                   Unit.DAYS, Direction.LOWER, "Days from the start of a customer to the first time they get "
                   "value (median, counting customers who have not got there yet).", indicator=Indicator.LEADING,
                   data_source=USAGE, poor=45, good=7),
    CatalogueEntry("feature-adoption", "Feature adoption", "usage.feature_adoption", Tier.ADOPTION, Unit.PERCENT,
                   Direction.HIGHER, "Share of a customer's active users who used the core feature.",
                   {"window_days": 30}, indicator=Indicator.LEADING, data_source=USAGE, poor=10, good=50),
    CatalogueEntry("adoption-breadth", "Adoption breadth", "usage.breadth", Tier.ADOPTION, Unit.PERCENT,
                   Direction.HIGHER, "Share of the core features a customer used.", {"window_days": 30},
                   indicator=Indicator.LEADING, data_source=USAGE, poor=20, good=70),
    CatalogueEntry("stickiness", "Stickiness", "usage.stickiness", Tier.ADOPTION, Unit.PERCENT, Direction.HIGHER,
                   "How many of a customer's users come back day after day (daily / monthly active users).",
                   {"window_days": 28}, indicator=Indicator.LEADING, data_source=USAGE, poor=10, good=40),
    CatalogueEntry("seat-utilization", "Seat utilisation", "usage.seat_utilization", Tier.ADOPTION, Unit.PERCENT,
                   Direction.HIGHER, "Share of the licensed seats used in the last 30 days.", {"window_days": 30},
                   indicator=Indicator.LEADING, data_source=USAGE, poor=30, good=80),
    CatalogueEntry("usage-trend", "Usage trend", "usage.trend", Tier.ADOPTION, Unit.PERCENT, Direction.HIGHER,
                   "Change in product use over the last 30 days against the 30 before.", {"window_days": 30},
                   indicator=Indicator.LEADING, data_source=USAGE, poor=-30, good=10),
    CatalogueEntry("usage-anomaly", "Usage anomalies", "usage.anomaly", Tier.ADOPTION, Unit.PERCENT,
                   Direction.LOWER, "Share of accounts whose product use on the day departs sharply from their own "
                   "last four weeks (robust z-score); each account's value is its z-score.", {"window_days": 28},
                   indicator=Indicator.LEADING, data_source=USAGE),
    CatalogueEntry("ticket-load", "Ticket load", "support.ticket_load", Tier.PROFITABILITY, Unit.COUNT,
                   Direction.LOWER, "Support tickets opened per customer in the last 90 days.", {"window_days": 90},
                   data_source=TICKETS, poor=12, good=2),
    CatalogueEntry("first-response-hours", "Median first response", "support.first_response_hours",
                   Tier.ADVOCACY, Unit.HOURS, Direction.LOWER, "Median hours until a ticket gets its first "
                   "answer.", {"window_days": 90}, data_source=TICKETS, poor=24, good=2),
    CatalogueEntry("cost-to-serve", "Cost to serve", "support.cost_to_serve", Tier.PROFITABILITY, Unit.CURRENCY,
                   Direction.LOWER, "What supporting a customer costs over 90 days: support time plus a share of "
                   "its CSM.", {"window_days": 90}, data_source=TICKETS),
    CatalogueEntry("renewal-probability", "Renewal probability", "prediction.renewal", Tier.RETENTION,
                   Unit.PERCENT, Direction.HIGHER, "How likely each customer is to still be paying through its next "
                   "renewal, learned from who renewed and who churned before, with the reasons behind each number "
                   "and a back-test of how far to trust it.", indicator=Indicator.LEADING, data_source=PREDICTION,
                   poor=50, good=85),
    CatalogueEntry("expansion-potential", "Expansion potential", "prediction.expansion", Tier.EXPANSION,
                   Unit.PERCENT, Direction.HIGHER, "How likely each customer is to grow its recurring revenue by 10% "
                   "or more by its next renewal, learned from who expanded before.", {"share": 0.10},
                   indicator=Indicator.LEADING, data_source=PREDICTION, poor=5, good=30),
    CatalogueEntry("health-score", "Health score", "health.score", Tier.ADVOCACY, Unit.SCORE, Direction.HIGHER,
                   "A 0-100 composite of usage trend, seat use, adoption breadth, NPS and ticket load: red below "
                   "50, green from 75.", indicator=Indicator.LEADING, data_source="Computed from component KPIs",
                   poor=40, good=80, core=True),
)


@transaction.atomic
def catalogue_install(*, owner=None) -> list[KPI]:
    """Create every catalogue KPI this tenant does not have yet (matched by slug); returns those created."""
    from metrics.services import kpis_create

    existing = set(KPI.objects.values_list("slug", flat=True))
    return kpis_create(changed_by=owner, kpis=[
        KPI(slug=entry.slug, name=entry.name, calculator=entry.calculator, params=dict(entry.params),
            definition=entry.definition, tier=entry.tier, indicator=entry.indicator, scopes=list(entry.scopes),
            cadence=entry.cadence, unit=entry.unit, direction=entry.direction, owner=owner,
            data_source=entry.data_source, poor_value=entry.poor, good_value=entry.good, is_core=entry.core)
        for entry in CATALOGUE if entry.slug not in existing])


@dataclass(frozen=True)
class DefaultRule:
    """An alert rule every new tenant starts with, on a catalogue KPI."""

    kpi: str
    name: str
    condition: str
    threshold: float
    severity: str
    hysteresis: float = 0.0
    renewal_within_days: int | None = None


# "If renewal probability dips below X, schedule a value demonstration within 14 days": the rule opens a breach
# for an account renewing within 120 days whose renewal probability is below 60%; playbooks.defaults starts a
# value review due within 14 days from it. Admins change the threshold or the window on the alert rule's page.
RENEWAL_AT_RISK = DefaultRule(kpi="renewal-probability", name="Renewal at risk", condition="below", threshold=60,
                              severity="high", hysteresis=5, renewal_within_days=120)
DEFAULT_RULES: tuple[DefaultRule, ...] = (RENEWAL_AT_RISK,)


@transaction.atomic
def default_rules_install(*, owner=None) -> list:
    """Create each default alert rule whose KPI exists and that the tenant does not have yet (matched by KPI and
    name); returns those created."""
    from metrics.models import AlertAction, AlertRule

    created = []
    for default in DEFAULT_RULES:
        kpi = KPI.objects.filter(slug=default.kpi).first()
        if kpi is None or AlertRule.objects.filter(kpi=kpi, name=default.name).exists():
            continue
        created.append(AlertRule.objects.create(
            kpi=kpi, name=default.name, scope=Scope.ACCOUNT, condition=default.condition,
            threshold=default.threshold, severity=default.severity, hysteresis=default.hysteresis,
            renewal_within_days=default.renewal_within_days, action=AlertAction.START_PLAYBOOK, created_by=owner))
    return created
