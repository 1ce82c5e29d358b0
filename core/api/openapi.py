"""A drf-spectacular postprocessing hook that makes the schema say what every endpoint really answers.

Found by fuzzing (tests/hardening/test_fuzz_api.py): views raise 401/403/404/429, 400s, 413s and 415s from their
shared layers (authentication, scopes, throttling, get_object_or_404, cursor pagination, query parsing, body
limits and parsing) without each view declaring them, and path parameters accepted any value although the URL
converters match only some.
Documenting these once here keeps every endpoint, including the ones added later, honest.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls.converters import get_converters
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.relations import PrimaryKeyRelatedField

from core.api.serializers import column_bounds

ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_REASONS = {
    "400": "Invalid input: a parameter or the body; `errors` lists the fields.",
    "401": "No credentials, or an unknown or revoked API key.",
    "403": "The key's scope or the person's role does not allow this.",
    "404": "No such object in this tenant, or an invalid page cursor.",
    "413": "The body is larger than this endpoint takes (bytes, or JSON values); nothing was read.",
    "415": "The body is not JSON (only file uploads take multipart/form-data).",
    "429": "Over the rate limit; `Retry-After` says when to come back.",
}


def _error(status: str) -> dict[str, Any]:
    return {"description": _REASONS[status], "content": {"application/json": {"schema": ERROR_REF}}}


def _expected_errors(method: str, operation: dict[str, Any]) -> set[str]:
    parameters = operation.get("parameters", [])
    expected = {"401", "403", "429"}
    if any(parameter["in"] == "path" for parameter in parameters):
        expected.add("404")
    if any(parameter["in"] == "query" for parameter in parameters) or "requestBody" in operation:
        expected.add("400")
    if method in ("post", "put", "patch", "delete"):
        expected.add("413")  # every body is capped (core.api.body), even where none is expected
    if "requestBody" in operation:
        expected.add("415")
    if any(parameter["in"] == "query" and parameter["name"] == "cursor" for parameter in parameters):
        expected.add("404")  # DRF's cursor pagination answers a bad cursor with 404 "Invalid cursor"
    return expected


def _constrain_path_parameters(result: dict[str, Any], generator) -> None:
    """Give each path parameter the range its URL converter matches (`<int:pk>` is never negative)."""
    converters = get_converters()
    for path, path_regex, method, _callback in generator.endpoints:
        # The schema names a `pk` parameter `id` (drf-spectacular's SCHEMA_COERCE_PATH_PK).
        methods = result["paths"].get(path) or result["paths"].get(path.replace("{pk}", "{id}"), {})
        operation = methods.get(method.lower())
        if operation is None:
            continue
        by_name = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
        for match in _ROUTE_PARAMETER.finditer(path_regex):
            parameter = by_name.get(match["name"]) or (by_name.get("id") if match["name"] == "pk" else None)
            converter = converters.get(match["converter"] or "str")
            if parameter is None or converter is None:
                continue
            schema = parameter.setdefault("schema", {})
            if schema.get("type") == "integer":
                schema.setdefault("minimum", 0)
            elif schema.get("type", "string") == "string":
                schema.setdefault("pattern", f"^{converter.regex}$")


def document_standard_errors(result: dict[str, Any], generator, **kwargs) -> dict[str, Any]:
    """Add the error answers the shared layers give, where a view did not document them itself."""
    _constrain_path_parameters(result, generator)
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status in sorted(_expected_errors(method, operation) - set(operation["responses"])):
                operation["responses"][status] = _error(status)
    return result



class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, and a row named by id (`"review": 12`) documents the range its primary key column holds,
    from 1: a client sees that ids are positive, and a fuzzer sends ids that could exist."""

    def _map_serializer_field(self, field, direction: str, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        queryset = getattr(field, "queryset", None)
        if isinstance(field, PrimaryKeyRelatedField) and queryset is not None and schema.get("type") == "integer":
            _, high = column_bounds(queryset.model._meta.pk)
            schema.update({"minimum": 1, "maximum": high} if high is not None else {"minimum": 1})
        return schema
