"""Request bodies within bounds: each API view's byte cap, checked before anything reads the body, and JSON
parsed only when what it would build fits a budget.

Parsing JSON costs memory in proportion to the values it builds, not to its bytes: 26 MB of `[{},{},...]`
is 8.7 million dicts and about 750 MB. So a view declares both what its body may weigh (`max_body_bytes`)
and how many JSON values it may hold (`max_json_values`), and both are refused with a 413 before any
parsing. Pages (Django views) keep Django's own DATA_UPLOAD_MAX_MEMORY_SIZE.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.parsers import BaseParser

from core.errors import InvalidInput

# Configuration and actions need a few kilobytes (a playbook of fifty long steps, a KPI's parameters);
# views that take more (bulk ingest, file uploads) say so with their own `max_body_bytes`.
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_MAX_JSON_VALUES = 20_000
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_STRUCTURE = (b",", b"[", b"{")
_FEW_STRINGS = 10_000


def too_large(detail: str) -> InvalidInput:
    return InvalidInput(detail, status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def declared_length(request: HttpRequest) -> int:
    """The body's length as the client declared it (what Django will read, at most)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


class BodyLimitMiddleware:
    """Answer 413 to an API request whose declared body is over its view's `max_body_bytes`, before the
    view, its authentication or its idempotency check reads a byte of it. A view that caps its own body
    (an upload streamed to disk under a cap: integrations.uploads) says `max_body_bytes = None`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args, view_kwargs) -> HttpResponse | None:
        view_class = getattr(view_func, "cls", None)  # DRF's as_view() keeps the class here
        if view_class is None:
            return None
        limit = getattr(view_class, "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
        length = declared_length(request)
        if limit is None or length <= limit:  # None: the view caps its own body (a file streamed to disk)
            return None
        detail = f"The body is {length:,} bytes; the limit is {limit:,} for this endpoint."
        if getattr(view_class, "list_key", None):
            detail += " Send smaller batches."
        return JsonResponse({"detail": detail, "errors": [{"index": None, "field": None, "message": detail}]},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def json_values_at_most(body: bytes) -> int:
    """An upper bound on the values parsing `body` would build: one per separator or container, plus one."""
    return sum(body.count(mark) for mark in _STRUCTURE) + 1


def _over_budget(body: bytes, max_values: int) -> bool:
    """Whether `body` would build more than `max_values` values.

    Counted with C-speed byte counts. Only when that count is over the budget are the separators inside strings
    (text, not structure) taken off, so a valid body never pays for the scan and prose full of commas is never
    refused: string by string when there are few strings (no copy of the body), else by one regular expression
    pass over a copy with the strings emptied. A body of more strings than the budget is over it at once."""
    count = json_values_at_most(body)
    if count <= max_values:
        return False
    quotes = body.count(b'"')
    if (quotes - body.count(b"\\")) // 2 > max_values:  # each string is a value or a key
        return True
    if quotes <= 2 * _FEW_STRINGS:
        text = sum(body.count(mark, string.start(), string.end())
                   for string in _STRING.finditer(body) for mark in _STRUCTURE)
        return count - text > max_values
    return json_values_at_most(_STRING.sub(b'""', body)) > max_values


def json_budget_check(body: bytes, *, max_values: int, what: str = "The body", hint: str = "") -> None:
    """Refuse (413) a JSON body that would build more than `max_values` values, before parsing it."""
    if _over_budget(body, max_values):
        raise too_large(f"{what} holds more than {max_values:,} JSON values, more than this endpoint takes. "
                        f"{hint}".strip())


@contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing builds a large tree of small objects; pausing the collector makes it about twice as fast."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def json_loads(body: bytes, *, max_values: int, what: str = "The body", hint: str = "") -> Any:
    """The parsed document, or InvalidInput: 413 over the budget, 400 for anything that is not JSON
    (orjson also refuses nesting deeper than 1,024, NaN, infinities and integers beyond 64 bits)."""
    json_budget_check(body, max_values=max_values, what=what, hint=hint)
    with gc_paused():
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise InvalidInput(f"{what} is not valid JSON: {error}.") from None


class JSONParser(BaseParser):
    """The API's one body format (besides file uploads): JSON within the view's `max_json_values`; every
    parse error, however deep the nesting, is a 400.

    The standard library's parser, not orjson: it keeps integers beyond 64 bits exact (orjson turns them into
    floats, silently), so validation can refuse them instead of storing a rounded number."""

    media_type = "application/json"

    def parse(self, stream, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        view = (parser_context or {}).get("view")
        body = stream.read() if stream is not None else b""
        json_budget_check(body, max_values=getattr(view, "max_json_values", DEFAULT_MAX_JSON_VALUES))
        try:
            document = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise InvalidInput(f"The body is not valid JSON: {error}.") from None
        if b"\\u0000" in body:
            nul_refused(document)
        return document


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def nul_refused(document: Any) -> None:
    """Refuse a NUL character anywhere in the document, naming where: PostgreSQL can neither store nor compare
    one (text, jsonb and lookups alike), so it could only end as a database error. Walked with a stack, not
    recursion."""
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput("The body holds a NUL character, which cannot be stored.",
                               [{"index": None, "field": where or None, "message": "must not contain NUL characters"}])
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((f"{where}.{key}" if where else key, item))
                pending.append((where, key))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
