"""What a KPI's numbers can sensibly be, by unit, and how far ahead a target or a deadline can sensibly lie:
the bounds every way in (pages, the API, a review's decision) checks, so an NRR target of -5,000% or a deadline
in 2099 is refused with a message instead of stored."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError

from metrics.models import Unit

# The widest value each unit may take. Percentages can fall to -100% (all gone) and rise well past 100% (NRR,
# growth), not beyond tenfold; a score is -100 to 100 (NPS; health, CSAT and CES sit inside).
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    Unit.PERCENT: (-100.0, 1000.0),
    Unit.RATIO: (0.0, 100.0),
    Unit.SCORE: (-100.0, 100.0),
    Unit.CURRENCY: (0.0, 1e10),
    Unit.COUNT: (0.0, 1e7),
    Unit.DAYS: (0.0, 3650.0),
    Unit.HOURS: (0.0, 8760.0),
}
# Targets and deadlines are for the coming years, not the next century.
YEARS_AHEAD = 5
YEARS_BACK = 1


def value_check(value: float | None, *, unit: str, field: str, what: str = "The value") -> None:
    """Refuse a value outside what the unit can be (None passes: it means no value)."""
    if value is None:
        return
    low, high = UNIT_BOUNDS.get(unit, (-1e10, 1e10))
    if not low <= value <= high:
        raise ValidationError({field: f"{what} {value:g} is out of range: a {Unit(unit).label.lower()} KPI's "
                                      f"values lie between {low:g} and {high:g}."})


def year_check(day_or_year: date | int, *, today: date, field: str, what: str = "The date") -> None:
    """Refuse a date (or year) more than YEARS_AHEAD years ahead or YEARS_BACK years back."""
    year = day_or_year if isinstance(day_or_year, int) else day_or_year.year
    if not today.year - YEARS_BACK <= year <= today.year + YEARS_AHEAD:
        raise ValidationError({field: f"{what} is in {year}: choose one between {today.year - YEARS_BACK} and "
                                      f"{today.year + YEARS_AHEAD}."})
