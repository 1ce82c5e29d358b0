"""KPIs as the CS team defines them (versioned, owned, with targets) and the values computed for them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q


class Tier(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTION = "adoption", "Adoption"
    RETENTION = "retention", "Retention"
    EXPANSION = "expansion", "Expansion"
    ADVOCACY = "advocacy", "Advocacy"
    PROFITABILITY = "profitability", "Profitability"


class Indicator(models.TextChoices):
    LEADING = "leading", "Leading"
    LAGGING = "lagging", "Lagging"


class Scope(models.TextChoices):
    ACCOUNT = "account", "Account"
    SEGMENT = "segment", "Segment"
    PORTFOLIO = "portfolio", "Portfolio"


class Cadence(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"


class Unit(models.TextChoices):
    PERCENT = "percent", "Percent"
    RATIO = "ratio", "Ratio"
    SCORE = "score", "Score"
    CURRENCY = "currency", "Currency"
    COUNT = "count", "Count"
    DAYS = "days", "Days"
    HOURS = "hours", "Hours"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


def all_scopes() -> list[str]:
    return list(Scope.values)


class KPI(models.Model):
    """A KPI: what it means, how it is computed, who owns it, and how often it is reported."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    definition = models.TextField(help_text="The glossary entry: what the number means, in plain words.")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    indicator = models.CharField(max_length=8, choices=Indicator.choices)
    calculator = models.CharField(max_length=60, help_text="Registry id, e.g. revenue.grr.")
    params = models.JSONField(default=dict, blank=True)
    scopes = ArrayField(models.CharField(max_length=10, choices=Scope.choices),
                        default=all_scopes, help_text="Where it is shown: account, segment, portfolio.")
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.DAILY)
    unit = models.CharField(max_length=10, choices=Unit.choices)
    direction = models.CharField(max_length=6, choices=Direction.choices, default=Direction.HIGHER)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="owned_kpis")
    data_source = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    is_core = models.BooleanField(default=False, help_text="Dashboards and reviews lead with the core KPIs.")
    in_review = models.BooleanField(default=True, help_text="Snapshotted in the quarterly review.")
    # Thresholds for the health score and alerts: the value that earns 0 points and the one that earns 100.
    poor_value = models.FloatField(null=True, blank=True)
    good_value = models.FloatField(null=True, blank=True)
    benchmark_value = models.FloatField(null=True, blank=True)
    benchmark_source = models.CharField(max_length=300, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier", "name"]
        verbose_name = "KPI"
        constraints = [
            models.CheckConstraint(condition=Q(scopes__contained_by=Scope.values), name="kpi_scopes_known"),
            models.CheckConstraint(condition=Q(version__gte=1), name="kpi_version_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class KPIVersion(models.Model):
    """How a KPI was computed from a given version on: every stored value names the version that made it."""

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    calculator = models.CharField(max_length=60)
    params = models.JSONField(default=dict)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kpi", "-version"]
        constraints = [models.UniqueConstraint(fields=["kpi", "version"], name="kpi_version_unique")]

    def __str__(self) -> str:
        return f"{self.kpi.slug} v{self.version}"


class KPITarget(models.Model):
    """A target for one period (a quarter, e.g. 2026-Q4), optionally for one segment. A change creates a new
    row and marks the old one superseded, so who set what, when and why is always answerable."""

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="targets")
    period = models.CharField(max_length=7, help_text="YYYY-Qn")
    dimension = models.CharField(max_length=20, blank=True, default="")
    segment = models.CharField(max_length=200, blank=True, default="")
    value = models.FloatField()
    baseline = models.FloatField(null=True, blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kpi", "period", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kpi", "period", "dimension", "segment"],
                                    condition=Q(superseded_at__isnull=True), name="kpi_target_one_current"),
            models.CheckConstraint(condition=Q(period__regex=r"^\d{4}-Q[1-4]$"), name="kpi_target_period_format"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi.slug} {self.period}: {self.value}"


class ComputationRun(models.Model):
    """One computation of some KPIs for one date: its progress, outcome and errors."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        INGEST = "ingest", "Fresh data"
        MANUAL = "manual", "Manual"
        BACKFILL = "backfill", "Backfill"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    as_of = models.DateField()
    kpi_slugs = ArrayField(models.CharField(max_length=60), default=list)
    account_ids = ArrayField(models.BigIntegerField(), null=True, blank=True,
                             help_text="Set for an incremental run over the accounts touched by new data.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    kpis_done = models.PositiveIntegerField(default=0)
    values_computed = models.PositiveIntegerField(
        default=0, help_text="Values the run computed, whether they changed or not.")
    rows_written = models.PositiveIntegerField(
        default=0, help_text="Rows inserted, updated or removed: a rerun that finds every value unchanged writes none.")
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.trigger} run for {self.as_of} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class MetricValue(models.Model):
    """A KPI's value for one subject (an account, a segment, the portfolio) on one date, with what made it.

    Account rows are always stored: they are what an aggregate is explained by.
    """

    # The three references are checked by statement-level triggers (metrics migration 0006), not foreign-key
    # constraints: PostgreSQL checks a foreign key row by row, which cost more than computing the values (about
    # 1 s for the 80,000 rows of 12 KPIs over 10,000 accounts); the triggers check and lock a statement's rows
    # in one set-based query each, and cascade deletes of accounts and KPIs as the constraints would. Python's
    # on_delete still runs for ORM deletes. No single-column indexes: the unique key leads with kpi, and
    # (account, as_of) with account; nothing looks values up by run, and runs are not deleted by the product.
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="values", db_index=False,
                            db_constraint=False)
    kpi_version = models.PositiveIntegerField()
    scope = models.CharField(max_length=10, choices=Scope.choices)
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="metric_values", db_index=False, db_constraint=False)
    dimension = models.CharField(max_length=20, blank=True, default="",
                                 help_text="Segment rows: plan, region, industry, lifecycle_stage, size_band, owner.")
    segment = models.CharField(max_length=200, blank=True, default="")
    as_of = models.DateField()
    value = models.FloatField(null=True, blank=True, help_text="Null (never 0) when the denominator is empty.")
    numerator = models.FloatField(null=True, blank=True)
    denominator = models.FloatField(null=True, blank=True)
    sample_size = models.PositiveIntegerField(default=0)
    details = models.JSONField(null=True, blank=True, help_text="Calculator-specific: e.g. health components.")
    run = models.ForeignKey(ComputationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            db_index=False, db_constraint=False,
                            help_text="The run that last changed this value (a rerun leaves an equal value alone).")
    # Account rows: which segments the row was last aggregated under (a hash of its six segments, see
    # metrics.segments.SEGMENT_KEY). An incremental run corrects the stored aggregates by a touched account's old
    # and new contributions only while the account is still in the segments its old contribution was counted in.
    segment_key = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            # Ordered so that (kpi, scope, as_of), what the engine and every chart read, is its prefix.
            models.UniqueConstraint(fields=["kpi", "scope", "as_of", "account", "dimension", "segment"],
                                    nulls_distinct=False, name="metric_value_one_per_subject_and_date"),
            models.CheckConstraint(
                condition=(Q(scope="account", account__isnull=False, dimension="")
                           | Q(scope="segment", account__isnull=True) & ~Q(dimension="")
                           | Q(scope="portfolio", account__isnull=True, dimension="", segment="")),
                name="metric_value_subject_matches_scope",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "as_of"]),
        ]

    def __str__(self) -> str:
        subject = self.account_id or f"{self.dimension}={self.segment}" if self.scope != Scope.PORTFOLIO else "all"
        return f"{self.kpi_id} {subject} {self.as_of}: {self.value}"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class Condition(models.TextChoices):
    BELOW = "below", "Below a value"
    ABOVE = "above", "Above a value"
    DROP = "drop", "Drops by X% against N days earlier"
    RISE = "rise", "Rises by X% against N days earlier"
    OFF_TARGET = "off_target", "Leaves the target band (off track)"
    ANOMALY = "anomaly", "Flagged as an anomaly"


class AlertAction(models.TextChoices):
    START_PLAYBOOK = "start_playbook", "Start a playbook for the account"
    NOTIFY_OWNER = "notify_owner", "Notify the KPI owner"


# An account rule's renewal window: at most two years ahead (the form and the API refuse more).
RENEWAL_WINDOW_MAX_DAYS = 730


class AlertRule(models.Model):
    """When a KPI's value for a subject breaks a condition, open a breach (once) and act on it."""

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ACCOUNT)
    condition = models.CharField(max_length=12, choices=Condition.choices)
    threshold = models.FloatField(null=True, blank=True,
                                  help_text="The value (below/above) or the percentage (drop/rise).")
    lookback_days = models.PositiveIntegerField(default=30, help_text="For drop/rise: compared with N days earlier.")
    dimension = models.CharField(max_length=20, blank=True, default="",
                                 help_text="Only subjects in this segment (e.g. plan) ...")
    segment = models.CharField(max_length=200, blank=True, default="", help_text="... with this value.")
    renewal_within_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Account rules: only accounts whose renewal date falls within this many days "
                                         "after the evaluated date.")
    persistence = models.PositiveSmallIntegerField(default=1, help_text="Consecutive evaluations before it opens.")
    hysteresis = models.FloatField(default=0, help_text="How far past the threshold a value must recover to close.")
    cooldown_hours = models.PositiveIntegerField(default=0, help_text="No new breach this soon after one closed.")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    action = models.CharField(max_length=16, choices=AlertAction.choices, default=AlertAction.START_PLAYBOOK)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kpi", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(persistence__gte=1), name="alert_rule_persistence_positive"),
            models.CheckConstraint(condition=Q(hysteresis__gte=0), name="alert_rule_hysteresis_not_negative"),
            models.CheckConstraint(
                condition=Q(condition__in=["off_target", "anomaly"]) | Q(threshold__isnull=False),
                name="alert_rule_threshold_required",
            ),
            models.CheckConstraint(condition=Q(dimension="") | ~Q(segment=""), name="alert_rule_segment_complete"),
        ]

    def __str__(self) -> str:
        return self.name


class BreachStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


OPEN_STATUSES = (BreachStatus.OPEN, BreachStatus.ACKNOWLEDGED)


class Breach(models.Model):
    """A rule broken for one subject: opened once, acknowledged by a person, resolved when the value recovers."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="breaches")
    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="breaches")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="breaches")
    dimension = models.CharField(max_length=20, blank=True, default="")
    segment = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=12, choices=BreachStatus.choices, default=BreachStatus.OPEN)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    opened_at = models.DateTimeField()
    opened_as_of = models.DateField()
    value_at_open = models.FloatField(null=True)
    threshold = models.FloatField(null=True, help_text="The threshold in the KPI's unit when it opened.")
    respond_by = models.DateTimeField(help_text="The response SLA, from the severity.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_as_of = models.DateField(null=True, blank=True)
    value_at_resolve = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # One open breach per rule and subject: evaluating twice, or concurrently, opens nothing twice.
            models.UniqueConstraint(fields=["rule", "account", "dimension", "segment"],
                                    condition=Q(status__in=["open", "acknowledged"]), nulls_distinct=False,
                                    name="breach_one_open_per_rule_and_subject"),
        ]
        indexes = [models.Index(fields=["status", "severity"]), models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return f"{self.rule} ({self.status})"


class Annotation(models.Model):
    """A dated note pinned to a KPI ("price change on 3 March"): a jump in the line keeps its why beside it,
    on the KPI's chart, the dashboard tile and in reviews."""

    kpi = models.ForeignKey(KPI, on_delete=models.CASCADE, related_name="annotations")
    date = models.DateField(help_text="The day the note is about, where it sits on the chart.")
    text = models.CharField(max_length=500)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", help_text="Empty when an integration pinned it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "id"]
        indexes = [models.Index(fields=["kpi", "date"])]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="annotation_text_not_empty")]

    def __str__(self) -> str:
        return f"{self.kpi_id} {self.date}: {self.text[:40]}"


