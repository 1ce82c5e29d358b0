"""Keep a user who signed in with a one-time password on the change form until they choose their own."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_tenants.utils import get_public_schema_name


class PasswordChangeRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if getattr(request, "tenant", None) is None or request.tenant.schema_name == get_public_schema_name():
            return self.get_response(request)  # the public schema has no users or sessions
        user = request.user
        if user.is_authenticated and user.password_change_required:
            allowed = {reverse("password_change"), reverse("logout")}
            if request.path not in allowed:
                return redirect("password_change")
        return self.get_response(request)
