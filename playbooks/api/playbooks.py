"""The playbooks API beyond the list: one playbook with its steps (read; admins update), and effectiveness."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.dates import date_param
from core.api.errors import ERROR_RESPONSES
from core.api.pagination import cursor_pagination
from core.api.permissions import AdminScope, ReadScope
from core.errors import InvalidInput
from playbooks.api.serializers import EffectivenessOut, PlaybookIO
from playbooks.effectiveness import Window, playbook_effectiveness, playbooks_effectiveness
from playbooks.models import Playbook

WINDOW_PARAMETERS = [
    OpenApiParameter("from", str, description="YYYY-MM-DD: runs started (breaches opened) from this day"),
    OpenApiParameter("to", str, description="YYYY-MM-DD: ... to this day, included"),
]


def _window(request: Request) -> Window:
    window = Window(start=date_param(request, "from"), end=date_param(request, "to"))
    if window.start and window.end and window.start > window.end:
        raise InvalidInput("Query parameter from must be on or before to.")
    return window


def _playbook(pk: int) -> Playbook:
    return get_object_or_404(Playbook.objects.prefetch_related("steps__assignee"), pk=pk)


@extend_schema(tags=["playbooks"])
class PlaybookDetail(APIView):
    def get_permissions(self):
        return [AdminScope()] if self.request.method == "PATCH" else [ReadScope()]

    @extend_schema(responses={200: PlaybookIO, 404: ERROR_RESPONSES[400]})
    def get(self, request: Request, pk: int) -> Response:
        return Response(PlaybookIO(_playbook(pk)).data)

    @extend_schema(request=PlaybookIO(partial=True), responses={200: PlaybookIO, 404: ERROR_RESPONSES[400],
                                                                **ERROR_RESPONSES})
    def patch(self, request: Request, pk: int) -> Response:
        """Change a playbook; `steps`, when given, become its steps in order (send an existing step's `id`
        to keep it)."""
        payload = PlaybookIO(_playbook(pk), data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        return Response(PlaybookIO(_playbook(payload.save().pk)).data)


@extend_schema(tags=["playbooks"], parameters=WINDOW_PARAMETERS,
               responses={200: EffectivenessOut, 404: ERROR_RESPONSES[400], **ERROR_RESPONSES})
class PlaybookEffectivenessDetail(APIView):
    """Runs, completion and on-time rates, breaches resolved and how fast, and the KPI's change a month after
    the breach, beside breaches of the same rules that got no run."""

    permission_classes = [ReadScope]

    def get(self, request: Request, pk: int) -> Response:
        window = _window(request)
        playbook = get_object_or_404(Playbook, pk=pk)
        return Response(EffectivenessOut(playbook_effectiveness(playbook=playbook, window=window)).data)


ByName = cursor_pagination("name", "id", page_size=100, max_page_size=500)


@extend_schema(tags=["playbooks"], parameters=WINDOW_PARAMETERS)
class PlaybookEffectivenessList(generics.GenericAPIView):
    """Every playbook's effectiveness, by name: the summary a quarterly review shows for its quarter."""

    permission_classes = [ReadScope]
    serializer_class = EffectivenessOut
    pagination_class = ByName
    queryset = Playbook.objects.all()

    @extend_schema(responses={200: EffectivenessOut(many=True), **ERROR_RESPONSES})
    def get(self, request: Request) -> Response:
        window = _window(request)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            EffectivenessOut(playbooks_effectiveness(playbooks=page, window=window), many=True).data)
