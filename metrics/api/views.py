"""The metrics API: KPIs by slug, their values, explanations, targets, versions, notes; runs; glossary; cohorts."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.references import account_filter, account_parameter
from core.api.dates import date_param
from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope, ReadScope, caller_scopes
from core.api.query import IntegerQuery
from core.api.scopes import Scope as ApiScope
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from integrations.models import ApiKey
from metrics import selectors
from metrics.annotations import annotation_create, can_annotate
from metrics.api import serializers as io
from metrics.calculators import CalculatorError
from metrics.models import KPI, AlertRule, Breach, BreachStatus, ComputationRun, Scope, Severity
from metrics.segments import DIMENSIONS
from metrics.services import computation_run_create, kpi_create, kpi_target_set, kpi_update
from users.models import User


def _kpi(slug: str) -> KPI:
    return get_object_or_404(KPI.objects.select_related("owner"), slug=slug)


def _owner(email: str | None) -> User | None:
    if not email:
        return None
    owner = User.objects.filter(email=email.lower(), is_active=True).first()
    if owner is None:
        raise InvalidInput(f"No active user with email {email!r}.", [{"index": None, "field": "owner",
                                                                       "message": "unknown user"}])
    return owner


def _changed_by(request: Request):
    return request.user if getattr(request.user, "pk", None) else None


def _core_warning() -> str | None:
    core = KPI.objects.filter(is_core=True, is_active=True).count()
    if core > 6:
        return f"{core} KPIs are marked core; a focused handful (six or fewer) reads better than a wall of numbers."
    return None


@extend_schema(tags=["kpis"])
class KPIList(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "POST" else [ReadScope()]

    @extend_schema(responses={200: io.KPIOut(many=True)})
    def get(self, request: Request) -> Response:
        return Response(io.KPIOut(KPI.objects.select_related("owner").order_by("tier", "name"), many=True).data)

    @extend_schema(request=io.KPIIn, responses={201: io.KPIOut, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        payload = io.KPIIn(data=request.data)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        fields.pop("reason", None)
        fields["owner"] = _owner(fields.get("owner"))
        try:
            kpi = kpi_create(changed_by=_changed_by(request), **fields)
        except CalculatorError as error:
            raise InvalidInput(str(error), [{"index": None, "field": "params", "message": str(error)}]) from None
        body = io.KPIOut(kpi).data
        warning = _core_warning()
        return Response({**body, "warning": warning} if warning else body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["kpis"])
class KPIDetail(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: io.KPIOut, 404: ERROR_RESPONSES[400]})
    def get(self, request: Request, slug: str) -> Response:
        return Response(io.KPIOut(_kpi(slug)).data)

    @extend_schema(request=io.KPIIn(partial=True), responses={200: io.KPIOut, **ERROR_RESPONSES})
    def patch(self, request: Request, slug: str) -> Response:
        kpi = _kpi(slug)
        payload = io.KPIIn(kpi, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        reason = fields.pop("reason", "")
        if "slug" in fields and fields["slug"] != kpi.slug:
            raise InvalidInput("A KPI's slug cannot change: values, targets and reviews refer to it.")
        if "owner" in fields:
            fields["owner"] = _owner(fields["owner"])
        try:
            kpi = kpi_update(kpi=kpi, changed_by=_changed_by(request), reason=reason, **fields)
        except CalculatorError as error:
            raise InvalidInput(str(error), [{"index": None, "field": "params", "message": str(error)}]) from None
        body = io.KPIOut(kpi).data
        warning = _core_warning()
        return Response({**body, "warning": warning} if warning else body)


ByDate = cursor_pagination("as_of", "id", page_size=500, max_page_size=5000)


@extend_schema(tags=["kpis"], parameters=[
    OpenApiParameter("scope", str, enum=Scope.values, description="Default portfolio"),
    OpenApiParameter("subject", str, description="scope=account: an account's id or external id (`ACME-00001`, or "
                                                 "`external_id:12345` for one of digits only); scope=segment: "
                                                 "dimension:segment (e.g. plan:Growth)"),
    OpenApiParameter("from", str, description="YYYY-MM-DD"),
    OpenApiParameter("to", str, description="YYYY-MM-DD"),
])
class KPIValues(generics.ListAPIView):
    """A KPI's stored values over time."""

    permission_classes = [ReadScope]
    serializer_class = io.MetricValueOut
    pagination_class = ByDate

    def get_queryset(self):
        kpi = _kpi(self.kwargs["slug"])
        scope = self.request.query_params.get("scope", Scope.PORTFOLIO)
        if scope not in Scope.values:
            raise InvalidInput(f"scope must be one of {', '.join(Scope.values)}.")
        subject = self.request.query_params.get("subject")
        account = segment = None
        if scope == Scope.ACCOUNT and subject:
            account = account_filter(subject, parameter="subject")
        if scope == Scope.SEGMENT and subject:
            segment = _segment(subject)
            if segment is None:
                raise InvalidInput("For scope=segment, subject is dimension:segment, e.g. plan:Growth.")
        return selectors.kpi_values(kpi=kpi, scope=scope, account=account, segment=segment,
                                    start=date_param(self.request, "from"), end=date_param(self.request, "to"))


