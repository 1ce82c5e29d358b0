"""The actions on a task from a page (start, complete, snooze, comment, reassign): their forms, the choices the
rows render, and applying one through the playbooks services with the same permission rule as the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from django import forms
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from playbooks.models import Task, TaskOutcome
from playbooks.permissions import may_reassign
from playbooks.services import PlaybookError, task_comment, task_complete, task_reassign, task_snooze, task_start

SNOOZE_CHOICES = [("1", "Until tomorrow"), ("3", "For 3 days"), ("7", "For a week"), ("14", "For two weeks")]
OUTCOME_CHOICES = [("", "Choose an outcome…"), *TaskOutcome.choices]
ACTIONS = ("start", "complete", "snooze", "comment", "reassign")


class CompleteForm(forms.Form):
    # No default: closing a task says what happened, chosen on purpose.
    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, error_messages={
        "required": "Choose an outcome: what happened?"})
    note = forms.CharField(required=False, max_length=2000)


class SnoozeForm(forms.Form):
    days = forms.ChoiceField(choices=SNOOZE_CHOICES, error_messages={"required": "Choose how long to snooze."})
    reason = forms.CharField(max_length=500, error_messages={"required": "Say why the task can wait."})


class CommentForm(forms.Form):
    # Not "note": a row's one form also holds the completion's note.
    comment = forms.CharField(max_length=2000, error_messages={"required": "A comment needs text."})


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, error_messages={
        "required": "Choose whom to give the task to.", "invalid_choice": "Choose someone from the list."})

    def __init__(self, *args, candidates, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = candidates


def _options(choices) -> SafeString:
    return format_html_join("", '<option value="{}">{}</option>', ((value, label) for value, label in choices))


@dataclass(frozen=True)
class ActionChoices:
    """What the rows of a page offer: outcomes, snooze lengths and (for managers) whom to reassign to; each list
    also rendered once as its <option> elements, which every row of a long page repeats."""

    outcomes: list
    snooze: list
    candidates: list | None

    @cached_property
    def outcome_options(self) -> SafeString:
        return _options(self.outcomes)

    @cached_property
    def snooze_options(self) -> SafeString:
        return _options(self.snooze)

    @cached_property
    def candidate_options(self) -> SafeString:
        return _options([("", "Choose a person…"), *((person.pk, str(person)) for person in self.candidates or ())])


def task_action_forms(*, candidates) -> ActionChoices:
    return ActionChoices(outcomes=OUTCOME_CHOICES, snooze=SNOOZE_CHOICES,
                         candidates=list(candidates) if candidates is not None else None)


@dataclass(frozen=True)
class ActionResult:
    done: bool
    message: str
    field: str = ""  # the field an error is about


def _first_error(form: forms.Form) -> tuple[str, str]:
    name, errors = next(iter(form.errors.items()))
    return name, errors[0]


def task_action_apply(*, task: Task, user, data, candidates) -> ActionResult:
    """Apply the posted action to the task (the caller checked the person may act on it)."""
    action = data.get("action", "")
    if action not in ACTIONS:
        return ActionResult(False, f"Unknown action {action!r}: start, complete, snooze, comment or reassign.",
                            "action")
    form = {"complete": CompleteForm, "snooze": SnoozeForm, "comment": CommentForm}.get(action)
    if action == "reassign":
        if not may_reassign(user):
            return ActionResult(False, "Only managers, leaders and admins reassign tasks.", "assignee")
        form = ReassignForm(data, candidates=candidates)
    elif form is not None:
        form = form(data)
    if form is not None and not form.is_valid():
        name, message = _first_error(form)
        return ActionResult(False, message, name)
    cleaned = form.cleaned_data if form is not None else {}
    try:
        if action == "start":
            changed = task_start(task=task, user=user)
            message = f"Started “{task.title}”."
        elif action == "complete":
            changed = task_complete(task=task, user=user, outcome=cleaned["outcome"], note=cleaned["note"])
            message = f"Completed “{task.title}”: {TaskOutcome(cleaned['outcome']).label}."
        elif action == "snooze":
            until = timezone.now() + timedelta(days=int(cleaned["days"]))
            changed = task_snooze(task=task, user=user, until=until, reason=cleaned["reason"])
            message = f"Snoozed “{task.title}” until {timezone.localtime(until):%Y-%m-%d %H:%M}."
        elif action == "comment":
            task_comment(task=task, user=user, note=cleaned["comment"])
            changed, message = True, f"Comment added to “{task.title}”."
        else:
            changed = task_reassign(task=task, user=user, assignee=cleaned["assignee"])
            message = f"Gave “{task.title}” to {cleaned['assignee']}."
    except PlaybookError as error:
        return ActionResult(False, str(error))
    if not changed:
        task.refresh_from_db(fields=["status"])
        return ActionResult(False, f"“{task.title}” is {task.get_status_display().lower()}: nothing was changed.")
    return ActionResult(True, message)
