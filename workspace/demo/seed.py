"""Deterministic demo data: a tenant that looks like a real CS team's book of business.

Why this exists: `make run` must open on a product that already has something to show (KPIs that break,
playbooks that fire, a review with real numbers), and tests and screenshots need the same data every time.
So everything here is a pure function of (seed, as_of, account index):

- each account draws from its own `random.Random(f"{seed}:{index}:<part>")` streams (one per part:
  profile, revenue, usage, tickets, surveys), never the global `random` and never the wall clock, so the
  same seed and as-of give byte-identical rows, account 7 is the same whether 20 or 20000 are seeded,
  and the loader can work through the accounts in chunks;
- a hidden health pattern per account (healthy ~60%, declining ~25%, never activated ~15%) drives its
  lifecycle stage, revenue, usage, tickets and survey scores, so the KPIs have signal to find; and whether it
  leaves at a renewal (`_churn_process`), with noise, so a renewal model has something real but imperfect to
  learn (its back-test AUC on the demo is in docs/prediction.md);
- data stops before `as_of` (midnight UTC at its start): nothing is ever in the future.

Loading follows the ingest fast path of DESIGN.md: accounts, snapshots, surveys and tickets are upserted
in bulk; usage events are COPYed into a temporary staging table per chunk of accounts and moved with
`INSERT ... ON CONFLICT (idempotency_key) DO NOTHING`, so a re-run adds nothing. Rollups are rebuilt last.
"""

from __future__ import annotations

import bisect
import gc
import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django_tenants.utils import tenant_context
from tqdm import tqdm

from accounts.models import (
    Account,
    AccountStatus,
    LifecycleStage,
    RevenueSnapshot,
    SupportTicket,
    SurveyResponse,
    UsageEvent,
)
from accounts.services import usage_rollups_refresh_all
from metrics.sentiment import survey_sentiment_refresh
from tenants.models import Tenant
from tenants.services import TenantError, tenant_create
from users.models import User
from users.services import user_create
from workspace.demo.metrics import demo_metrics_seed
from workspace.demo.playbooks import demo_lifecycle_playbooks_ensure, demo_playbooks_ensure
from workspace.demo.reviews import demo_reviews_seed

DEMO_PASSWORD = "bellwether-demo"
DEFAULT_SLUG = "acme"
DEFAULT_ACCOUNTS = 500
DEFAULT_SEED = 42
MAX_ACCOUNTS = 20000
CHUNK_ACCOUNTS = 100

# Usage covers the 18 months of revenue: the history a renewal model learns from (a model only uses observation
# dates at least 90 days into the usage history, so a shorter one leaves it too few renewals to learn from).
USAGE_DAYS = 540
REVENUE_MONTHS = 18  # one snapshot per month, the 18 months ending with as_of's month
ACTIVITY_DAYS = 540  # tickets and surveys cover about the same 18 months
# Daily events of an account ~ USAGE_SCALE * seats ** 0.7: about 4,500 events per account over 18 months.
USAGE_SCALE = 0.92

HEALTHY, DECLINING, NEVER_ACTIVATED = "healthy", "declining", "never_activated"
PLANS = ("Starter", "Growth", "Enterprise")
PLAN_WEIGHTS = (50, 35, 15)
PLAN_MRR = {"Starter": (100, 500, 20), "Growth": (800, 4000, 27), "Enterprise": (5000, 40000, 26)}  # lo, hi, $/seat
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
REGION_WEIGHTS = (45, 30, 15, 10)
# Centre of the working day in UTC (hours) for each region's customers.
REGION_HOUR = {"NA": 17.0, "EMEA": 11.0, "APAC": 3.0, "LATAM": 15.0}
LEGAL_SUFFIXES = {
    "NA": ("Inc.", "LLC", "Corp.", "", ""),
    "EMEA": ("Ltd", "GmbH", "B.V.", "AG", "S.A.S.", ""),
    "APAC": ("Pty Ltd", "Pte. Ltd.", "K.K.", "Ltd", ""),
    "LATAM": ("S.A.", "Ltda.", "S.A. de C.V.", ""),
}

# Company names: <head><tail> <industry noun> [<legal suffix>], e.g. "Northwind Logistics GmbH".
# 32 heads x 24 tails x 40 nouns = 30,720 distinct names, more than MAX_ACCOUNTS.
NAME_HEADS = (
    "North", "Blue", "Silver", "Red", "Iron", "Clear", "Bright", "Glen", "Oak", "Pine", "Summit", "River",
    "Green", "Golden", "High", "Star", "Sun", "Maple", "Cedar", "Falcon", "Harbor", "Lake", "Cloud", "Swift",
    "Granite", "Copper", "Crystal", "Ever", "West", "East", "Frost", "Aspen",
)
NAME_TAILS = (
    "wind", "stone", "brook", "field", "ridge", "gate", "bridge", "point", "view", "wood", "water", "line",
    "path", "crest", "haven", "light", "peak", "vale", "works", "forge", "port", "dale", "mark", "shore",
)
INDUSTRY_NOUNS = {
    "Software": ("Software", "Labs", "Systems", "Technologies"),
    "Healthcare": ("Health", "Medical", "Clinics", "Care"),
    "Financial Services": ("Capital", "Financial", "Payments", "Insurance"),
    "Manufacturing": ("Manufacturing", "Industries", "Components", "Fabrication"),
    "Retail": ("Retail", "Outfitters", "Market", "Goods"),
    "Logistics": ("Logistics", "Freight", "Shipping", "Transport"),
    "Education": ("Learning", "Academy", "Education", "Tutoring"),
    "Media": ("Media", "Studios", "Publishing", "Broadcasting"),
    "Energy": ("Energy", "Power", "Solar", "Utilities"),
    "Professional Services": ("Consulting", "Partners", "Advisors", "Group"),
}
NAME_NOUNS = tuple((noun, industry) for industry, nouns in INDUSTRY_NOUNS.items() for noun in nouns)

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Lucas", "Mia", "Ethan", "Amara", "Kenji",
    "Priya", "Diego", "Hannah", "Omar", "Chloe", "Jonas", "Aisha", "Felix", "Elena", "Ravi", "Grace", "Tomas",
)
LAST_NAMES = (
    "Smith", "Garcia", "Muller", "Tanaka", "Okafor", "Rossi", "Nguyen", "Silva", "Kowalski", "Johnson",
    "Patel", "Larsen", "Dubois", "Kim", "Haddad", "Brown", "Schmidt", "Lopez", "Ivanova", "Walsh",
    "Novak", "Andersen", "Mensah", "Costa",
)

