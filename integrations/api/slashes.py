"""Under /api/, a path reaches its endpoint with or without its trailing slash; a path that names no endpoint
either way is a JSON 404.

Integrations write URLs by hand. Django's APPEND_SLASH would answer `PATCH /api/v1/kpis/nps` with a redirect
that drops the body (and with a RuntimeError, a 500, under DEBUG), and an unknown path with an HTML page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import is_valid_path

API_PREFIX = "/api/"


class ApiSlashMiddleware:
    """Rewrite an API path to the form its route is written in, before CommonMiddleware looks at it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(API_PREFIX):
            urlconf = getattr(request, "urlconf", None)
            if not is_valid_path(path, urlconf):
                other = path.removesuffix("/") if path.endswith("/") else f"{path}/"
                if not is_valid_path(other, urlconf):
                    detail = f"No API endpoint at {request.path}; see {API_PREFIX}v1/docs/."
                    return JsonResponse({"detail": detail, "errors": [{"index": None, "field": None,
                                                                       "message": detail}]}, status=404)
                request.path = request.path.removesuffix(path) + other
                request.path_info = other
        return self.get_response(request)
