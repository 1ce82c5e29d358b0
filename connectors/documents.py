"""Reading a vendor's JSON, where any value may be anything: a signed webhook proves who sent a body, not what
is in it (an API version we have not seen, a field a tenant's template fills with a list).

Each reader takes the value and the path it came from, and returns it in the type the mapping needs, or
refuses the call with a 400 naming the path: never a TypeError or an overflow (a 500), and never a value the
database cannot hold (too long, a NUL character). Missing values read as empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.http import Refusal

# Identifiers (event, subscription, customer, ticket ids) fit the columns that keep them.
ID_LENGTH = 200
# Money beyond this is no customer's MRR (and more than the snapshot's column holds).
MAX_AMOUNT = Decimal(10) ** 12


def _refused(where: str, message: str) -> Refusal:
    return Refusal(400, f"{where} {message}.", [{"index": 0, "field": where, "message": message}])


def member(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is missing or is not an object."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def mapping(value: Any) -> dict:
    """An object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def objects(value: Any) -> list[dict]:
    """The objects of a list (anything else in it, or a value that is no list, read as nothing)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value: Any, where: str, *, limit: int = ID_LENGTH) -> str:
    """A string or a number as text, stripped; "" when missing."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _refused(where, "must be text or a number")
    result = str(value).strip()
    if len(result) > limit:
        raise _refused(where, f"is longer than {limit:,} characters")
    if "\x00" in result:
        raise _refused(where, "must not contain NUL characters")
    return result


def prose(value: Any, where: str, *, limit: int) -> str:
    """Free text (a subject, a comment) cut to the `limit` characters that are kept; "" when missing."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _refused(where, "must be text")
    result = str(value)[:limit]
    if "\x00" in result:
        raise _refused(where, "must not contain NUL characters")
    return result


def moment(value: Any, where: str) -> datetime | None:
    """A Unix time (seconds) as a UTC datetime; None when missing or 0."""
    if value is None or value == 0 or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refused(where, "must be a Unix time in seconds")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _refused(where, "is not a time a calendar holds") from None


def amount(value: Any, where: str) -> Decimal:
    """A number (or a decimal string, as Stripe's `*_decimal` fields are) within what any MRR could be."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _refused(where, "must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _refused(where, "must be a number") from None
    if not number.is_finite() or abs(number) > MAX_AMOUNT:
        raise _refused(where, f"must be a number of at most {MAX_AMOUNT:,}")
    return number


def whole(value: Any, where: str, *, default: int, maximum: int) -> int:
    """A whole number from 0 to `maximum` (an integral float counts); `default` when missing."""
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise _refused(where, f"must be a whole number from 0 to {maximum:,}")
    return value