# The team that owns the book: (email local part, role, full name, manager's local part).
DEMO_TEAM = (
    ("admin", "admin", "Administrator", None),
    ("leader", "leader", "Dana Whitfield", None),
    ("manager1", "manager", "Marcus Chen", "leader"),
    ("manager2", "manager", "Priya Raman", "leader"),
    ("csm1", "csm", "Sofia Alvarez", "manager1"),
    ("csm2", "csm", "James O'Connor", "manager1"),
    ("csm3", "csm", "Aiko Tanaka", "manager1"),
    ("csm4", "csm", "Daniel Okafor", "manager1"),
    ("csm5", "csm", "Hannah Schmidt", "manager2"),
    ("csm6", "csm", "Luca Rossi", "manager2"),
    ("csm7", "csm", "Maya Patel", "manager2"),
    ("csm8", "csm", "Ethan Brooks", "manager2"),
)
CSM_COUNT = 8

# Usage: a session opens with a login (or straight onto a dashboard), then a few of these.
EVENT_NAMES = (
    "login", "dashboard_viewed", "report_created", "report_exported", "integration_connected",
    "alert_configured", "user_invited", "api_call", "workflow_created", "comment_added",
)
SESSION_EVENTS = ("dashboard_viewed", "report_created", "report_exported", "api_call", "comment_added",
                  "alert_configured", "workflow_created", "user_invited", "integration_connected", "login")
SESSION_WEIGHTS = (36, 13, 8, 16, 12, 3, 3, 2, 1, 6)
SESSION_CUM = tuple(sum(SESSION_WEIGHTS[: i + 1]) for i in range(len(SESSION_WEIGHTS)))
# JSON text of the properties each event may carry, picked uniformly.
EVENT_PROPERTIES = {
    "login": ('{"source": "web"}', '{"source": "web"}', '{"source": "web"}', '{"source": "sso"}',
              '{"source": "mobile"}'),
    "dashboard_viewed": ("{}", "{}", "{}", '{"source": "mobile"}'),
    "report_exported": ('{"format": "csv"}', '{"format": "pdf"}', '{"format": "xlsx"}'),
    "api_call": ('{"source": "api"}',),
    "integration_connected": ('{"integration": "salesforce"}', '{"integration": "hubspot"}',
                              '{"integration": "slack"}', '{"integration": "zendesk"}'),
}

FEATURES = ("dashboards", "report builder", "Salesforce integration", "alerting", "workflow automation",
            "API", "mobile app", "data export")
INTEGRATIONS = ("Salesforce", "HubSpot", "Slack", "Zendesk", "Snowflake", "Jira")
DATA_SOURCES = ("Salesforce", "HubSpot", "Snowflake", "Zendesk")
# Spelled out rather than strftime("%B"), which would follow the process locale.
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
COMMENTS = {
    "positive": (
        "The {feature} saves my team hours every week.",
        "Onboarding was smooth and our CSM was fantastic.",
        "Our whole team uses the {feature} daily; it has become essential.",
        "Great product, and support always gets back to us fast.",
        "The {feature} gave leadership the visibility they asked for.",
        "Easy to roll out to new teams; adoption took off quickly.",
        "We replaced two other tools with this one.",
        "Reliable, fast, and the roadmap keeps delivering what we need.",
        "Our CSM really understands our business.",
        "The {feature} is the best we have tried.",
        "Setup took an afternoon, not the weeks we had planned for.",
        "Love the recent improvements to the {feature}.",
        "Solid value for the price.",
    ),
    "neutral": (
        "Does the job, but the {feature} could be more flexible.",
        "Good overall; we would like more training for new hires.",
        "Works fine for us, though reporting takes some getting used to.",
        "Useful, but we have not rolled it out to every team yet.",
        "Decent product. Pricing for extra seats feels steep.",
        "Mostly happy; a couple of bugs in the {feature} slowed us down.",
        "It's fine. Would love a better mobile experience.",
        "Helpful, but the learning curve was steeper than expected.",
    ),
    "negative": (
        "We struggled to get the team to adopt it.",
        "The {feature} is too slow for our data volumes.",
        "Too many bugs lately; we are evaluating alternatives.",
        "Support takes days to respond to urgent issues.",
        "Hard to justify the cost given how little we use it.",
        "The {feature} keeps breaking after updates.",
        "Onboarding was confusing and we never really got going.",
        "Our champion left and nobody else knows how to use it.",
        "Missing features we were promised during the sale.",
        "Reports don't match the numbers in our CRM.",
        "Too complicated for what we need.",
        "We had three outages this quarter; not acceptable.",
    ),
}
SUPPORT_COMMENTS = {
    "positive": ("Quick fix, thanks!", "The agent understood the problem right away.",
                 "Resolved on the first reply.", "Clear instructions, problem solved."),
    "neutral": ("Solved eventually, after a few back-and-forths.", "OK, but I had to explain the issue twice."),
    "negative": ("Took far too long to get a first answer.", "The issue came back the next day.",
                 "Felt like nobody read my ticket.", "Still waiting on a real fix."),
}
TICKET_SUBJECTS = (
    "Cannot export report to {format}", "SSO login fails for new users", "Dashboard loads slowly",
    "Question about API rate limits", "{source} sync is missing records",
    "How do I set up alerts for my team?", "Invoice question for {month}", "Request to add {seats} more seats",
    "Webhook deliveries are failing", "Data import stuck in processing", "User cannot reset their password",
    "Scheduled report did not arrive", "Manager cannot see team dashboards", "Error 500 when saving a workflow",
    "Need help configuring the {integration} integration", "Feature request: custom fields on reports",
    "Dashboard numbers don't match {source}", "Admin locked out by two-factor authentication",
    "How do we bulk invite users?", "API returns 429 errors", "Wrong time zone on scheduled exports",
    "Training session for our new team members", "Duplicate records after import",
)
RISK_SUBJECTS = ("Request to reduce seats at renewal", "Question about cancelling our subscription",
                 "How do we export all of our data?", "Downgrade to a smaller plan")
