"""Running playbooks: starting a run (once per breach), creating its tasks for the right people, and the
task state changes. Every state change is compare-and-set, so a retried or duplicated call does nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from metrics.alerts import sla_hours
from metrics.models import Breach
from metrics.sla import sla_clock
from notifications.models import Event
from playbooks.events import critical_task_email, run_finished_announce, task_announce
from playbooks.experiments.assignment import arm_for_run
from playbooks.models import (
    ACTIVE_TASK_STATUSES,
    Arm,
    AssigneeRule,
    Mode,
    Playbook,
    PlaybookRun,
    PlaybookStep,
    RunStatus,
    Task,
    TaskEvent,
    TaskOutcome,
    TaskReason,
    TaskStatus,
    Trigger,
)
from playbooks.signals import decision_task_moved

# Worst first: a task linked to a second reason takes the worse severity (and its sooner response).
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class PlaybookError(Exception):
    """A playbook action cannot be done as asked; the message says why."""


def _assignee(step: PlaybookStep, run: PlaybookRun):
    """Who the step's task goes to, or None for a role's queue (or nobody to give it to)."""
    owner = run.account.owner
    if step.assignee_rule == AssigneeRule.ACCOUNT_OWNER:
        return owner
    if step.assignee_rule == AssigneeRule.OWNER_MANAGER:
        return owner.manager if owner else None
    if step.assignee_rule == AssigneeRule.KPI_OWNER:
        return run.breach.kpi.owner if run.breach else None
    if step.assignee_rule == AssigneeRule.NAMED_USER:
        return step.assignee
    return None


def _placeholders(run: PlaybookRun) -> dict[str, str]:
    breach = run.breach
    return {
        "account": run.account.name,
        "owner": str(run.account.owner or "unassigned"),
        "kpi": breach.kpi.name if breach else "",
        "value": f"{breach.value_at_open:.1f}" if breach and breach.value_at_open is not None else "",
        "threshold": f"{breach.threshold:.1f}" if breach and breach.threshold is not None else "",
    }


def _filled(text: str, placeholders: dict[str, str]) -> str:
    """A step's title or instructions with {account}, {kpi}... filled in; an unknown placeholder (or a stray
    brace) is shown as written, never a crash."""
    try:
        return text.format(**placeholders)
    except (KeyError, IndexError, ValueError):
        return text


def _reason_text(run: PlaybookRun) -> str:
    """Why a run exists, in one line: its playbook and, for an alert, the KPI's value against the threshold."""
    breach = run.breach
    if breach is None:
        return run.playbook.name
    placeholders = _placeholders(run)
    return (f"{run.playbook.name}: {breach.kpi.name} at {placeholders['value'] or '—'} "
            f"(threshold {placeholders['threshold'] or '—'})")


def _open_task_of_same_kind(run: PlaybookRun, step: PlaybookStep) -> Task | None:
    """The account's open playbook task of the step's kind from another run, the oldest, if any."""
    return (Task.objects.filter(account=run.account_id, kind=step.kind, status__in=ACTIVE_TASK_STATUSES,
                                run__isnull=False).exclude(run=run).order_by("created_at", "id").first())


def _task_link(*, task: Task, run: PlaybookRun, step: PlaybookStep, severity: str, respond_by: datetime) -> Task | None:
    """Give the open task the run's step as one more reason instead of opening a second task; the worse
    severity wins, with the sooner response it asks for."""
    try:
        with transaction.atomic():
            TaskReason.objects.create(task=task, run=run, step=step)
    except IntegrityError:
        return None  # this step is linked already
    changes = {}
    if SEVERITY_RANK.get(severity, 9) < SEVERITY_RANK.get(task.severity, 9):
        changes["severity"] = severity
        changes["respond_by"] = min(task.respond_by, respond_by)
    if changes:
        Task.objects.filter(pk=task.pk).update(**changes)
        for name, value in changes.items():
            setattr(task, name, value)
    TaskEvent.objects.create(task=task, kind="linked", note=f"Also for {_reason_text(run)}")
    return task


