"""Playbooks: the work a broken threshold (or a lifecycle moment) starts, as tasks for the right people."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Trigger(models.TextChoices):
    ALERT = "alert", "An alert rule"
    ACCOUNT_CREATED = "account_created", "A new account (onboarding)"
    RENEWAL_DUE = "renewal_due", "A renewal coming up"
    MANUAL = "manual", "Started by hand"


class Mode(models.TextChoices):
    SEQUENCE = "sequence", "One step after another"
    PARALLEL = "parallel", "All steps at once"


class Playbook(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    alert_rule = models.ForeignKey("metrics.AlertRule", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="playbooks", help_text="For alert-triggered playbooks.")
    renewal_days = models.PositiveIntegerField(null=True, blank=True, help_text="Renewal playbooks: days before.")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.SEQUENCE)
    close_on_recovery = models.BooleanField(default=True, help_text="Close the run when its breach resolves.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(trigger="alert") | Q(alert_rule__isnull=False),
                                   name="playbook_alert_trigger_has_rule"),
            models.CheckConstraint(condition=~Q(trigger="renewal_due") | Q(renewal_days__isnull=False),
                                   name="playbook_renewal_trigger_has_days"),
        ]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    VALUE_REVIEW = "value_review", "Value review"
    TRAINING = "training", "Training"
    INTERNAL = "internal", "Internal"


class AssigneeRule(models.TextChoices):
    ACCOUNT_OWNER = "account_owner", "The account's owner"
    OWNER_MANAGER = "owner_manager", "The owner's manager"
    KPI_OWNER = "kpi_owner", "The KPI's owner"
    NAMED_USER = "named_user", "A named user"
    ROLE_QUEUE = "role_queue", "A role's queue"


class PlaybookStep(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Placeholders: {account}, {kpi}, {value}, {threshold}, "
                                                          "{owner}.")
    kind = models.CharField(max_length=14, choices=StepKind.choices, default=StepKind.CALL)
    due_days = models.PositiveSmallIntegerField(default=3, help_text="Due this many days after the task starts.")
    assignee_rule = models.CharField(max_length=14, choices=AssigneeRule.choices, default=AssigneeRule.ACCOUNT_OWNER)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    queue_role = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["playbook", "position"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "position"], name="playbook_step_position_unique"),
            models.CheckConstraint(condition=~Q(assignee_rule="named_user") | Q(assignee__isnull=False),
                                   name="playbook_step_named_user_given"),
            models.CheckConstraint(condition=~Q(assignee_rule="role_queue") | ~Q(queue_role=""),
                                   name="playbook_step_queue_role_given"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"


class RunStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    CLOSED_BY_RECOVERY = "recovered", "Closed: the KPI recovered"
    CANCELLED = "cancelled", "Cancelled"


class PlaybookRun(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="runs")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="playbook_runs")
    breach = models.ForeignKey("metrics.Breach", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="playbook_runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.ACTIVE)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    occasion = models.CharField(max_length=40, blank=True, default="",
                                help_text="What a lifecycle run is for (onboarding, renewal:2027-01-31): once each.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # One run per breach: a breach delivered twice starts nothing twice.
            models.UniqueConstraint(fields=["breach"], condition=Q(breach__isnull=False),
                                    name="playbook_run_one_per_breach"),
            # One run per lifecycle occasion: a daily check run twice starts nothing twice.
            models.UniqueConstraint(fields=["playbook", "account", "occasion"], condition=~Q(occasion=""),
                                    name="playbook_run_one_per_occasion"),
        ]

    def __str__(self) -> str:
        return f"{self.playbook} for {self.account}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    SNOOZED = "snoozed", "Snoozed"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_TASK_STATUSES = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS, TaskStatus.SNOOZED)


class TaskOutcome(models.TextChoices):
    RESOLVED = "resolved", "Resolved"
    PARTIAL = "partial", "Partly resolved"
    NO_RESPONSE = "no_response", "No response"
    NOT_NEEDED = "not_needed", "Not needed"


class Task(models.Model):
    # A task comes from a playbook run's step (for an account) or from a quarterly review's decision.
    run = models.ForeignKey(PlaybookRun, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    step = models.ForeignKey(PlaybookStep, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="tasks")
    decision = models.OneToOneField("reviews.Decision", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="task")
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    kind = models.CharField(max_length=14, choices=StepKind.choices)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="tasks")
    queue_role = models.CharField(max_length=16, blank=True, help_text="Unassigned work waiting in a role's queue.")
    severity = models.CharField(max_length=8, default="medium")
    status = models.CharField(max_length=12, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    due_at = models.DateTimeField()
    respond_by = models.DateTimeField(help_text="SLA from the severity.")
    escalation_level = models.PositiveSmallIntegerField(default=0)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=TaskOutcome.choices, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            # One task per run and step: a step started twice creates one task.
            models.UniqueConstraint(fields=["run", "step"], name="task_one_per_run_and_step"),
            models.CheckConstraint(condition=~Q(status="done") | ~Q(outcome=""), name="task_done_has_outcome"),
            models.CheckConstraint(
                condition=Q(run__isnull=False, step__isnull=False, account__isnull=False, decision__isnull=True)
                | Q(decision__isnull=False, run__isnull=True, step__isnull=True),
                name="task_from_playbook_or_decision",
            ),
        ]
        indexes = [models.Index(fields=["assignee", "status", "due_at"]), models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def headline(self) -> str:
        """The title with the account it is for, named once: step titles often say it already ("Find out why
        usage fell at {account}"), and an email subject or digest line should not say it twice."""
        if self.account is None or self.account.name.casefold() in self.title.casefold():
            return self.title
        return f"{self.title} at {self.account.name}"


class TaskReason(models.Model):
    """Another run's reason for an open task: a playbook that would have opened a second open task of the same
    kind for the same account links its run (and so its breach) to the task already open instead. Completing
    the task completes the linked step too; the run whose breach recovers hands the task on to a linked run."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reasons")
    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="linked_reasons")
    step = models.ForeignKey(PlaybookStep, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A run's step is served once: by a task of its own or by one link.
            models.UniqueConstraint(fields=["run", "step"], name="task_reason_one_per_run_and_step"),
        ]

    def __str__(self) -> str:
        return f"{self.run} -> task {self.task_id}"


class TaskEvent(models.Model):
    """The task's history: created, started, snoozed, reassigned, escalated, commented, completed."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.task_id}"


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Pre-registered (not started)"
    RUNNING = "running", "Running"
    CONCLUDED = "concluded", "Concluded"


class ExperimentMetric(models.TextChoices):
    KPI_CHANGE = "kpi_change", "A KPI's change after N days"
    CHURN = "churn", "Churn within the horizon"
    RENEWAL = "renewal", "Renewal at a renewal date within the horizon"


# Metrics whose outcome is yes or no for each account: compared as a difference of proportions, in percent.
PROPORTION_METRICS = (ExperimentMetric.CHURN, ExperimentMetric.RENEWAL)


class ExperimentTest(models.TextChoices):
    PROPORTIONS = "proportions", "Difference of proportions"
    WELCH_T = "welch_t", "Welch's t-test (means)"
    MANN_WHITNEY = "mann_whitney", "Mann-Whitney rank test"


class ExperimentDecision(models.TextChoices):
    ADOPT = "adopt", "Adopt: run it for everyone"
    STOP = "stop", "Stop: it does not pay"
    EXTEND = "extend", "Extend: keep going"


class StratifyBy(models.TextChoices):
    NONE = "", "Not stratified"
    PLAN = "plan", "Plan"
    REGION = "region", "Region"
    INDUSTRY = "industry", "Industry"
    LIFECYCLE_STAGE = "lifecycle_stage", "Lifecycle stage"


class Experiment(models.Model):
    """A playbook run as an experiment: while it runs, a random share of the accounts the playbook would start
    for (the holdout) gets no run, so the playbook's effect is measured against accounts like them.

    Everything that judges it is written down before it starts (pre-registration): the hypothesis, the primary
    metric and its test, the guardrails, the minimum effect worth detecting and the sample size and duration
    that follow; once started, these fields no longer change (experiments.services)."""

    name = models.CharField(max_length=200)
    hypothesis = models.TextField(help_text="What the playbook should change, and why.")
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="experiments")
    status = models.CharField(max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    holdout_share = models.FloatField(default=0.2, help_text="The share of eligible accounts that gets no run.")
    stratify_by = models.CharField(max_length=16, choices=StratifyBy.choices, blank=True, default="",
                                   help_text="Balance the arms within each plan, region... (blocks of 10).")
    metric = models.CharField(max_length=12, choices=ExperimentMetric.choices)
    kpi = models.ForeignKey("metrics.KPI", null=True, blank=True, on_delete=models.PROTECT, related_name="experiments",
                            help_text="kpi_change: the KPI whose change is measured.")
    horizon_days = models.PositiveIntegerField(default=30, help_text="N: the outcome is read this many days after "
                                                                     "an account enters.")
    test = models.CharField(max_length=12, choices=ExperimentTest.choices)
    guardrails = models.ManyToManyField("metrics.KPI", blank=True, related_name="guarding_experiments",
                                        help_text="KPIs the playbook must not harm.")
    alpha = models.FloatField(default=0.05)
    power = models.FloatField(default=0.8)
    baseline = models.FloatField(help_text="churn or renewal: the holdout's expected rate in percent; kpi_change: "
                                           "the standard deviation of the KPI's change.")
    minimum_effect = models.FloatField(help_text="The smallest effect worth detecting: percentage points of churn "
                                                 "(negative: less churn) or renewal, or the KPI's unit.")
    accounts_per_week = models.FloatField(help_text="Eligible accounts expected to enter per week.")
    sample_treated = models.PositiveIntegerField(default=0, help_text="Planned: accounts with a run.")
    sample_holdout = models.PositiveIntegerField(default=0, help_text="Planned: accounts held out.")
    sample_method = models.CharField(max_length=80, blank=True)
    duration_days = models.PositiveIntegerField(default=0, help_text="Days of entry to reach the planned sample.")
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    planned_end = models.DateField(null=True, blank=True, help_text="The last entry day plus the horizon: the "
                                                                    "final analysis is read from this day.")
    decision = models.CharField(max_length=8, choices=ExperimentDecision.choices, blank=True, default="")
    decision_note = models.TextField(blank=True)
    result = models.TextField(blank=True, help_text="The primary metric's measured result as read when the last "
                                                    "decision was recorded (effect, interval, p-value, which look).")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One running experiment per playbook: an account's arm is never ambiguous.
            models.UniqueConstraint(fields=["playbook"], condition=Q(status="running"),
                                    name="experiment_one_running_per_playbook"),
            models.CheckConstraint(condition=Q(holdout_share__gte=0.05, holdout_share__lte=0.5),
                                   name="experiment_holdout_share_range"),
            models.CheckConstraint(condition=Q(alpha__gt=0, alpha__lte=0.2), name="experiment_alpha_range"),
            models.CheckConstraint(condition=Q(power__gte=0.5, power__lt=1), name="experiment_power_range"),
            models.CheckConstraint(condition=~Q(metric="kpi_change") | Q(kpi__isnull=False),
                                   name="experiment_kpi_change_names_kpi"),
            models.CheckConstraint(condition=Q(metric__in=["churn", "renewal"], test="proportions")
                                   | Q(metric="kpi_change", test__in=["welch_t", "mann_whitney"]),
                                   name="experiment_test_fits_metric"),
            models.CheckConstraint(condition=Q(status="draft") | Q(started_at__isnull=False, planned_end__isnull=False),
                                   name="experiment_started_has_dates"),
            models.CheckConstraint(condition=~Q(status="concluded") | Q(decision__in=["adopt", "stop"]),
                                   name="experiment_concluded_has_decision"),
        ]

    def __str__(self) -> str:
        return self.name


class Arm(models.TextChoices):
    TREATED = "treated", "Treated (runs the playbook)"
    HOLDOUT = "holdout", "Holdout (no run)"


class ExperimentAssignment(models.Model):
    """An account's arm in an experiment, recorded the first time the playbook would have started for it; the
    unique key keeps it: retries and concurrent breaches read the arm, never draw it again."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="experiment_assignments")
    arm = models.CharField(max_length=8, choices=Arm.choices)
    stratum = models.CharField(max_length=200, blank=True, default="")
    assigned_at = models.DateTimeField()
    entered_on = models.DateField(help_text="The day the account entered (the tenant's day): outcomes count from it.")

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "account"], name="experiment_assignment_one_per_account"),
        ]
        indexes = [models.Index(fields=["experiment", "stratum"])]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.experiment_id}: {self.arm}"
