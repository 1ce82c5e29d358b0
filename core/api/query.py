"""Whole numbers in query parameters: ASCII digits within the range the value can have, or a 400 naming the
parameter.

Unicode digits are not digits here (core/numbers.py), and a number needs bounds: `?account=²` was a 500 and
`?review=99999999999999999999` an overflow. One definition per parameter both reads it and documents it
(`minimum`, `maximum`) in the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter

from core.errors import InvalidInput
from core.numbers import BIGINT_MAX, whole_number


@dataclass(frozen=True)
class IntegerQuery:
    """A query parameter holding a whole number, e.g. `IntegerQuery("review", description="A review's id")`."""

    name: str
    minimum: int = 1
    maximum: int = BIGINT_MAX
    description: str = ""

    def read(self, params: Mapping[str, str], default: int | None = None) -> int | None:
        """The parameter's value in `params` (an API request's `query_params`, or a page's `request.GET`);
        `default` when it is absent or empty; InvalidInput (400) when it is not a whole number in range."""
        raw = params.get(self.name)
        if raw is None or raw == "":
            return default
        number = whole_number(raw, minimum=self.minimum, maximum=self.maximum)
        if number is None:
            message = f"must be a whole number from {self.minimum:,} to {self.maximum:,}"
            raise InvalidInput(f"Query parameter {self.name} {message}.",
                               [{"index": None, "field": self.name, "message": message}])
        return number

    def parameter(self) -> OpenApiParameter:
        return OpenApiParameter(self.name, {"type": "integer", "minimum": self.minimum, "maximum": self.maximum},
                                description=self.description or None)