def _task_create(*, run: PlaybookRun, step: PlaybookStep, now: datetime, answers_breach: bool = False) -> Task | None:
    """The step's task, or the account's open task of the same kind from another playbook, linked to this run
    (one open "call them" per account, whatever the number of playbooks that want it); None when the step is
    served already.

    A task that answers its run's breach (`answers_breach`: the tasks the run starts with) is due a response
    when the breach is, so Alerts, My work, the task's page and the emails read one clock, however late the
    run started; a later step of a sequence starts a clock of its own."""
    if Task.objects.filter(run=run, step=step).exists() or TaskReason.objects.filter(run=run, step=step).exists():
        return None
    severity = run.breach.severity if run.breach else "medium"
    from django.db import connection

    with connection.cursor() as cursor:
        # Two playbooks starting at once for one account must not both find no open task and open two.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':tasks:' || %s))",
                       [str(run.account_id)])
    respond_by = (run.breach.respond_by if answers_breach and run.breach is not None
                  else now + timedelta(hours=sla_hours(severity)))
    open_task = _open_task_of_same_kind(run, step)
    if open_task is not None:
        return _task_link(task=open_task, run=run, step=step, severity=severity, respond_by=respond_by)
    assignee = _assignee(step, run)
    placeholders = _placeholders(run)
    try:
        with transaction.atomic():
            task = Task.objects.create(
                run=run, step=step, account=run.account, title=_filled(step.title, placeholders)[:200],
                instructions=_filled(step.instructions, placeholders),
                kind=step.kind, assignee=assignee,
                queue_role=step.queue_role if step.assignee_rule == AssigneeRule.ROLE_QUEUE or assignee is None
                else "",
                severity=severity, due_at=now + timedelta(days=step.due_days),
                respond_by=respond_by,
            )
    except IntegrityError:
        return None  # this step's task exists already
    TaskEvent.objects.create(task=task, kind="created", note=f"Assigned to {assignee or 'the ' + task.queue_role}")
    task_announce(Event.TASK_CREATED, task)
    critical_task_email(task, now=now)
    return task


@transaction.atomic
def playbook_run_start(*, playbook: Playbook, account, breach: Breach | None = None, trigger: str = Trigger.MANUAL,
                       started_by=None, occasion: str = "", now: datetime | None = None) -> PlaybookRun | None:
    """Start the playbook for the account: its first step (sequence) or every step (parallel) as tasks.
    A breach, or a lifecycle occasion, starts at most one run: a second start returns the first run.

    While the playbook runs as an experiment, the account's arm is drawn (once) first, and an account in the
    holdout gets no run: None. This is the one place runs start, so no path can treat a held-out account."""
    if not playbook.is_active:
        raise PlaybookError(f"The playbook '{playbook}' is inactive.")
    steps = list(playbook.steps.order_by("position"))
    if not steps:
        raise PlaybookError(f"The playbook '{playbook}' has no steps.")
    now = now or timezone.now()
    same = (PlaybookRun.objects.filter(breach=breach) if breach is not None
            else PlaybookRun.objects.filter(playbook=playbook, account=account, occasion=occasion) if occasion
            else PlaybookRun.objects.none())
    existing = same.first()
    if existing:
        return existing
    if arm_for_run(playbook=playbook, account=account, now=now) == Arm.HOLDOUT:
        return None
    try:
        with transaction.atomic():
            run = PlaybookRun.objects.create(playbook=playbook, account=account, breach=breach, trigger=trigger,
                                             started_by=started_by, occasion=occasion)
    except IntegrityError:
        return same.get()
    for step in steps if playbook.mode == Mode.PARALLEL else steps[:1]:
        _task_create(run=run, step=step, now=now, answers_breach=True)
    return run


def _started(runs: list[PlaybookRun | None]) -> list[PlaybookRun]:
    """The runs that started: held-out accounts (None) left out."""
    return [run for run in runs if run is not None]


