"""The predictions API: model versions with their back-test in numbers and plain words, training on demand, the
renewal forecast with its own back-test on past quarters, and renewals by quartile of a leading KPI."""

from __future__ import annotations

import re

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope, ReadScope
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from metrics.models import KPI, PredictionModel, PredictionTarget, Scope
from metrics.prediction import selectors
from metrics.prediction.spec import cutoff_problem


class ModelReportOut(serializers.Serializer):
    """A model version as `selectors.model_report` tells it (the fields are declared for the schema)."""

    id = serializers.IntegerField()
    kpi = serializers.CharField()
    target = serializers.ChoiceField(choices=PredictionTarget.choices)
    version = serializers.IntegerField()
    cutoff = serializers.DateField(help_text="Trained only on data dated on or before this day.")
    status = serializers.ChoiceField(choices=PredictionModel.Status.choices)
    reason = serializers.CharField(help_text="Why there is no model, when there is none.")
    trigger = serializers.ChoiceField(choices=PredictionModel.Trigger.choices)
    trained_at = serializers.DateTimeField()
    seconds = serializers.FloatField()
    spec = serializers.DictField(help_text="The question: target, horizon, grace, share, history, event names.")
    algorithm = serializers.CharField()
    algorithm_label = serializers.CharField()
    calibration_method = serializers.CharField(help_text="isotonic, sigmoid or none (its own probabilities).")
    calibration_label = serializers.CharField(help_text="The calibration in words.")
    features = serializers.ListField(child=serializers.CharField())
    hyperparameters = serializers.DictField()
    training_window = serializers.DictField()
    trust = serializers.CharField(help_text="How far to trust it, in plain words.")
    backtest = serializers.DictField(required=False, help_text="Per fold and pooled, with the baselines, the "
                                                               "calibration table by band of probability and by "
                                                               "tenth of the accounts, in numbers and plain words.")

    def to_representation(self, instance: PredictionModel) -> dict:
        return serializers.JSONField().to_representation(selectors.model_report(instance))


class TrainIn(serializers.Serializer):
    kpi = serializers.SlugField(required=False, help_text="A predictive KPI's slug (default: every active one).")
    as_of = serializers.DateField(required=False, help_text="The cutoff: train on what was known then "
                                                            "(default: yesterday).")


_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,60}$")


def _slug_param(request: Request, name: str, default: str | None = None) -> str | None:
    """A KPI slug from the query string, refused with a 400 unless it looks like one."""
    value = request.query_params.get(name, default)
    if value is not None and not _SLUG.match(value):
        raise InvalidInput(f"{name} must be a KPI slug (letters, digits, - and _).",
                           [{"index": None, "field": name, "message": "not a KPI slug"}])
    return value


NewestFirst = cursor_pagination("-created_at", "-id", page_size=20, max_page_size=100)


@extend_schema(tags=["predictions"], parameters=[
    OpenApiParameter("kpi", str, description="A predictive KPI's slug"),
    OpenApiParameter("target", str, enum=PredictionTarget.values),
])
class PredictionModelList(generics.ListAPIView):
    """Model versions, newest first: training window, features, parameters, and the out-of-time back-test per
    fold and pooled beside three baselines, with the calibration table in plain words."""

    permission_classes = [ReadScope]
    serializer_class = ModelReportOut
    pagination_class = NewestFirst

    def get_queryset(self):
        target = self.request.query_params.get("target")
        if target and target not in PredictionTarget.values:
            raise InvalidInput(f"target must be one of {', '.join(PredictionTarget.values)}.")
        slug = _slug_param(self.request, "kpi")
        return selectors.model_versions(spec_key=_spec_key(_predictive_kpi(slug)) if slug else None, target=target)


@extend_schema(tags=["predictions"], responses={200: ModelReportOut, 404: ERROR_RESPONSES[400]})
class PredictionModelDetail(APIView):
    permission_classes = [ReadScope]

    def get(self, request: Request, pk: int) -> Response:
        return Response(ModelReportOut(get_object_or_404(selectors.model_versions(), pk=pk)).data)


def _spec_key(kpi: KPI) -> str:
    from metrics.calculators import CalculatorError
    from metrics.predictive import kpi_spec

    try:
        return kpi_spec(kpi).key()
    except CalculatorError as error:
        raise InvalidInput(str(error), [{"index": None, "field": "kpi", "message": str(error)}]) from None


