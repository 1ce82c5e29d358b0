"""Templates say nothing they did not mean to: Django's `{# #}` comment ends on its own line, so one that spans
lines is printed on the page (My work showed its htmx answer's comment three times after three actions)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def test_no_comment_spans_lines():
    templates = Path(settings.BASE_DIR) / "templates"
    open_comments = [f"{path.relative_to(templates)}:{number}"
                     for path in templates.rglob("*.html")
                     for number, line in enumerate(path.read_text().splitlines(), start=1)
                     if line.count("{#") > line.count("#}")]

    assert open_comments == [], "use {% comment %} for a comment of several lines"