def _segment(subject: str) -> tuple[str, str] | None:
    """`dimension:segment` as a pair, or None when the subject names no segment dimension."""
    dimension, colon, segment = subject.partition(":")
    return (dimension, segment) if colon and dimension in DIMENSIONS else None


@extend_schema(tags=["kpis"], parameters=[
    OpenApiParameter("as_of", str, description="YYYY-MM-DD (default: the latest computed date)"),
    OpenApiParameter("subject", str, description="dimension:segment (e.g. plan:Growth), or an account's id or "
                                                 "external id (`ACME-00001`, or `external_id:12345` for one of "
                                                 "digits only); default the portfolio"),
], responses={200: inline_serializer("KPIExplanation", {
    "scope": serializers.CharField(), "subject": serializers.CharField(),
    "value": serializers.DictField(allow_null=True), "accounts": serializers.ListField(child=serializers.DictField()),
})})
class KPIExplain(APIView):
    """What made a number: the accounts in an aggregate's numerator and denominator, or an account's details."""

    permission_classes = [ReadScope]

    def get(self, request: Request, slug: str) -> Response:
        kpi = _kpi(slug)
        as_of = date_param(request, "as_of") or selectors.kpi_latest_as_of(kpi=kpi)
        if as_of is None:
            raise InvalidInput(f"{kpi.slug} has not been computed yet.", status_code=404)
        subject = request.query_params.get("subject") or ""
        segment = _segment(subject)
        account = account_filter(subject, parameter="subject") if subject and segment is None else None
        return Response(selectors.kpi_explain(kpi=kpi, as_of=as_of, subject=subject, account=account,
                                              segment=segment))


