"""The experiments API: pre-register (leaders, admins, admin keys), start, conclude or extend, read the design
and results, and the accounts' arms. A CSM reads the experiments that include their accounts, and only their
own accounts' arms."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.callers import calling_api_key
from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import ReadScope, caller_scopes
from core.api.scopes import Scope
from core.api.serializers import BoundedModelSerializer
from metrics.models import KPI
from playbooks.experiments.selectors import (
    experiment_assignments,
    experiment_list,
    experiment_results,
    results_data,
)
from playbooks.experiments.services import (
    DESIGN_FIELDS,
    experiment_conclude,
    experiment_register,
    experiment_start,
    experiment_update,
)
from playbooks.models import Experiment, ExperimentAssignment, ExperimentDecision, Playbook
from users.models import Role

CONFIGURING_ROLES = (Role.ADMIN, Role.LEADER)


def may_configure_experiments(user) -> bool:
    return getattr(user, "role", None) in CONFIGURING_ROLES


class ConfiguresExperiments(BasePermission):
    """Leaders and admins (or a key with the admin scope) design, start and conclude experiments."""

    message = "Only leaders and admins configure experiments."

    def has_permission(self, request: Request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if calling_api_key(request) is not None:
            return Scope.ADMIN in caller_scopes(request)
        return may_configure_experiments(request.user)


def _person(request: Request):
    return None if calling_api_key(request) is not None else request.user


def _experiment(request: Request, pk: int) -> Experiment:
    """The experiment if the caller may see it (a CSM: one that includes their accounts), else 404."""
    return get_object_or_404(experiment_list(user=_person(request)).prefetch_related("guardrails"), pk=pk)


# A change the experiment's state does not allow (a started design, a second start) is a 409.
STATE_ERRORS = {**ERROR_RESPONSES, 409: ERROR_RESPONSES[400]}


class ExperimentIn(BoundedModelSerializer):
    playbook = serializers.PrimaryKeyRelatedField(queryset=Playbook.objects.all())
    kpi = serializers.PrimaryKeyRelatedField(queryset=KPI.objects.all(), required=False, allow_null=True)
    guardrails = serializers.PrimaryKeyRelatedField(queryset=KPI.objects.all(), many=True, required=False)
    test = serializers.ChoiceField(choices=Experiment._meta.get_field("test").choices, required=False,
                                   help_text="Default: proportions for churn, welch_t for a KPI change.")

    class Meta:
        model = Experiment
        fields = [*DESIGN_FIELDS, "guardrails"]


class ExperimentOut(serializers.ModelSerializer):
    playbook_name = serializers.CharField(source="playbook.name")
    guardrails = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    treated_count = serializers.IntegerField(read_only=True)
    holdout_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Experiment
        fields = ["id", *DESIGN_FIELDS, "playbook_name", "guardrails", "status", "sample_treated", "sample_holdout",
                  "sample_method", "duration_days", "started_at", "planned_end", "decision", "decision_note",
                  "decided_at", "created_at", "treated_count", "holdout_count"]


class ConcludeIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ExperimentDecision.choices)
    note = serializers.CharField(max_length=5000)
    extend_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)


class AssignmentOut(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name")

    class Meta:
        model = ExperimentAssignment
        fields = ["account", "account_name", "arm", "stratum", "entered_on"]


def _detail(request: Request, pk: int) -> dict:
    experiment = _experiment(request, pk)
    data = ExperimentOut(experiment).data
    data["results"] = results_data(experiment_results(experiment=experiment, today=timezone.localdate()))
    return data


ByCreated = cursor_pagination("-created_at", "-id")


@extend_schema(tags=["experiments"])
class ExperimentList(generics.ListAPIView):
    """Experiments, newest first, with the size of each arm so far."""

    serializer_class = ExperimentOut
    pagination_class = ByCreated

    def get_permissions(self):
        return [ConfiguresExperiments()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self):
        return experiment_list(user=_person(self.request)).prefetch_related("guardrails")

    @extend_schema(request=ExperimentIn, responses={201: ExperimentOut, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        """Pre-register: the design is sized (sample per arm, days of entry) and stored as a draft."""
        payload = ExperimentIn(data=request.data)
        payload.is_valid(raise_exception=True)
        experiment = experiment_register(user=_person(request), **payload.validated_data)
        return Response(ExperimentOut(_experiment(request, experiment.pk)).data, status=201)


@extend_schema(tags=["experiments"])
class ExperimentDetail(APIView):
    def get_permissions(self):
        return [ConfiguresExperiments()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: ExperimentOut, 404: ERROR_RESPONSES[400]})
    def get(self, request: Request, pk: int) -> Response:
        """The design and the results: before the planned end only the always-valid bound (valid however often
        it is looked at); from it on, the pre-registered test's estimate, interval and p-value as well."""
        return Response(_detail(request, pk))

    @extend_schema(request=ExperimentIn(partial=True), responses={200: ExperimentOut, **STATE_ERRORS})
    def patch(self, request: Request, pk: int) -> Response:
        """Change the design of a draft (409 once started)."""
        experiment = _experiment(request, pk)
        payload = ExperimentIn(experiment, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        experiment_update(experiment=experiment, **payload.validated_data)
        return Response(_detail(request, pk))


@extend_schema(tags=["experiments"], request=None, responses={200: ExperimentOut, **STATE_ERRORS})
class ExperimentStart(APIView):
    """Start: from now on the playbook's eligible accounts get an arm, and the holdout gets no run."""

    permission_classes = [ConfiguresExperiments]

    def post(self, request: Request, pk: int) -> Response:
        experiment_start(experiment=_experiment(request, pk), user=_person(request))
        return Response(_detail(request, pk))


@extend_schema(tags=["experiments"], request=ConcludeIn, responses={200: ExperimentOut, **STATE_ERRORS})
class ExperimentConclude(APIView):
    """Record the decision (adopt, stop, or extend by `extend_days`); the next quarterly review lists it."""

    permission_classes = [ConfiguresExperiments]

    def post(self, request: Request, pk: int) -> Response:
        experiment = _experiment(request, pk)
        payload = ConcludeIn(data=request.data)
        payload.is_valid(raise_exception=True)
        experiment_conclude(experiment=experiment, user=_person(request), **payload.validated_data)
        return Response(_detail(request, pk))


ByEntry = cursor_pagination("entered_on", "id", page_size=200, max_page_size=1000)


@extend_schema(tags=["experiments"])
class ExperimentAssignmentList(generics.ListAPIView):
    """The accounts in the experiment and their arms (a CSM: their own accounts)."""

    permission_classes = [ReadScope]
    serializer_class = AssignmentOut
    pagination_class = ByEntry

    def get_queryset(self):
        experiment = _experiment(self.request, self.kwargs["pk"])
        return experiment_assignments(experiment=experiment, user=_person(self.request))

