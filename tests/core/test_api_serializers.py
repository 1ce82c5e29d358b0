"""Every number the API accepts fits where it is stored (core/api/serializers.py): bounded by its column's type
and its model's check constraints, and documented so in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from accounts.models import RevenueSnapshot
from core.api.serializers import BoundedModelSerializer, column_bounds
from metrics.models import KPI, AlertRule
from playbooks.models import Experiment, PlaybookStep
from tests.hardening.test_fuzz_api import DOCUMENT


@pytest.mark.parametrize(("field", "bounds"), [
    (AlertRule._meta.get_field("persistence"), (1, 32767)),  # smallint, and CHECK persistence >= 1
    (AlertRule._meta.get_field("hysteresis"), (0, None)),  # double precision, and CHECK hysteresis >= 0
    (AlertRule._meta.get_field("cooldown_hours"), (0, 2**31 - 1)),  # a positive integer
    (AlertRule._meta.get_field("threshold"), (None, None)),  # any finite double
    (KPI._meta.get_field("version"), (1, 2**31 - 1)),
    (PlaybookStep._meta.get_field("due_days"), (0, 32767)),
    (RevenueSnapshot._meta.get_field("mrr"), (0, None)),  # numeric(14, 2): DRF bounds the digits itself
    (Experiment._meta.get_field("alpha"), (5e-324, 0.2)),  # CHECK alpha > 0 AND alpha <= 0.2: the next double
    (Experiment._meta.get_field("power"), (0.5, 0.9999999999999999)),  # CHECK power >= 0.5 AND power < 1
])
def test_a_fields_bounds_come_from_its_column_and_its_models_check_constraints(field, bounds):
    assert column_bounds(field) == bounds


def _schemas(node: Any, components: dict, seen: set[str]):
    """Every schema object reachable from `node`, following references once each."""
    if isinstance(node, dict):
        reference = node.get("$ref")
        if reference:
            name = reference.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                yield from _schemas(components[name], components, seen)
            return
        yield node
        for value in node.values():
            yield from _schemas(value, components, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value, components, seen)


def test_every_whole_number_a_request_may_carry_is_bounded_in_the_schema():
    """In every body and every query parameter: so a client knows the range, and fuzzing stays inside it."""
    components = DOCUMENT["components"]["schemas"]
    unbounded = []
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            carried = [operation.get("requestBody", {})] + [parameter["schema"] for parameter in
                                                            operation.get("parameters", [])
                                                            if parameter["in"] == "query"
                                                            and parameter["name"] != "page_size"]
            for schema in _schemas(carried, components, set()):
                if schema.get("type") == "integer" and not {"minimum", "maximum"} <= set(schema):
                    unbounded.append(f"{method.upper()} {path}: {schema}")
    assert unbounded == []


def _request_serializers() -> list[tuple[str, type]]:
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    found = []
    for path, _regex, method, view in generator._get_paths_and_endpoints():
        if method not in ("POST", "PUT", "PATCH"):
            continue
        serializer = view.schema.get_request_serializer()
        if isinstance(serializer, dict):  # one per media type
            serializer = next(iter(serializer.values()))
        found.append((f"{method} {path}", serializer if isinstance(serializer, type) else type(serializer)))
    return found


def test_every_model_serializer_that_takes_input_is_bounded():
    """A ModelSerializer builds its fields from the model; only the bounded one adds the constraints' bounds."""
    plain = sorted({f"{where}: {serializer.__name__}" for where, serializer in _request_serializers()
                    if issubclass(serializer, serializers.ModelSerializer)
                    and not issubclass(serializer, BoundedModelSerializer)})
    assert plain == []
