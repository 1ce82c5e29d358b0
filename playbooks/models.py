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