ONBOARDING_SUBJECTS = ("Help getting started with setup", "SSO login fails for new users",
                       "How do we bulk invite users?", "Need help configuring the {integration} integration")
PRIORITIES = ("low", "normal", "high", "urgent")
# Minutes to first response (log-uniform), hours from response to resolution, handling minutes.
FIRST_RESPONSE_MINUTES = {"low": (60, 1440), "normal": (30, 480), "high": (15, 180), "urgent": (5, 45)}
RESOLUTION_HOURS = {"low": (4, 168), "normal": (2, 72), "high": (1, 24), "urgent": (0.5, 8)}
HANDLING_MINUTES = {"low": (5, 90), "normal": (10, 180), "high": (20, 360), "urgent": (30, 600)}

# Score weights per scale value (NPS 0-10, CSAT 1-5, CES 1-7), by the account's state when answering.
NPS_WEIGHTS = {
    HEALTHY: (0, 0, 0, 1, 1, 2, 3, 8, 20, 30, 35),
    "pre_decline": (1, 1, 2, 3, 5, 8, 12, 20, 22, 15, 11),
    DECLINING: (2, 3, 6, 14, 18, 20, 16, 12, 5, 2, 2),
    NEVER_ACTIVATED: (6, 6, 8, 12, 14, 14, 12, 10, 8, 5, 5),
}
CSAT_WEIGHTS = {HEALTHY: (2, 3, 8, 30, 57), DECLINING: (12, 15, 25, 28, 20), NEVER_ACTIVATED: (10, 12, 25, 30, 23)}
CES_WEIGHTS = {HEALTHY: (1, 1, 3, 6, 15, 35, 39), DECLINING: (8, 14, 20, 22, 18, 12, 6),
               NEVER_ACTIVATED: (15, 20, 22, 18, 12, 8, 5)}


class DemoSeedError(ValueError):
    """The seed cannot run as asked (bad account count, date or tenant); the message says why."""


@dataclass(frozen=True)
class DemoAccount:
    """One generated customer account, plus the hidden pattern that drives its activity."""

    seed: int
    as_of: date
    index: int
    external_id: str
    name: str
    domain: str
    plan: str
    region: str
    industry: str
    health: str
    start_date: date
    renewal_date: date
    churn_date: date | None
    decline_start: date | None
    licensed_seats: int
    mrr: int
    lifecycle_stage: str
    status: str
    owner_index: int
    custom_attributes: dict = field(hash=False)
    recovered_on: date | None = None  # a declining account saved at its renewal: its use comes back from here

    def declining_on(self, day: date) -> bool:
        """Whether the account is in its decline on `day`."""
        return (self.decline_start is not None and day >= self.decline_start
                and (self.recovered_on is None or day < self.recovered_on))

    def rng(self, part: str) -> random.Random:
        """This account's private random stream for one part of its data."""
        return random.Random(f"{self.seed}:{self.index}:{part}")

    @property
    def active_until(self) -> date:
        """The first day with no activity: the churn date, else as_of."""
        return min(self.churn_date, self.as_of) if self.churn_date else self.as_of


class DemoEvent(NamedTuple):
    idempotency_key: str
    user_id: str
    event_name: str
    occurred_at: datetime
    properties: dict


class DemoTicket(NamedTuple):
    external_id: str
    subject: str
    priority: str
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    handling_minutes: int


class DemoSurvey(NamedTuple):
    external_id: str
    kind: str
    score: int
    comment: str
    respondent: str
    responded_at: datetime


@dataclass
class SeedSummary:
    """What a seed run did, for the command to print and tests to check."""

    tenant_slug: str
    tenant_created: bool = False
    skipped: bool = False
    users: int = 0
    users_created: int = 0
    accounts: int = 0
    revenue_snapshots: int = 0
    usage_events: int = 0
    usage_events_inserted: int = 0
    survey_responses: int = 0
    support_tickets: int = 0
    metric_values: int = 0
    seconds: float = 0.0


# --- pure generation --------------------------------------------------------------------------------------


def external_id_prefix(slug: str) -> str:
    return slug.upper()


