"""The tasks API: a person's inbox and the actions on a task, with who may do what."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from accounts.references import account_filter, account_parameter
from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope, ReadScope
from core.api.query import IntegerQuery
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from integrations.models import ApiKey
from playbooks.api.serializers import PlaybookIO
from playbooks.experiments.selectors import held_out_message
from playbooks.models import (
    ACTIVE_TASK_STATUSES,
    Playbook,
    PlaybookRun,
    Task,
    TaskOutcome,
    TaskStatus,
    Trigger,
)
from playbooks.permissions import may_act_on_task, may_reassign
from playbooks.services import (
    PlaybookError,
    playbook_run_start,
    task_comment,
    task_complete,
    task_reassign,
    task_snooze,
    task_start,
)
from users.models import Role, User


class TaskOut(serializers.ModelSerializer):
    assignee = serializers.EmailField(source="assignee.email", allow_null=True, default=None)
    account = serializers.IntegerField(source="account_id", allow_null=True)
    account_name = serializers.CharField(source="account.name", allow_null=True, default=None)
    playbook = serializers.CharField(source="run.playbook.name", allow_null=True, default=None)
    decision = serializers.IntegerField(source="decision_id", allow_null=True,
                                        help_text="A quarterly review decision's task (no account or playbook).")
    due_at = serializers.DateTimeField()

    class Meta:
        model = Task
        fields = ["id", "title", "instructions", "kind", "account", "account_name", "playbook", "decision", "assignee",
                  "queue_role", "severity", "status", "due_at", "respond_by", "escalation_level", "snoozed_until",
                  "outcome", "note", "created_at", "completed_at"]


class ActionIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=["start", "complete", "snooze", "reassign", "comment"])
    outcome = serializers.ChoiceField(choices=TaskOutcome.choices, required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    until = serializers.DateTimeField(required=False, help_text="For snooze.")
    assignee = serializers.EmailField(required=False, help_text="For reassign (managers and admins).")


def _person(request: Request) -> User:
    if isinstance(request.auth, ApiKey):
        raise InvalidInput("Tasks are worked by people: sign in to act on a task.", status_code=403)
    return request.user


ByDue = cursor_pagination("due_at", "id", max_page_size=500)
TASK_PLAYBOOK = IntegerQuery("playbook", description="A playbook's id: the tasks of its runs")


@extend_schema(tags=["tasks"], parameters=[
    OpenApiParameter("assignee", str, description="`me` or an email"),
    OpenApiParameter("status", str, enum=TaskStatus.values),
    account_parameter(), TASK_PLAYBOOK.parameter(),
])
class TaskList(generics.ListAPIView):
    """Tasks, soonest due first; `?assignee=me` is the caller's inbox (open, in progress and snoozed)."""

    permission_classes = [ReadScope]
    serializer_class = TaskOut
    pagination_class = ByDue

    def get_queryset(self):
        params = self.request.query_params
        tasks = Task.objects.select_related("assignee", "account", "run__playbook")
        if params.get("assignee") == "me":
            tasks = tasks.filter(assignee=_person(self.request), status__in=ACTIVE_TASK_STATUSES)
        elif params.get("assignee"):
            tasks = tasks.filter(assignee__email=params["assignee"].lower())
        if params.get("status"):
            if params["status"] not in TaskStatus.values:
                raise InvalidInput(f"status must be one of {', '.join(TaskStatus.values)}.")
            tasks = tasks.filter(status=params["status"])
        if params.get("account"):
            tasks = tasks.filter(**account_filter(params["account"], parameter="account"))
        playbook = TASK_PLAYBOOK.read(params)
        if playbook is not None:
            tasks = tasks.filter(run__playbook_id=playbook)
        return tasks


