"""Defining playbooks: the rules a playbook and its steps must meet, and saving one with its ordered steps.

The API and the editor page both call these, so a rule is stated once and both answer with the same
field errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, ProtectedError

from playbooks.models import AssigneeRule, Playbook, PlaybookStep, Trigger
from users.models import Role

PLAYBOOK_FIELDS = ("name", "description", "trigger", "alert_rule", "renewal_days", "mode", "close_on_recovery",
                   "is_active")
STEP_FIELDS = ("title", "instructions", "kind", "due_days", "assignee_rule", "assignee", "queue_role")
# The daily renewal check adds this to today: ten years at most keeps the date arithmetic in range.
RENEWAL_DAYS_MAX = 3650
# Steps are renumbered 1..n on save; while they move, they are parked above this so the unique
# (playbook, position) constraint never sees two steps on one position.
_PARKING = 16000


def playbook_problems(*, trigger: str, alert_rule: Any, renewal_days: int | None) -> dict[str, str]:
    """What is missing for the playbook's trigger to fire, by field."""
    problems = {}
    if trigger == Trigger.ALERT and not alert_rule:
        problems["alert_rule"] = "An alert-triggered playbook needs the alert rule that starts it."
    if trigger == Trigger.RENEWAL_DUE and not renewal_days:
        problems["renewal_days"] = "A renewal playbook needs how many days before the renewal it starts."
    elif renewal_days and renewal_days > RENEWAL_DAYS_MAX:
        problems["renewal_days"] = f"At most {RENEWAL_DAYS_MAX:,} days (ten years) before the renewal."
    return problems


def step_problems(*, assignee_rule: str, assignee: Any, queue_role: str) -> dict[str, str]:
    """What is missing for the step's task to reach someone, by field."""
    if assignee_rule == AssigneeRule.NAMED_USER and not assignee:
        return {"assignee": "A step for a named user needs that user."}
    if assignee_rule == AssigneeRule.ROLE_QUEUE and queue_role not in Role.values:
        return {"queue_role": f"A step for a role's queue needs the role: one of {', '.join(Role.values)}."}
    return {}


def _check(fields: dict, steps: Sequence[dict] | None) -> None:
    problems = playbook_problems(trigger=fields.get("trigger", Trigger.MANUAL), alert_rule=fields.get("alert_rule"),
                                 renewal_days=fields.get("renewal_days"))
    if steps is not None and not steps:
        problems["steps"] = "A playbook needs at least one step."
    step_messages = [f"Step {number}: {message}" for number, step in enumerate(steps or [], start=1)
                     for message in step_problems(
                         assignee_rule=step.get("assignee_rule", AssigneeRule.ACCOUNT_OWNER),
                         assignee=step.get("assignee"), queue_role=step.get("queue_role", "")).values()]
    if step_messages:
        problems["steps"] = step_messages
    if problems:
        raise ValidationError(problems)


def _steps_replace(playbook: Playbook, steps: Sequence[dict]) -> None:
    """Make the playbook's steps exactly `steps`, in order: a step with an `id` is kept and updated, one
    without is added, and a step left out is removed, unless past runs' tasks still point at it."""
    existing = {step.pk: step for step in playbook.steps.all()}
    unknown = [step["id"] for step in steps if step.get("id") and step["id"] not in existing]
    if unknown:
        raise ValidationError({"steps": f"Not a step of this playbook: {', '.join(map(str, unknown))}."})
    kept = {step["id"] for step in steps if step.get("id")}
    removed = [step for pk, step in existing.items() if pk not in kept]
    try:
        PlaybookStep.objects.filter(pk__in=[step.pk for step in removed]).delete()
    except ProtectedError:
        titles = ", ".join(f"'{step.title}'" for step in removed)
        raise ValidationError({"steps": f"Steps with tasks from past runs cannot be removed ({titles}): "
                                        "keep them, or make a new playbook and deactivate this one."}) from None
    PlaybookStep.objects.filter(pk__in=kept).update(position=_PARKING + F("position"))
    for position, step in enumerate(steps, start=1):
        row = existing[step["id"]] if step.get("id") else PlaybookStep(playbook=playbook)
        for name in STEP_FIELDS:
            if name in step:
                setattr(row, name, step[name])
        row.position = position
        try:
            row.full_clean(validate_constraints=False)
        except ValidationError as error:
            raise ValidationError({"steps": [f"Step {position}: {field}: {message}"
                                             for field, messages in error.message_dict.items()
                                             for message in messages]}) from None
        row.save()


@transaction.atomic
def playbook_save(*, playbook: Playbook | None = None, fields: dict, steps: Sequence[dict] | None = None
                  ) -> Playbook:
    """Create a playbook (`playbook` None) or update one, with its steps in the order given when `steps`
    is not None. Raises ValidationError with a message per field; nothing is saved then."""
    playbook = playbook or Playbook()
    current = {name: getattr(playbook, name) for name in PLAYBOOK_FIELDS}
    merged = {**current, **{name: value for name, value in fields.items() if name in PLAYBOOK_FIELDS}}
    # A new playbook needs steps; an update without `steps` keeps the ones it has.
    _check(merged, steps if steps is not None else (None if playbook.pk else []))
    for name, value in merged.items():
        setattr(playbook, name, value)
    playbook.full_clean()
    playbook.save()
    if steps is not None:
        _steps_replace(playbook, steps)
    return playbook