def _anniversary(start: date, year: int) -> date:
    try:
        return start.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def next_anniversary(start: date, on_or_after: date) -> date:
    """The first anniversary of `start` on or after `on_or_after` (the start itself counts as year 0)."""
    candidate = _anniversary(start, max(start.year, on_or_after.year))
    if candidate < start:
        candidate = start
    while candidate < on_or_after:
        candidate = _anniversary(start, candidate.year + 1)
    return candidate


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(month: date, count: int) -> date:
    total = month.year * 12 + month.month - 1 + count
    return date(total // 12, total % 12 + 1, 1)


def _at(day: date, second: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=int(second))


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _second_of_day(rng: random.Random, region: str) -> int:
    """A time of day around the region's working hours, in UTC seconds."""
    return int((REGION_HOUR[region] + rng.gauss(0, 2.6)) * 3600) % 86400


@lru_cache(maxsize=8)
def _name_order(seed: int) -> tuple[int, ...]:
    """A seed-dependent permutation of every name combination: account i gets a distinct name."""
    order = list(range(len(NAME_HEADS) * len(NAME_TAILS) * len(NAME_NOUNS)))
    random.Random(f"{seed}:names").shuffle(order)
    return tuple(order)


def demo_account(index: int, *, seed: int, as_of: date, slug: str = DEFAULT_SLUG) -> DemoAccount:
    """Account number `index` (1-based) of the demo book: a pure function of its arguments."""
    rng = random.Random(f"{seed}:{index}")
    combo = _name_order(seed)[index - 1]
    noun, industry = NAME_NOUNS[combo % len(NAME_NOUNS)]
    tail = NAME_TAILS[(combo // len(NAME_NOUNS)) % len(NAME_TAILS)]
    head = NAME_HEADS[combo // (len(NAME_NOUNS) * len(NAME_TAILS))]
    brand = head + tail
    region = rng.choices(REGIONS, REGION_WEIGHTS)[0]
    suffix = rng.choice(LEGAL_SUFFIXES[region])
    name = f"{brand} {noun} {suffix}".strip()
    domain = f"{brand}{noun}.example".lower()

    plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
    if plan == "Starter":
        seats = rng.randint(5, 25)
    elif plan == "Growth":
        seats = 25 + int(125 * rng.random() ** 1.5)
    else:
        seats = 150 + int(1350 * rng.random() ** 2)
    low, high, per_seat = PLAN_MRR[plan]
    mrr = int(min(high, max(low, round(seats * per_seat * rng.uniform(0.85, 1.15), -1))))

    draw = rng.random()
    health = HEALTHY if draw < 0.60 else DECLINING if draw < 0.85 else NEVER_ACTIVATED
    if health == HEALTHY:
        age = 3 + int(910 * rng.random() ** 1.25)
    elif health == DECLINING:
        age = 150 + int(763 * rng.random() ** 1.1)
    else:
        age = 3 + int(500 * rng.random() ** 1.2)
    start = as_of - timedelta(days=age)

    churn, decline_start, recovered_on = _churn_process(rng, health=health, start=start, as_of=as_of)

    renewal = churn if churn else next_anniversary(start, as_of)
    last_renewal = next_anniversary(start, as_of - timedelta(days=150))
    if not churn and start < last_renewal < as_of - timedelta(days=30) and rng.random() < 0.5:
        # The CRM has not rolled this renewal forward yet: its renewal date is the one just decided.
        renewal = last_renewal
    if churn:
        stage = LifecycleStage.CHURNED
    elif age < 90:
        stage = LifecycleStage.ONBOARDING
    elif health in (DECLINING, NEVER_ACTIVATED):
        stage = LifecycleStage.AT_RISK
    elif (renewal - as_of).days <= 90:
        stage = LifecycleStage.RENEWAL
    elif age < 365:
        stage = LifecycleStage.ADOPTION
    else:
        stage = LifecycleStage.MATURE

    tier = {"Starter": "Tier 3", "Growth": "Tier 2", "Enterprise": "Tier 1"}[plan]
    if rng.random() < 0.1:
        tier = rng.choice(("Tier 1", "Tier 2", "Tier 3"))
    attributes = {
        "crm_tier": tier,
        "csat_program": rng.random() < 0.7,
        "billing_cycle": "annual" if rng.random() < (0.9 if plan == "Enterprise" else 0.6) else "monthly",
    }
    return DemoAccount(
        seed=seed, as_of=as_of, index=index, external_id=f"{external_id_prefix(slug)}-{index:05d}", name=name,
        domain=domain, plan=plan, region=region, industry=industry, health=health, start_date=start,
        renewal_date=renewal, churn_date=churn, decline_start=decline_start, licensed_seats=seats, mrr=mrr,
        lifecycle_stage=stage.value, status=(AccountStatus.CHURNED if churn else AccountStatus.ACTIVE).value,
        owner_index=(index - 1) % CSM_COUNT, custom_attributes=attributes, recovered_on=recovered_on,
    )


# The churn process a model can learn, with noise: customers leave at a renewal. A declining account's use falls,
# its survey answers sour and its tickets pile up from 60-150 days before a renewal, and it leaves at that renewal
# more often than not; the others are saved, renew, and their use comes back. An account that never activated
# mostly does not renew the first time. A healthy account gives no warning, and a few leave anyway (budget cuts,
# acquisitions): that is the noise no model can see.
DECLINING_CHURN = 0.65
NEVER_ACTIVATED_CHURN = 0.60
HEALTHY_CHURN = 0.05


def _churn_process(rng: random.Random, *, health: str, start: date,
                   as_of: date) -> tuple[date | None, date | None, date | None]:
    """(churn date, decline start, recovery) of an account: churn falls on a renewal (a yearly anniversary of
    the start) before as_of; a recovery on the days after a renewal a declining account was saved at."""
    renewals = []
    renewal = next_anniversary(start, start + timedelta(days=1))
    while renewal < as_of:
        renewals.append(renewal)
        renewal = next_anniversary(start, renewal + timedelta(days=1))
    draw = rng.random()
    if health == DECLINING:
        decided = [renewal for renewal in renewals if renewal - start >= timedelta(days=150)]
        target = decided[-1] if decided and rng.random() < 0.6 else next_anniversary(start, as_of)
        decline_start = max(start + timedelta(days=30), target - timedelta(days=rng.randint(60, 150)))
        if target >= as_of:
            return None, decline_start, None  # its renewal is still ahead
        if draw < DECLINING_CHURN:
            return target, decline_start, None
        return None, decline_start, target + timedelta(days=rng.randint(14, 45))
    if health == NEVER_ACTIVATED:
        return (renewals[0] if renewals and draw < NEVER_ACTIVATED_CHURN else None), None, None
    for renewal in renewals:
        if rng.random() < HEALTHY_CHURN:
            return renewal, None, None
    return None, None, None


def generate_accounts(*, count: int, seed: int, as_of: date, slug: str = DEFAULT_SLUG) -> list[DemoAccount]:
    """The first `count` demo accounts, in external_id order."""
    return [demo_account(index, seed=seed, as_of=as_of, slug=slug) for index in range(1, count + 1)]


def revenue_snapshots(account: DemoAccount) -> list[tuple[date, Decimal]]:
    """(month, MRR) for each of the last 18 months the account existed, oldest first; 0 from its churn month.

    Built backwards from today's MRR, so the latest figure always matches the account's seats: a healthy
    account's expansions make earlier months lower, a declining account's contractions make them higher.
    """
    rng = account.rng("revenue")
    last = _month_start(account.as_of)
    first = max(_add_months(last, -(REVENUE_MONTHS - 1)), _month_start(account.start_date))
    churn_month = _month_start(account.churn_date) if account.churn_date else None
    decline_month = _month_start(account.decline_start) if account.decline_start else None
    rows: list[tuple[date, Decimal]] = []
    value = float(account.mrr)
    contractions = 0
    month = last
    while month >= first:
        mrr = 0 if churn_month and month >= churn_month else int(round(value, -1))
        rows.append((month, Decimal(mrr)))
        # Step to the month before: did this month's figure come from an expansion or a contraction?
        if account.health == HEALTHY and rng.random() < 0.05:
            value /= 1 + rng.uniform(0.1, 0.35)
        elif (account.health == DECLINING and decline_month and month > decline_month and contractions < 2
              and (churn_month is None or month < churn_month) and account.declining_on(month)
              and rng.random() < 0.35):
            value *= 1 + rng.uniform(0.1, 0.3)
            contractions += 1
        value = max(value, 50.0)
        month = _add_months(month, -1)
    rows.reverse()
    return rows


@lru_cache(maxsize=1)
def _clock() -> tuple[str, ...]:
    """'HH:MM:SS' for every second of a day, so formatting a timestamp is a lookup."""
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))


def _usage_days(account: DemoAccount) -> Iterator[tuple[date, list[tuple[int, int, str, str]]]]:
    """The account's usage, day by day: (day, [(second, user number, event name, properties JSON)])
    sorted by time. The raw form both the public generator and the COPY loader format from."""
    rng = account.rng("usage")
    end = account.active_until
    first = max(account.as_of - timedelta(days=USAGE_DAYS), account.start_date)
    if first >= end:
        return
    region = account.region
    hour = REGION_HOUR[region] * 3600
    if account.health == NEVER_ACTIVATED:
        # A handful of logins by one or two people in the first days, then nothing.
        if account.start_date < first:
            return
        users = rng.randint(1, 2)
        by_day: dict[date, list[tuple[int, int, str, str]]] = {}
        for _ in range(rng.randint(2, 6)):
            day = account.start_date + timedelta(days=rng.randint(0, 4))
            if day < end:
                by_day.setdefault(day, []).append(
                    (_second_of_day(rng, region), rng.randint(1, users), "login", '{"source": "web"}')
                )
        for day in sorted(by_day):
            yield day, sorted(by_day[day])
        return

    pool = max(2, round(account.licensed_seats * rng.uniform(*((0.5, 0.95) if account.health == HEALTHY
                                                              else (0.35, 0.75)))))
    # A few power users do most of the work: user j is picked with weight 1 / j ** 0.9.
    user_cum: list[float] = []
    total = 0.0
    for j in range(1, pool + 1):
        total += 1 / j**0.9
        user_cum.append(total)
    base = USAGE_SCALE * account.licensed_seats**0.7 * rng.uniform(0.7, 1.3)
    growth = rng.uniform(-0.05, 0.6)
    floor = rng.uniform(0.05, 0.25)
    decline_from = account.decline_start.toordinal() if account.decline_start else end.toordinal()
    recovered_from = account.recovered_on.toordinal() if account.recovered_on else end.toordinal()
    decline_span = max(1, min(end.toordinal(), recovered_from) - decline_from)
    start_ordinal = account.start_date.toordinal()
    first_ordinal = first.toordinal()
    random_, expovariate, choices, gauss = rng.random, rng.expovariate, rng.choices, rng.gauss
    props = EVENT_PROPERTIES
    for ordinal in range(first_ordinal, end.toordinal()):
        level = 1.0
        if account.health == HEALTHY:
            level += growth * (ordinal - first_ordinal) / USAGE_DAYS
        elif ordinal >= recovered_from:
            level = 0.85  # saved at its renewal: most of its use comes back
        elif ordinal >= decline_from:
            level = 1 - (1 - floor) * ((ordinal - decline_from) / decline_span) ** 0.8
        since_start = ordinal - start_ordinal
        if since_start < 45:  # onboarding ramp-up
            level *= 0.25 + 0.75 * since_start / 45
        if (ordinal - 1) % 7 >= 5:  # weekend
            level *= 0.2
        count = int(base * level * (0.7 + 0.6 * random_()) + random_())
        if not count:
            continue
        # As an account declines, fewer of its people still log in.
        reach = user_cum[-1] if level >= 1 else user_cum[max(0, int(pool * (0.3 + 0.7 * level)) - 1)]
        events: list[tuple[int, int, str, str]] = []
        while count > 0:
            user = bisect.bisect_left(user_cum, random_() * reach) + 1
            length = min(count, 1 + int(expovariate(0.5)))
            count -= length
            second = int(hour + gauss(0, 9400)) % 86400
            name = "login" if random_() < 0.7 else "dashboard_viewed"
            names = [name, *choices(SESSION_EVENTS, cum_weights=SESSION_CUM, k=length - 1)]
            for name in names:
                options = props.get(name)
                events.append((second, user, name, options[int(random_() * len(options))] if options else "{}"))
                second = min(86399, second + 15 + int(expovariate(1 / 120)))
        events.sort()
        yield date.fromordinal(ordinal), events


def usage_events(account: DemoAccount) -> Iterator[DemoEvent]:
    """The account's usage events over the last USAGE_DAYS days before as_of, in time order."""
    prefix, users = f"demo-{account.external_id}-", f"u-{account.external_id}-"
    sequence = 0
    for day, events in _usage_days(account):
        for second, user, name, properties in events:
            sequence += 1
            yield DemoEvent(f"{prefix}{sequence:06d}", f"{users}{user:03d}", name, _at(day, second),
                            _json_properties(properties))


@lru_cache(maxsize=64)
def _json_properties_cached(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(json.loads(text).items())


def _json_properties(text: str) -> dict:
    return dict(_json_properties_cached(text))


def _event_copy_lines(account: DemoAccount, account_pk: int) -> Iterator[str]:
    """The account's events as lines of COPY text: key, account id, user id, name, time, properties."""
    clock = _clock()
    prefix, users = f"demo-{account.external_id}-", f"\t{account_pk}\tu-{account.external_id}-"
    sequence = 0
    for day, events in _usage_days(account):
        stamp = f"\t{day.isoformat()} "
        for second, user, name, properties in events:
            sequence += 1
            yield f"{prefix}{sequence:06d}{users}{user:03d}\t{name}{stamp}{clock[second]}+00\t{properties}\n"


def support_tickets(account: DemoAccount) -> list[DemoTicket]:
    """Helpdesk tickets over the last ~18 months: a few a quarter, more (and slower) once an account declines."""
    rng = account.rng("tickets")
    end = account.active_until
    cutoff = _at(account.as_of, 0)
    first = max(account.as_of - timedelta(days=ACTIVITY_DAYS), account.start_date)
    per_quarter = {"Starter": 2.5, "Growth": 3.5, "Enterprise": 6.0}[account.plan] * rng.uniform(0.6, 1.4)
    daily = per_quarter / 65  # tickets arrive on working days
    tickets: list[DemoTicket] = []
    for ordinal in range(first.toordinal(), end.toordinal()):
        day = date.fromordinal(ordinal)
        since_start = ordinal - account.start_date.toordinal()
        declining = account.declining_on(day)
        if account.health == NEVER_ACTIVATED:
            rate = 0.06 if since_start < 30 else 0.0
        else:
            rate = daily * (2.5 if declining else 1.3 if account.health == DECLINING else 1.0)
            if since_start < 60:
                rate *= 1.5  # onboarding questions
        if (ordinal - 1) % 7 >= 5:
            rate *= 0.15
        if rng.random() >= rate:
            continue
        opened = _at(day, _second_of_day(rng, account.region))
        if account.health == NEVER_ACTIVATED or since_start < 30:
            template = rng.choice(ONBOARDING_SUBJECTS)
        elif declining and rng.random() < 0.15:
            template = rng.choice(RISK_SUBJECTS)
        else:
            template = rng.choice(TICKET_SUBJECTS)
        subject = template.format(
            format=rng.choice(("PDF", "CSV", "Excel")), integration=rng.choice(INTEGRATIONS),
            source=rng.choice(DATA_SOURCES), month=MONTH_NAMES[day.month - 1], seats=rng.choice((5, 10, 20, 25, 50)),
        )
        priority = rng.choices(PRIORITIES, (15, 40, 30, 15) if declining else (25, 50, 18, 7))[0]
        slow = rng.uniform(1.5, 3.0) if declining else 1.0
        response = opened + timedelta(seconds=int(_log_uniform(rng, *FIRST_RESPONSE_MINUTES[priority]) * slow * 60))
        resolved: datetime | None = response + timedelta(
            seconds=int(_log_uniform(rng, *RESOLUTION_HOURS[priority]) * slow * 3600))
        handling = round(_log_uniform(rng, *HANDLING_MINUTES[priority]) * (1.3 if declining else 1.0))
        if rng.random() < (0.12 if declining else 0.01):
            resolved = None  # stuck in the backlog
        first_response_at = response if response < cutoff else None
        resolved_at = resolved if first_response_at and resolved and resolved < cutoff else None
        tickets.append(DemoTicket(
            external_id=f"demo-{account.external_id}-t{len(tickets) + 1:04d}", subject=subject, priority=priority,
            opened_at=opened, first_response_at=first_response_at, resolved_at=resolved_at,
            handling_minutes=min(600, max(5, handling)),
        ))
    return tickets


def _sentiment(kind: str, score: int) -> str:
    positive, neutral = {"nps": (9, 7), "csat": (4, 3), "ces": (6, 4)}[kind]
    return "positive" if score >= positive else "neutral" if score >= neutral else "negative"


def survey_responses(account: DemoAccount, tickets: Sequence[DemoTicket] = ()) -> list[DemoSurvey]:
    """Quarterly NPS from a couple of contacts, occasional CES, and CSAT after some resolved tickets.

    Scores follow the account's state at the time (healthy high, declining sliding, never activated low);
    about half the answers carry a comment whose tone matches the score.
    """
    rng = account.rng("surveys")
    end = account.active_until
    cutoff = _at(end, 0)
    contacts = []
    for _ in range(rng.randint(2, 4)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contacts.append(f"{first}.{last}@{account.domain}".lower())
    contacts = list(dict.fromkeys(contacts))

    def state(day: date) -> str:
        if account.health == DECLINING:
            if account.declining_on(day):
                return DECLINING
            return HEALTHY if account.recovered_on and day >= account.recovered_on else "pre_decline"
        return account.health

    def comment(kind: str, score: int, support: bool = False) -> str:
        tone = _sentiment(kind, score)
        if rng.random() >= (0.7 if tone == "negative" else 0.5):
            return ""
        return rng.choice((SUPPORT_COMMENTS if support else COMMENTS)[tone]).format(feature=rng.choice(FEATURES))

    responses: list[DemoSurvey] = []
    numbers = {"nps": 0, "ces": 0}

    def add(kind: str, score: int, text: str, respondent: str, at: datetime, number: int | None = None) -> None:
        if number is None:
            numbers[kind] += 1
            number = numbers[kind]
        responses.append(DemoSurvey(f"demo-{account.external_id}-{kind}-{number:04d}", kind, score, text,
                                    respondent, at))

    answer_rate = {HEALTHY: 0.85, DECLINING: 0.8, NEVER_ACTIVATED: 0.3}[account.health]
    for quarter in reversed(range(ACTIVITY_DAYS // 91)):
        wave = account.as_of - timedelta(days=91 * quarter + 25)
        if wave < account.start_date + timedelta(days=30) or wave >= end:
            continue
        if rng.random() < answer_rate:
            respondents = 1 + (rng.random() < 0.55) + (rng.random() < 0.2)
            for respondent in rng.sample(contacts, min(respondents, len(contacts))):
                day = wave + timedelta(days=rng.randint(0, 10))
                at = _at(day, _second_of_day(rng, account.region))
                if at >= cutoff:
                    continue
                weights = NPS_WEIGHTS[state(day)]
                score = rng.choices(range(11), weights)[0]
                add("nps", score, comment("nps", score), respondent, at)
        if rng.random() < 0.25:
            day = wave + timedelta(days=rng.randint(0, 20))
            at = _at(day, _second_of_day(rng, account.region))
            if at < cutoff:
                key = HEALTHY if state(day) == "pre_decline" else state(day)
                score = rng.choices(range(1, 8), CES_WEIGHTS[key])[0]
                add("ces", score, comment("ces", score), rng.choice(contacts), at)

    csat_rate = 0.4 if account.custom_attributes.get("csat_program") else 0.15
    for number, ticket in enumerate(tickets, start=1):
        if ticket.resolved_at is None or rng.random() >= csat_rate:
            continue
        at = ticket.resolved_at + timedelta(minutes=rng.randint(30, 36 * 60))
        if at >= _at(account.as_of, 0):
            continue
        key = state(ticket.opened_at.date())
        key = HEALTHY if key == "pre_decline" else key
        slow = ticket.first_response_at is not None and ticket.first_response_at - ticket.opened_at > timedelta(
            hours=8)
        score = rng.choices(range(1, 6), CSAT_WEIGHTS[DECLINING if slow else key])[0]
        add("csat", score, comment("csat", score, support=True), rng.choice(contacts), at, number)
    responses.sort(key=lambda response: (response.responded_at, response.external_id))
    return responses


# --- loading ----------------------------------------------------------------------------------------------


def parse_as_of(value: str) -> date:
    """A YYYY-MM-DD date, or DemoSeedError."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise DemoSeedError(f"--as-of must be a date like 2026-06-30, not {value!r}.") from None


def _validate(*, accounts: int, as_of: date) -> None:
    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise DemoSeedError(f"The number of accounts must be between 1 and {MAX_ACCOUNTS}, not {accounts}.")
    if not date(2000, 1, 1) <= as_of <= date(2100, 12, 31):
        raise DemoSeedError(f"The as-of date must lie between 2000 and 2100, not {as_of.isoformat()}.")


def demo_tenant_ensure(*, slug: str = DEFAULT_SLUG) -> tuple[Tenant, bool]:
    """The tenant with this slug, created (with admin@<slug>.example) if missing. Returns (tenant, created)."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is not None:
        return tenant, False
    name = "Acme Corp" if slug == "acme" else f"{slug.replace('-', ' ').title()} Corp"
    try:
        created = tenant_create(slug=slug, name=name, admin_email=f"admin@{slug}.example",
                                admin_password=DEMO_PASSWORD)
    except TenantError as error:
        raise DemoSeedError(str(error)) from None
    return created.tenant, True


def demo_users_ensure(*, slug: str = DEFAULT_SLUG) -> tuple[list[User], int]:
    """Get or create the demo team in the current tenant; returns (the 8 CSMs in order, users created).

    Existing users are left as they are. New ones all get the demo password, hashed once.
    """
    by_local = {email.split("@")[0]: user for email, user in (
        (user.email, user) for user in User.objects.filter(email__in=[f"{m[0]}@{slug}.example" for m in DEMO_TEAM])
    )}
    created = []
    for local, role, full_name, manager in DEMO_TEAM:
        if local in by_local:
            continue
        user = user_create(email=f"{local}@{slug}.example", role=role, full_name=full_name,
                           manager=by_local.get(manager) if manager else None, password=None,
                           password_change_required=False)
        by_local[local] = user
        created.append(user.pk)
    if created:
        # One PBKDF2 hash for all: hashing each of them would cost ~0.35 s per user.
        User.objects.filter(pk__in=created).update(password=make_password(DEMO_PASSWORD))
    return [by_local[f"csm{n}"] for n in range(1, CSM_COUNT + 1)], len(created)


def _accounts_upsert(plans: Sequence[DemoAccount], owners: Sequence[User]) -> dict[str, int]:
    rows = [
        Account(
            external_id=plan.external_id, name=plan.name, plan=plan.plan, region=plan.region,
            industry=plan.industry, lifecycle_stage=plan.lifecycle_stage, status=plan.status,
            start_date=plan.start_date, renewal_date=plan.renewal_date, licensed_seats=plan.licensed_seats,
            owner=owners[plan.owner_index], custom_attributes=plan.custom_attributes,
        )
        for plan in plans
    ]
    fields = ["name", "plan", "region", "industry", "lifecycle_stage", "status", "start_date", "renewal_date",
              "licensed_seats", "owner", "custom_attributes", "updated_at"]
    Account.objects.bulk_create(rows, batch_size=1000, update_conflicts=True, unique_fields=["external_id"],
                                update_fields=fields)
    ids = [plan.external_id for plan in plans]
    return dict(Account.objects.filter(external_id__in=ids).values_list("external_id", "pk"))


def _revenue_load(cursor, plans: Sequence[DemoAccount], ids: dict[str, int]) -> None:
    account_ids, months, values = [], [], []
    for plan in plans:
        for month, mrr in revenue_snapshots(plan):
            account_ids.append(ids[plan.external_id])
            months.append(month)
            values.append(mrr)
    cursor.execute(
        """
        INSERT INTO accounts_revenuesnapshot (account_id, month, mrr, updated_at)
        SELECT account_id, month, mrr, now() FROM unnest(%s::bigint[], %s::date[], %s::numeric[])
            AS rows (account_id, month, mrr)
        ON CONFLICT (account_id, month) DO UPDATE SET mrr = EXCLUDED.mrr, updated_at = EXCLUDED.updated_at
        WHERE accounts_revenuesnapshot.mrr IS DISTINCT FROM EXCLUDED.mrr
        """,
        [account_ids, months, values],
    )


def _events_load(cursor, plans: Sequence[DemoAccount], ids: dict[str, int]) -> int:
    """COPY the chunk's events into the staging table, then move the new ones; returns rows inserted."""
    cursor.execute("TRUNCATE pg_temp.demo_event_stage")
    with cursor.cursor.copy(
        "COPY pg_temp.demo_event_stage (idempotency_key, account_id, user_id, event_name, occurred_at, properties)"
        " FROM STDIN"
    ) as copy:
        lines: list[str] = []
        for plan in plans:
            lines.extend(_event_copy_lines(plan, ids[plan.external_id]))
            if len(lines) >= 20000:
                copy.write("".join(lines))
                lines.clear()
        if lines:
            copy.write("".join(lines))
    cursor.execute(
        """
        INSERT INTO accounts_usageevent
            (idempotency_key, account_id, user_id, event_name, occurred_at, properties, received_at)
        SELECT idempotency_key, account_id, user_id, event_name, occurred_at, properties, now()
        FROM pg_temp.demo_event_stage
        ON CONFLICT (idempotency_key) DO NOTHING
        """
    )
    return cursor.rowcount


def _tickets_and_surveys_load(plans: Sequence[DemoAccount], ids: dict[str, int]) -> None:
    tickets, surveys = [], []
    for plan in plans:
        account_id = ids[plan.external_id]
        generated = support_tickets(plan)
        tickets.extend(SupportTicket(account_id=account_id, **ticket._asdict()) for ticket in generated)
        surveys.extend(SurveyResponse(account_id=account_id, **survey._asdict())
                       for survey in survey_responses(plan, generated))
    SupportTicket.objects.bulk_create(
        tickets, batch_size=2000, update_conflicts=True, unique_fields=["external_id"],
        update_fields=["account", "subject", "priority", "opened_at", "first_response_at", "resolved_at",
                       "handling_minutes"],
    )
    SurveyResponse.objects.bulk_create(surveys, batch_size=2000, ignore_conflicts=True)


def seed_demo(
    *,
    slug: str = DEFAULT_SLUG,
    accounts: int = DEFAULT_ACCOUNTS,
    seed: int = DEFAULT_SEED,
    as_of: date | None = None,
    if_missing: bool = False,
    progress: bool = True,
    kpi_history_weeks: int = 12,
) -> SeedSummary:
    """Create the tenant if needed and load (or refresh) its demo data; safe to run again.

    Re-running with the same seed and as-of changes nothing: accounts, snapshots and tickets are upserted,
    surveys and events are inserted only if missing. With `if_missing`, a tenant that already has
    accounts is left alone. Everything but the tenant's creation happens in one transaction.
    """
    slug = slug.strip().lower()
    as_of = as_of or datetime.now(UTC).date()
    _validate(accounts=accounts, as_of=as_of)
    started = time.perf_counter()
    tenant, created = demo_tenant_ensure(slug=slug)
    summary = SeedSummary(tenant_slug=slug, tenant_created=created)
    # tenant_context, not bare schema_context: the rollups count days in the tenant's own time zone.
    with tenant_context(tenant):
        if if_missing and Account.objects.exists():
            summary.skipped = True
            return summary
        plans = generate_accounts(count=accounts, seed=seed, as_of=as_of, slug=slug)
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived strings: the cyclic collector only slows generation down
        bar = tqdm(total=accounts + 2, desc=f"Seeding {slug}", unit="step", file=sys.stderr, disable=not progress,
                   dynamic_ncols=True)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                bar.set_postfix_str("users and accounts")
                owners, summary.users_created = demo_users_ensure(slug=slug)
                ids = _accounts_upsert(plans, owners)
                bar.update(1)
                cursor.execute(
                    """
                    CREATE TEMP TABLE IF NOT EXISTS demo_event_stage (
                        idempotency_key text COLLATE "C", account_id bigint, user_id text, event_name text,
                        occurred_at timestamptz, properties jsonb
                    ) ON COMMIT DROP
                    """
                )
                bar.set_postfix_str("revenue, usage, tickets, surveys")
                for offset in range(0, len(plans), CHUNK_ACCOUNTS):
                    chunk = plans[offset : offset + CHUNK_ACCOUNTS]
                    _revenue_load(cursor, chunk, ids)
                    summary.usage_events_inserted += _events_load(cursor, chunk, ids)
                    _tickets_and_surveys_load(chunk, ids)
                    bar.update(len(chunk))
                bar.set_postfix_str("usage rollups")
                usage_rollups_refresh_all()
                bar.update(1)
        finally:
            bar.close()
            if gc_was_enabled:
                gc.enable()
        # KPIs: the catalogue with targets, comment sentiment, and a few weeks of values to chart.
        survey_sentiment_refresh()
        leader = User.objects.filter(email=f"leader@{slug}.example").first()
        summary.metric_values = demo_metrics_seed(as_of=as_of, owner=leader, history_weeks=kpi_history_weeks,
                                                  before_compute=demo_playbooks_ensure)
        demo_lifecycle_playbooks_ensure()
        demo_reviews_seed(as_of=as_of, slug=slug)
        summary.users = User.objects.count()
        summary.accounts = Account.objects.count()
        summary.revenue_snapshots = RevenueSnapshot.objects.count()
        summary.usage_events = UsageEvent.objects.count()
        summary.survey_responses = SurveyResponse.objects.count()
        summary.support_tickets = SupportTicket.objects.count()
    summary.seconds = time.perf_counter() - started
    return summary