def runs_start_for_breaches(*, breach_ids: list[int]) -> list[PlaybookRun]:
    """The alert-triggered playbooks of newly opened account breaches."""
    runs = []
    breaches = Breach.objects.filter(pk__in=breach_ids, account__isnull=False).select_related(
        "account__owner__manager", "kpi__owner", "rule")
    playbooks: dict[int, list[Playbook]] = {}
    for playbook in Playbook.objects.filter(is_active=True, trigger=Trigger.ALERT,
                                            alert_rule_id__in={b.rule_id for b in breaches}):
        playbooks.setdefault(playbook.alert_rule_id, []).append(playbook)
    for breach in breaches:
        for playbook in playbooks.get(breach.rule_id, [])[:1]:
            runs.append(playbook_run_start(playbook=playbook, account=breach.account, breach=breach,
                                           trigger=Trigger.ALERT))
    return _started(runs)


def _tasks_hand_over_or_cancel(run: PlaybookRun) -> None:
    """A closed run's open tasks are cancelled, but one that also serves another active run (a linked reason)
    is handed over to it and stays open."""
    for task in Task.objects.filter(run=run, status__in=ACTIVE_TASK_STATUSES):
        reason = (TaskReason.objects.filter(task=task, run__status=RunStatus.ACTIVE).select_related("run__playbook")
                  .order_by("created_at", "id").first())
        if reason is None:
            Task.objects.filter(pk=task.pk, status__in=ACTIVE_TASK_STATUSES).update(status=TaskStatus.CANCELLED)
            continue
        Task.objects.filter(pk=task.pk).update(run=reason.run, step=reason.step)
        reason.delete()
        TaskEvent.objects.create(task=task, kind="handed_over",
                                 note=f"{run.playbook.name} closed; still open for {_reason_text(reason.run)}")


def runs_close_for_recovered_breaches(*, breach_ids: list[int]) -> int:
    """Exit criterion: a run whose breach resolved is closed and its open tasks cancelled."""
    closed = 0
    for run in PlaybookRun.objects.filter(breach_id__in=breach_ids, status=RunStatus.ACTIVE,
                                          playbook__close_on_recovery=True):
        with transaction.atomic():
            if PlaybookRun.objects.filter(pk=run.pk, status=RunStatus.ACTIVE).update(
                    status=RunStatus.CLOSED_BY_RECOVERY, finished_at=timezone.now(),
                    outcome="The KPI recovered past its threshold."):
                _tasks_hand_over_or_cancel(run)
                run_finished_announce(run.pk)
                closed += 1
    return closed


def _transition(task: Task, allowed: tuple, **changes) -> bool:
    updated = Task.objects.filter(pk=task.pk, status__in=allowed).update(**changes)
    if updated:
        for name, value in changes.items():
            setattr(task, name, value)
    return bool(updated)


def _decision_follows(task: Task, user) -> None:
    """A quarterly review decision's task: the decision moves with it (the reviews app owns that rule and
    listens; playbooks, below reviews, only announces)."""
    if task.decision_id is not None:
        decision_task_moved.send(sender=Task, task=task, user=user)


def task_start(*, task: Task, user) -> bool:
    if _transition(task, (TaskStatus.OPEN, TaskStatus.SNOOZED), status=TaskStatus.IN_PROGRESS, snoozed_until=None):
        TaskEvent.objects.create(task=task, kind="started", actor=user)
        _decision_follows(task, user)
        return True
    return False


@transaction.atomic
def task_complete(*, task: Task, user, outcome: str, note: str = "", now: datetime | None = None) -> bool:
    """Complete with an outcome; in a sequence the next step's task is created; the last one completes the run."""
    if outcome not in TaskOutcome.values:
        raise PlaybookError(f"Outcome must be one of {', '.join(TaskOutcome.values)}.")
    now = now or timezone.now()
    if not _transition(task, ACTIVE_TASK_STATUSES, status=TaskStatus.DONE, outcome=outcome, note=note,
                       completed_at=now):
        return False
    TaskEvent.objects.create(task=task, kind="completed", actor=user, note=note)
    task_announce(Event.TASK_COMPLETED, task)
    if task.decision_id is not None:
        _decision_follows(task, user)
        return True
    _run_advance(run=task.run, step=task.step, now=now)
    for reason in TaskReason.objects.filter(task=task, run__status=RunStatus.ACTIVE).select_related(
            "run__playbook", "step"):
        _run_advance(run=reason.run, step=reason.step, now=now)
    return True


