"""Every CSV cell the product writes is safe in a spreadsheet, and every CSV is written through one writer."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from core.csv_export import CsvWriter, csv_cell

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("value", "cell"), [
    ('=HYPERLINK("https://evil.example","x")', '\'=HYPERLINK("https://evil.example","x")'),
    ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\n=1+1", "'\n=1+1"),
    ("\uff1d1+1", "'\uff1d1+1"),
    ("-5% churn", "'-5% churn"),
    ("-", "'-"),
    ("Call, then = email", "Call, then = email"),
    ("", ""),
    (None, ""),
    (-5, "-5"),
    (-12.5, "-12.5"),
    (Decimal("-0.25"), "-0.25"),
    ("-1e-06", "-1e-06"),
    ("+3", "+3"),
    (42, "42"),
])
def test_a_cell_that_would_run_as_a_formula_is_quoted_and_numbers_stay_numbers(value, cell):
    assert csv_cell(value) == cell


def test_the_writer_quotes_formula_cells_and_keeps_csv_quoting():
    out = io.StringIO()
    writer = CsvWriter(out)

    writer.writerows([["text", "value"], ['=1+1, "quoted"', -3]])

    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["text", "value"], ["'=1+1, \"quoted\"", "-3"]]


def test_no_module_writes_csv_without_the_safe_writer():
    """A new export must use core.csv_export; the standard writer would let formulas through."""
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    packages = [path for path in ROOT.iterdir()
                if path.name != "tests" and ((path / "__init__.py").exists() or path.name == "scripts")]
    offenders = [str(module.relative_to(ROOT)) for package in packages for module in package.rglob("*.py")
                 if module != ROOT / "core" / "csv_export.py" and writers.search(module.read_text())]

    assert offenders == []