@extend_schema(tags=["tasks"], request=ActionIn, responses={200: TaskOut, **ERROR_RESPONSES})
class TaskAction(APIView):
    """Start, complete (with an outcome), snooze (until, with a reason), reassign (managers) or comment."""

    permission_classes = [ReadScope]

    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        user = _person(request)
        task = get_object_or_404(Task.objects.select_related("assignee", "run__playbook", "step"), pk=pk)
        if not may_act_on_task(user, task):
            raise InvalidInput("You may act only on your own tasks (managers: their team's).", status_code=403)
        payload = ActionIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            changed = self._apply(data, task, user)
        except PlaybookError as error:
            raise InvalidInput(str(error)) from None
        if changed is False:
            raise InvalidInput(f"The task is {task.get_status_display().lower()}; nothing was changed.",
                               status_code=409)
        task.refresh_from_db()
        return Response(TaskOut(task).data)

    def _apply(self, data: dict, task: Task, user: User) -> bool:
        action = data["action"]
        if action == "start":
            return task_start(task=task, user=user)
        if action == "complete":
            if "outcome" not in data:
                raise PlaybookError("Completing a task needs an outcome.")
            return task_complete(task=task, user=user, outcome=data["outcome"], note=data.get("note", ""))
        if action == "snooze":
            if "until" not in data:
                raise PlaybookError("Snoozing needs `until`.")
            return task_snooze(task=task, user=user, until=data["until"], reason=data.get("note", ""))
        if action == "reassign":
            if not may_reassign(user):
                raise InvalidInput("Only managers reassign tasks.", status_code=403)
            assignee = User.objects.filter(email=data.get("assignee", "").lower(), is_active=True).first()
            if assignee is None:
                raise PlaybookError("Reassigning needs `assignee`, the email of an active user.")
            return task_reassign(task=task, user=user, assignee=assignee)
        task_comment(task=task, user=user, note=data.get("note", ""))
        return True




@extend_schema(tags=["playbooks"])
class PlaybookList(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "POST" else [ReadScope()]

    @extend_schema(responses={200: PlaybookIO(many=True)})
    def get(self, request: Request) -> Response:
        return Response(PlaybookIO(Playbook.objects.prefetch_related("steps__assignee"), many=True).data)

    @extend_schema(request=PlaybookIO, responses={201: PlaybookIO, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        payload = PlaybookIO(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(PlaybookIO(payload.save()).data, status=201)


class RunOut(serializers.ModelSerializer):
    playbook = serializers.CharField(source="playbook.name")
    account = serializers.IntegerField(source="account_id")

    class Meta:
        model = PlaybookRun
        fields = ["id", "playbook", "account", "breach", "trigger", "occasion", "status", "started_at",
                  "finished_at", "outcome"]


class RunIn(serializers.Serializer):
    playbook = serializers.PrimaryKeyRelatedField(queryset=Playbook.objects.filter(is_active=True))
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.all())


ByStarted = cursor_pagination("-started_at", "-id")


@extend_schema(tags=["playbooks"], parameters=[account_parameter(), OpenApiParameter("status", str)])
class RunList(generics.ListCreateAPIView):
    """Playbook runs; POST starts one by hand for an account (managers and admins, or an ingest key)."""

    serializer_class = RunOut
    pagination_class = ByStarted

    def get_permissions(self):
        return [ReadScope()]

    def get_queryset(self):
        runs = PlaybookRun.objects.select_related("playbook")
        params = self.request.query_params
        if params.get("account"):
            runs = runs.filter(**account_filter(params["account"], parameter="account"))
        if params.get("status"):
            runs = runs.filter(status=params["status"])
        return runs

    @extend_schema(request=RunIn, responses={201: RunOut, **ERROR_RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        user = _person(request)
        if user.role not in (Role.MANAGER, Role.ADMIN, Role.LEADER, Role.CSM):
            raise InvalidInput("Viewers cannot start playbooks.", status_code=403)
        payload = RunIn(data=request.data)
        payload.is_valid(raise_exception=True)
        account = payload.validated_data["account"]
        if user.role == Role.CSM and account.owner_id != user.pk:
            raise InvalidInput("A CSM starts playbooks for their own accounts.", status_code=403)
        try:
            run = playbook_run_start(playbook=payload.validated_data["playbook"], account=account,
                                     trigger=Trigger.MANUAL, started_by=user)
        except PlaybookError as error:
            raise InvalidInput(str(error)) from None
        if run is None:
            raise InvalidInput(held_out_message(playbook=payload.validated_data["playbook"], account=account),
                               status_code=409)
        return Response(RunOut(run).data, status=201)
