"""The API's ModelSerializer: every number it accepts fits its column and the model's check constraints.

DRF bounds an integer field by its column's range, but not by the model's check constraints
(`persistence >= 1`), so such a value reached PostgreSQL and came back as a 500. Reading the bounds from the
model itself keeps one source of truth: a constraint added to a model bounds the API the same day, and the
OpenAPI schema documents it (`minimum`, `maximum`).
"""

from __future__ import annotations

import math
from decimal import Decimal

from django.db import connection
from django.db.models import CheckConstraint, Field, Model, Q
from rest_framework import serializers

Bound = int | float | Decimal
_NUMBERS = (serializers.IntegerField, serializers.FloatField, serializers.DecimalField)


def column_bounds(model_field: Field) -> tuple[Bound | None, Bound | None]:
    """The smallest and largest value `model_field` can store: its column type's range, narrowed by every
    check constraint of its model that bounds it alone (`field >= 1`, `field < 100`, ANDed)."""
    low, high = _type_range(model_field)
    for constraint in getattr(model_field.model._meta, "constraints", []):
        if isinstance(constraint, CheckConstraint):
            for lookup, value in _anded_lookups(constraint.condition):
                low, high = _narrowed(model_field, lookup, value, low, high)
    return low, high


def _type_range(model_field: Field) -> tuple[int | None, int | None]:
    internal_type = model_field.get_internal_type()
    if "IntegerField" in internal_type or internal_type.endswith("AutoField"):
        return connection.ops.integer_field_range(internal_type)
    return None, None


def _anded_lookups(condition: Q) -> list[tuple[str, object]]:
    """`(lookup, value)` pairs that must all hold; an OR or a negation bounds nothing on its own."""
    if condition.negated or (condition.connector != Q.AND and len(condition.children) > 1):
        return []
    pairs: list[tuple[str, object]] = []
    for child in condition.children:
        pairs += _anded_lookups(child) if isinstance(child, Q) else [child]
    return pairs


def _narrowed(model_field: Field, lookup: str, value: object, low, high) -> tuple:
    name, _, operator = lookup.partition("__")
    if name not in (model_field.name, model_field.attname) or not isinstance(value, int | float | Decimal):
        return low, high
    if isinstance(value, bool):
        return low, high
    integer = _type_range(model_field) != (None, None)
    if operator == "gte":
        low = value if low is None else max(low, value)
    elif operator == "gt" and not isinstance(value, Decimal):  # strict: the next whole number, or double
        floor = value + 1 if integer else math.nextafter(value, math.inf)
        low = floor if low is None else max(low, floor)
    elif operator == "lte":
        high = value if high is None else min(high, value)
    elif operator == "lt" and not isinstance(value, Decimal):
        ceiling = value - 1 if integer else math.nextafter(value, -math.inf)
        high = ceiling if high is None else min(high, ceiling)
    return low, high


class BoundedModelSerializer(serializers.ModelSerializer):
    """Use instead of DRF's ModelSerializer for anything that writes: its number fields are bounded by
    `column_bounds`, on top of any bound the serializer states itself."""

    def build_standard_field(self, field_name: str, model_field: Field) -> tuple[type, dict]:
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        if issubclass(field_class, _NUMBERS):
            low, high = column_bounds(model_field)
            if low is not None:
                field_kwargs["min_value"] = max(low, field_kwargs.get("min_value", low))
            if high is not None:
                field_kwargs["max_value"] = min(high, field_kwargs.get("max_value", high))
        return field_class, field_kwargs


def id_field(model: type[Model], **kwargs) -> serializers.IntegerField:
    """An input naming a row by id: a whole number its primary key column can hold (ids start at 1)."""
    _, high = column_bounds(model._meta.pk)
    return serializers.IntegerField(min_value=1, max_value=high, **kwargs)