def _run_advance(*, run: PlaybookRun, step: PlaybookStep, now: datetime) -> None:
    """The run's step is done: in a sequence its next step starts; a run with nothing left open completes."""
    if run.playbook.mode == Mode.SEQUENCE:
        following = run.playbook.steps.filter(position__gt=step.position).order_by("position").first()
        if following is not None:
            _task_create(run=run, step=following, now=now)
            return
    still_open = Task.objects.filter(Q(run=run) | Q(reasons__run=run), status__in=ACTIVE_TASK_STATUSES)
    if not still_open.exists() and PlaybookRun.objects.filter(pk=run.pk, status=RunStatus.ACTIVE).update(
            status=RunStatus.COMPLETED, finished_at=now):
        run_finished_announce(run.pk)


def task_snooze(*, task: Task, user, until: datetime, reason: str) -> bool:
    if not reason.strip():
        raise PlaybookError("Say why the task is snoozed.")
    if until <= timezone.now():
        raise PlaybookError("Snooze until a time in the future.")
    if _transition(task, (TaskStatus.OPEN, TaskStatus.IN_PROGRESS), status=TaskStatus.SNOOZED, snoozed_until=until):
        TaskEvent.objects.create(task=task, kind="snoozed", actor=user, note=reason)
        return True
    return False


def task_reassign(*, task: Task, user, assignee) -> bool:
    if _transition(task, ACTIVE_TASK_STATUSES, assignee=assignee, queue_role=""):
        TaskEvent.objects.create(task=task, kind="reassigned", actor=user, note=f"To {assignee}")
        _decision_follows(task, user)
        return True
    return False


def task_comment(*, task: Task, user, note: str) -> TaskEvent:
    if not note.strip():
        raise PlaybookError("A comment needs text.")
    return TaskEvent.objects.create(task=task, kind="comment", actor=user, note=note.strip())


@dataclass(frozen=True)
class EscalationLadder:
    """Level 1: the assignee's manager `manager_delay` after a missed response SLA; level 2: the CS leaders
    `leader_delay` after it, unless the tenant stops at the manager."""

    manager_delay: timedelta = timedelta(0)
    leader_delay: timedelta = timedelta(hours=24)
    to_leaders: bool = True

    @property
    def top_level(self) -> int:
        return 2 if self.to_leaders else 1

    @classmethod
    def of_current_tenant(cls) -> EscalationLadder:
        from django.db import connection

        tenant, default = connection.tenant, cls()

        def hours(name: str, fallback: timedelta) -> timedelta:
            value = getattr(tenant, name, None)
            return timedelta(hours=value) if value is not None else fallback

        return cls(manager_delay=hours("escalation_manager_delay_hours", default.manager_delay),
                   leader_delay=hours("escalation_leader_delay_hours", default.leader_delay),
                   to_leaders=getattr(tenant, "escalation_to_leaders", True))


def _escalation_recipients(task: Task, level: int, ladder: EscalationLadder) -> list:
    from users.models import Role, User

    if level == 1:
        manager = task.assignee.manager if task.assignee else None
        if manager and manager.is_active:
            return [manager]
        if not ladder.to_leaders:
            return []
        # nobody to take level 1: the leaders hear of it now
    return list(User.objects.filter(role=Role.LEADER, is_active=True))


