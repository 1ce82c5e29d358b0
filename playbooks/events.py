"""What the outside world is told about tasks and runs (the `task.*` and `playbook_run.*` webhook payloads),
and the emails people get about their work."""

from __future__ import annotations

from datetime import datetime

from django.core.mail import send_mail

from notifications.models import Event
from notifications.webhooks import event_record, events_record
from playbooks.models import PlaybookRun, Task
from tenants.tasks import on_commit_in_tenant


def _account(account) -> dict | None:
    return {"id": account.pk, "external_id": account.external_id, "name": account.name} if account else None


def task_event_data(task: Task) -> dict:
    assignee = task.assignee
    return {
        "id": task.pk, "title": task.title, "kind": task.kind, "status": task.status, "severity": task.severity,
        "assignee": {"id": assignee.pk, "email": assignee.email} if assignee else None,
        "queue_role": task.queue_role or None, "account": _account(task.account),
        "playbook_run": task.run_id, "due_at": task.due_at, "respond_by": task.respond_by,
        "escalation_level": task.escalation_level, "outcome": task.outcome or None, "note": task.note or None,
        "completed_at": task.completed_at,
    }


def run_event_data(run: PlaybookRun) -> dict:
    return {
        "id": run.pk, "playbook": {"id": run.playbook_id, "name": run.playbook.name}, "status": run.status,
        "trigger": run.trigger, "account": _account(run.account), "breach": run.breach_id,
        "started_at": run.started_at, "finished_at": run.finished_at, "outcome": run.outcome or None,
    }


def task_announce(event: str, task: Task) -> None:
    """Record the task's webhook event in the caller's transaction."""
    event_record(event, task_event_data(task))


def run_finished_announce(run_id: int) -> None:
    events_record(Event.PLAYBOOK_RUN_COMPLETED, lambda: [run_event_data(
        PlaybookRun.objects.select_related("playbook", "account").get(pk=run_id))])


def critical_task_email(task: Task, *, now: datetime) -> None:
    """New critical work is emailed at once (after commit) to its assignee, or to its role's queue."""
    from users.models import User

    if task.severity != "critical":
        return
    recipients = ([task.assignee.email] if task.assignee and task.assignee.is_active
                  else list(User.objects.filter(role=task.queue_role, is_active=True).values_list("email", flat=True)))
    if not recipients:
        return
    subject = f"[Bellwether] Critical: {task.headline}"
    from metrics.sla import sla_clock

    clock = sla_clock(respond_by=task.respond_by, now=now).label
    message = (f"{task.headline}: a critical task that needs a response by {task.respond_by:%Y-%m-%d %H:%M} UTC "
               f"({clock}; due {task.due_at:%Y-%m-%d}).\n\n{task.instructions}".rstrip())
    on_commit_in_tenant(lambda: send_mail(subject=subject, message=message, from_email=None,
                                          recipient_list=recipients))
