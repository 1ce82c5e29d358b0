"""The product's own error pages, in its layout, each saying what happened and where to go: a bad request (400), a
page the role may not open (403), a form whose CSRF check failed (403), a missing page (404), an address that
is no team's (404) and a server error (500). Paths under /api/ answer JSON `{"detail": ...}` instead, as the
API's own errors do.

The 500 page renders without the request's context (no user, no session, no tenant): it must show when the
database is what failed.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _home_of_public_site(request: HttpRequest) -> str:
    """The bare BASE_DOMAIN's address on the port this request came in on: where the landing page is."""
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    return f"{request.scheme}://{settings.BASE_DOMAIN}{'' if port == default_port else f':{port}'}/"


def _reason(exception: Exception | None) -> str:
    """The message a view gave its PermissionDenied ("Only the assignee completes a task."), if any."""
    return str(exception.args[0]) if exception is not None and exception.args and exception.args[0] else ""


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return render(request, "400.html", status=400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = _reason(exception)
    if _is_api(request):
        return JsonResponse({"detail": reason or "You do not have permission to perform this action."}, status=403)
    return render(request, "403.html", {"reason": reason}, status=403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    # The page does not repeat the path: what another team's record is called must not come back in it.
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Server error: the team running Bellwether can find it in the log."},
                            status=500)
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form sent without its valid token (an expired session, a page open too long, cookies
    blocked), explained in words, with the technical reason in development."""
    if _is_api(request):
        return JsonResponse({"detail": f"CSRF check failed: {reason}"}, status=403)
    return render(request, "403_csrf.html", {"reason": reason if settings.DEBUG else ""}, status=403)


def unknown_tenant(request: HttpRequest) -> HttpResponse:
    """DEFAULT_NOT_FOUND_TENANT_VIEW: a host that is neither a team's address nor the bare domain (a mistyped
    team name, a team since removed). Reached before any tenant is chosen, so it reads nothing of one."""
    if _is_api(request):
        return JsonResponse({"detail": "No team is served at this address."}, status=404)
    return render(request, "404_tenant.html", {"host": request.get_host().split(":")[0],
                                               "public_site": _home_of_public_site(request),
                                               "base_domain": settings.BASE_DOMAIN}, status=404)