def tasks_escalation_due(*, now: datetime | None = None) -> QuerySet[Task]:
    """The tasks an escalation sweep may act on: snoozes that ended, and open work past its response time not yet
    at the top level. A superset: the tenant's ladder decides which of those escalate now."""
    now = now or timezone.now()
    return Task.objects.filter(
        Q(status=TaskStatus.SNOOZED, snoozed_until__lte=now)
        | Q(status__in=(TaskStatus.OPEN, TaskStatus.IN_PROGRESS), respond_by__lte=now,
            escalation_level__lt=EscalationLadder().top_level, decision__isnull=True))


def tasks_escalate(*, now: datetime | None = None) -> dict[str, int]:
    """Wake snoozed tasks whose snooze ended; escalate tasks past their SLA one level at a time.

    Each step is a compare-and-set on the task's escalation level, so running this twice (or on two
    workers) notifies and records each escalation once.
    """
    from django.core.mail import send_mail

    now = now or timezone.now()
    woken = Task.objects.filter(status=TaskStatus.SNOOZED, snoozed_until__lte=now).update(
        status=TaskStatus.OPEN, snoozed_until=None)
    escalated = 0
    # Review decisions have their own follow-up (reminders, the facilitator): reviews.services.
    ladder = EscalationLadder.of_current_tenant()
    overdue = (Task.objects.filter(status__in=(TaskStatus.OPEN, TaskStatus.IN_PROGRESS),
                                   respond_by__lte=now - ladder.manager_delay,
                                   escalation_level__lt=ladder.top_level, decision__isnull=True)
               .select_related("assignee__manager", "account"))
    for task in overdue:
        level = task.escalation_level + 1
        if level == 2 and now < task.respond_by + ladder.leader_delay:
            continue
        if not Task.objects.filter(pk=task.pk, escalation_level=task.escalation_level).update(
                escalation_level=level):
            continue
        recipients = _escalation_recipients(task, level, ladder)
        names = ", ".join(str(person) for person in recipients) or "nobody (no manager or leader)"
        TaskEvent.objects.create(task=task, kind="escalated", note=f"Level {level}: to {names}")
        if level == 1:
            task.escalation_level = level
            task_announce(Event.TASK_OVERDUE, task)
        if recipients:
            send_mail(
                subject=f"[Bellwether] Overdue ({task.severity}): {task.headline}",
                message=(f"{task.headline}, assigned to {task.assignee or task.queue_role}, "
                         f"was due a response by {task.respond_by:%Y-%m-%d %H:%M} UTC "
                         f"({sla_clock(respond_by=task.respond_by, now=now).label}, as My work and Alerts say). "
                         f"Escalation level {level}."),
                from_email=None, recipient_list=[person.email for person in recipients],
            )
        escalated += 1
    return {"woken": woken, "escalated": escalated}


def onboarding_runs_start(*, account_ids: list[int]) -> list[PlaybookRun]:
    """New accounts get the onboarding playbooks created before them, once each."""
    from accounts.models import Account

    runs = []
    playbooks = list(Playbook.objects.filter(is_active=True, trigger=Trigger.ACCOUNT_CREATED))
    if not playbooks:
        return runs
    for account in Account.objects.filter(pk__in=account_ids, status="active").select_related("owner__manager"):
        for playbook in playbooks:
            if account.created_at >= playbook.created_at:
                runs.append(playbook_run_start(playbook=playbook, account=account, trigger=Trigger.ACCOUNT_CREATED,
                                               occasion="onboarding"))
    return _started(runs)


def renewal_runs_start(*, today=None) -> list[PlaybookRun]:
    """Accounts whose renewal is within a renewal playbook's days get it, once per renewal date."""
    from accounts.models import Account

    today = today or timezone.localdate()
    runs = []
    for playbook in Playbook.objects.filter(is_active=True, trigger=Trigger.RENEWAL_DUE):
        due = Account.objects.filter(status="active", renewal_date__gte=today,
                                     renewal_date__lte=today + timedelta(days=playbook.renewal_days))
        for account in due.select_related("owner__manager"):
            runs.append(playbook_run_start(playbook=playbook, account=account, trigger=Trigger.RENEWAL_DUE,
                                           occasion=f"renewal:{account.renewal_date.isoformat()}"))
    return _started(runs)