@extend_schema(tags=["kpis"])
class KPITargets(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "POST" else [ReadScope()]

    @extend_schema(responses={200: io.KPITargetOut(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        targets = _kpi(slug).targets.select_related("set_by").order_by("period", "dimension", "segment", "-created_at")
        return Response(io.KPITargetOut(targets, many=True).data)

    @extend_schema(request=io.KPITargetIn, responses={201: io.KPITargetOut, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request, slug: str) -> Response:
        payload = io.KPITargetIn(data=request.data)
        payload.is_valid(raise_exception=True)
        target = kpi_target_set(kpi=_kpi(slug), set_by=_changed_by(request), **payload.validated_data)
        return Response(io.KPITargetOut(target).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["kpis"], responses={200: io.KPIVersionOut(many=True)})
class KPIVersions(APIView):
    permission_classes = [ReadScope]

    def get(self, request: Request, slug: str) -> Response:
        return Response(io.KPIVersionOut(_kpi(slug).versions.select_related("changed_by"), many=True).data)


class CanAnnotate(ReadScope):
    """People who may pin notes on the pages may pin them here; an integration needs the admin scope."""

    def has_permission(self, request: Request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if isinstance(request.auth, ApiKey):  # a write: the admin scope alone, as for every configuration
            allowed = ApiScope.ADMIN in caller_scopes(request)
            self.message = "Pinning a note with an API key needs the 'admin' scope."
        else:
            allowed = can_annotate(request.user)
            self.message = "Viewers read KPIs; pinning notes is for the team."
        return allowed


ByNoteDate = cursor_pagination("date", "id")


@extend_schema(tags=["kpis"])
class KPIAnnotations(generics.ListAPIView):
    """Dated notes pinned to a KPI's chart ("price change on 3 March"), oldest first."""

    serializer_class = io.AnnotationOut
    pagination_class = ByNoteDate

    def get_permissions(self):
        return [CanAnnotate()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self):
        return selectors.kpi_annotations(kpis=[_kpi(self.kwargs["slug"])], start=date_param(self.request, "from"),
                                         end=date_param(self.request, "to"))

    @extend_schema(parameters=[OpenApiParameter("from", str, description="YYYY-MM-DD"),
                               OpenApiParameter("to", str, description="YYYY-MM-DD")])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=io.AnnotationIn, responses={201: io.AnnotationOut, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request, slug: str) -> Response:
        kpi = _kpi(slug)
        payload = io.AnnotationIn(data=request.data)
        payload.is_valid(raise_exception=True)
        author = None if isinstance(request.auth, ApiKey) else request.user
        annotation = annotation_create(kpi=kpi, author=author, **payload.validated_data)
        return Response(io.AnnotationOut(annotation).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["kpis"])
class ComputeKPIs(APIView):
    """Compute KPIs for a date now, in the background; poll the run."""

    permission_classes = [AdminScope]

    @extend_schema(request=io.ComputeIn, responses={202: io.ComputationRunOut, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        from metrics.tasks import computation_run_task

        payload = io.ComputeIn(data=request.data)
        payload.is_valid(raise_exception=True)
        slugs = payload.validated_data.get("kpis")
        kpis = list(KPI.objects.filter(slug__in=slugs)) if slugs else None
        if slugs and len(kpis) != len(set(slugs)):
            missing = sorted(set(slugs) - {kpi.slug for kpi in kpis})
            raise InvalidInput(f"Unknown KPI(s): {', '.join(missing)}.")
        if payload.validated_data["as_of"] > timezone.localdate():
            raise InvalidInput("as_of cannot be in the future.")
        run = computation_run_create(as_of=payload.validated_data["as_of"], trigger=ComputationRun.Trigger.MANUAL,
                                     kpis=kpis, requested_by=_changed_by(request))
        transaction.on_commit(lambda: computation_run_task.delay(run.pk))
        return Response(io.ComputationRunOut(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["kpis"], responses={200: io.ComputationRunOut, 404: ERROR_RESPONSES[400]})
class ComputationRunDetail(APIView):
    permission_classes = [ReadScope]

    def get(self, request: Request, pk: int) -> Response:
        return Response(io.ComputationRunOut(get_object_or_404(ComputationRun, pk=pk)).data)


@extend_schema(tags=["kpis"], responses={200: inline_serializer("GlossaryEntry", {
    "slug": serializers.CharField(), "name": serializers.CharField(), "definition": serializers.CharField(),
    "formula": serializers.CharField()}, many=True)})
class Glossary(APIView):
    permission_classes = [ReadScope]

    def get(self, request: Request) -> Response:
        return Response(selectors.glossary())


COHORT_MONTHS = IntegerQuery("months", minimum=1, maximum=36, description="Months after the start (default 12)")


@extend_schema(tags=["kpis"], parameters=[OpenApiParameter("as_of", str), COHORT_MONTHS.parameter()],
               responses={200: inline_serializer("Cohort", {
                   "start_month": serializers.DateField(), "accounts": serializers.IntegerField(),
                   "mrr": serializers.FloatField(), "months": serializers.ListField(child=serializers.DictField())},
                   many=True)})
class Cohorts(APIView):
    """Retention curves by start month: logo retention, GRR and NRR for month k after the start."""

    permission_classes = [ReadScope]

    def get(self, request: Request) -> Response:
        months = COHORT_MONTHS.read(request.query_params, default=12)
        as_of = date_param(request, "as_of") or timezone.localdate()
        return Response(selectors.cohort_retention(as_of=as_of, months=months))


@extend_schema(tags=["alerts"])
class AlertRuleList(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "POST" else [ReadScope()]

    @extend_schema(responses={200: io.AlertRuleIO(many=True)})
    def get(self, request: Request) -> Response:
        return Response(io.AlertRuleIO(AlertRule.objects.select_related("kpi"), many=True).data)

    @extend_schema(request=io.AlertRuleIO, responses={201: io.AlertRuleIO, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        payload = io.AlertRuleIO(data=request.data)
        payload.is_valid(raise_exception=True)
        rule = payload.save(created_by=_changed_by(request))
        return Response(io.AlertRuleIO(rule).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["alerts"])
class AlertRuleDetail(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: io.AlertRuleIO, 404: ERROR_RESPONSES[400]})
    def get(self, request: Request, pk: int) -> Response:
        return Response(io.AlertRuleIO(get_object_or_404(AlertRule, pk=pk)).data)

    @extend_schema(request=io.AlertRuleIO(partial=True), responses={200: io.AlertRuleIO, **ERROR_RESPONSES})
    def patch(self, request: Request, pk: int) -> Response:
        payload = io.AlertRuleIO(get_object_or_404(AlertRule, pk=pk), data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        return Response(io.AlertRuleIO(payload.save()).data)


ByOpenedAt = cursor_pagination("-opened_at", "-id")


@extend_schema(tags=["alerts"], parameters=[
    OpenApiParameter("status", str, enum=BreachStatus.values), OpenApiParameter("severity", str, enum=Severity.values),
    OpenApiParameter("kpi", str), account_parameter(),
])
class BreachList(generics.ListAPIView):
    permission_classes = [ReadScope]
    serializer_class = io.BreachOut
    pagination_class = ByOpenedAt

    def get_queryset(self):
        breaches = Breach.objects.select_related("kpi", "rule", "account")
        params = self.request.query_params
        for name, field, allowed in [("status", "status", BreachStatus.values),
                                     ("severity", "severity", Severity.values)]:
            if params.get(name):
                if params[name] not in allowed:
                    raise InvalidInput(f"{name} must be one of {', '.join(allowed)}.")
                breaches = breaches.filter(**{field: params[name]})
        if params.get("kpi"):
            breaches = breaches.filter(kpi__slug=params["kpi"])
        if params.get("account"):
            breaches = breaches.filter(**account_filter(params["account"], parameter="account"))
        return breaches


@extend_schema(tags=["alerts"], request=None, responses={200: io.BreachOut, **ERROR_RESPONSES})
class BreachAcknowledge(APIView):
    """A person has seen the breach; acknowledging twice changes nothing."""

    permission_classes = [ReadScope]

    def post(self, request: Request, pk: int) -> Response:
        from metrics.alerts import breach_acknowledge, may_acknowledge

        if isinstance(request.auth, ApiKey):
            raise InvalidInput("A person acknowledges a breach: sign in.", status_code=403)
        if not may_acknowledge(request.user):
            raise InvalidInput("Viewers only read: a CSM, manager or leader acknowledges breaches.", status_code=403)
        breach = get_object_or_404(Breach.objects.select_related("kpi", "rule", "account"), pk=pk)
        if breach.status == BreachStatus.RESOLVED:
            raise InvalidInput("The breach is already resolved.", status_code=409)
        breach_acknowledge(breach=breach, user=request.user)
        breach.refresh_from_db()
        return Response(io.BreachOut(breach).data)
