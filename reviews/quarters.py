"""Quarters as reviews and targets name them (`2026-Q4`): parsing, bounds, the one before and after."""

from __future__ import annotations

import re
from datetime import date, timedelta

_QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")  # ASCII digits only: `\d` takes any script's


class BadQuarter(ValueError):
    """Not a quarter written YYYY-Qn."""


def quarter_of(day: date) -> str:
    return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"  # zero-padded, as _parse reads it back (fuzzing: 0034)


def _parse(quarter: str) -> tuple[int, int]:
    match = _QUARTER.match(quarter or "")
    if not match:
        raise BadQuarter(f"{quarter!r} is not a quarter; write it YYYY-Qn, e.g. 2026-Q4.")
    year = int(match[1])
    if not 1 < year < 9999:  # the quarters before and after must be dates too (found by fuzzing: 0000-Q1)
        raise BadQuarter(f"{quarter!r} is out of range; years run from 0002 to 9998.")
    return year, int(match[2])


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """The first and last day of the quarter, both included."""
    year, number = _parse(quarter)
    start = date(year, 3 * number - 2, 1)
    following = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return start, following - timedelta(days=1)


def previous_quarter(quarter: str) -> str:
    start, _ = quarter_bounds(quarter)
    return quarter_of(start - timedelta(days=1))


def next_quarter(quarter: str) -> str:
    _, end = quarter_bounds(quarter)
    return quarter_of(end + timedelta(days=1))
