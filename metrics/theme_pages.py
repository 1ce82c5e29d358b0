"""The feedback themes, as a page and through the API: the window and the number of themes come from the query
string; a CSM's view counts, values and exemplifies their own accounts only."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.callers import calling_api_key
from core.api.errors import ERROR_RESPONSES
from core.api.permissions import ReadScope
from core.api.query import IntegerQuery
from core.errors import InvalidInput
from metrics.themes import DEFAULT_DAYS, DEFAULT_THEMES, ThemeSummary, theme_summaries
from users.models import Role

WINDOW = IntegerQuery("days", minimum=7, maximum=730, description=f"The window, in days (default {DEFAULT_DAYS})")
THEMES = IntegerQuery("themes", minimum=2, maximum=20, description=f"Themes to look for (default {DEFAULT_THEMES})")


def _summaries(params, user) -> tuple[list[ThemeSummary], int, int]:
    days = WINDOW.read(params, default=DEFAULT_DAYS)
    themes = THEMES.read(params, default=DEFAULT_THEMES)
    own = None
    if getattr(user, "role", None) == Role.CSM:
        own = set(user.accounts.values_list("pk", flat=True))
    return theme_summaries(today=timezone.localdate(), days=days, themes=themes, account_ids=own), days, themes


def feedback_themes(request: HttpRequest) -> HttpResponse:
    try:
        summaries, days, themes = _summaries(request.GET, request.user)
    except InvalidInput as error:
        return render(request, "metrics/feedback_themes.html", {"error": error.detail, "themes": []}, status=400)
    return render(request, "metrics/feedback_themes.html", {
        "themes": summaries, "days": days, "count": themes, "own_only": request.user.role == Role.CSM,
        "may_act": request.user.role in (Role.ADMIN, Role.LEADER)})


def _data(summary: ThemeSummary) -> dict:
    return {"label": summary.label, "terms": summary.terms, "volume": summary.volume, "surveys": summary.surveys,
            "tickets": summary.tickets, "last_30_days": summary.recent, "previous_30_days": summary.previous,
            "trend": summary.trend, "sentiment": summary.sentiment, "accounts": summary.accounts, "arr": summary.arr,
            "examples": [{"source": example.source, "id": example.id, "account": example.account_id,
                          "text": example.text, "day": example.day} for example in summary.examples]}


@extend_schema(tags=["feedback"], responses={200: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
               parameters=[WINDOW.parameter(), THEMES.parameter()])
class FeedbackThemes(APIView):
    """Recurring themes in survey comments and ticket subjects, most ARR at stake first."""

    permission_classes = [ReadScope]

    def get(self, request: Request) -> Response:
        person = None if calling_api_key(request) is not None else request.user
        summaries, days, _ = _summaries(request.query_params, person)
        return Response({"days": days, "themes": [_data(summary) for summary in summaries]})
