"""One date format across the product (ISO 8601: 2026-11-21, with the time where it matters): every explicit
format in a template is one of these, and a date printed without one follows config/formats (tested there)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from django.conf import settings
from django.template import Context, Template

# A day, a moment (to the minute, or to the second in logs), and a month in a chart or revenue table.
ALLOWED = {"Y-m-d", "Y-m-d H:i", "Y-m-d H:i:s", "Y-m"}
DATE_FILTER = re.compile(r"""\|date:["']([^"']*)["']""")


def test_every_date_in_a_template_is_written_the_same_way():
    templates = Path(settings.BASE_DIR) / "templates"
    found = {(path.relative_to(templates).as_posix(), fmt)
             for path in templates.rglob("*.html") for fmt in DATE_FILTER.findall(path.read_text())}

    assert {(path, fmt) for path, fmt in found if fmt not in ALLOWED} == set()
    assert found, "no date filter found: the pattern no longer matches the templates"


def test_a_date_printed_without_a_format_is_iso():
    rendered = Template("{{ day }} · {{ moment }}").render(Context({
        "day": dt.date(2026, 11, 21), "moment": dt.datetime(2026, 11, 21, 9, 5)}))

    assert rendered == "2026-11-21 · 2026-11-21 09:05"
