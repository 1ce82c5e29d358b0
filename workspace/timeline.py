"""An account's activity timeline: notes, tasks with their outcomes and notes, breaches opened and resolved,
survey answers, tickets, MRR changes and playbook runs, newest first, each said in a sentence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.urls import reverse

from metrics.templatetags.metrics_tags import kpi_value

KINDS = {"note": "Notes", "task": "Tasks", "breach": "Breaches", "survey": "Survey answers", "ticket": "Tickets",
         "revenue": "MRR changes", "run": "Playbook runs"}
LIMIT = 60


@dataclass(frozen=True)
class Moment:
    when: datetime
    kind: str
    title: str
    detail: str = ""
    who: str = ""
    link: str = ""


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _notes(notes) -> Iterable[Moment]:
    for note in notes:
        yield Moment(note.created_at, "note", "Note", note.text, str(note.author or "someone no longer here"))


def _tasks(tasks) -> Iterable[Moment]:
    for task in tasks:
        link = reverse("task_detail", args=[task.pk])
        if task.completed_at:
            yield Moment(task.completed_at, "task", f"Task done: {task.title}",
                         f"{task.get_outcome_display()}{': ' + task.note if task.note else ''}",
                         str(task.assignee or ""), link)
        yield Moment(task.created_at, "task", f"Task opened: {task.title}",
                     f"{task.run.playbook.name} · {task.get_status_display().lower()}" if task.run_id else "",
                     str(task.assignee or task.queue_role), link)


def _breaches(breaches) -> Iterable[Moment]:
    for breach in breaches:
        unit = breach.kpi.unit
        if breach.resolved_at:
            yield Moment(breach.resolved_at, "breach", f"Breach resolved: {breach.kpi.name}",
                         f"recovered to {kpi_value(breach.value_at_resolve, unit)} ({breach.rule.name})")
        yield Moment(breach.opened_at, "breach", f"Breach opened: {breach.kpi.name}",
                     f"{kpi_value(breach.value_at_open, unit)} against a threshold of "
                     f"{kpi_value(breach.threshold, unit)} ({breach.rule.name}, {breach.get_severity_display()})")


def _surveys(responses) -> Iterable[Moment]:
    for response in responses:
        yield Moment(response.responded_at, "survey", f"{response.get_kind_display()} answer: {response.score}",
                     response.comment, response.respondent)


def _tickets(tickets) -> Iterable[Moment]:
    for ticket in tickets:
        state = f"resolved {ticket.resolved_at:%Y-%m-%d}" if ticket.resolved_at else "open"
        yield Moment(ticket.opened_at, "ticket", f"Ticket: {ticket.subject or ticket.external_id}",
                     f"{ticket.get_priority_display()} priority, {state}")


def _revenue(snapshots) -> Iterable[Moment]:
    previous = None
    for snapshot in snapshots:  # oldest first
        if previous is not None and snapshot.mrr != previous.mrr:
            change = snapshot.mrr - previous.mrr
            verb = "grew" if change > 0 else "fell"
            yield Moment(_start_of(snapshot.month), "revenue", f"MRR {verb} to {snapshot.mrr:,.0f}",
                         f"{change:+,.0f} from {previous.mrr:,.0f} in {previous.month:%Y-%m}")
        previous = snapshot


def _runs(runs) -> Iterable[Moment]:
    for run in runs:
        link = reverse("playbook_detail", args=[run.playbook_id])
        if run.finished_at:
            yield Moment(run.finished_at, "run", f"Playbook {run.get_status_display().lower()}: {run.playbook.name}",
                         run.outcome, "", link)
        yield Moment(run.started_at, "run", f"Playbook started: {run.playbook.name}", run.get_trigger_display(),
                     str(run.started_by or ""), link)


def account_timeline(*, notes, tasks, breaches, surveys, tickets, revenue, runs, kind: str = "") -> list[Moment]:
    """Every source's moments merged, newest first, the latest LIMIT; `kind` keeps one kind (see KINDS)."""
    sources = {"note": _notes(notes), "task": _tasks(tasks), "breach": _breaches(breaches),
               "survey": _surveys(surveys), "ticket": _tickets(tickets), "revenue": _revenue(revenue),
               "run": _runs(runs)}
    moments = [moment for name, source in sources.items() if not kind or name == kind for moment in source]
    return sorted(moments, key=lambda moment: moment.when, reverse=True)[:LIMIT]
