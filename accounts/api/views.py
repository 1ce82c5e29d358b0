"""The integrations API for customer data: bulk ingest, CSV import, accounts and their records."""

from __future__ import annotations

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import ingestion, selectors
from accounts.api import serializers as out
from accounts.models import Account
from core.api.errors import ERROR_RESPONSES, ErrorSerializer
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope, IngestScope, ReadScope
from core.errors import InvalidInput
from integrations import selectors as integration_selectors
from integrations.api.bulk import bulk_ingest_view
from integrations.api.csv_imports import csv_import_view
from integrations.ingest import Caller
from integrations.models import ApiKey
from integrations.services import batch_rejection_record
from integrations.validation import BatchRejected, ItemSpec

AccountsBulk = bulk_ingest_view(name="accounts_bulk", list_key="accounts", spec=ingestion.ACCOUNT_SPEC,
                                ingest=ingestion.accounts_ingest, summary="Upsert accounts by external_id")
EventsBulk = bulk_ingest_view(name="events_bulk", list_key="events", spec=ingestion.EVENT_SPEC,
                              ingest=ingestion.usage_events_ingest, summary="Push usage events",
                              allow_ndjson=True)
RevenueBulk = bulk_ingest_view(name="revenue_bulk", list_key="snapshots", spec=ingestion.REVENUE_SPEC,
                               ingest=ingestion.revenue_snapshots_ingest, summary="Upsert monthly MRR")
SurveysBulk = bulk_ingest_view(name="surveys_bulk", list_key="responses", spec=ingestion.SURVEY_SPEC,
                               ingest=ingestion.survey_responses_ingest, summary="Push NPS, CSAT and CES answers")
TicketsBulk = bulk_ingest_view(name="tickets_bulk", list_key="tickets", spec=ingestion.TICKET_SPEC,
                               ingest=ingestion.support_tickets_ingest, summary="Upsert support tickets")


def _caller(request: Request, source: str = "api") -> Caller:
    if isinstance(request.auth, ApiKey):
        return Caller(api_key=request.auth, source=source)
    return Caller(user=request.user, source=source)


ById = cursor_pagination("-id")


ACCOUNT_FILTERS = ["plan", "region", "industry", "lifecycle_stage", "status", "external_id"]
# What a read answers besides its rows: a bad filter, no or a wrong key, an unknown id or cursor, too many requests.
READ_ERRORS = dict.fromkeys((400, 401, 403, 404, 429), ErrorSerializer)


@extend_schema(tags=["accounts"], responses={200: out.AccountOut(many=True), **READ_ERRORS}, parameters=[
    *[OpenApiParameter(name, str) for name in ACCOUNT_FILTERS],
    OpenApiParameter("owner", str, description="Email of the owning CSM"),
    OpenApiParameter("updated_since", str, description="ISO 8601 date-time"),
])
class AccountList(generics.ListAPIView):
    """Accounts with their current MRR, newest first, filterable; cursor pagination for stable paging."""

    permission_classes = [ReadScope]
    serializer_class = out.AccountOut
    pagination_class = ById

    def get_queryset(self):
        params = self.request.query_params
        filters = {name: params[name] for name in ACCOUNT_FILTERS if params.get(name)}
        if params.get("owner"):
            filters["owner__email"] = params["owner"].lower()
        if params.get("updated_since"):
            filters["updated_at__gte"] = _timestamp_param("updated_since", params["updated_since"])
        return selectors.account_list().filter(**filters).order_by("-id")


def _timestamp_param(name: str, value: str):
    from integrations.validation import FieldError, Timestamp

    try:
        return Timestamp().parse(value)
    except FieldError as error:
        raise InvalidInput(f"Query parameter {name} {error}.") from None


ACCOUNT_UPDATE = ItemSpec("AccountUpdateIn", {
    name: field for name, field in ingestion.ACCOUNT_SPEC.fields.items() if name != "external_id"})


