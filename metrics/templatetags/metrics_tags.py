"""Template helpers for KPIs: values in their unit, and sparklines drawn as inline SVG (no chart library)."""

from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def kpi_value(value: float | None, unit: str) -> str:
    """A value as people read it: 92.4%, 1.8x, $3,250, 14 days; an em dash when there is none."""
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:,.1f}%"
    if unit == "ratio":
        return f"{value:,.2f}x"
    if unit == "currency":
        return f"{value:,.0f}"
    if unit == "days":
        return f"{value:,.0f} d"
    if unit == "hours":
        return f"{value:,.1f} h"
    if unit == "count":
        return f"{value:,.1f}"
    return f"{value:,.1f}"


@register.filter
def status_label(status: str) -> str:
    from metrics.status import STATUS_LABELS, TargetStatus

    return STATUS_LABELS.get(TargetStatus(status), status) if status in TargetStatus else status


@register.simple_tag
def sparkline(values: Sequence[float | None], width: int = 120, height: int = 32,
              label: str = "trend") -> SafeString:
    """A polyline of the values (gaps skipped), scaled to the box; empty when fewer than two points."""
    points = [(index, value) for index, value in enumerate(values) if value is not None]
    if len(points) < 2:
        return mark_safe("")
    low = min(value for _, value in points)
    high = max(value for _, value in points)
    span = (high - low) or 1.0
    last = max(len(values) - 1, 1)
    coordinates = " ".join(
        f"{2 + index * (width - 4) / last:.1f},{height - 2 - (value - low) * (height - 4) / span:.1f}"
        for index, value in points
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        width, height, width, height, label, coordinates,
    )
