"""CSV import through the API: a file uploaded as multipart field `file`, imported at once when it holds up to
10,000 rows (200), else queued as one job (202 with its URL), whose progress and outcome GET reports."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FileUploadParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.permissions import IngestScope
from core.errors import InvalidInput
from integrations.api.bulk import BulkResultSerializer
from integrations.api.idempotency import idempotent, upload_fingerprint
from integrations.csv_import import (
    MAX_CSV_BYTES,
    MAX_CSV_ROWS,
    PHASES,
    csv_import_progress,
    csv_import_receive,
)
from integrations.ingest import MAX_BATCH_ITEMS, Caller, IngestKind
from integrations.models import ApiKey, CsvImport
from integrations.services import batch_rejection_record
from integrations.uploads import upload_cap
from integrations.validation import BatchRejected


class CsvProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="The line of the file; the header is line 1.")
    field = serializers.CharField(allow_null=True, help_text="The column, when the problem is in one cell.")
    message = serializers.CharField()


class CsvErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = CsvProblemSerializer(many=True, required=False)


class CsvImportOut(serializers.ModelSerializer):
    errors = CsvProblemSerializer(many=True, help_text="The first problems of a failed import, by line.")
    phase = serializers.ChoiceField(choices=PHASES, help_text="Checking every row, then writing them all in one "
                                                              "transaction.")
    rows_done = serializers.IntegerField(help_text="Rows checked or written so far in this phase.")
    url = serializers.CharField(help_text="This import's address, to poll.")

    class Meta:
        model = CsvImport
        fields = ["id", "url", "kind", "status", "phase", "rows", "rows_done", "file_name", "file_bytes",
                  "created", "updated", "duplicates", "detail", "error_count", "errors", "received_at",
                  "started_at", "finished_at"]

    def to_representation(self, instance: CsvImport) -> dict:
        progress = csv_import_progress(instance)
        instance.phase, instance.rows_done = progress["phase"], progress["rows_done"]
        instance.url = reverse("api-csv-import", args=[instance.pk])
        return super().to_representation(instance)


def _caller(request: Request) -> Caller:
    if isinstance(request.auth, ApiKey):
        return Caller(api_key=request.auth, source="csv")
    return Caller(user=request.user, source="csv")


class CsvImportView(APIView):
    """POST a CSV file of one kind of data; all or nothing. Subclasses are made by `csv_import_view`.

    Not rate limited, like the bulk endpoints."""

    permission_classes = [IngestScope]
    throttle_classes: list = []
    parser_classes = [MultiPartParser, FileUploadParser]
    max_body_bytes = None  # capped by upload_cap below, and streamed to disk under the cap (core.api.body)
    kind: IngestKind

    def initial(self, request: Request, *args, **kwargs) -> None:
        # First: authentication by session reads the body for its CSRF check, and the body must be capped.
        upload_cap(request._request, limit=MAX_CSV_BYTES)
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception):
        if isinstance(exc, BatchRejected):
            batch_rejection_record(rejection=exc)
        return super().handle_exception(exc)

    @idempotent(fingerprint=upload_fingerprint)
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput('Send the CSV as a multipart form field named "file".')
        outcome = csv_import_receive(kind=self.kind, upload=upload, caller=_caller(request))
        if isinstance(outcome, CsvImport):
            body = CsvImportOut(outcome).data
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
        return Response(outcome.counts())


def csv_import_view(*, name: str, kind: IngestKind, summary: str) -> type[CsvImportView]:
    """The CSV endpoint of one kind of data, documented in the OpenAPI schema."""
    view = type(name, (CsvImportView,), {"kind": kind})

    def post(self, request: Request) -> Response:  # a function of its own, so each view has its own schema
        return CsvImportView.post(self, request)

    view.post = extend_schema(
        summary=summary, tags=["ingest"], operation_id=name,
        description=(f"A UTF-8 CSV file whose header row names the fields; all or nothing, problems listed by line. "
                     f"Up to {MAX_BATCH_ITEMS:,} rows are imported within the request (200). A larger file, up to "
                     f"{MAX_CSV_ROWS:,} rows and {MAX_CSV_BYTES // (1024 * 1024)} MB, is checked for its form, "
                     "stored and imported as one job in the background (202, `Location` is the job to poll). "
                     "Send an `Idempotency-Key` header to make a retry safe."),
        request={"multipart/form-data": inline_serializer(f"{name}Upload", {"file": serializers.FileField()})},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)],
        responses={200: BulkResultSerializer, 202: CsvImportOut,
                   **ERROR_RESPONSES, 400: CsvErrorSerializer,
                   413: OpenApiResponse(CsvErrorSerializer, description="The file is over the size or row limit.")},
    )(post)
    return view


@extend_schema(tags=["ingest"], summary="A CSV import's progress and outcome", responses={200: CsvImportOut})
class CsvImportDetail(APIView):
    """A CSV import queued by a POST of a large file: poll it until `status` is succeeded or failed."""

    permission_classes = [IngestScope]

    def get(self, request: Request, pk: int) -> Response:
        return Response(CsvImportOut(get_object_or_404(CsvImport, pk=pk)).data)

