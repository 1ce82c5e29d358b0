"""A review on paper: the decisions as CSV, and the whole review (snapshot, commentary, decisions, owners,
deadlines) as a PDF drawn with ReportLab, which needs no system libraries (no Pango or Cairo)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.csv_export import CsvWriter
from metrics.templatetags.metrics_tags import kpi_value
from reviews.models import Decision, Review, ReviewKPI

CSV_COLUMNS = ("id", "review", "kind", "text", "kpi", "owner", "deadline", "status", "new_target", "target_period",
               "target_rationale", "last_update")


def _last_update(decision: Decision) -> str:
    last = decision.last_update
    return f"{last.created_at:%Y-%m-%d}: {last.note or last.get_status_display()}" if last else ""


def decisions_csv(*, review: Review, decisions: Sequence[Decision]) -> str:
    """One row per decision with its owner, deadline, status and latest progress; cells people wrote cannot run
    as formulas in a spreadsheet."""
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writerow(CSV_COLUMNS)
    for decision in decisions:
        writer.writerow([
            decision.pk, review.quarter + (f" {review.name}" if review.name else ""), decision.kind, decision.text,
            decision.kpi.slug if decision.kpi else "", decision.owner.email, decision.deadline.isoformat(),
            decision.status, "" if decision.new_target is None else f"{decision.new_target:g}",
            decision.target_period, decision.target_rationale, _last_update(decision),
        ])
    return out.getvalue()


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _table(rows: list[list], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e7e9ee")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#d9dde5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def review_pdf(*, review: Review, snapshot: Sequence[ReviewKPI], decisions: Sequence[Decision]) -> bytes:
    """The review as a PDF: heading, KPI snapshot with commentary, then the decisions."""
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                                 topMargin=12 * mm, bottomMargin=12 * mm, title=str(review),
                                 author="Bellwether")
    facts = [f"Status: {review.get_status_display()}"]
    if review.meeting_date:
        facts.append(f"Meeting: {review.meeting_date:%Y-%m-%d}")
    if review.facilitator:
        facts.append(f"Facilitator: {review.facilitator}")
    attendees = ", ".join(str(person) for person in review.attendees.all())
    if attendees:
        facts.append(f"Attendees: {attendees}")
    story = [_p(f"KPI review {review.quarter}" + (f" — {review.name}" if review.name else ""), styles["Title"]),
             _p(" · ".join(facts), styles["BodyText"]), Spacer(0, 4 * mm),
             _p("KPI snapshot", styles["Heading2"])]
    rows = [["KPI", "Segment", "Value", "Target", "Previous", "Trend", "Status", "Commentary"]]
    for row in snapshot:
        unit = row.kpi.unit
        rows.append([_p(row.kpi.name, small), f"{row.dimension}: {row.segment}" if row.dimension else "Portfolio",
                     kpi_value(row.value, unit), kpi_value(row.target, unit), kpi_value(row.previous_value, unit),
                     row.get_trend_display(), row.get_status_display(), _p(row.commentary, small)])
    story += [_table(rows, [45 * mm, 30 * mm, 20 * mm, 20 * mm, 20 * mm, 20 * mm, 20 * mm, 98 * mm]),
              Spacer(0, 6 * mm), _p("Decisions", styles["Heading2"])]
    rows = [["Decision", "Kind", "KPI", "Owner", "Deadline", "Status", "Latest progress"]]
    for decision in decisions:
        rows.append([_p(decision.text, small), decision.get_kind_display(),
                     decision.kpi.name if decision.kpi else "—", _p(str(decision.owner), small),
                     f"{decision.deadline:%Y-%m-%d}", decision.get_status_display(),
                     _p(_last_update(decision), small)])
    if len(rows) == 1:
        rows.append(["No decisions recorded.", "", "", "", "", "", ""])
    story.append(_table(rows, [80 * mm, 25 * mm, 30 * mm, 32 * mm, 20 * mm, 20 * mm, 66 * mm]))
    document.build(story)
    return buffer.getvalue()
