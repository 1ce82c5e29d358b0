"""Reading a bulk request body: size, content type and JSON or NDJSON parsing, before any validation."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from itertools import islice

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.body import gc_paused, json_budget_check, json_loads, too_large
from core.api.errors import ERROR_RESPONSES
from core.api.permissions import IngestScope
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from integrations.ingest import MAX_BATCH_ITEMS, Caller
from integrations.models import ApiKey
from integrations.services import batch_rejection_record
from integrations.validation import BatchRejected, ItemSpec

# 10,000 events of a few hundred bytes each fit easily; anything larger is refused before it is read.
MAX_BULK_BYTES = 25 * 1024 * 1024
# What parsing a batch may build: 64 JSON values per item on average (an event has about ten; an account
# with fifty custom attributes about sixty), about 45 MB of Python objects at most.
VALUES_PER_ITEM = 64
MAX_BULK_JSON_VALUES = MAX_BATCH_ITEMS * VALUES_PER_ITEM
SPLIT = (f"A batch holds at most {MAX_BATCH_ITEMS:,} items of {VALUES_PER_ITEM} JSON values each on average: "
         "split it into smaller batches.")
JSON = "application/json"
NDJSON = "application/x-ndjson"
_NDJSON_LINE = re.compile(rb"^[ \t\r]*[^\s]", re.MULTILINE)


def _content_type(request: Request) -> str:
    return request.content_type.split(";")[0].strip().lower()


def bulk_items(request: Request, list_key: str, *, allow_ndjson: bool = False) -> Sequence:
    """The list of items in `{"<list_key>": [...]}` (or one JSON object per line for NDJSON); the body's
    size was checked before it was read (body.BodyLimitMiddleware), its JSON values are counted before it
    is parsed."""
    content_type = _content_type(request)
    accepted = [JSON, NDJSON] if allow_ndjson else [JSON]
    if content_type not in accepted:
        raise InvalidInput(f"Unsupported content type {content_type or '(none)'!r}; send {' or '.join(accepted)}.",
                           status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    body = request.body
    if content_type == NDJSON:
        return _ndjson(body)
    document = json_loads(body, max_values=MAX_BULK_JSON_VALUES, hint=SPLIT)
    if not isinstance(document, dict) or list_key not in document:
        raise InvalidInput(f'The body must be a JSON object with a "{list_key}" list.')
    extra = sorted(set(document) - {list_key})
    if extra:
        raise InvalidInput(f"Unknown top-level field(s): {', '.join(extra)}.")
    items = document[list_key]
    if not isinstance(items, list):
        raise InvalidInput(f'"{list_key}" must be a list.')
    return items


def _ndjson(body: bytes) -> list:
    """One item per non-blank line; more lines than a batch holds are refused before any is parsed."""
    if next(islice(_NDJSON_LINE.finditer(body), MAX_BATCH_ITEMS, None), None) is not None:
        raise too_large(f"The body has more than {MAX_BATCH_ITEMS:,} lines. {SPLIT}")
    json_budget_check(body, max_values=MAX_BULK_JSON_VALUES, hint=SPLIT)
    items = []
    with gc_paused():
        for number, line in enumerate(io.BytesIO(body), start=1):  # line by line: no list of every line
            if line.strip():
                items.append(json_loads(line, max_values=MAX_BULK_JSON_VALUES, what=f"Line {number}"))
    return items


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Items stored for the first time.")
    updated = serializers.IntegerField(help_text="Items that changed a stored row.")
    duplicates = serializers.IntegerField(help_text="Items identical to what was stored (or an id already seen).")


class BulkIngestView(APIView):
    """POST a batch of one kind of data; all or nothing. Subclasses are made by `bulk_ingest_view`.

    Not rate limited: an integration pushes as fast as its data comes (batches are bounded in size and
    idempotent, so a retry storm costs no duplicate). Reads and configuration keep the per-key limit."""

    permission_classes = [IngestScope]
    throttle_classes: list = []
    max_body_bytes = MAX_BULK_BYTES
    list_key: str
    ingest: Callable[..., object]
    allow_ndjson = False

    def handle_exception(self, exc: Exception):
        if isinstance(exc, BatchRejected):
            batch_rejection_record(rejection=exc)
        return super().handle_exception(exc)

    @idempotent
    def post(self, request: Request) -> Response:
        items = bulk_items(request, self.list_key, allow_ndjson=self.allow_ndjson)
        caller = Caller(api_key=request.auth if isinstance(request.auth, ApiKey) else None,
                        user=None if isinstance(request.auth, ApiKey) else request.user)
        result = type(self).ingest(items=items, caller=caller)
        return Response(result.counts())


def bulk_ingest_view(*, name: str, list_key: str, spec: ItemSpec, ingest: Callable[..., object],
                     summary: str, allow_ndjson: bool = False) -> type[BulkIngestView]:
    """A bulk endpoint for one kind of data, documented in the OpenAPI schema from its item spec."""
    item = spec.serializer()
    envelope = type(f"{spec.name}Batch", (serializers.Serializer,), {
        list_key: serializers.ListField(child=item(), min_length=1, max_length=MAX_BATCH_ITEMS),
    })
    view = type(name, (BulkIngestView,), {"list_key": list_key, "ingest": staticmethod(ingest),
                                          "allow_ndjson": allow_ndjson})
    description = (f"All or nothing: one bad item rejects the batch with every problem listed. Up to "
                   f"{MAX_BATCH_ITEMS:,} items. Send an `Idempotency-Key` header to make a retry safe.")
    if allow_ndjson:
        description += " Also accepts `application/x-ndjson`: one item per line."
    def post(self, request: Request) -> Response:  # a function of its own, so each view has its own schema
        return BulkIngestView.post(self, request)

    view.post = extend_schema(
        # Media types spelled out: the view reads the body itself, so DRF's default parsers (forms,
        # multipart) would document bodies it refuses with 415.
        summary=summary, description=description,
        request={JSON: envelope, NDJSON: item} if allow_ndjson else {JSON: envelope},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={200: BulkResultSerializer, **ERROR_RESPONSES}, tags=["ingest"], operation_id=name,
    )(post)
    return view
