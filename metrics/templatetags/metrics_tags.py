"""Template helpers for KPIs: values in their unit, charts drawn as inline SVG (full, or small in a tile or a
row), and heat-map cell colours (no chart library, nothing fetched from elsewhere)."""

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
def share(value: float | None) -> str:
    """A share from 0 to 1 as a whole percentage: 0.734 is 73%; an em dash when there is none."""
    return "—" if value is None else f"{100 * value:.0f}%"


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


def _segments(points: Sequence[tuple[date, float | None]]) -> list[list[tuple[date, float]]]:
    """Runs of consecutive known values: a missing value breaks the line (a gap is drawn as a gap, never as 0)."""
    runs: list[list[tuple[date, float]]] = [[]]
    for day, value in points:
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((day, value))
    return [run for run in runs if run]


def _value_range(values: Sequence[float]) -> tuple[float, float]:
    """The y range: the values and the reference lines, with some room; a constant series sits mid-chart."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 if high != low else abs(high) * 0.1 or 1.0
    # Never below zero for what cannot be negative (counts, money): the axis starts at 0 there.
    return (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad


@register.simple_tag
def kpi_chart(dates: Sequence[date], values: Sequence[float | None], annotations: Sequence = (), unit: str = "",
              width: int = 640, height: int = 160, label: str = "trend", axes: bool = True,
              threshold: float | None = None, target: float | None = None, threshold_label: str = "threshold",
              target_label: str = "target") -> SafeString:
    """A line of the values over their dates, readable without a legend: gaps stay gaps, each point shows its
    date and value on hover (and to assistive technology through its title), the threshold and target are
    dashed lines named at their end, the axes have ticks (three values, three dates), and each annotation is a
    numbered dashed marker on its date (numbered like the list of notes beside the chart). `axes=False` draws
    the small tile version: the line, the target line and the markers only."""
    known = [value for value in values if value is not None]
    if len(known) < 2:
        return mark_safe("")
    left, right, top, bottom = (64, 104, 10, 24) if axes else (2, 2, 4, 2)
    first, last = dates[0], dates[-1]
    days = (last - first).days or 1
    references = [line for line in (threshold, target) if line is not None]
    low, high = _value_range(known + references)

    def x(day: date) -> float:
        return left + (day - first).days * (width - left - right) / days

    def y(value: float) -> float:
        return height - bottom - (value - low) * (height - top - bottom) / (high - low)

    parts = []
    if axes:
        ticks = [low + (high - low) * share for share in (0.1, 0.5, 0.9)]
        tick_days = [first, first + (last - first) / 2, last]
        parts.append(format_html_join("", '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                                          '<text x="{}" y="{}" text-anchor="end">{}</text>',
                                      ((left, width - right, f"{y(tick):.1f}", f"{y(tick):.1f}", left - 6,
                                        f"{y(tick) + 4:.1f}", kpi_value(tick, unit)) for tick in ticks)))
        parts.append(format_html_join("", '<text x="{}" y="{}" text-anchor="{}">{}</text>',
                                      ((f"{x(day):.1f}", height - 6, anchor, day.isoformat())
                                       for day, anchor in zip(tick_days, ("start", "middle", "end"), strict=True))))
        parts = [format_html('<g class="axis">{}</g>', format_html_join("", "{}", ((part,) for part in parts)))]
    for name, line, said in (("threshold", threshold, threshold_label), ("target", target, target_label)):
        if line is None or (not axes and name == "threshold"):
            continue
        level = f"{y(line):.1f}"
        parts.append(format_html(
            '<g class="reference {}"><title>{} {}</title><line x1="{}" x2="{}" y1="{}" y2="{}" '
            'stroke-dasharray="6 4"/>{}</g>', name, said.capitalize(), kpi_value(line, unit), left, width - right,
            level, level, format_html('<text x="{}" y="{}">{} {}</text>', width - right + 4, f"{y(line) + 4:.1f}",
                                      said, kpi_value(line, unit)) if axes else ""))
    for run in _segments(list(zip(dates, values, strict=True))):
        if len(run) > 1:
            line = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in run)
            parts.append(format_html('<polyline fill="none" stroke="currentColor" stroke-width="2" points="{}"/>',
                                     line))
        # Every point says its date and value on hover (its title): drawn on the full chart and for a lone point
        # of the small one; on the small one's line, an invisible target a pointer can rest on.
        hover_only = not axes and len(run) > 1
        radius = 3 if axes else 4 if hover_only else 1.5
        parts.append(format_html_join("", '<circle cx="{}" cy="{}" r="{}"{}><title>{}: {}</title></circle>',
                                      ((f"{x(day):.1f}", f"{y(value):.1f}", radius,
                                        mark_safe(' class="hover-point"') if hover_only else "", day.isoformat(),
                                        kpi_value(value, unit)) for day, value in run)))
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
    points = [(day, value) for day, value in zip(dates, values, strict=True) if value is not None]
    described = (f"{label}: from {kpi_value(points[0][1], unit)} on {points[0][0].isoformat()} "
                 f"to {kpi_value(points[-1][1], unit)} on {points[-1][0].isoformat()}"
                 + (f"; lowest {kpi_value(min(known), unit)}, highest {kpi_value(max(known), unit)}" if axes else "")
                 + (f"; {threshold_label} {kpi_value(threshold, unit)}" if threshold is not None else "")
                 + (f"; {target_label} {kpi_value(target, unit)}" if target is not None else ""))
    body = format_html_join("", "{}", ((part,) for part in parts))
    return format_html(
        '<svg class="{}" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        "kpi-chart" if axes else "sparkline", width, height, width, height, described, body,
    )


@register.simple_tag
def calibration_chart(groups: Sequence[dict], outcome: str = "had the outcome", size: int = 260) -> SafeString:
    """Predicted against observed share per group (a calibration curve), both 0-100%, with the diagonal where
    they are equal drawn as the line to read against ("as predicted"); each point says its numbers on hover."""
    if len(groups) < 2:
        return mark_safe("")
    margin = 36

    def at(share: float) -> float:
        return margin + share * (size - 2 * margin)

    ticks = format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}%</text>'
                                 '<text x="{}" y="{}" text-anchor="end">{}%</text>',
                             ((f"{at(share):.1f}", size - margin + 16, round(100 * share), margin - 6,
                               f"{size - at(share) + 4:.1f}", round(100 * share)) for share in (0, 0.5, 1)))
    points = format_html_join("", '<circle cx="{}" cy="{}" r="4"><title>{}</title></circle>',
                              ((f"{at(group['predicted']):.1f}", f"{size - at(group['observed']):.1f}",
                                group.get("says", "")) for group in groups))
    line = " ".join(f"{at(group['predicted']):.1f},{size - at(group['observed']):.1f}"
                    for group in sorted(groups, key=lambda group: group["predicted"]))
    worst = max(abs(group["predicted"] - group["observed"]) for group in groups)
    return format_html(
        '<svg class="calibration-chart" width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" '
        'aria-label="{label}"><g class="axis">{ticks}<text x="{mid}" y="{bottom}" text-anchor="middle">predicted'
        '</text><text x="10" y="{mid}" transform="rotate(-90 10 {mid})" text-anchor="middle">{outcome}</text></g>'
        '<g class="reference target"><title>As predicted: what happened equals the chance given</title>'
        '<line x1="{low}" y1="{high}" x2="{high}" y2="{low}" stroke-dasharray="6 4"/>'
        '<text x="{label_x}" y="{label_y}" text-anchor="end">as predicted</text></g>'
        '<polyline fill="none" stroke="currentColor" stroke-width="2" points="{line}"/>{points}</svg>',
        size=size, label=f"Calibration by tenth of the accounts: predicted against {outcome}; the farthest tenth "
                         f"is {100 * worst:.0f} points from the line where they are equal",
        ticks=ticks, mid=size // 2, bottom=size - 4, outcome=outcome, low=f"{at(0):.1f}",
        high=f"{size - at(0):.1f}", label_x=f"{at(1):.1f}", label_y=f"{size - at(1) + 14:.1f}", line=line,
        points=points)


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


@register.simple_tag
def sla(respond_by, now, closed_at=None):
    """The response SLA clock of a breach or a task (metrics.sla), as a label and a state for its colour."""
    from metrics.sla import sla_clock

    return sla_clock(respond_by=respond_by, now=now, closed_at=closed_at)


@register.filter
def severity_label(severity: str) -> str:
    """A stored severity as people read it: critical is "Critical"."""
    from metrics.models import Severity

    return Severity(severity).label if severity in Severity.values else severity


BAND_LABELS = {"red": "Red", "yellow": "Yellow", "green": "Green"}


@register.filter
def band_label(band: str | None) -> str:
    """A health band as people read it; "not scored" when there is none."""
    return BAND_LABELS.get(band or "", "not scored")


@register.filter
def get_item(mapping: dict | None, key: str):
    """`mapping[key]` in a template (None when absent): e.g. a health component's name by its KPI slug."""
    return mapping.get(key) if mapping else None
