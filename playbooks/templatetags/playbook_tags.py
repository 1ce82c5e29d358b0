"""Template helpers for playbook pages: rates as percentages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rate(value: float | None) -> str:
    """A fraction as a whole percentage (0.667 -> 67%); an em dash when there was nothing to divide."""
    return "—" if value is None else f"{value * 100:.0f}%"


TASK_EVENT_LABELS = {"created": "Created", "started": "Started", "snoozed": "Snoozed", "reassigned": "Reassigned",
                     "escalated": "Escalated", "comment": "Comment", "completed": "Completed",
                     "linked": "Linked to another reason", "handed_over": "Handed over"}


@register.filter
def task_event_label(kind: str) -> str:
    """A task history entry's kind in words."""
    return TASK_EVENT_LABELS.get(kind, kind.replace("_", " ").capitalize())


@register.filter
def effect(value: float | None, unit: str) -> str:
    """An experiment's effect or bound: churn shares as percentage points, a probability of superiority as a
    percentage, a KPI change in two decimals of its unit."""
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:+.1f} pts"
    if unit == "superiority":
        return f"{value * 100:.0f}%"
    return f"{value:+.2f}"


@register.filter
def p_value(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
