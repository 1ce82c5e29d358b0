"""The reviews API: reviews with their KPI snapshot (start, close), and decisions with their progress.

Everyone in the tenant (or a key with the read scope) reads; leaders and admins (or an admin-scope key)
plan, run and close reviews and record decisions; a decision's owner records its progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import ReadScope
from core.api.query import IntegerQuery
from core.api.scopes import Scope
from core.errors import InvalidInput
from integrations.api.idempotency import idempotent
from integrations.models import ApiKey
from reviews import services
from reviews.api import serializers as io
from reviews.models import Decision, DecisionStatus, DecisionUpdate, Review, ReviewKPI, ReviewStatus, Scenario
from reviews.permissions import may_follow_up, may_run_reviews
from users.models import User

RESPONSES = {**ERROR_RESPONSES, 404: ERROR_RESPONSES[400], 409: ERROR_RESPONSES[400]}


class _WritesReviews(BasePermission):
    """An API key writes with the admin scope; a signed-in person as `person_may` says."""

    def has_permission(self, request: Request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if isinstance(request.auth, ApiKey):
            return Scope.ADMIN in request.auth.scopes
        return self.person_may(request.user)

    def person_may(self, user: User) -> bool:
        return True


class RunsReviews(_WritesReviews):
    """Planning, running and closing reviews, recording decisions: leaders and admins."""

    message = "Only CS leaders and admins plan, run and close reviews (API keys need the 'admin' scope)."

    def person_may(self, user: User) -> bool:
        return may_run_reviews(user)


class FollowsUpDecisions(_WritesReviews):
    """Writes to a decision: any signed-in person gets as far as the decision, which says whether they may."""

    message = "Recording a decision's progress needs a person signed in, or an API key with the 'admin' scope."


def _person(request: Request) -> User | None:
    """The signed-in person acting, or None for an API key (recorded as an integration's change)."""
    return None if isinstance(request.auth, ApiKey) else request.user


@contextmanager
def _as_api_errors() -> Iterator[None]:
    """A ReviewError becomes a 400 (bad input) or 409 (the review's state) with the field to fix."""
    try:
        yield
    except services.ReviewError as error:
        raise InvalidInput(error.message, [{"index": None, "field": error.field, "message": error.message}]
                           if error.field else None, status_code=error.status_code) from None


def _reviews():
    return Review.objects.select_related("facilitator").prefetch_related(
        "attendees", Prefetch("scenarios", queryset=Scenario.objects.only("id", "name", "review_id").order_by("name")),
        Prefetch("kpis", queryset=ReviewKPI.objects.select_related("kpi").order_by(
            "kpi__name", "dimension", "segment")))


def _decisions():
    return Decision.objects.select_related("review", "kpi", "owner").prefetch_related(
        Prefetch("updates", queryset=DecisionUpdate.objects.select_related("author")))


ByQuarter = cursor_pagination("-quarter", "-id")


@extend_schema(tags=["reviews"], parameters=[
    OpenApiParameter("quarter", str, description="YYYY-Qn"), OpenApiParameter("status", str, enum=ReviewStatus.values),
])
class ReviewList(generics.ListAPIView):
    """Reviews, latest quarter first, each with its KPI snapshot; POST plans one (leaders and admins)."""

    serializer_class = io.ReviewOut
    pagination_class = ByQuarter

    def get_permissions(self):
        return [RunsReviews()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self):
        reviews = _reviews()
        params = self.request.query_params
        if params.get("quarter"):
            reviews = reviews.filter(quarter=params["quarter"])
        if params.get("status"):
            if params["status"] not in ReviewStatus.values:
                raise InvalidInput(f"status must be one of {', '.join(ReviewStatus.values)}.")
            reviews = reviews.filter(status=params["status"])
        return reviews

    @extend_schema(request=io.ReviewIn, responses={201: io.ReviewOut, **RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        payload = io.ReviewIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        with _as_api_errors():
            review = services.review_create(
                quarter=data["quarter"], name=data["name"], meeting_date=data["meeting_date"],
                facilitator=data["facilitator"], attendees=data["attendees"], extra_kpis=data["kpis"],
                segment_dimensions=data["segment_dimensions"], created_by=_person(request))
        return Response(io.ReviewOut(_reviews().get(pk=review.pk)).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["reviews"])
class ReviewDetail(APIView):
    def get_permissions(self):
        return [RunsReviews()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: io.ReviewDetailOut, **RESPONSES})
    def get(self, request: Request, pk: int) -> Response:
        return Response(io.ReviewDetailOut(get_object_or_404(_reviews(), pk=pk)).data)

    @extend_schema(request=io.ReviewPatch, responses={200: io.ReviewOut, **RESPONSES})
    def patch(self, request: Request, pk: int) -> Response:
        review = get_object_or_404(Review, pk=pk)
        payload = io.ReviewPatch(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        with _as_api_errors():
            services.review_update(review=review, user=_person(request), **payload.validated_data)
        return Response(io.ReviewOut(_reviews().get(pk=pk)).data)


class _ReviewAction(APIView):
    permission_classes = [RunsReviews]
    action: str

    @extend_schema(tags=["reviews"], request=None, responses={200: io.ReviewOut, **RESPONSES})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        review = get_object_or_404(Review, pk=pk)
        with _as_api_errors():
            getattr(services, f"review_{self.action}")(review=review, user=_person(request))
        return Response(io.ReviewOut(_reviews().get(pk=pk)).data)


class ReviewStart(_ReviewAction):
    """The meeting begins: planned -> in progress."""

    action = "start"


class ReviewClose(_ReviewAction):
    """Close the review (in progress -> closed, read-only from then on): its target changes are applied to the
    KPIs' target history, and the KPI owners are told."""

    action = "close"


@extend_schema(tags=["reviews"], request=io.CommentaryIn, responses={200: io.ReviewKPIOut, **RESPONSES})
class ReviewKPICommentary(APIView):
    """The commentary on one snapshot row: why the KPI stands where it does."""

    permission_classes = [RunsReviews]

    def patch(self, request: Request, pk: int, row: int) -> Response:
        snapshot_row = get_object_or_404(ReviewKPI.objects.select_related("kpi"), pk=row, review_id=pk)
        payload = io.CommentaryIn(data=request.data)
        payload.is_valid(raise_exception=True)
        with _as_api_errors():
            services.review_kpi_comment(row=snapshot_row, user=_person(request), **payload.validated_data)
        return Response(io.ReviewKPIOut(snapshot_row).data)


ByDeadline = cursor_pagination("deadline", "id")
DECISION_REVIEW = IntegerQuery("review", description="A review's id: the decisions it recorded")


@extend_schema(tags=["decisions"], parameters=[
    DECISION_REVIEW.parameter(), OpenApiParameter("status", str, enum=DecisionStatus.values),
    OpenApiParameter("owner", str, description="`me` or an email"), OpenApiParameter("kpi", str),
])
class DecisionList(generics.ListAPIView):
    """Decisions, soonest deadline first; POST records one in a review (leaders and admins)."""

    serializer_class = io.DecisionOut
    pagination_class = ByDeadline

    def get_permissions(self):
        return [RunsReviews()] if self.request.method == "POST" else [ReadScope()]

    def get_queryset(self):
        decisions = _decisions()
        params = self.request.query_params
        review = DECISION_REVIEW.read(params)
        if review is not None:
            decisions = decisions.filter(review_id=review)
        if params.get("status"):
            if params["status"] not in DecisionStatus.values:
                raise InvalidInput(f"status must be one of {', '.join(DecisionStatus.values)}.")
            decisions = decisions.filter(status=params["status"])
        if params.get("owner") == "me":
            person = _person(self.request)
            if person is None:
                raise InvalidInput("owner=me needs a signed-in person, not an API key.")
            decisions = decisions.filter(owner=person)
        elif params.get("owner"):
            decisions = decisions.filter(owner__email=params["owner"].lower())
        if params.get("kpi"):
            decisions = decisions.filter(kpi__slug=params["kpi"])
        return decisions

    @extend_schema(request=io.DecisionIn, responses={201: io.DecisionOut, **RESPONSES})
    @idempotent
    def post(self, request: Request) -> Response:
        payload = io.DecisionIn(data=request.data)
        payload.is_valid(raise_exception=True)
        with _as_api_errors():
            decision = services.decision_create(user=_person(request), **payload.validated_data)
        return Response(io.DecisionOut(_decisions().get(pk=decision.pk)).data, status=status.HTTP_201_CREATED)


def _may_follow_up(request: Request, decision: Decision) -> None:
    if not isinstance(request.auth, ApiKey) and not may_follow_up(request.user, decision):
        raise InvalidInput("Only the decision's owner, CS leaders and admins record its progress.", status_code=403)


@extend_schema(tags=["decisions"])
class DecisionDetail(APIView):
    """A decision; PATCH changes it. Its owner may change only its status (with a note); leaders and admins
    may also change what was decided, its owner and deadline while the review is not closed."""

    def get_permissions(self):
        return [FollowsUpDecisions()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: io.DecisionOut, **RESPONSES})
    def get(self, request: Request, pk: int) -> Response:
        return Response(io.DecisionOut(get_object_or_404(_decisions(), pk=pk)).data)

    @extend_schema(request=io.DecisionPatch, responses={200: io.DecisionOut, **RESPONSES})
    def patch(self, request: Request, pk: int) -> Response:
        decision = get_object_or_404(Decision, pk=pk)
        _may_follow_up(request, decision)
        payload = io.DecisionPatch(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        fields = dict(payload.validated_data)
        follow_up = {"status": fields.pop("status", None), "note": fields.pop("note", "")}
        if fields and not RunsReviews().has_permission(request, self):
            raise InvalidInput("A decision's owner changes its status and progress; only CS leaders and admins "
                               f"change {', '.join(sorted(fields))}.", status_code=403)
        with _as_api_errors():
            services.decision_update(decision=decision, user=_person(request), **follow_up, **fields)
        return Response(io.DecisionOut(_decisions().get(pk=pk)).data)


@extend_schema(tags=["decisions"])
class DecisionProgress(APIView):
    """A decision's dated progress updates; POST adds one (the owner, leaders, admins), optionally with a new
    status."""

    def get_permissions(self):
        return [FollowsUpDecisions()] if self.request.method == "POST" else [ReadScope()]

    @extend_schema(responses={200: io.DecisionUpdateOut(many=True), **RESPONSES})
    def get(self, request: Request, pk: int) -> Response:
        decision = get_object_or_404(Decision, pk=pk)
        return Response(io.DecisionUpdateOut(decision.updates.select_related("author"), many=True).data)

    @extend_schema(request=io.ProgressIn, responses={201: io.DecisionOut, **RESPONSES})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        decision = get_object_or_404(Decision, pk=pk)
        _may_follow_up(request, decision)
        payload = io.ProgressIn(data=request.data)
        payload.is_valid(raise_exception=True)
        with _as_api_errors():
            services.decision_progress_add(decision=decision, user=_person(request), **payload.validated_data)
        return Response(io.DecisionOut(_decisions().get(pk=pk)).data, status=status.HTTP_201_CREATED)
