"""Whole numbers written as text (a query parameter, a header, a CSV cell, a trait): ASCII digits only, within
bounds.

`str.isdigit()` is the wrong test. It accepts `²` and other Unicode digits that `int()` refuses, so a check
that trusted it ended in a ValueError (a 500) wherever it was used (`?account=²`, `Stripe-Signature: t=²`);
and it accepts fullwidth or Arabic-Indic digits that `int()` reads, so one quarter or id could be stored in
two spellings. Every "is this a whole number" in the product goes through here (a test refuses `.isdigit()`
anywhere else).
"""

from __future__ import annotations

import re

BIGINT_MAX = 2**63 - 1  # the largest id a PostgreSQL bigint primary key holds
_ASCII_DIGITS = re.compile(r"[0-9]+")
# A quarter as reviews and targets name it, `2026-Q4`: Python's `\d` would take any script's digits.
QUARTER_PATTERN = r"^[0-9]{4}-Q[1-4]$"


def ascii_digits(value: str) -> bool:
    """Whether `value` is one or more ASCII digits and nothing else (no sign, space or other script)."""
    return bool(_ASCII_DIGITS.fullmatch(value))


def whole_number(value: str, *, minimum: int = 1, maximum: int = BIGINT_MAX) -> int | None:
    """`value` as an int when it is written in ASCII digits within [minimum, maximum], else None."""
    if len(value) > len(str(maximum)) or not ascii_digits(value):
        return None
    number = int(value)
    return number if minimum <= number <= maximum else None
