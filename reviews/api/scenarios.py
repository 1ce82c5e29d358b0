"""The scenarios API: today's numbers, a projection of any drivers (not saved), and saved, named scenarios a
leader can attach to a review. Leaders and admins (or an admin key) save; managers, viewers and read keys
read; CSMs are refused, since these are portfolio numbers."""

from __future__ import annotations

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import ReadScope
from integrations.models import ApiKey
from reviews.api.views import RunsReviews
from reviews.backlog import improvement_backlog
from reviews.models import Review, Scenario
from reviews.permissions import may_read_scenarios
from reviews.scenario_inputs import scenario_today
from reviews.scenario_services import drivers_checked, scenario_save
from reviews.scenarios import Drivers, project
from reviews.selectors import scenario_list, scenario_view
from users.models import Role


class ReadsScenarios(BasePermission):
    message = "Scenarios are portfolio numbers: leaders, admins, managers and viewers read them."

    def has_permission(self, request: Request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return ReadScope().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated and may_read_scenarios(request.user))


def _permissions(view: APIView) -> list[BasePermission]:
    return [RunsReviews()] if view.request.method not in ("GET", "HEAD", "OPTIONS") else [ReadsScenarios()]


class DriversIO(serializers.Serializer):
    grr = serializers.FloatField(min_value=0, max_value=100, help_text="Gross revenue retention, % a year.")
    expansion = serializers.FloatField(min_value=0, max_value=500, help_text="% of the book's ARR a year.")
    logo_churn = serializers.FloatField(min_value=0, max_value=100, help_text="Accounts lost, % a year.")
    activation_rate = serializers.FloatField(min_value=0, max_value=100, help_text="% of new accounts activating.")
    new_arr = serializers.FloatField(min_value=0, max_value=1e12, help_text="New ARR booked per quarter.")
    cost_to_serve = serializers.FloatField(min_value=0, max_value=1e9, help_text="Per account per year.")
    ticket_growth = serializers.FloatField(min_value=-100, max_value=500, default=0.0,
                                           help_text="Change in tickets per account, % a quarter.")


class ScenarioIn(DriversIO):
    name = serializers.CharField(max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    review = serializers.PrimaryKeyRelatedField(queryset=Review.objects.all(), required=False, allow_null=True,
                                                default=None, help_text="Attach it to this review.")


def _quarters(rows) -> list[dict]:
    return [asdict(row) for row in rows]


def _scenario_data(scenario: Scenario) -> dict:
    view = scenario_view(scenario=scenario)
    return {"id": scenario.pk, "name": scenario.name, "notes": scenario.notes, "review": scenario.review_id,
            "drivers": view.drivers.as_dict(), "today": view.trajectory_drivers.as_dict(),
            "baseline": scenario.baseline, "quarters": _quarters(view.quarters),
            "trajectory": _quarters(view.trajectory), "created_at": scenario.created_at,
            "updated_at": scenario.updated_at}


@extend_schema(tags=["scenarios"], responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES})
class ScenarioToday(APIView):
    """Today's baseline (ARR, paying accounts, ticket load, book size) and drivers, each with its source."""

    permission_classes = [ReadsScenarios]

    def get(self, request: Request) -> Response:
        baseline, drivers = scenario_today(today=timezone.localdate())
        return Response({"baseline": asdict(baseline), "drivers": drivers.as_dict(),
                         "trajectory": _quarters(project(drivers, baseline))})


@extend_schema(tags=["scenarios"], request=DriversIO, responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES})
class ScenarioPreview(APIView):
    """Project drivers from today's numbers without saving them, beside today's trajectory."""

    permission_classes = [ReadsScenarios]

    def post(self, request: Request) -> Response:
        payload = DriversIO(data=request.data)
        payload.is_valid(raise_exception=True)
        drivers = drivers_checked(payload.validated_data)
        baseline, today = scenario_today(today=timezone.localdate())
        return Response({"baseline": asdict(baseline), "drivers": drivers.as_dict(), "today": today.as_dict(),
                         "quarters": _quarters(project(drivers, baseline)),
                         "trajectory": _quarters(project(today, baseline))})


ByUpdated = cursor_pagination("-updated_at", "-id")


class ScenarioOut(serializers.ModelSerializer):
    class Meta:
        model = Scenario
        fields = ["id", "name", "notes", "review", *Drivers.names(), "created_at", "updated_at"]


@extend_schema(tags=["scenarios"])
class ScenarioList(generics.ListAPIView):
    """Saved scenarios, last changed first; POST saves one (leaders, admins, admin keys)."""

    serializer_class = ScenarioOut
    pagination_class = ByUpdated
    queryset = Scenario.objects.all()

    def get_permissions(self):
        return _permissions(self)

    def get_queryset(self):
        return scenario_list()

    @extend_schema(request=ScenarioIn, responses={201: OpenApiTypes.OBJECT, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        payload = ScenarioIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        scenario = scenario_save(name=data.pop("name"), notes=data.pop("notes"), review=data.pop("review"),
                                 values=data, user=None if isinstance(request.auth, ApiKey) else request.user)
        return Response(_scenario_data(scenario), status=201)


@extend_schema(tags=["scenarios"], responses={200: OpenApiTypes.OBJECT, 204: None, **ERROR_RESPONSES})
class ScenarioDetail(APIView):
    """A saved scenario: its drivers and today's, and both projected over the next four quarters, each
    quarter with its arithmetic. PUT replaces it (today's numbers are frozen again); DELETE removes it."""

    def get_permissions(self):
        return _permissions(self)

    def get(self, request: Request, pk: int) -> Response:
        return Response(_scenario_data(get_object_or_404(Scenario, pk=pk)))

    @extend_schema(request=ScenarioIn, responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES})
    def put(self, request: Request, pk: int) -> Response:
        scenario = get_object_or_404(Scenario, pk=pk)
        payload = ScenarioIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        saved = scenario_save(name=data.pop("name"), notes=data.pop("notes"), review=data.pop("review"),
                              values=data, user=None if isinstance(request.auth, ApiKey) else request.user,
                              scenario=scenario)
        return Response(_scenario_data(saved))

    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(Scenario, pk=pk).delete()
        return Response(status=204)


class BacklogItemOut(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    owner = serializers.EmailField(allow_null=True)
    status = serializers.CharField()
    kpi = serializers.CharField(allow_null=True)
    target = serializers.FloatField(allow_null=True)
    accounts_behind = serializers.IntegerField()
    revenue_at_stake = serializers.FloatField()
    result = serializers.CharField()


@extend_schema(tags=["reviews"], responses={200: BacklogItemOut(many=True), **ERROR_RESPONSES})
class Backlog(APIView):
    """Review initiatives and experiments, most revenue at stake first (for a CSM: their accounts' ARR)."""

    permission_classes = [ReadScope]

    def get(self, request: Request) -> Response:
        person = None if isinstance(request.auth, ApiKey) else request.user
        mine = person if getattr(person, "role", None) == Role.CSM else None
        return Response([{
            "kind": item.kind, "title": item.title, "owner": getattr(item.owner, "email", None),
            "status": item.status, "kpi": getattr(item.kpi, "slug", None), "target": item.target,
            "accounts_behind": item.accounts_behind, "revenue_at_stake": item.revenue_at_stake,
            "result": item.result} for item in improvement_backlog(today=timezone.localdate(), owner=mine)])
