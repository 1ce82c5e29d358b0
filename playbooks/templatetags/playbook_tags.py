"""Template helpers for playbook pages: rates as percentages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rate(value: float | None) -> str:
    """A fraction as a whole percentage (0.667 -> 67%); an em dash when there was nothing to divide."""
    return "—" if value is None else f"{value * 100:.0f}%"