class PredictionTarget(models.TextChoices):
    RENEWAL = "renewal", "Renewal (the model predicts churn)"
    EXPANSION = "expansion", "Expansion"


class PredictionModel(models.Model):
    """One version of a tenant's model for a predictive KPI: what it was trained on (outcomes known on or before
    `cutoff`), how, and how well it did in its out-of-time back-test. A KPI value for date t is only ever made by
    a version whose cutoff is on or before t. A version that could not learn keeps the reason instead."""

    class Status(models.TextChoices):
        TRAINED = "trained", "Trained"
        INSUFFICIENT = "insufficient", "Not enough history"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "On demand"
        COMPUTE = "compute", "Needed by a KPI computation"

    target = models.CharField(max_length=10, choices=PredictionTarget.choices)
    spec_key = models.CharField(max_length=32, help_text="Models with the same key answer the same question.")
    spec = models.JSONField(help_text="The question: target, horizon, grace, share, history, event names.")
    version = models.PositiveIntegerField()
    cutoff = models.DateField(help_text="Trained only on data dated on or before this day.")
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.TextField(blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    kpi_slug = models.CharField(max_length=60, blank=True, help_text="The KPI it was trained for, if any.")
    algorithm = models.CharField(max_length=24, blank=True)
    calibration = models.CharField(max_length=10, blank=True)
    features = models.JSONField(default=list, blank=True, help_text="The model's input columns.")
    hyperparameters = models.JSONField(default=dict, blank=True)
    observed_from = models.DateField(null=True, blank=True)
    observed_until = models.DateField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0, help_text="Observations whose outcome was known at the cutoff.")
    events = models.PositiveIntegerField(default=0, help_text="Of which churned (or expanded).")
    censored = models.PositiveIntegerField(default=0, help_text="Observations whose outcome was not known yet.")
    metrics = models.JSONField(default=dict, blank=True, help_text="The back-test: per fold and pooled.")
    artifact = models.BinaryField(null=True, editable=False)
    artifact_digest = models.CharField(max_length=64, blank=True)
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["spec_key", "version"], name="prediction_model_version_unique"),
            models.CheckConstraint(condition=~Q(status="trained") | Q(artifact__isnull=False),
                                   name="prediction_model_trained_has_artifact"),
        ]
        indexes = [models.Index(fields=["spec_key", "cutoff"])]

    def __str__(self) -> str:
        return f"{self.target} model v{self.version} (cutoff {self.cutoff}, {self.status})"
