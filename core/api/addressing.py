"""How a request addresses the API: a path reaches its endpoint with or without its trailing slash, a path that
names no endpoint is a JSON 404, and a query string PostgreSQL could not compare with is a 400.

Integrations write URLs by hand. Django's APPEND_SLASH would answer `PATCH /api/v1/kpis/nps` with a redirect
that drops the body (and with a RuntimeError, a 500, under DEBUG), and an unknown path with an HTML page.
A NUL character in a filter (`?event=%00`) reached PostgreSQL, which refuses it: a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import is_valid_path

API_PREFIX = "/api/"


def _error(status: int, detail: str, field: str | None = None, message: str | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": [{"index": None, "field": field, "message": message or detail}]},
                        status=status)


class ApiAddressMiddleware:
    """Under /api/: rewrite the path to the form its route is written in (before CommonMiddleware looks at it),
    answer an unknown path with a JSON 404, and refuse NUL characters in the query string."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(API_PREFIX):
            return self.get_response(request)
        urlconf = getattr(request, "urlconf", None)
        if not is_valid_path(path, urlconf):
            other = path.removesuffix("/") if path.endswith("/") else f"{path}/"
            if not is_valid_path(other, urlconf):
                return _error(404, f"No API endpoint at {request.path}; see {API_PREFIX}v1/docs/.")
            request.path = request.path.removesuffix(path) + other
            request.path_info = other
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return _error(400, f"Query parameter {name!r} holds a NUL character.", name.replace("\x00", ""),
                              "must not contain NUL characters")
        return self.get_response(request)