def _predictive_kpi(slug: str) -> KPI:
    kpi = KPI.objects.filter(slug=slug).first()
    if kpi is None:
        raise InvalidInput(f"Unknown KPI {slug!r}.", [{"index": None, "field": "kpi", "message": "unknown KPI"}])
    if not kpi.calculator.startswith("prediction."):
        raise InvalidInput(f"{slug} is not a predictive KPI.",
                           [{"index": None, "field": "kpi", "message": "not a predictive KPI"}])
    return kpi


@extend_schema(tags=["predictions"], request=TrainIn, responses={202: inline_serializer("TrainingQueued", {
    "kpis": serializers.ListField(child=serializers.CharField()), "cutoff": serializers.DateField()}),
    **ERROR_RESPONSES})
class PredictionModelTrain(APIView):
    """Train, back-test and store a new version now, in the background; it appears in the list when done."""

    permission_classes = [AdminScope]

    @idempotent
    def post(self, request: Request) -> Response:
        from metrics.predictive import predictive_kpis
        from metrics.tasks import prediction_models_train

        payload = TrainIn(data=request.data)
        payload.is_valid(raise_exception=True)
        today = timezone.localdate()
        cutoff = payload.validated_data.get("as_of") or today - timezone.timedelta(days=1)
        problem = cutoff_problem(cutoff, today=today)
        if problem:
            raise InvalidInput(f"as_of {problem}.", [{"index": None, "field": "as_of", "message": problem}])
        slug = payload.validated_data.get("kpi")
        slugs = [_predictive_kpi(slug).slug] if slug else [kpi.slug for kpi in predictive_kpis()]
        if not slugs:
            raise InvalidInput("This tenant has no active predictive KPI.")
        transaction.on_commit(lambda: prediction_models_train.delay(
            slugs=slugs, cutoff=cutoff.isoformat(), trigger=PredictionModel.Trigger.MANUAL))
        return Response({"kpis": slugs, "cutoff": cutoff}, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["predictions"], parameters=[
    OpenApiParameter("quarter", str, description="YYYY-Qn (default: the next quarter)"),
    OpenApiParameter("kpi", str, description="The renewal-probability KPI's slug (default: renewal-probability)"),
], responses={200: inline_serializer("RenewalForecast", {
    "forecast": serializers.DictField(), "backtest": serializers.ListField(child=serializers.DictField())})})
class RenewalForecast(APIView):
    """Renewals due in a quarter: expected renewing accounts and ARR (Σ p, Σ p x ARR) with a 90% interval, in
    all and by segment and owner; and the same forecast made at the start of past quarters beside what
    happened."""

    permission_classes = [ReadScope]

    def get(self, request: Request) -> Response:
        kpi = _renewal_kpi(_slug_param(request, "kpi", "renewal-probability"))
        today = timezone.localdate()
        quarter = request.query_params.get("quarter")
        try:
            first, last = (selectors.parse_quarter(quarter) if quarter
                           else selectors.quarter_bounds(selectors.quarter_bounds(today)[1] + timezone.timedelta(
                               days=1)))
        except ValueError as error:
            raise InvalidInput(str(error), [{"index": None, "field": "quarter", "message": str(error)}]) from None
        return Response({"forecast": selectors.renewal_forecast(kpi=kpi, first=first, last=last, today=today),
                         "backtest": selectors.forecast_backtest(kpi=kpi, today=today)})


def _renewal_kpi(slug: str) -> KPI:
    kpi = KPI.objects.filter(slug=slug).first()
    if kpi is None or kpi.calculator != "prediction.renewal":
        raise InvalidInput(f"{slug!r} is not a renewal-probability KPI.",
                           [{"index": None, "field": "kpi", "message": "not a renewal-probability KPI"}])
    return kpi


@extend_schema(tags=["kpis"], responses={200: inline_serializer("RenewalByQuartile", {
    "kpi": serializers.CharField(), "renewals": serializers.IntegerField(),
    "quartiles": serializers.ListField(child=serializers.DictField()), "says": serializers.CharField()})})
class KPIRenewalByQuartile(APIView):
    """Whether a KPI moves renewals here: every decided renewal with the KPI's value 30-120 days before it, in
    quartiles of that value, with each quartile's renewal rate and count."""

    permission_classes = [ReadScope]

    def get(self, request: Request, slug: str) -> Response:
        kpi = get_object_or_404(KPI, slug=slug)
        if Scope.ACCOUNT not in kpi.scopes:
            raise InvalidInput(f"{slug} has no account values to compare renewals by.")
        return Response(selectors.renewal_by_quartile(kpi=kpi, today=timezone.localdate()))
