"""Dates in query parameters (`?as_of=2026-11-21`, `?from=...&to=...`): ISO days, or a 400 naming the parameter."""

from __future__ import annotations

from datetime import date

from rest_framework.request import Request

from core.errors import InvalidInput


def date_param(request: Request, name: str) -> date | None:
    """The query parameter `name` as a date, None when absent or empty, InvalidInput (400) when not YYYY-MM-DD."""
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"Query parameter {name} must be a date YYYY-MM-DD.") from None
