"""The quarterly KPI review: a frozen snapshot of the KPIs against target, and the decisions taken about them,
each with an owner and a deadline, followed up until done."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q

from metrics.status import STATUS_LABELS, TargetStatus

QUARTER_REGEX = r"^\d{4}-Q[1-4]$"


class ReviewStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    CLOSED = "closed", "Closed"


class Review(models.Model):
    """One quarter's review. One per quarter unless named otherwise (a second one needs its own name)."""

    quarter = models.CharField(max_length=7, help_text="YYYY-Qn, e.g. 2026-Q4")
    name = models.CharField(max_length=200, blank=True, default="",
                            help_text="Only needed for a second review of the same quarter.")
    meeting_date = models.DateField(null=True, blank=True)
    facilitator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="facilitated_reviews")
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="attended_reviews")
    status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.PLANNED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        ordering = ["-quarter", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["quarter", "name"], name="review_one_per_quarter_and_name"),
            models.CheckConstraint(condition=Q(quarter__regex=QUARTER_REGEX), name="review_quarter_format"),
            models.CheckConstraint(condition=~Q(status="closed") | Q(closed_at__isnull=False),
                                   name="review_closed_has_closed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.quarter} review" + (f" ({self.name})" if self.name else "")

    @property
    def is_closed(self) -> bool:
        return self.status == ReviewStatus.CLOSED


class Trend(models.TextChoices):
    IMPROVING = "improving", "Improving"
    WORSENING = "worsening", "Worsening"
    STEADY = "steady", "Steady"
    UNKNOWN = "unknown", "Unknown"


class ReviewKPI(models.Model):
    """One KPI (for the portfolio, or one segment) as it stood at the quarter's end, copied when the review
    was created: recomputing the values later changes nothing here. `kpi_version` says what produced it."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="kpis")
    kpi = models.ForeignKey("metrics.KPI", on_delete=models.PROTECT, related_name="review_rows")
    kpi_version = models.PositiveIntegerField(null=True, blank=True)
    dimension = models.CharField(max_length=20, blank=True, default="", help_text="Empty for the portfolio.")
    segment = models.CharField(max_length=200, blank=True, default="")
    as_of = models.DateField(null=True, blank=True, help_text="The date of the value used.")
    value = models.FloatField(null=True, blank=True)
    target = models.FloatField(null=True, blank=True)
    previous_value = models.FloatField(null=True, blank=True, help_text="At the previous quarter's end.")
    trend = models.CharField(max_length=10, choices=Trend.choices, default=Trend.UNKNOWN)
    status = models.CharField(max_length=10, choices=[(status.value, STATUS_LABELS[status]) for status in TargetStatus],
                              help_text="By the one target rule of metrics.status, at snapshot time.")
    commentary = models.TextField(blank=True)
    commentary_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")

    class Meta:
        ordering = ["review", "kpi__name", "dimension", "segment"]
        constraints = [
            models.UniqueConstraint(fields=["review", "kpi", "dimension", "segment"],
                                    name="review_kpi_one_per_subject"),
            models.CheckConstraint(condition=Q(dimension="", segment="") | ~Q(dimension="") & ~Q(segment=""),
                                   name="review_kpi_segment_complete"),
        ]

    def __str__(self) -> str:
        return f"{self.review}: {self.kpi_id} {self.dimension}={self.segment}" if self.dimension else \
            f"{self.review}: {self.kpi_id}"


class DecisionKind(models.TextChoices):
    KEEP_TARGET = "keep_target", "Keep the target"
    CHANGE_TARGET = "change_target", "Change the target"
    INITIATIVE = "initiative", "Initiative"
    RETIRE_KPI = "retire_kpi", "Retire the KPI"
    EXPERIMENT = "experiment", "Experiment"
    OTHER = "other", "Other"


class DecisionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"
    MISSED = "missed", "Missed"


# Not done and not dropped: carried over into the next review's agenda until it is.
UNFINISHED_DECISION_STATUSES = (DecisionStatus.OPEN, DecisionStatus.IN_PROGRESS, DecisionStatus.MISSED)
# Still inside their deadline: reminders go out, and past the deadline they become missed.
ACTIVE_DECISION_STATUSES = (DecisionStatus.OPEN, DecisionStatus.IN_PROGRESS)


class Decision(models.Model):
    """What the review decided, who owns it and by when. A change of target names the new target, its
    period and why; it is applied to the KPI's target history when the review closes."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=14, choices=DecisionKind.choices)
    text = models.TextField()
    kpi = models.ForeignKey("metrics.KPI", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    deadline = models.DateField()
    status = models.CharField(max_length=12, choices=DecisionStatus.choices, default=DecisionStatus.OPEN)
    new_target = models.FloatField(null=True, blank=True, help_text="change_target: the new target value.")
    target_period = models.CharField(max_length=7, blank=True, default="", help_text="change_target: YYYY-Qn.")
    target_rationale = models.TextField(blank=True, help_text="change_target: why.")
    applied_target = models.ForeignKey("metrics.KPITarget", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="decisions", help_text="The target row this decision set.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deadline", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="change_target")
                | Q(kpi__isnull=False, new_target__isnull=False) & Q(target_period__regex=QUARTER_REGEX),
                name="decision_change_target_complete",
            ),
            models.CheckConstraint(condition=~Q(kind="retire_kpi") | Q(kpi__isnull=False),
                                   name="decision_retire_names_kpi"),
        ]
        indexes = [models.Index(fields=["status", "deadline"]), models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def last_update(self) -> DecisionUpdate | None:
        """The latest progress update, from the prefetched updates when there are some."""
        updates = list(self.updates.all())
        return updates[-1] if updates else None

    def is_overdue(self, today: date) -> bool:
        """Past its deadline and not finished: the agenda marks it."""
        return self.status in UNFINISHED_DECISION_STATUSES and self.deadline < today


class DecisionUpdate(models.Model):
    """A dated progress note on a decision, and the status it moved to if any."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="updates")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    note = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=DecisionStatus.choices, blank=True,
                              help_text="The status the decision moved to with this update, if it moved.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Update on {self.decision_id}"


class ReminderKind(models.TextChoices):
    WEEK_BEFORE = "week_before", "A week before the deadline"
    DAY_BEFORE = "day_before", "A day before the deadline"
    OVERDUE = "overdue", "Overdue (to the facilitator)"


class DecisionReminder(models.Model):
    """A reminder sent: one of each kind per decision, so the periodic follow-up never sends one twice."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=12, choices=ReminderKind.choices)
    sent_to = models.EmailField(blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [models.UniqueConstraint(fields=["decision", "kind"], name="decision_reminder_once")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.decision_id}"


class Scenario(models.Model):
    """A named what-if for finance: the drivers a leader set, and today's numbers and drivers frozen when it was
    saved, so it shows the same projection later (reviews.scenarios). Attachable to a review."""

    name = models.CharField(max_length=200, unique=True)
    notes = models.TextField(blank=True)
    review = models.ForeignKey(Review, null=True, blank=True, on_delete=models.SET_NULL, related_name="scenarios")
    grr = models.FloatField(help_text="Gross revenue retention, % a year.")
    expansion = models.FloatField(help_text="Expansion of the existing book, % of its ARR a year.")
    logo_churn = models.FloatField(help_text="Accounts lost, % a year.")
    activation_rate = models.FloatField(help_text="% of new accounts that activate.")
    new_arr = models.FloatField(help_text="New ARR booked per quarter.")
    cost_to_serve = models.FloatField(help_text="Per account per year.")
    ticket_growth = models.FloatField(default=0, help_text="Change in tickets per account, % a quarter.")
    baseline = models.JSONField(help_text="Today's ARR, accounts, ticket load and book size when saved.")
    trajectory = models.JSONField(help_text="Today's drivers when saved: what the scenario is compared with.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(grr__gte=0, grr__lte=100, logo_churn__gte=0, logo_churn__lte=100,
                                               activation_rate__gte=0, activation_rate__lte=100),
                                   name="scenario_rates_in_range"),
            models.CheckConstraint(condition=Q(new_arr__gte=0, cost_to_serve__gte=0, expansion__gte=0),
                                   name="scenario_amounts_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name
