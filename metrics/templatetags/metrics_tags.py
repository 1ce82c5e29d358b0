"""Template helpers for KPIs: values in their unit, sparklines and charts drawn as inline SVG, and heat-map
cell colours (no chart library, nothing fetched from elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django import template
from django.utils.html import format_html, format_html_join
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


# VADER's own thresholds for its compound score (see metrics.sentiment.comment_sentiment).
SENTIMENT_NEUTRAL_BAND = 0.05


@register.filter
def sentiment_label(score: float | None) -> str:
    """A comment's sentiment in words: positive, neutral or negative; "not scored" without a score."""
    if score is None:
        return "not scored"
    if score >= SENTIMENT_NEUTRAL_BAND:
        return "positive"
    if score <= -SENTIMENT_NEUTRAL_BAND:
        return "negative"
    return "neutral"


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


@register.simple_tag
def kpi_chart(dates: Sequence[date], values: Sequence[float | None], annotations: Sequence = (), unit: str = "",
              width: int = 640, height: int = 160, label: str = "trend", axes: bool = True) -> SafeString:
    """A line of the values over their dates with each annotation as a numbered dashed marker on its date
    (numbered like the list of notes beside the chart, which is the chart's text alternative).
    `axes` adds the lowest and highest value and the first and last date; small tiles leave them out."""
    points = [(day, value) for day, value in zip(dates, values, strict=True) if value is not None]
    if len(points) < 2:
        return mark_safe("")
    left, right, top, bottom = (64, 8, 8, 22) if axes else (2, 2, 4, 2)
    first, last = dates[0], dates[-1]
    days = (last - first).days or 1
    low = min(value for _, value in points)
    high = max(value for _, value in points)
    span = (high - low) or 1.0

    def x(day: date) -> float:
        return left + (day - first).days * (width - left - right) / days

    def y(value: float) -> float:
        return height - bottom - (value - low) * (height - top - bottom) / span

    line = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in points)
    parts = [format_html('<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/>', line)]
    for number, annotation in enumerate(annotations, start=1):
        if not first <= annotation.date <= last:
            continue
        position = f"{x(annotation.date):.1f}"  # format_html escapes its arguments to text: format first
        parts.append(format_html(
            '<g class="marker"><title>{}: {}</title><line x1="{}" x2="{}" y1="{}" y2="{}" '
            'stroke-dasharray="3 2"/>{}</g>',
            annotation.date.isoformat(), annotation.text, position, position, top, height - bottom,
            format_html('<text x="{}" y="{}" text-anchor="middle">{}</text>', position, top + 8, number)
            if axes else "",
        ))
    if axes:
        parts.append(format_html(
            '<g class="axis"><text x="{}" y="{}" text-anchor="end">{}</text>'
            '<text x="{}" y="{}" text-anchor="end">{}</text>'
            '<text x="{}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text></g>',
            left - 6, f"{y(high) + 4:.1f}", kpi_value(high, unit), left - 6, f"{y(low) + 4:.1f}", kpi_value(low, unit),
            left, height - 6, first.isoformat(), width - right, height - 6, last.isoformat(),
        ))
    described = (f"{label}: from {kpi_value(points[0][1], unit)} on {points[0][0].isoformat()} "
                 f"to {kpi_value(points[-1][1], unit)} on {points[-1][0].isoformat()}")
    body = format_html_join("", "{}", ((part,) for part in parts))
    return format_html(
        '<svg class="{}" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        "kpi-chart" if axes else "sparkline", width, height, width, height, described, body,
    )


@register.filter
def heat_style(value: float | None, scale: str = "0:100") -> str:
    """Inline colours of a heat-map cell on the scale "low:high" (values outside are clamped): darker blue for
    higher values, with text colours that keep a contrast of at least 4.5:1 (dark text on the light half of
    the scale, white on the dark half)."""
    if value is None:
        return ""
    low, _, high = scale.partition(":")
    span = (float(high) - float(low)) or 1.0
    share = max(0.0, min(1.0, (value - float(low)) / span))
    if share < 0.5:
        lightness, ink = 96 - share * 2 * 34, "#1d2330"
    else:
        lightness, ink = 45 - (share - 0.5) * 2 * 17, "#ffffff"
    return f"background: hsl(215, 60%, {lightness:.0f}%); color: {ink}"


DIMENSION_LABELS = {"plan": "Plan", "region": "Region", "industry": "Industry", "lifecycle_stage": "Lifecycle stage",
                    "size_band": "MRR band", "owner": "Owner"}


@register.filter
def dimension_label(dimension: str) -> str:
    """A segment dimension as people say it: lifecycle_stage is "Lifecycle stage", size_band "MRR band"."""
    return DIMENSION_LABELS.get(dimension, dimension)