@extend_schema(tags=["accounts"])
class AccountDetail(APIView):
    """One account; PATCH changes the fields sent, under the same rules as the bulk upsert."""

    def get_permissions(self):
        return [IngestScope()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: out.AccountOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(out.AccountOut(get_object_or_404(selectors.account_list(), pk=pk)).data)

    @extend_schema(request=ACCOUNT_UPDATE.serializer(), responses={200: out.AccountOut, **ERROR_RESPONSES})
    def patch(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(Account, pk=pk)
        if not isinstance(request.data, dict):
            raise InvalidInput("The body must be a JSON object of the fields to change.")
        if "external_id" in request.data:
            raise InvalidInput("external_id cannot be changed: it is how the account is known.")
        try:
            ingestion.accounts_ingest(items=[{**request.data, "external_id": account.external_id}],
                                      caller=_caller(request))
        except BatchRejected as rejection:
            batch_rejection_record(rejection=rejection)
            raise InvalidInput("The update was rejected; nothing was changed.",
                               [{**error, "index": None} for error in rejection.errors]) from None
        return Response(out.AccountOut(selectors.account_list().get(pk=pk)).data)


class AccountRecords(generics.ListAPIView):
    """The records of one account, newest first."""

    permission_classes = [ReadScope]
    pagination_class = ById
    related_name: str

    def get_queryset(self):
        account = get_object_or_404(Account, pk=self.kwargs["pk"])
        return getattr(account, self.related_name).order_by("-id")


def _records_view(name: str, related_name: str, serializer) -> type[AccountRecords]:
    view = type(name, (AccountRecords,), {"related_name": related_name, "serializer_class": serializer})
    return extend_schema(tags=["accounts"], responses={200: serializer(many=True), **READ_ERRORS})(view)


AccountEvents = _records_view("AccountEvents", "usage_events", out.UsageEventOut)
AccountRevenue = _records_view("AccountRevenue", "revenue_snapshots", out.RevenueSnapshotOut)
AccountSurveys = _records_view("AccountSurveys", "survey_responses", out.SurveyResponseOut)
AccountTickets = _records_view("AccountTickets", "support_tickets", out.SupportTicketOut)


AccountsCsvImport = csv_import_view(name="accounts_import", kind=ingestion.ACCOUNTS, summary="Import accounts from CSV")
RevenueCsvImport = csv_import_view(name="revenue_import", kind=ingestion.REVENUE,
                                   summary="Import revenue snapshots from CSV")


@extend_schema(tags=["settings"], responses={200: inline_serializer("DataHealth", {
    "feeds": serializers.ListField(child=serializers.DictField()),
    "api_keys": serializers.ListField(child=serializers.DictField()),
    "rejected_batches": serializers.ListField(child=serializers.DictField()),
    "accounts_without_owner": serializers.DictField(),
    "revenue_gaps": serializers.ListField(child=serializers.DictField()),
    "reports": serializers.ListField(child=serializers.DictField(), help_text="Problems the connectors see."),
})})
class DataHealth(APIView):
    """Feed freshness, per-key activity and the data problems ingestion has seen."""

    permission_classes = [AdminScope]

    def get(self, request: Request) -> Response:
        unowned_count, unowned = selectors.accounts_without_owner()
        return Response({
            "feeds": [{"kind": feed.kind, "last_received_at": feed.last_received_at, "stale": feed.is_stale,
                       "max_silence_hours": feed.max_silence_hours, "items_last_7_days": feed.items_last_7_days,
                       "items_per_day": feed.daily_items,
                       "batches_last_7_days": feed.batches_last_7_days,
                       "rejected_last_7_days": feed.rejected_last_7_days}
                      for feed in integration_selectors.feed_health()],
            "api_keys": integration_selectors.api_key_activity(),
            "rejected_batches": [{"kind": batch.kind, "received_at": batch.received_at, "items": batch.items,
                                  "api_key": batch.api_key.prefix if batch.api_key else None,
                                  "error_count": batch.error_count, "errors": batch.errors[:10]}
                                 for batch in integration_selectors.rejected_batches()],
            "accounts_without_owner": {"count": unowned_count, "accounts": unowned},
            "revenue_gaps": selectors.revenue_gaps(),
            "reports": [asdict(report) for report in integration_selectors.data_health_reports()],
        })
